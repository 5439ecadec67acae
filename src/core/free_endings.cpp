// This file contains the endings of the fast free (core/fast_path.h) for an API
// that reports only whether a free succeeded (slab_free_checked): the same
// slow path, refusal and closed-activation ending as the TslabError ones, with
// the result already a bool, so the fast path reaches each by a tail call.
#include "core/fast_path.h"

namespace tslab::detail {

bool AllocatorCore::free_slow_ok(void* p) noexcept { return free_slow(p) == TSLAB_OK; }

bool AllocatorCore::free_other_ok(void* p, Slab* s) noexcept { return free_other(p, s) == TSLAB_OK; }

template <FreeResult Result>
inline Result AllocatorCore::free_handle_validated(std::uint64_t handle) noexcept {
  if (!alive_or_error()) [[unlikely]]
    return free_result<Result>(TSLAB_ERR_INVALID_ARGUMENT);
  SlabPin pin;
  const BlockRef ref = resolve_handle(handle, pin);
  const TslabError e = ref.error != TSLAB_OK ? ref.error : free_block(ref, ref.slab->block_at(ref.slot));
  if (e != TSLAB_OK) [[unlikely]]
    reject_free(e);
  return free_result<Result>(e);
}

TslabError AllocatorCore::free_handle_slow(std::uint64_t handle) noexcept {
  return free_handle_validated<TslabError>(handle);
}

bool AllocatorCore::free_handle_slow_ok(std::uint64_t handle) noexcept {
  return free_handle_validated<bool>(handle);
}

bool AllocatorCore::reject_free_ok(TslabError e) noexcept {
  reject_free(e);
  return false;
}

bool AllocatorCore::freed_into_closed_ok(Heap* heap, Slab* s, std::uint64_t era, bool emptied) noexcept {
  return freed_into_closed(heap, s, era, emptied) == TSLAB_OK;
}

bool AllocatorCore::free_handle_other_ok(std::uint64_t handle, Slab* s) noexcept {
  return free_handle_other(handle, s) == TSLAB_OK;
}

}  // namespace tslab::detail
