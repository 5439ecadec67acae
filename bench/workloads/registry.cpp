// This file contains the workload table and the child's dispatch into it.
#include "workloads/registry.hpp"

#include "harness/allocators.hpp"

namespace bench {
namespace {

constexpr std::uint64_t kSeed = 0x5eedf00dull;

bool all_but_epochs(const std::string& a) { return is_known_allocator(a) && a != "tslab-epochs"; }
bool all_but_handle(const std::string& a) { return is_known_allocator(a) && a != "tslab-handle"; }
bool tslab_and_peers(const std::string& a) { return a == "tslab" || is_peer(a); }
bool tslab_only(const std::string& a) { return a == "tslab"; }

const WorkloadParam kSeedParam{"seed", kSeed, kSeed, "PRNG seed (sizes, slots)"};
const WorkloadParam kObjMin{"obj_min", 16, 16, "smallest object, bytes"};
const WorkloadParam kObjMax{"obj_max", 1024, 1024, "largest object, bytes"};
const WorkloadParam kSampleMs{"sample_ms", 10, 5, "RSS sampling interval, ms"};

std::vector<Workload> make_workloads() {
  return {
      {"churn",
       "1 thread, fixed-size (128 B) blocks: free a random one of 10,000 live slots and allocate into it",
       {{"ops", 20000000, 200000, "operations per pass"},
        {"slots", 10000, 10000, "live slots"},
        {"size", 128, 128, "block size, bytes"},
        kSeedParam},
       {"tput", "lat"},
       Threading::single,
       1,
       all_but_epochs,
       run_churn_bulk,
       ""},
      {"steady-churn",
       "1 thread keeps 100,000 live objects of 16-1024 B and replaces a random one per op; RSS over time",
       {{"ops", 20000000, 200000, "operations"},
        {"window", 100000, 5000, "live objects"},
        kObjMin,
        kObjMax,
        kSampleMs,
        kSeedParam},
       {"rss"},
       Threading::single,
       1,
       tslab_and_peers,
       run_steady_churn,
       ""},
      {"bulk",
       "N threads each allocate 500,000 x 128 B, then free them all (1 and 2 threads unless --threads)",
       {{"count", 500000, 20000, "blocks per thread"}, {"size", 128, 128, "block size, bytes"}, kSeedParam},
       {"tput", "lat"},
       Threading::bulk,
       2,
       all_but_epochs,
       run_churn_bulk,
       ""},
      {"phase-shift",
       "a burst of 1,000,000 objects of 64-1024 B, all freed, then a 1 s cool-down and the purge call",
       {{"objects", 1000000, 20000, "objects in the burst"},
        {"obj_min", 64, 64, "smallest object, bytes"},
        kObjMax,
        {"cooldown_ms", 1000, 50, "idle time after the frees, ms"},
        kSampleMs,
        kSeedParam},
       {"rss"},
       Threading::single,
       1,
       tslab_and_peers,
       run_phase_shift,
       ""},
      {"sustained-phase-shifts",
       "1,000 cycles of: fill 20,000 objects of 64-512 B, free them, end the phase; RSS drift",
       {{"cycles", 1000, 40, "cycles"}, {"batch", 20000, 2000, "objects per cycle"}, kSeedParam},
       {"rss"},
       Threading::single,
       1,
       tslab_and_peers,
       run_sustained_phase_shifts,
       "phase-shifts"},
      {"fragmentation-adversary",
       "1,000,000 objects of 64-768 B, all freed but every 100th (pinned among transient ones), then purge",
       {{"objects", 1000000, 20000, "objects"}, kSeedParam},
       {"rss"},
       Threading::single,
       1,
       all_but_handle,
       run_fragmentation_adversary,
       "retention"},
      {"epoch-reclamation",
       "what epoch_close returns (64 MiB filled and freed) and what closes cost a churning thread (tslab)",
       {{"fill_mib", 64, 4, "MiB filled before the timed close"},
        {"lat_ops", 10000000, 200000, "timed free+alloc pairs of the churning thread"},
        {"lat_fill_mib", 16, 2, "MiB per fill of the closing thread"},
        kSeedParam},
       {"close", "lat-alone", "lat-fill", "lat-close"},
       Threading::single,
       2,
       tslab_only,
       run_epoch_reclamation,
       "close-cost"},
      {"thread-scaling",
       "T = 1..N threads each churn 1,000 live objects of 16-1024 B on one allocator; ops/s",
       {{"ops", 5000000, 50000, "operations per thread"},
        {"window", 1000, 1000, "live objects per thread"},
        kObjMin,
        kObjMax,
        kSeedParam},
       {"tput"},
       Threading::scaling,
       2,
       tslab_and_peers,
       run_thread_scaling,
       ""},
      {"request",
       "2 threads serve requests of 20-200 objects of 16-1024 B; 1% go to a shared 50,000-entry FIFO cache",
       {{"serve_ms", 1000, 100, "length of one serve phase, ms"},
        {"phases", 2, 2, "serve + drain rounds"},
        {"cooldown_ms", 250, 30, "idle time after each drain, ms"},
        {"cache_capacity", 50000, 5000, "cache entries"},
        {"cache_bp", 100, 100, "objects that go to the cache, 1/100 % (100 = 1%)"},
        kObjMin,
        kObjMax,
        {"req_min", 20, 20, "fewest objects per request"},
        {"req_max", 200, 200, "most objects per request"},
        {"batch", 4096, 512, "tslab: requests per worker between epoch advances (0: never)"},
        kSampleMs,
        kSeedParam},
       {"serve"},
       Threading::fixed,
       2,
       tslab_and_peers,
       run_request,
       ""},
      {"producer-consumer",
       "threads pair up: producers allocate objects of 16-1024 B, consumers on other threads free them",
       {{"items", 2000000, 50000, "objects per producer"},
        {"ring", 4096, 4096, "hand-over ring entries (a power of two)"},
        kObjMin,
        kObjMax,
        kSeedParam},
       {"tput"},
       Threading::fixed,
       2,
       tslab_and_peers,
       run_producer_consumer,
       ""},
  };
}

}  // namespace

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> table = make_workloads();
  return table;
}

