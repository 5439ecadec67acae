// This file contains the process malloc: the allocator behind every plain
// malloc and operator new when libtslab-malloc is the process's malloc, with
// its fast paths inline (the exported functions in malloc_exports.cpp and
// new_delete.cpp are one call into these), and the thread's scope epoch.
//
// malloc is the core's allocation fast path (core/fast_path.h) into the
// thread's current epoch: one acquire load of the allocator (a plain load on
// x86-64), the thread's entry word checked and its "inside" count raised before
// the core's fast path and lowered in each of its endings (MallocEndings and
// FreeEndings below), and one thread-local read on top. free is the core's free
// fast path; what it refuses goes to bad_free() (a block of the bootstrap
// reserve, or a diagnostic). Measured (callgrind, `make bench-instructions`,
// 128 B churn): malloc 64 instructions, free 67.
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

#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/fast_path.h"
#include "override/boot_reserve.h"
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

// True if the thread is not inside tslab and has no queued frees (two byte
// loads and one test, platform/thread_entry.h). The fast paths enter the core only then.
[[gnu::always_inline]] inline bool malloc_state_clear() noexcept { return thread_entry_clear(); }

// True if the thread is inside tslab (a signal handler interrupted malloc, free
// or a scope, or any tslab call holding a tslab lock): the core must not be
// entered, its lock may be this thread's own. Allocations then come from the
// bootstrap reserve and frees are queued.
[[gnu::always_inline]] inline bool inside_tslab() noexcept { return thread_inside_tslab(); }

// Marks the calling thread inside tslab while it lives (platform/thread_entry.h).
using InsideMalloc = InsideTslab;

// The slow paths, not inlined: the first allocation (which creates the process
// allocator, serving re-entrant calls from the bootstrap reserve meanwhile),
// an allocation the core refused (errno ENOMEM), a call made inside tslab (a
// signal handler's) or with frees queued, and a refused free.
[[gnu::noinline]] void* malloc_miss(std::size_t size) noexcept;
[[gnu::noinline]] void free_miss(void* p, const char* function) noexcept;
[[gnu::noinline, gnu::cold]] void bad_free(void* p, TslabError error, const char* function) noexcept;

// The override's fast-path endings (core/fast_endings.h): each one lowers the
// thread's "inside" mark that process_malloc and process_free raised before the
// core's fast path, so that each is a tail call and malloc and free need no
// stack frame. A miss goes on to malloc_miss (ENOMEM, a closed scope epoch,
// the reserve) and a refused free to bad_free (its report names the function
// called). The cold endings read the process allocator and the thread's epoch
// again rather than have the fast path keep them in registers to the end.
[[gnu::noinline]] void* malloc_missed(std::size_t size) noexcept;
[[gnu::noinline, gnu::cold]] void* malloc_refilled(Heap* heap, Slab* s, void* p) noexcept;

struct MallocEndings {
  [[gnu::always_inline]] static void* allocated(void* p) noexcept {
    leave_tslab();
    return p;
  }
  [[gnu::always_inline]] static void* alloc_missed(AllocatorCore&, std::size_t size, std::uint32_t) noexcept {
    return malloc_missed(size);
  }
  [[gnu::always_inline]] static void* refilled(Heap* heap, Slab* s, void* p) noexcept {
    return malloc_refilled(heap, s, p);
  }
};

// The functions a refused free's report names.
enum class FreeCall : std::uint8_t {
  free,
  free_sized,
  free_aligned_sized,
  realloc,
  reallocarray,
  operator_delete,
  operator_delete_array
};

constexpr const char* free_call_name(FreeCall call) noexcept {
  switch (call) {
    case FreeCall::free_sized:
      return "free_sized";
    case FreeCall::free_aligned_sized:
      return "free_aligned_sized";
    case FreeCall::realloc:
      return "realloc";
    case FreeCall::reallocarray:
      return "reallocarray";
    case FreeCall::operator_delete:
      return "operator delete";
    case FreeCall::operator_delete_array:
      return "operator delete[]";
    case FreeCall::free:
      break;
  }
  return "free";
}

