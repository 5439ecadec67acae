// Shared types of the driver (main.cpp) and the report (report.cpp).
#ifndef TSLAB_BENCH_DRIVER_HPP
#define TSLAB_BENCH_DRIVER_HPP

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bench {

struct Config {
  unsigned runs = 3;
  bool quick = false;
  std::string workload = "all";         // churn | bulk | retention | phase-shifts | close-cost
                                        // | lifecycle (the last three) | all
  std::vector<std::string> allocators;  // requested, in display order
  std::string json_path, markdown_path;
  std::uint64_t churn_ops = 20000000;
  std::uint64_t churn_slots = 10000;
  std::uint64_t bulk_count = 500000;
  std::uint64_t seed = 0x5eedf00dull;
  std::size_t size = 128;
  // Epoch lifecycle (see lifecycle.cpp).
  std::uint64_t retention_objects = 1000000;
  std::uint64_t cycles = 1000;
  std::uint64_t warmup = 50;
  std::uint64_t batch = 20000;
  std::uint64_t close_mib = 64;
  std::uint64_t lat_ops = 10000000;
  std::uint64_t lat_fill_mib = 16;
  std::string command;                  // the exact command line, shell-quoted
  std::string machine;                  // one-paragraph machine description
  std::string load_before, load_after;  // /proc/loadavg when the runs started and ended
};

// One measured case: a workload with a thread count, the modes (one child each)
// that measure it, and the allocators it applies to.
struct Case {
  std::string id;        // churn, bulk1, bulk2, retention, phase-shifts, close-cost
  std::string workload;  // churn | bulk | retention | phase-shifts | close-cost
  unsigned threads;
  std::vector<std::string> modes;
  bool applies(const std::string& alloc) const;
};

// One child's report.
struct Sample {
  std::map<std::string, double> num;
  std::map<std::string, std::string> str;
};

struct Store {
  std::vector<std::string> allocators;  // measured (not skipped), display order
  std::vector<Case> cases;
  // runs[alloc][case id + "/" + mode] = one Sample per successful run
  std::map<std::string, std::map<std::string, std::vector<Sample>>> runs;
  std::map<std::string, std::string> verified;             // alloc -> live allocator found
  std::map<std::string, std::vector<std::string>> errors;  // alloc -> failures
  std::vector<std::string> skipped;                        // "name: reason"
  bool peak_reset_failed = false;

  // Median across runs of one figure; NaN if never measured.
  double median_of(const std::string& alloc, const std::string& case_id, const std::string& mode,
                   const std::string& key) const;
};

// The human-readable report (tables, ratios, targets); Markdown when `markdown`.
std::string render_report(const Config& cfg, const Store& st, bool markdown);
// Everything as one JSON document: configuration, every child's figures, medians.
std::string render_json(const Config& cfg, const Store& st);

}  // namespace bench

#endif
