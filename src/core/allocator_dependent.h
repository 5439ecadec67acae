// This file contains AllocatorDependent, the link by which something built on
// an allocator (an arena over its chunks: arena/arena_core.h) ends with it.
#ifndef TSLAB_CORE_ALLOCATOR_DEPENDENT_H
#define TSLAB_CORE_ALLOCATOR_DEPENDENT_H

namespace tslab::detail {

// Something built on an allocator that must end with it (an arena over its
// chunks: arena/arena_core.h). Registered while it lives; the allocator's
// destroy calls end(owner) for each one still registered, under the allocator
// lock, before the allocator's memory goes, so that a later call on it is
// refused instead of reaching that memory.
struct AllocatorDependent {
  void (*end)(void* owner) noexcept = nullptr;
  void* owner = nullptr;
  AllocatorDependent* prev = nullptr;
  AllocatorDependent* next = nullptr;
};

}  // namespace tslab::detail

#endif  // TSLAB_CORE_ALLOCATOR_DEPENDENT_H
