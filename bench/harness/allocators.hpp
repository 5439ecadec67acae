// This file contains the allocators the benchmark knows, where each preloaded
// shared object lives, the check that the allocator serving malloc in this
// process is the one a measurement claims, and the purge calls of the
// allocators measured through malloc.
#ifndef TSLAB_BENCH_HARNESS_ALLOCATORS_HPP
#define TSLAB_BENCH_HARNESS_ALLOCATORS_HPP

#include <string>
#include <vector>

namespace bench {

// All allocator names, in display order: tslab variants, tslab-malloc, then peers.
//   tslab         tslab's pointer API (slab_malloc_epoch / slab_free), using epochs
//                 wherever the workload has phases
//   tslab-handle  tslab's handle API (alloc_obj_epoch / free_obj): churn, bulk
//   tslab-epochs  fragmentation-adversary only: kept objects in a long-lived epoch,
//                 the rest closed with their epoch instead of collected
//   tslab-malloc  malloc/free with libtslab-malloc.so LD_PRELOADed: tslab as the
//                 process malloc, measured like a peer but not one of them
//   glibc, mimalloc, jemalloc, tcmalloc: malloc/free, a peer LD_PRELOADed
const std::vector<std::string>& all_allocators();
bool is_known_allocator(const std::string& name);
// tslab, tslab-handle and tslab-epochs: measured through tslab's C API, no LD_PRELOAD.
bool is_tslab_variant(const std::string& name);
// glibc, mimalloc, jemalloc, tcmalloc: the allocators ratios "to the best peer"
// compare with.
bool is_peer(const std::string& name);
// The peers and tslab-malloc: measured through malloc/free (and operator new),
// the allocator chosen by LD_PRELOAD; every workload written against malloc runs them.
bool uses_malloc_api(const std::string& name);
// Whether this binary was built with the tslab library (the C API variants).
bool tslab_built_in();
// The shared object to LD_PRELOAD for `name`, or "" for glibc and the tslab variants
// (and for tslab-malloc in a binary built without the library).
std::string preload_library(const std::string& name);
// The environment variable that overrides preload_library(name), or "" if none.
std::string preload_override_variable(const std::string& name);

// Identifies the allocator that serves malloc in this process and compares it
// with `expected` (for the tslab variants, glibc must be serving malloc and no
// peer or tslab-malloc may be loaded). On success `detail` names the live
// allocator and its version; on failure it says what was found instead.
bool verify_live_allocator(const std::string& expected, std::string& detail);

// The call that hands a malloc-API allocator's free memory back to the OS, looked
// up with dlsym (nothing is linked):
//   glibc, tslab-malloc  malloc_trim(0)  (tslab-malloc: every empty slab's pages)
//   tcmalloc  MallocExtension_ReleaseFreeMemory()
//   jemalloc  mallctl("arena.4096.purge")  (4096 = MALLCTL_ARENAS_ALL: every arena)
//   mimalloc  mi_collect(true)
// Resolve it before measuring (dlsym may allocate). Returns nullptr and sets
// `error` if the allocator's symbol is missing.
using PurgeFn = bool (*)();
PurgeFn malloc_purge_fn(const std::string& name, std::string& error);

}  // namespace bench

#endif
