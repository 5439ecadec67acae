// This file contains the ending policies of the fast paths (core/fast_path.h):
// how each outcome of an allocation or a free reaches the API that called it.
//
// An API instantiates the fast paths with its policy, so every ending is in the
// API's own terms: the common one inline, each other one a single call in tail
// position. The fast path then never resumes after a call and needs no stack
// frame of its own. A policy provides, as static members:
//
//   allocation                          free
//   allocated(p)     the block          Result              what free returns
//   alloc_missed(core, size, epoch)     freed()             the block went back
//                    the slow path      free_missed(core, p)          the slow path
//                                       free_other(core, p, slab)     another heap's
//                                                           small slab (a remote free)
//   refilled(heap, slab, p)             free_rejected(core, p, error) a refused free
//                    the slab's first   free_closed(core, p, heap, slab, era, emptied)
//                    live block                             into a closed activation
//                                       free_emptied(heap, slab)      the slab's last
//                                       free_handle_missed(core, handle)  a handle's free
//                                                           the fast path does not take
//                                       free_handle_other(core, handle, slab)  a handle of
//                                                           another heap's slab
//
// ErrorEndings (the block or nullptr, and the free's TslabError) and
// SuccessEndings (the free's success as a bool, for slab_free_checked) are the
// core's. The malloc override has its own (override/process_malloc.h), which
// also ends the thread's "inside tslab" mark in each ending: with the mark
// lowered after the fast path returned, malloc and free each kept a stack frame
// to resume in, 6 instructions per call.
#ifndef TSLAB_CORE_FAST_ENDINGS_H
#define TSLAB_CORE_FAST_ENDINGS_H

#include "core/allocator_core.h"

namespace tslab::detail {

// The allocation endings every API of the core shares.
struct CoreAllocEndings {
  [[gnu::always_inline]] static void* allocated(void* p) noexcept { return p; }
  [[gnu::always_inline]] static void* alloc_missed(AllocatorCore& core, std::size_t size,
                                                   std::uint32_t epoch) noexcept {
    return core.alloc_slow(size, epoch);
  }
  [[gnu::always_inline]] static void* refilled(Heap* heap, Slab* s, void* p) noexcept {
    return heap->refilled_then(s, p);
  }
};

struct ErrorEndings : CoreAllocEndings {
  using Result = TslabError;
  [[gnu::always_inline]] static Result freed() noexcept { return TSLAB_OK; }
  [[gnu::always_inline]] static Result free_missed(AllocatorCore& core, void* p) noexcept {
    return core.free_slow(p);
  }
  [[gnu::always_inline]] static Result free_other(AllocatorCore& core, void* p, Slab* s) noexcept {
    return core.free_other(p, s);
  }
  [[gnu::always_inline]] static Result free_handle_missed(AllocatorCore& core,
                                                          std::uint64_t handle) noexcept {
    return core.free_handle_slow(handle);
  }
  [[gnu::always_inline]] static Result free_handle_other(AllocatorCore& core, std::uint64_t handle,
                                                         Slab* s) noexcept {
    return core.free_handle_other(handle, s);
  }
  [[gnu::always_inline]] static Result free_rejected(AllocatorCore& core, void*, TslabError e) noexcept {
    return core.reject_free(e);
  }
  [[gnu::always_inline]] static Result free_closed(AllocatorCore& core, void*, Heap* heap, Slab* s,
                                                   std::uint64_t era, bool emptied) noexcept {
    return core.freed_into_closed(heap, s, era, emptied);
  }
  [[gnu::always_inline]] static Result free_emptied(Heap* heap, Slab* s) noexcept {
    return heap->emptied_then<TslabError>(s);
  }
};

struct SuccessEndings : CoreAllocEndings {
  using Result = bool;
  [[gnu::always_inline]] static Result freed() noexcept {
    // Opaque, so the compiler returns a constant rather than keep the bitmap
    // test's flag (known true on this path) in a callee-saved register.
    bool ok = true;
    asm("" : "+r"(ok));
    return ok;
  }
  [[gnu::always_inline]] static Result free_missed(AllocatorCore& core, void* p) noexcept {
    return core.free_slow_ok(p);
  }
  [[gnu::always_inline]] static Result free_other(AllocatorCore& core, void* p, Slab* s) noexcept {
    return core.free_other_ok(p, s);
  }
  [[gnu::always_inline]] static Result free_handle_missed(AllocatorCore& core,
                                                          std::uint64_t handle) noexcept {
    return core.free_handle_slow_ok(handle);
  }
  [[gnu::always_inline]] static Result free_handle_other(AllocatorCore& core, std::uint64_t handle,
                                                         Slab* s) noexcept {
    return core.free_handle_other_ok(handle, s);
  }
  [[gnu::always_inline]] static Result free_rejected(AllocatorCore& core, void*, TslabError e) noexcept {
    return core.reject_free_ok(e);
  }
  [[gnu::always_inline]] static Result free_closed(AllocatorCore& core, void*, Heap* heap, Slab* s,
                                                   std::uint64_t era, bool emptied) noexcept {
    return core.freed_into_closed_ok(heap, s, era, emptied);
  }
  [[gnu::always_inline]] static Result free_emptied(Heap* heap, Slab* s) noexcept {
    return heap->emptied_then<bool>(s);
  }
};

}  // namespace tslab::detail

#endif  // TSLAB_CORE_FAST_ENDINGS_H
