// This file contains the records allocators live in. A record stays mapped for
// the life of the process: when its allocator is destroyed its pages go back to
// the OS and a dead allocator is constructed in it (AllocatorCore::alive() is
// false; every call on it is refused, none crashes). A record is reused, with a
// new allocator identity, only after RECORD_QUARANTINE later destroys, so a call
// through a stale pointer meets a dead allocator for a long while rather than a
// new one at once.
//
// Record numbers (1..MAX_ALLOCATOR_RECORDS) are unique among live allocators and
// name the owner of slab ids in the registry (handle/registry.h).
#ifndef TSLAB_CORE_ALLOCATOR_RECORDS_H
#define TSLAB_CORE_ALLOCATOR_RECORDS_H

#include <cstddef>
#include <cstdint>

namespace tslab::detail {

inline constexpr std::uint32_t MAX_ALLOCATOR_RECORDS = (1u << 20) - 1;
inline constexpr std::uint32_t RECORD_QUARANTINE = 64;

// Registers the records' fork participant (once). True.
bool allocator_records_init() noexcept;
// Zeroed, page-aligned memory of `size` bytes (the same size on every call) and
// its record number, or nullptr if the OS refused or every record is live.
void* allocator_record_acquire(std::size_t size, std::uint32_t* number) noexcept;
// Queues a record (holding a dead allocator) for reuse after the quarantine.
void allocator_record_release(std::uint32_t number) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_CORE_ALLOCATOR_RECORDS_H
