// This file contains the process-wide slab registry: for every slab id, the
// allocator that owns it, its generation and the segment holding its slab.
//
// Ids are handed to allocators in blocks of SLABS_PER_SEGMENT consecutive ids
// (one per slab of a segment) or one at a time (a large span). An id keeps its
// generation across owners: a destroyed allocator's ids move one generation on
// before anyone can take them again, and a slab's new life moves its id one
// generation on. A generation never repeats: the step past HANDLE_GEN_MASK
// retires the id (GEN_RETIRED), and a retired id is never handed out or used
// again. So a handle's (id, generation) is unique in the process (handle/handle.h).
//
// Entry word: generation << 32 | owner (the allocator's record number, 0 while
// the id is free). Readers load it (acquire) without a lock; a reader that finds
// its own allocator as owner may use the segment pointer, which that allocator
// set before it published the owner and which stays put while it owns the id.
// Only an id's owner changes its generation; blocks and owners change under the
// registry's lock.
#ifndef TSLAB_HANDLE_REGISTRY_H
#define TSLAB_HANDLE_REGISTRY_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "handle/handle.h"
#include "segment/lazy_table.h"
#include "segment/segment.h"

namespace tslab::detail {

inline constexpr std::uint32_t GEN_RETIRED = HANDLE_GEN_MASK + 1;

struct RegistryEntry {
  std::atomic<std::uint64_t> word{0};
  // The owner's segment while the id is owned; the next free id (or block) while free.
  std::atomic<std::uintptr_t> link{0};
};

// A LazyTable (segment/lazy_table.h): leaves of 16,384 entries (256 KiB), each
// reserved when ids are first handed out from it, so the registry takes address
// space in proportion to the ids ever used. An id never handed out reads as free
// at generation 0, from the shared zero leaf.
inline constexpr unsigned REGISTRY_LEAF_BITS = 14;
using Registry = LazyTable<RegistryEntry, HANDLE_ID_BITS, REGISTRY_LEAF_BITS>;
static_assert(Registry::LEAF_ENTRIES % SLABS_PER_SEGMENT == 0, "a block of ids lies in one leaf");
// Readable from registry_init on (before the first allocator exists).
extern Registry g_registry;

// Registers the registry's fork participant and points every leaf at the zero
// leaf, on first call. Reserves nothing, so it never fails; true. Thread-safe.
bool registry_init() noexcept;

// SLABS_PER_SEGMENT consecutive ids for the slabs of `segment`, owned by `owner`;
// the first in *first. False when the process has no ids left, or when the
// segment map cannot cover the segment's range (segment_map_cover): every step
// of publishing a reservation that can fail fails here, before its ids are
// owned, so that segment_map_set, which comes after, cannot.
bool registry_acquire_block(std::uint32_t owner, SegmentHeader* segment, std::uint32_t* first) noexcept;
// One id for a large span's `segment`. False as registry_acquire_block.
bool registry_acquire_one(std::uint32_t owner, SegmentHeader* segment, std::uint32_t* id) noexcept;
// Gives back the ids of `segment` (its allocator is being destroyed): each moves
// one generation on, so its handles read stale, and waits for a new owner.
void registry_release(const SegmentHeader* segment) noexcept;

inline std::uint32_t registry_owner(std::uint64_t word) noexcept { return static_cast<std::uint32_t>(word); }
inline std::uint32_t registry_generation(std::uint64_t word) noexcept {
  return static_cast<std::uint32_t>(word >> 32);
}
// Any id, from any handle: one never handed out reads as free at generation 0.
// Acquire: pairs with the release that published the owner (and its segment).
inline std::uint64_t registry_word(std::uint32_t id) noexcept {
  return g_registry.read(id & (MAX_SLAB_IDS - 1)).word.load(std::memory_order_acquire);
}
// An id whose word named the caller's allocator as owner.
inline SegmentHeader* registry_segment(std::uint32_t id) noexcept {
  return reinterpret_cast<SegmentHeader*>(g_registry.read(id).link.load(std::memory_order_acquire));
}
// The owner only: the id's generation now.
inline std::uint32_t registry_current_generation(std::uint32_t id) noexcept {
  return registry_generation(g_registry.read(id).word.load(std::memory_order_relaxed));
}
// The owner only, while no valid handle to the id's slab exists (law 5): moves the
// id one generation on and returns the new one, GEN_RETIRED if it is spent.
std::uint32_t registry_next_generation(std::uint32_t id) noexcept;

// Ids handed out and not given back, in the whole process (statistics, tests).
std::uint64_t registry_ids_in_use() noexcept;
// Bytes reserved for leaves so far (tests).
inline std::size_t registry_reserved_bytes() noexcept { return g_registry.reserved_bytes(); }
// Test hook: sets the generation of an id the caller's allocator owns. (Outside
// tests a slab's generation never moves while it is in use, and its allocations
// encode handles with the one it was taken with: Slab::handle_base.)
void registry_set_generation_for_testing(std::uint32_t id, std::uint32_t generation) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_HANDLE_REGISTRY_H
