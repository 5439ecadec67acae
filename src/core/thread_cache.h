// This file contains the thread-local state every allocation path reads first.
//
// A thread caches its heaps in up to THREAD_CACHE_WAYS allocators at once, one
// line per allocator: each live allocator is assigned a way when it is created
// (the way fewest live allocators share, so up to THREAD_CACHE_WAYS live
// allocators never share one), and its fast paths read only
// tl_cache[way]. A line starts as {NO_ALLOCATOR, ...}, an id no allocator has
// (live ones count from 1, a dead one reads 0), so a thread's first call on any
// allocator misses and takes the slow path, which attaches the thread. There is
// no "is this thread initialised?" test on the fast path. Two allocators that
// share a way (more live allocators than ways) evict each other's line; the
// slow path finds the heap again in the thread's record (core/threads.cpp).
#ifndef TSLAB_CORE_THREAD_CACHE_H
#define TSLAB_CORE_THREAD_CACHE_H

#include <cstdint>

#include "tslab/error.h"

namespace tslab::detail {

class Heap;

struct HotBin;

inline constexpr std::uint64_t NO_ALLOCATOR = ~std::uint64_t{0};
inline constexpr std::uint32_t THREAD_CACHE_WAYS = 16;

struct alignas(32) ThreadCache {
  std::uint64_t uid;  // allocator id (never reused), NO_ALLOCATOR = none
  HotBin* bins;       // that heap's hot bins (saves a dependent load per call)
  Heap* heap;         // this thread's heap in that allocator
};

[[gnu::tls_model("initial-exec")]] extern thread_local constinit ThreadCache tl_cache[THREAD_CACHE_WAYS];
[[gnu::tls_model("initial-exec")]] extern thread_local constinit TslabError tl_last_error;
// Arena work the thread has under way (AllocatorCore::begin_arena_work).
[[gnu::tls_model("initial-exec")]] extern thread_local constinit std::uint32_t tl_arena_work;

inline void set_error(TslabError e) noexcept { tl_last_error = e; }

// The calling thread's thread pointer (on x86-64 the word at %fs:0). An
// initial-exec thread_local lies at the same offset from it in every thread, so
// an allocator keeps its cache line's offset (AllocatorCore::cache_line) and
// reaches the line with one load and one add.
inline char* thread_pointer() noexcept { return static_cast<char*>(__builtin_thread_pointer()); }

}  // namespace tslab::detail

#endif  // TSLAB_CORE_THREAD_CACHE_H
