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
  std::string workload;     // churn, bulk, retention, phase-shifts, close-cost
  std::string mode;         // churn/bulk: "tput" (whole-pass timing and RSS) or "lat" (per-op
                            // TSC samples); lifecycle: see lifecycle.cpp
  unsigned threads = 1;     // bulk only
  std::uint64_t ops = 0;    // churn: measured operations
  std::uint64_t slots = 0;  // churn: live window
  std::uint64_t count = 0;  // bulk: blocks per thread
  std::uint64_t seed = 1;   // churn: PRNG seed; lifecycle: size draws
  std::size_t size = 128;   // block size in bytes
  // Epoch-lifecycle workloads (lifecycle.cpp).
  std::uint64_t objects = 0;         // retention: objects allocated
  std::uint64_t cycles = 0;          // phase-shifts: fill/free/close cycles
  std::uint64_t warmup = 0;          // phase-shifts: cycles before the reference reading
  std::uint64_t batch = 0;           // phase-shifts: objects per fill
  std::uint64_t fill_bytes = 0;      // close-cost: bytes filled before the timed close
  std::uint64_t lat_ops = 0;         // close-cost: timed ops of the other thread
  std::uint64_t lat_fill_bytes = 0;  // close-cost: bytes per fill of the closing thread
};

// Figures in output order.
struct Figures {
  std::vector<std::pair<std::string, double>> items;
  void add(const std::string& key, double value) { items.emplace_back(key, value); }
};

// Runs `spec` in this process. Returns false with `error` set if the allocator
// failed (a NULL allocation, a refused free) or is not available in this build.
bool run_workload(const ChildSpec& spec, Figures& out, std::string& error);

// retention, phase-shifts and close-cost (lifecycle.cpp); same contract.
bool is_lifecycle_workload(const std::string& workload);
bool run_lifecycle(const ChildSpec& spec, Figures& out, std::string& error);

}  // namespace bench

#endif
