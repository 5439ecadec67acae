// This file contains the workload table, the named groups of workloads and the
// child's dispatch into the table.
#include "workloads/registry.hpp"

#include "harness/allocators.hpp"

namespace bench {
namespace {

constexpr std::uint64_t kSeed = 0x5eedf00dull;

bool all_but_epochs(const std::string& a) { return is_known_allocator(a) && a != "tslab-epochs"; }
bool all_but_handle(const std::string& a) { return is_known_allocator(a) && a != "tslab-handle"; }
bool tslab_or_malloc_api(const std::string& a) { return a == "tslab" || uses_malloc_api(a); }
bool tslab_only(const std::string& a) { return a == "tslab"; }
// The preload group runs programs and loops written against malloc: no tslab variant.
bool malloc_api_only(const std::string& a) { return uses_malloc_api(a); }
// cpp-requests: with lifetime scopes only where tslab-malloc provides them.
bool scopes_on_tslab_malloc(const std::string& a, const std::string& mode) {
  return mode != "scoped" || a == "tslab-malloc";
}

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
       "",
       "",
       nullptr},
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
       tslab_or_malloc_api,
       run_steady_churn,
       "",
       "",
       nullptr},
      {"bulk",
       "N threads each allocate 500,000 x 128 B, then free them all (1 and 2 threads unless --threads)",
       {{"count", 500000, 20000, "blocks per thread"}, {"size", 128, 128, "block size, bytes"}, kSeedParam},
       {"tput", "lat"},
       Threading::bulk,
       2,
       all_but_epochs,
       run_churn_bulk,
       "",
       "",
       nullptr},
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
       tslab_or_malloc_api,
       run_phase_shift,
       "",
       "",
       nullptr},
      {"sustained-phase-shifts",
       "1,000 cycles of: fill 20,000 objects of 64-512 B, free them, end the phase; RSS drift",
       {{"cycles", 1000, 40, "cycles"}, {"batch", 20000, 2000, "objects per cycle"}, kSeedParam},
       {"rss"},
       Threading::single,
       1,
       tslab_or_malloc_api,
       run_sustained_phase_shifts,
       "phase-shifts",
       "",
       nullptr},
      {"fragmentation-adversary",
       "1,000,000 objects of 64-768 B, all freed but every 100th (pinned among transient ones), then purge",
       {{"objects", 1000000, 20000, "objects"}, kSeedParam},
       {"rss"},
       Threading::single,
       1,
       all_but_handle,
       run_fragmentation_adversary,
       "retention",
       "",
       nullptr},
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
       "close-cost",
       "",
       nullptr},
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
       tslab_or_malloc_api,
       run_thread_scaling,
       "",
       "",
       nullptr},
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
       tslab_or_malloc_api,
       run_request,
       "",
       "",
       nullptr},
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
       tslab_or_malloc_api,
       run_producer_consumer,
       "",
       "",
       nullptr},
      // ---- the preload group: unmodified programs, then stress shapes through malloc ----
      {"python-json",
       "/usr/bin/python3: json.dumps and json.loads of 200,000 small dicts (its own small-object allocator "
       "in front)",
       {{"items", 200000, 5000, "dicts"},
        {"pymalloc", 1, 1,
         "1: Python's small-object allocator in front (the default); 0: PYTHONMALLOC=malloc"}},
       {"run"},
       Threading::single,
       1,
       malloc_api_only,
       run_program,
       "",
       "preload",
       nullptr},
      {"sqlite",
       "sqlite3 command line: 200,000 single-row INSERTs in one transaction, CREATE INDEX, a query (a file "
       "database in a temporary directory)",
       {{"rows", 200000, 5000, "rows inserted"}},
       {"run"},
       Threading::single,
       1,
       malloc_api_only,
       run_program,
       "",
       "preload",
       nullptr},
      {"git-commit",
       "git init, git add and git commit of 3,000 small files in a temporary directory (fixed author, "
       "committer and dates)",
       {{"files", 3000, 100, "files committed"}},
       {"run"},
       Threading::single,
       1,
       malloc_api_only,
       run_program,
       "",
       "preload",
       nullptr},
      {"cpp-containers",
       "tslab_containers (bench/programs/containers.cpp): std::map, std::unordered_map, std::string and "
       "std::vector, about 1 s under glibc",
       {{"rounds", 12, 1, "rounds of the program's container work"}, kSeedParam},
       {"run"},
       Threading::single,
       1,
       malloc_api_only,
       run_program,
       "",
       "preload",
       nullptr},
      {"cpp-requests",
       "a C++ request loop on plain new/delete (strings, vectors, maps; every 50th request large), survivors "
       "in "
       "a global cache; tslab-malloc also with a lifetime scope per request",
       {{"requests", 3000, 1000, "requests served"},
        {"keep_every", 8, 8, "every Nth request leaves a survivor in the cache"},
        {"big_every", 50, 50, "every Nth request is large (2000-4000 map entries instead of 10-50)"},
        {"cache", 300, 100, "cache entries (the oldest is evicted when full)"},
        {"cooldown_ms", 50, 10, "idle time after the last request, ms"},
        kSeedParam},
       {"plain", "scoped"},
       Threading::single,
       1,
       malloc_api_only,
       run_cpp_requests,
       "",
       "preload",
       scopes_on_tslab_malloc},
      {"larson",
       "Larson-style server: threads replace random blocks of 16-512 B in their part of a shared array; "
       "after each round the parts rotate, so blocks are freed by other threads",
       {{"slots", 5000, 1000, "blocks per thread"},
        {"rounds", 20, 4, "rounds (the parts rotate between threads after each)"},
        {"ops", 50000, 2000, "replacements per thread per round"},
        kObjMin,
        {"obj_max", 512, 512, "largest object, bytes"},
        kSeedParam},
       {"tput"},
       Threading::fixed,
       2,
       malloc_api_only,
       run_larson,
       "",
       "preload",
       nullptr},
      {"xmalloc",
       "xmalloc-style: half the threads allocate batches of blocks of 16-256 B, the other half free them "
       "(batches handed over through a shared queue)",
       {{"blocks", 2000000, 50000, "blocks per allocating thread"},
        {"batch", 256, 256, "blocks per handed-over batch"},
        kObjMin,
        {"obj_max", 256, 256, "largest object, bytes"},
        kSeedParam},
       {"tput"},
       Threading::fixed,
       2,
       malloc_api_only,
       run_xmalloc,
       "",
       "preload",
       nullptr},
      {"cache-scratch",
       "false sharing: the main thread allocates one small object per thread; each thread frees it, then "
       "allocates, writes repeatedly and frees small objects",
       {{"size", 8, 8, "object size, bytes"},
        {"iterations", 10000, 1000, "allocate-write-free rounds per thread"},
        {"writes", 500, 100, "writes per object"}},
       {"tput"},
       Threading::fixed,
       2,
       malloc_api_only,
       run_cache_scratch,
       "",
       "preload",
       nullptr},
      {"thread-churn",
       "many short-lived threads, N at a time, each allocating and freeing 200 blocks of 16-512 B",
       {{"spawned", 2000, 100, "threads started in all"},
        {"blocks", 200, 200, "blocks per thread"},
        kObjMin,
        {"obj_max", 512, 512, "largest object, bytes"},
        kSeedParam},
       {"tput"},
       Threading::fixed,
       2,
       malloc_api_only,
       run_thread_churn,
       "",
       "preload",
       nullptr},
      {"large-buffer",
       "a loop of: allocate a buffer of 5-25 MiB, write every page, free it",
       {{"iterations", 50, 10, "buffers"},
        {"min_mib", 5, 5, "smallest buffer, MiB"},
        {"max_mib", 25, 25, "largest buffer, MiB"},
        kSeedParam},
       {"rss"},
       Threading::single,
       1,
       malloc_api_only,
       run_large_buffer,
       "",
       "preload",
       nullptr},
      {"server-buffers",
       "threads each hold connection buffers of 16-128 KiB and replace random ones, writing their first and "
       "last pages",
       {{"buffers", 2000, 200, "buffers held per thread"},
        {"ops", 400000, 20000, "replacements per thread"},
        kSeedParam},
       {"tput"},
       Threading::fixed,
       2,
       malloc_api_only,
       run_server_buffers,
       "",
       "preload",
       nullptr},
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