const Workload* find_workload(const std::string& name) {
  for (const Workload& w : workloads())
    if (name == w.name || (w.former_name[0] != '\0' && name == w.former_name)) return &w;
  return nullptr;
}

std::string workload_names() {
  std::string s;
  for (const Workload& w : workloads()) s += (s.empty() ? "" : ", ") + std::string(w.name);
  return s;
}

Headline headline(const std::string& workload, const std::string& mode) {
  static const std::vector<std::pair<std::string, Headline>> table = {
      {"churn/tput", {"ns_per_op", "%.2f ns/op"}},
      {"churn/lat", {"p999_ns", "p99.9 %.0f ns"}},
      {"bulk/tput", {"alloc_ns", "alloc %.2f ns/op"}},
      {"bulk/lat", {"alloc_p999_ns", "alloc p99.9 %.0f ns"}},
      {"steady-churn/rss", {"growth_pct", "RSS growth %.2f%%"}},
      {"phase-shift/rss", {"rss_after_cooldown", "after cool-down %.0f B"}},
      {"sustained-phase-shifts/rss", {"growth_pct", "growth %.2f%%"}},
      {"fragmentation-adversary/rss", {"rss_after_purge", "after purge %.0f B"}},
      {"epoch-reclamation/close", {"us_per_mib", "%.1f us per MiB"}},
      {"epoch-reclamation/lat-alone", {"p999_ns", "p99.9 %.0f ns"}},
      {"epoch-reclamation/lat-fill", {"p999_ns", "p99.9 %.0f ns"}},
      {"epoch-reclamation/lat-close", {"p999_ns", "p99.9 %.0f ns"}},
      {"thread-scaling/tput", {"mops_per_s", "%.2f Mops/s"}},
      {"request/serve", {"req_per_s", "%.0f req/s"}},
      {"producer-consumer/tput", {"mitems_per_s", "%.2f M items/s"}},
  };
  const std::string key = workload + "/" + mode;
  for (const auto& [k, h] : table)
    if (k == key) return h;
  return {"ok", "%.0f"};
}

bool run_workload(const ChildSpec& spec, Figures& out, std::string& error) {
  const Workload* w = find_workload(spec.workload);
  if (w == nullptr) return error = "unknown workload " + spec.workload, false;
  if (!w->applies(spec.alloc)) return error = spec.workload + " does not measure " + spec.alloc, false;
  return w->run(spec, out, error);
}

}  // namespace bench
