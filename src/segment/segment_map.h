// This file contains the process-wide segment map: for every 4 MiB granule of the
// address space, the header of the tslab reservation covering it, or nullptr.
// It is how a pointer of unknown origin is recognised (or rejected) without ever
// being dereferenced: pointer -> granule -> header -> owner and slab.
#ifndef TSLAB_SEGMENT_SEGMENT_MAP_H
#define TSLAB_SEGMENT_SEGMENT_MAP_H

#include <atomic>
#include <cstdint>

#include "segment/segment.h"

namespace tslab::detail {

inline constexpr std::uintptr_t ADDRESS_LIMIT = std::uintptr_t{1} << 47;
inline constexpr std::size_t SEGMENT_MAP_ENTRIES = ADDRESS_LIMIT >> SEGMENT_SHIFT;

// An entry is a SegmentHeader*, with bit 0 set for large spans, so that the free
// fast path reaches a small slab's metadata from the entry alone (small_slab_of).
inline constexpr std::uintptr_t LARGE_TAG = 1;

// Set once, before the first allocator exists (segment_map_init), never freed.
extern std::atomic<std::uintptr_t>* g_segment_map;

// Reserves the map on first call; false if the OS refused. Thread-safe.
bool segment_map_init() noexcept;

inline std::uintptr_t segment_map_entry(const void* p) noexcept {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  if (a >= ADDRESS_LIMIT) [[unlikely]]
    return 0;
  // Acquire pairs with the release in segment_map_set: a header found here is complete.
  return g_segment_map[a >> SEGMENT_SHIFT].load(std::memory_order_acquire);
}

inline SegmentHeader* segment_map_lookup(const void* p) noexcept {
  return reinterpret_cast<SegmentHeader*>(segment_map_entry(p) & ~LARGE_TAG);
}

// The slab metadata for `p` if it lies in a small segment, else nullptr. Reads
// only the map entry; the segment header itself is not touched.
inline Slab* small_slab_of(const void* p) noexcept {
  const std::uintptr_t entry = segment_map_entry(p);
  if (entry == 0 || (entry & LARGE_TAG) != 0) return nullptr;
  const auto index = (reinterpret_cast<std::uintptr_t>(p) >> SLAB_SHIFT) & (SLABS_PER_SEGMENT - 1);
  return SegmentHeader::first_slab(reinterpret_cast<SegmentHeader*>(entry)) + index;
}

// Linearization point of a reservation: from here on its pointers are recognised.
void segment_map_set(const SegmentHeader* header) noexcept;
void segment_map_clear(const SegmentHeader* header) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_SEGMENT_SEGMENT_MAP_H