// A free the fast path left: another thread's block, a large one, NULL, a block
// of the bootstrap reserve or a refused one. One function per caller, so that
// only `p` lives across the call.
template <FreeCall Call>
[[gnu::noinline]] void free_missed(void* p) noexcept {
  // The reserve's blocks are the override's own: the core, which counts every
  // free it refuses (invalid_frees), never sees them.
  if (is_boot(p)) [[unlikely]] {
    leave_tslab();
    return bad_free(p, TSLAB_OK, free_call_name(Call));  // back to the reserve, or reported
  }
  const TslabError e = g_malloc_core.load(std::memory_order_relaxed)->free_slow(p);  // free(NULL): TSLAB_OK
  leave_tslab();
  if (e != TSLAB_OK) [[unlikely]]
    bad_free(p, e, free_call_name(Call));
}
// A block of a small slab another heap owns: a remote free (or a refused one).
template <FreeCall Call>
[[gnu::noinline]] void free_other(void* p, Slab* s) noexcept {
  const TslabError e = g_malloc_core.load(std::memory_order_relaxed)->free_other(p, s);
  leave_tslab();
  if (e != TSLAB_OK) [[unlikely]]
    bad_free(p, e, free_call_name(Call));
}
[[gnu::noinline, gnu::cold]] void free_refused(void* p, TslabError e, FreeCall call) noexcept;
[[gnu::noinline, gnu::cold]] void free_closed(void* p, Heap* heap, Slab* s, std::uint64_t era, bool emptied,
                                              FreeCall call) noexcept;
[[gnu::noinline, gnu::cold]] void free_emptied(Heap* heap, Slab* s) noexcept;

template <FreeCall Call>
struct FreeEndings {
  using Result = void;
  [[gnu::always_inline]] static void freed() noexcept { leave_tslab(); }
  [[gnu::always_inline]] static void free_missed(AllocatorCore&, void* p) noexcept {
    return detail::free_missed<Call>(p);
  }
  [[gnu::always_inline]] static void free_other(AllocatorCore&, void* p, Slab* s) noexcept {
    return detail::free_other<Call>(p, s);
  }
  [[gnu::always_inline]] static void free_rejected(AllocatorCore&, void* p, TslabError e) noexcept {
    return free_refused(p, e, Call);
  }
  [[gnu::always_inline]] static void free_closed(AllocatorCore&, void* p, Heap* heap, Slab* s,
                                                 std::uint64_t era, bool emptied) noexcept {
    return detail::free_closed(p, heap, s, era, emptied, Call);
  }
  [[gnu::always_inline]] static void free_emptied(Heap* heap, Slab* s) noexcept {
    return detail::free_emptied(heap, s);
  }
};

[[gnu::always_inline]] inline void* process_malloc(std::size_t size) noexcept {
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  if (core != nullptr && malloc_state_clear()) [[likely]] {
    // Lowered by each of the endings. Size 0 takes the smallest class: a unique
    // pointer, as C asks.
    enter_tslab();
    return core->alloc<MallocEndings>(size, tl_malloc_epoch);
  }
  return malloc_miss(size);
}

template <FreeCall Call = FreeCall::free>
[[gnu::always_inline]] inline void process_free(void* p) noexcept {
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  if (core != nullptr && malloc_state_clear()) [[likely]] {
    enter_tslab();  // lowered by each of the endings
    return core->free<FreeEndings<Call>>(p);
  }
  return free_miss(p, free_call_name(Call));
}

// The rest of the malloc family (process_malloc.cpp). Each sets errno as the C
// and POSIX functions do and never crashes on a pointer tslab did not return.
void* process_calloc(std::size_t count, std::size_t size) noexcept;
void* process_realloc(void* p, std::size_t size, FreeCall call = FreeCall::realloc) noexcept;
void* process_reallocarray(void* p, std::size_t count, std::size_t size) noexcept;
// `alignment` must be a power of two (callers check their own rules first).
void* process_aligned(std::size_t alignment, std::size_t size) noexcept;
std::size_t process_usable_size(const void* p) noexcept;
// malloc_trim: returns every empty slab's pages; true if any went back.
bool process_trim() noexcept;
// malloc_stats: the process allocator's summary on stderr.
void process_print_stats() noexcept;
// mallinfo2: the process allocator's statistics in glibc's fields (README,
// "Drop-in malloc"); all zero before the first allocation or when called from
// inside tslab (a signal handler).
struct mallinfo2 process_mallinfo() noexcept;
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
std::uint64_t scope_innermost() noexcept;
bool scope_end_checked(std::uint64_t id) noexcept;
std::uint32_t scope_depth() noexcept;
bool scope_counters(TslabScopeCounters* out) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_OVERRIDE_PROCESS_MALLOC_H