const std::vector<WorkloadGroup>& workload_groups() {
  static const std::vector<WorkloadGroup> groups = {
      {"preload",
       "unmodified programs (python3, sqlite3, git, a C++ program) and stress shapes (larson, xmalloc, "
       "cache-scratch, thread-churn, large-buffer, server-buffers) through malloc, each allocator "
       "LD_PRELOADed"}};
  return groups;
}

const WorkloadGroup* find_group(const std::string& name) {
  for (const WorkloadGroup& g : workload_groups())
    if (name == g.name) return &g;
  return nullptr;
}

std::vector<const Workload*> workloads_in_group(const std::string& group) {
  std::vector<const Workload*> v;
  for (const Workload& w : workloads())
    if (group == w.group) v.push_back(&w);
  return v;
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
      {"python-json/run", {"wall_ms", "%.0f ms"}},
      {"sqlite/run", {"wall_ms", "%.0f ms"}},
      {"git-commit/run", {"wall_ms", "%.0f ms"}},
      {"cpp-containers/run", {"wall_ms", "%.0f ms"}},
      {"cpp-requests/plain", {"rss_after_phase", "after phase %.0f B"}},
      {"cpp-requests/scoped", {"rss_after_phase", "after phase %.0f B"}},
      {"larson/tput", {"mops_per_s", "%.2f Mops/s"}},
      {"xmalloc/tput", {"mblocks_per_s", "%.2f M blocks/s"}},
      {"cache-scratch/tput", {"wall_ms", "%.1f ms"}},
      {"thread-churn/tput", {"threads_per_s", "%.0f threads/s"}},
      {"large-buffer/rss", {"ms_per_buffer", "%.2f ms/buffer"}},
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
