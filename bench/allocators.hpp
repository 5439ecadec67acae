// The allocators the benchmark knows, where each peer's shared object lives,
// and the check that the allocator serving malloc in this process is the one a
// measurement claims.
#ifndef TSLAB_BENCH_ALLOCATORS_HPP
#define TSLAB_BENCH_ALLOCATORS_HPP

#include <string>
#include <vector>

namespace bench {

// All allocator names, in display order: tslab variants first, then peers.
const std::vector<std::string>& all_allocators();
bool is_known_allocator(const std::string& name);
// tslab, tslab-handle and tslab-epochs: measured through tslab's C API, no LD_PRELOAD.
// tslab-epochs is the lifetime-aware use of the retention workload only.
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

}  // namespace bench

#endif
