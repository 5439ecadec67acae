// This file contains the process malloc: the allocator behind every plain
// malloc and operator new when libtslab-malloc is the process's malloc, with
// its fast paths inline (the exported functions in malloc_exports.cpp and
// new_delete.cpp are one call into these), and the thread's scope epoch.
//
// malloc is the core's allocation fast path (core/fast_path.h) into the
// thread's current epoch: one acquire load of the allocator (a plain load on
// x86-64), the thread's entry word checked and its "inside" count raised and
// lowered around the core's call, and one thread-local read on top. free is the
// core's free fast path; what it refuses goes to bad_free() (a block of the
// bootstrap reserve, or a diagnostic).
//
// Re-entry. A signal handler that interrupts malloc or free, or any tslab call
// holding a tslab lock (a collect, an epoch close, a scope's end, the thread's
// exit), and calls malloc or free finds the thread's entry word not clear
// (platform/thread_entry.h): its allocation comes from the bootstrap reserve
// (boot_reserve.h) and its free is queued, carried out by the thread's next
// call that finds the word clear (malloc_miss / free_miss). The core's
// thread-local structures are never entered twice at once, and no lock the
// thread holds is waited for.
#ifndef TSLAB_OVERRIDE_PROCESS_MALLOC_H
#define TSLAB_OVERRIDE_PROCESS_MALLOC_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/fast_path.h"
#include "platform/thread_entry.h"
#include "tslab/malloc.h"

namespace tslab::detail {

// The process allocator, published once by malloc_init() (process_malloc.cpp).
extern constinit std::atomic<AllocatorCore*> g_malloc_core;
// The epoch the calling thread's plain allocations go to (0 outside scopes).
[[gnu::tls_model("initial-exec")]] extern thread_local constinit std::uint32_t tl_malloc_epoch;

// The calling thread's entry word (platform/thread_entry.h): its count of
// times inside tslab, raised by InsideMalloc below and by every tslab lock the
// thread holds, and the flag queue_free sets (process_malloc.cpp).

// True if the thread is not inside tslab and has no queued frees: one 16-bit
// compare. The fast paths enter the core only then.
[[gnu::always_inline]] inline bool malloc_state_clear() noexcept { return thread_entry_clear(); }

// True if the thread is inside tslab (a signal handler interrupted malloc, free
// or a scope, or any tslab call holding a tslab lock): the core must not be
// entered, its lock may be this thread's own. Allocations then come from the
// bootstrap reserve and frees are queued.
[[gnu::always_inline]] inline bool inside_tslab() noexcept { return thread_inside_tslab(); }

// Marks the calling thread inside tslab while it lives (enter_tslab). The
// compiler keeps the core's accesses between the count's two writes (signal
// fences): a handler that interrupts anywhere in between finds it raised.
class InsideMalloc {
 public:
  [[gnu::always_inline]] InsideMalloc() noexcept { enter_tslab(); }
  [[gnu::always_inline]] ~InsideMalloc() { leave_tslab(); }
  InsideMalloc(const InsideMalloc&) = delete;
  InsideMalloc& operator=(const InsideMalloc&) = delete;
};

// The slow paths, not inlined: the first allocation (which creates the process
// allocator, serving re-entrant calls from the bootstrap reserve meanwhile),
// an allocation the core refused (errno ENOMEM), a call made inside tslab (a
// signal handler's) or with frees queued, and a refused free.
[[gnu::noinline]] void* malloc_miss(std::size_t size) noexcept;
[[gnu::noinline]] void free_miss(void* p, const char* function) noexcept;
[[gnu::noinline, gnu::cold]] void bad_free(void* p, TslabError error, const char* function) noexcept;

[[gnu::always_inline]] inline void* process_malloc(std::size_t size) noexcept {
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  if (core != nullptr && malloc_state_clear()) [[likely]] {
    void* p;
    {
      const InsideMalloc inside;
      // Size 0 takes the smallest class: a unique pointer, as C asks.
      p = core->alloc(size, tl_malloc_epoch);
    }
    if (p != nullptr) [[likely]]
      return p;
  }
  return malloc_miss(size);
}

[[gnu::always_inline]] inline void process_free(void* p, const char* function = "free") noexcept {
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  if (core != nullptr && malloc_state_clear()) [[likely]] {
    TslabError e;
    {
      const InsideMalloc inside;
      e = core->free(p);  // free(NULL) is TSLAB_OK, on its slow path
    }
    if (e == TSLAB_OK) [[likely]]
      return;
    return bad_free(p, e, function);
  }
  return free_miss(p, function);
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
// The malloc override's counters (tslab/malloc.h).
void malloc_counters(TslabMallocCounters* out) noexcept;

// Scopes (scopes.cpp; tslab/malloc.h says what they do).
// Called once, with the process allocator, under its creation lock.
bool scopes_init() noexcept;
// Makes the thread's exit call thread_exit_frees() (and end its scopes);
// callable from a signal handler.
void watch_thread_exit() noexcept;
// Carries out the frees a handler queued on the exiting thread.
void thread_exit_frees() noexcept;
std::uint32_t scope_begin(const char* label) noexcept;
bool scope_end() noexcept;
std::uint32_t scope_depth() noexcept;
bool scope_counters(TslabScopeCounters* out) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_OVERRIDE_PROCESS_MALLOC_H
