// This file contains AllocatorDependent, the link by which something built on
// an allocator (an arena over its chunks: arena/arena_core.h) ends with it.
#ifndef TSLAB_CORE_ALLOCATOR_DEPENDENT_H
#define TSLAB_CORE_ALLOCATOR_DEPENDENT_H

#include <cstdint>

#include "tslab/error.h"

namespace tslab::detail {

// Something built on an allocator that must end with it (an arena over its
// chunks: arena/arena_core.h). Registered while it lives; the allocator's
// destroy calls end(owner) for each one still registered, before the
// allocator's memory goes, so that a later call on it is refused instead of
// reaching that memory (with `why`: TSLAB_ERR_INVALID_ARGUMENT). One whose
// memory is blocks of one epoch activation (`epoch` at `era`) ends the same way
// when epoch_destroy releases them (TSLAB_ERR_STALE_EPOCH): end under the
// allocator lock, then the blocks go.
struct AllocatorDependent {
  void (*end)(void* owner, TslabError why) noexcept = nullptr;
  void* owner = nullptr;
  std::uint32_t epoch = 0;
  std::uint64_t era = 0;  // 0: not bound to an epoch activation
  AllocatorDependent* prev = nullptr;
  AllocatorDependent* next = nullptr;
  bool linked = false;  // on its allocator's list (allocator lock)
};

}  // namespace tslab::detail

#endif  // TSLAB_CORE_ALLOCATOR_DEPENDENT_H
