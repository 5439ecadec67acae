// This file contains the process malloc: the allocator behind every plain
// malloc and operator new when libtslab-malloc is the process's malloc, with
// its fast paths inline (the exported functions in malloc_exports.cpp and
// new_delete.cpp are one call into these), and the thread's scope epoch.
//
// malloc is the core's allocation fast path (core/fast_path.h) into the
// thread's current epoch: one acquire load of the allocator (a plain load on
// x86-64) and one thread-local read on top. free is the core's free fast path;
// what it refuses goes to bad_free() (a block of the bootstrap buffer, or a
// diagnostic).
#ifndef TSLAB_OVERRIDE_PROCESS_MALLOC_H
#define TSLAB_OVERRIDE_PROCESS_MALLOC_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/fast_path.h"
#include "tslab/malloc.h"

namespace tslab::detail {

// The process allocator, published once by malloc_init() (process_malloc.cpp).
extern constinit std::atomic<AllocatorCore*> g_malloc_core;
// The epoch the calling thread's plain allocations go to (0 outside scopes).
[[gnu::tls_model("initial-exec")]] extern thread_local constinit std::uint32_t tl_malloc_epoch;

// The slow paths, not inlined: the first allocation (which creates the process
// allocator, serving re-entrant calls from a static bootstrap buffer meanwhile),
// an allocation the core refused (errno ENOMEM), and a refused free.
[[gnu::noinline]] void* malloc_miss(std::size_t size) noexcept;
[[gnu::noinline, gnu::cold]] void bad_free(void* p, TslabError error, const char* function) noexcept;

[[gnu::always_inline]] inline void* process_malloc(std::size_t size) noexcept {
  if (AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire)) [[likely]] {
    // Size 0 takes the smallest class: a unique pointer, as C asks.
    if (void* p = core->alloc(size, tl_malloc_epoch)) [[likely]]
      return p;
  }
  return malloc_miss(size);
}

[[gnu::always_inline]] inline void process_free(void* p, const char* function = "free") noexcept {
  if (AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire)) [[likely]] {
    const TslabError e = core->free(p);  // free(NULL) is TSLAB_OK, on its slow path
    if (e == TSLAB_OK) [[likely]]
      return;
    return bad_free(p, e, function);
  }
  if (p != nullptr) bad_free(p, TSLAB_ERR_NOT_ALLOCATED, function);
}

// The rest of the malloc family (process_malloc.cpp). Each sets errno as the C
// and POSIX functions do and never crashes on a pointer tslab did not return.
void* process_calloc(std::size_t count, std::size_t size) noexcept;
void* process_realloc(void* p, std::size_t size, const char* function = "realloc") noexcept;
void* process_reallocarray(void* p, std::size_t count, std::size_t size) noexcept;
// `alignment` must be a power of two (callers check their own rules first).
void* process_aligned(std::size_t alignment, std::size_t size) noexcept;
std::size_t process_usable_size(const void* p) noexcept;
// malloc_trim: returns every empty slab's pages; true if any went back.
bool process_trim() noexcept;
// malloc_stats: the process allocator's summary on stderr.
void process_print_stats() noexcept;
// The process allocator, created if it does not exist yet; nullptr if refused.
AllocatorCore* process_malloc_core() noexcept;

// Scopes (scopes.cpp; tslab/malloc.h says what they do).
// Called once, with the process allocator, under its creation lock.
bool scopes_init() noexcept;
std::uint32_t scope_begin(const char* label) noexcept;
bool scope_end() noexcept;
std::uint32_t scope_depth() noexcept;
bool scope_counters(TslabScopeCounters* out) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_OVERRIDE_PROCESS_MALLOC_H
