// The measured workloads. Each runs inside a child process that serves exactly
// one allocator and reports its figures as key/value pairs.
#ifndef TSLAB_BENCH_WORKLOADS_HPP
#define TSLAB_BENCH_WORKLOADS_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bench {

struct ChildSpec {
  std::string alloc;        // see all_allocators()
  std::string workload;     // "churn" or "bulk"
  std::string mode;         // "tput": whole-pass timing and RSS; "lat": per-op TSC samples
  unsigned threads = 1;     // bulk only
  std::uint64_t ops = 0;    // churn: measured operations
  std::uint64_t slots = 0;  // churn: live window
  std::uint64_t count = 0;  // bulk: blocks per thread
  std::uint64_t seed = 1;   // churn: PRNG seed
  std::size_t size = 128;   // block size in bytes
};

// Figures in output order.
struct Figures {
  std::vector<std::pair<std::string, double>> items;
  void add(const std::string& key, double value) { items.emplace_back(key, value); }
};

// Runs `spec` in this process. Returns false with `error` set if the allocator
// failed (a NULL allocation, a refused free) or is not available in this build.
bool run_workload(const ChildSpec& spec, Figures& out, std::string& error);

}  // namespace bench

#endif
