// This file contains the allocators the benchmark knows, where each peer's
// shared object lives, the check that the allocator serving malloc in this
// process is the one a measurement claims, and the peers' purge calls.
#ifndef TSLAB_BENCH_HARNESS_ALLOCATORS_HPP
#define TSLAB_BENCH_HARNESS_ALLOCATORS_HPP

#include <string>
#include <vector>

namespace bench {

// All allocator names, in display order: tslab variants first, then peers.
//   tslab         tslab's pointer API (slab_malloc_epoch / slab_free), using epochs
//                 wherever the workload has phases
//   tslab-handle  tslab's handle API (alloc_obj_epoch / free_obj): churn, bulk
//   tslab-epochs  fragmentation-adversary only: kept objects in a long-lived epoch,
//                 the rest closed with their epoch instead of collected
//   glibc, mimalloc, jemalloc, tcmalloc: malloc/free, a peer LD_PRELOADed
const std::vector<std::string>& all_allocators();
bool is_known_allocator(const std::string& name);
// tslab, tslab-handle and tslab-epochs: measured through tslab's C API, no LD_PRELOAD.
bool is_tslab_variant(const std::string& name);
// glibc, mimalloc, jemalloc, tcmalloc: measured through malloc/free.
bool is_peer(const std::string& name);
// Whether this binary was built with the tslab library.
bool tslab_built_in();
// The shared object to LD_PRELOAD for `name`, or "" for glibc and tslab.
std::string preload_library(const std::string& name);

// Identifies the allocator that serves malloc in this process and compares it
// with `expected` (for the tslab variants, glibc must be serving malloc and no
// peer may be loaded). On success `detail` names the live allocator and its
// version; on failure it says what was found instead.
bool verify_live_allocator(const std::string& expected, std::string& detail);

// The call that hands a peer's free memory back to the OS, looked up with dlsym
// (nothing is linked):
//   glibc     malloc_trim(0)
//   tcmalloc  MallocExtension_ReleaseFreeMemory()
//   jemalloc  mallctl("arena.4096.purge")  (4096 = MALLCTL_ARENAS_ALL: every arena)
//   mimalloc  mi_collect(true)
// Resolve it before measuring (dlsym may allocate). Returns nullptr and sets
// `error` if the peer's symbol is missing.
using PurgeFn = bool (*)();
PurgeFn peer_purge_fn(const std::string& name, std::string& error);

}  // namespace bench

#endif
