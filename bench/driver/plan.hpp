// This file contains what the driver measures and what it collected: the
// configuration of one `tslab bench` or `tslab demo` invocation, the cases
// (a workload with a thread count and parameters), and the store of every
// child's report.
#ifndef TSLAB_BENCH_DRIVER_PLAN_HPP
#define TSLAB_BENCH_DRIVER_PLAN_HPP

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "harness/json_line.hpp"
#include "workloads/registry.hpp"

namespace bench {

struct Config {
  unsigned runs = 3;
  bool quick = false;
  std::vector<std::string> allocators;  // requested, in display order
  std::string json_path, markdown_path, plot_dir;
  std::string command;                  // the exact command line, shell-quoted
  std::string machine;                  // one-paragraph machine description
  std::string load_before, load_after;  // /proc/loadavg when the runs started and ended
};

// One measured case: a workload with a thread count and its parameters.
struct Case {
  std::string id;  // the workload's name, or with the thread count: "bulk/2", "thread-scaling/4"
  const Workload* workload = nullptr;
  unsigned threads = 1;
  std::map<std::string, std::uint64_t> params;
  // Narrows the allocators further than the workload does (empty: no narrowing);
  // `tslab demo` keeps tslab-malloc out of its request table this way.
  std::function<bool(const std::string&)> only;

  bool applies(const std::string& alloc) const { return workload->applies(alloc) && (!only || only(alloc)); }
  // Whether one mode of the case is measured for `alloc`.
  bool runs(const std::string& alloc, const std::string& mode) const {
    return applies(alloc) && (workload->mode_applies == nullptr || workload->mode_applies(alloc, mode));
  }
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
  // The run whose `key` is the median one (for series: a real run, not a mix);
  // nullptr if none.
  const Sample* median_run(const std::string& alloc, const std::string& case_id, const std::string& mode,
                           const std::string& key) const;
};

// The cases of one workload: one per thread count (`threads` 0 = the default).
std::vector<Case> cases_for(const Workload& w, unsigned threads, bool quick,
                            const std::map<std::string, std::uint64_t>& overrides);

// Runs every case for every allocator that applies, `cfg.runs` times (runs are
// the outer loop, allocators rotate inside each run so noise spreads over all),
// with a progress display on stderr.
void run_plan(const Config& cfg, Store& st);

// Keeps the requested allocators that are available and notes why the others
// are skipped ("jemalloc: /usr/lib/.../libjemalloc.so.2 not found").
void select_allocators(const std::vector<std::string>& requested, Store& st);

}  // namespace bench

#endif
