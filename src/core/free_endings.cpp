// This file contains the endings of the fast free (core/fast_path.h) for an API
// that reports only whether a free succeeded (slab_free_checked): the same
// slow path, refusal and closed-activation ending as the TslabError ones, with
// the result already a bool, so the fast path reaches each by a tail call.
#include "core/fast_path.h"

namespace tslab::detail {

bool AllocatorCore::free_slow_ok(void* p) noexcept { return free_slow(p) == TSLAB_OK; }

bool AllocatorCore::free_other_ok(void* p, Slab* s) noexcept { return free_other(p, s) == TSLAB_OK; }

bool AllocatorCore::reject_free_ok(TslabError e) noexcept {
  reject_free(e);
  return false;
}

bool AllocatorCore::freed_into_closed_ok(Heap* heap, Slab* s, std::uint64_t era, bool emptied) noexcept {
  return freed_into_closed(heap, s, era, emptied) == TSLAB_OK;
}

}  // namespace tslab::detail
