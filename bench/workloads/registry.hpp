// This file contains the workload table: every workload `tslab bench` knows,
// its parameters (full size and --quick size), its modes (one child process
// each), the allocators it applies to, and the function a child runs for it.
#ifndef TSLAB_BENCH_WORKLOADS_REGISTRY_HPP
#define TSLAB_BENCH_WORKLOADS_REGISTRY_HPP

#include <cstdint>
#include <string>
#include <vector>

#include "harness/spec.hpp"

namespace bench {

struct WorkloadParam {
  const char* name;
  std::uint64_t full;   // the default
  std::uint64_t quick;  // with --quick
  const char* help;
};

enum class Threading {
  single,   // one thread; --threads does not apply
  fixed,    // --threads N sets the thread count (default `default_threads`)
  scaling,  // one case per thread count 1..N (--threads N, default max(2, nproc))
  bulk,     // 1 and 2 threads unless --threads N is given
};

using WorkloadFn = bool (*)(const ChildSpec&, Figures&, std::string& error);

struct Workload {
  const char* name;
  const char* summary;  // one line
  std::vector<WorkloadParam> params;
  std::vector<std::string> modes;
  Threading threading;
  unsigned default_threads;
  bool (*applies)(const std::string& alloc);
  WorkloadFn run;
  const char* former_name;  // the name tslab_bench used, accepted as an alias ("" if none)
  // The named set it belongs to: "" for the allocator suite (`bench --all`),
  // "preload" for real programs and stress shapes run through malloc (`bench preload`).
  const char* group;
  // Whether `mode` is measured for `alloc` (an allocator the workload applies
  // to); nullptr: every mode is.
  bool (*mode_applies)(const std::string& alloc, const std::string& mode);
};

// A named set of workloads that `tslab bench <group>` runs.
struct WorkloadGroup {
  const char* name;
  const char* summary;  // one line
};

// Every workload, in report order.
const std::vector<Workload>& workloads();
// By name or former name; nullptr if unknown.
const Workload* find_workload(const std::string& name);
// "churn, steady-churn, ..." for error messages (the suite's, then each group's).
std::string workload_names();
// The groups other than the suite, and the workloads of one ("" is the suite, `--all`).
const std::vector<WorkloadGroup>& workload_groups();
const WorkloadGroup* find_group(const std::string& name);
std::vector<const Workload*> workloads_in_group(const std::string& group);

// The figure that sums up one child's report: shown on its progress line, and
// the one whose median run provides a case's series for the charts.
struct Headline {
  const char* key;
  const char* format;  // printf format of the value
};
Headline headline(const std::string& workload, const std::string& mode);

// Runs `spec` in this process (the child). Returns false with `error` set if
// the allocator failed (a NULL allocation, a refused free) or does not apply.
bool run_workload(const ChildSpec& spec, Figures& out, std::string& error);

// The workload functions (one per file in workloads/).
bool run_churn_bulk(const ChildSpec&, Figures&, std::string&);
bool run_steady_churn(const ChildSpec&, Figures&, std::string&);
bool run_phase_shift(const ChildSpec&, Figures&, std::string&);
bool run_sustained_phase_shifts(const ChildSpec&, Figures&, std::string&);
bool run_fragmentation_adversary(const ChildSpec&, Figures&, std::string&);
bool run_epoch_reclamation(const ChildSpec&, Figures&, std::string&);
bool run_thread_scaling(const ChildSpec&, Figures&, std::string&);
bool run_request(const ChildSpec&, Figures&, std::string&);
bool run_producer_consumer(const ChildSpec&, Figures&, std::string&);
// The preload group: real programs, and allocator stress shapes through malloc.
bool run_program(const ChildSpec&, Figures&, std::string&);
bool run_cpp_requests(const ChildSpec&, Figures&, std::string&);
bool run_larson(const ChildSpec&, Figures&, std::string&);
bool run_xmalloc(const ChildSpec&, Figures&, std::string&);
bool run_cache_scratch(const ChildSpec&, Figures&, std::string&);
bool run_thread_churn(const ChildSpec&, Figures&, std::string&);
bool run_large_buffer(const ChildSpec&, Figures&, std::string&);
bool run_server_buffers(const ChildSpec&, Figures&, std::string&);

}  // namespace bench

#endif
