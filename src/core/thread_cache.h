// This file contains the thread-local state every allocation path reads first.
//
// tl_cache names the allocator a thread used last and its heap there. It starts
// as {NO_ALLOCATOR, nullptr}, an id no allocator has (live ones count from 1, a
// dead one reads 0), so a thread's first call on any allocator misses and takes
// the slow path, which attaches the thread. There is no "is this thread
// initialised?" test on the fast path.
#ifndef TSLAB_CORE_THREAD_CACHE_H
#define TSLAB_CORE_THREAD_CACHE_H

#include <cstdint>

#include "tslab/error.h"

namespace tslab::detail {

class Heap;

struct HotBin;

inline constexpr std::uint64_t NO_ALLOCATOR = ~std::uint64_t{0};

struct ThreadCache {
  std::uint64_t uid;  // allocator id (never reused), NO_ALLOCATOR = none
  HotBin* bins;       // that heap's hot bins (saves a dependent load per call)
  Heap* heap;         // this thread's heap in that allocator
};

[[gnu::tls_model("initial-exec")]] extern thread_local constinit ThreadCache tl_cache;
[[gnu::tls_model("initial-exec")]] extern thread_local constinit TslabError tl_last_error;

inline void set_error(TslabError e) noexcept { tl_last_error = e; }

}  // namespace tslab::detail

#endif  // TSLAB_CORE_THREAD_CACHE_H
