// This file contains the process-wide segment map: for every 64 KiB granule of
// the address space (MAP_GRANULE), the header of the tslab reservation covering
// it (a small segment's slab), or nullptr. A small segment fills 64 entries; a large span below a segment
// as many as it has granules, so such spans need not be a segment apart. A span
// of whole segments (4 MiB-aligned, a multiple of 4 MiB: every span of 4 MiB or
// more) fills one entry per segment, its first granule's, tagged WHOLE_TAG: a
// lookup that reads an empty entry reads its segment's first one too. So the
// map costs 8 bytes per 64 KiB of spans below 4 MiB and per 4 MiB above, not
// 128 MiB for a 1 TiB reservation.
// It is how a pointer of unknown origin is recognised (or rejected) without ever
// being dereferenced: pointer -> granule -> slab (small) or header (large) -> owner.
//
// A LazyTable (segment/lazy_table.h) of one entry per granule below 2^47: leaves
// of 1,048,576 entries (8 MiB), each covering a 64 GiB region of the address
// space, reserved the first time a reservation lands in the region
// (segment_map_cover). A lookup in a region tslab never used reads the shared
// zero leaf: not ours, and never a fault.
#ifndef TSLAB_SEGMENT_SEGMENT_MAP_H
#define TSLAB_SEGMENT_SEGMENT_MAP_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "segment/lazy_table.h"
#include "segment/segment.h"

namespace tslab::detail {

inline constexpr unsigned ADDRESS_BITS = 47;
inline constexpr std::uintptr_t ADDRESS_LIMIT = std::uintptr_t{1} << ADDRESS_BITS;
// A leaf covers 2^(20 + 16) bytes: 64 GiB. The top level, one origin per leaf,
// is written whole at init: 2,048 origins, 16 KiB of every process's memory
// (leaves of 16 GiB made it 64 KiB, written before the first allocation).
inline constexpr unsigned SEGMENT_MAP_LEAF_BITS = 20;

using SegmentMapEntry = std::atomic<std::uintptr_t>;
using SegmentMap = LazyTable<SegmentMapEntry, ADDRESS_BITS - MAP_GRANULE_SHIFT, SEGMENT_MAP_LEAF_BITS>;
static_assert(SegmentMap::LEAVES * sizeof(std::uintptr_t) <= 16 * 1024,
              "the top level, written at init, stays 4 pages");

// A large span's entry is its SegmentHeader*. A small segment's granules are its
// slabs (MAP_GRANULE == SLAB_SIZE), and each one's entry is that slab's metadata,
// a Slab*, with bit 0 set: the free fast path tells a small slab from everything
// else (not ours, a large span) with one bit test and has the slab's metadata
// in the entry itself (small_slab_of; the slab's address in its segment header
// took 5 instructions more).
inline constexpr std::uintptr_t SMALL_TAG = 1;
// The entry of a segment's first granule that stands for the whole segment.
inline constexpr std::uintptr_t WHOLE_TAG = 2;
static_assert(alignof(SegmentHeader) > (SMALL_TAG | WHOLE_TAG), "the tags are a header pointer's low bits");
static_assert(alignof(Slab) > (SMALL_TAG | WHOLE_TAG), "a slab pointer's low bits are free for both tags");
static_assert(MAP_GRANULE_SHIFT == SLAB_SHIFT, "a small segment's entries are its slabs'");

// Every granule's entry. Readable from segment_map_init on (before the first
// allocator exists).
extern SegmentMap g_segment_map;

// Points every region at the zero leaf on first call. Reserves nothing, so it
// never fails; true. Thread-safe.
bool segment_map_init() noexcept;

// Acquire (the default) pairs with the release in segment_map_set: a header
// found here is complete.
inline std::uintptr_t segment_map_entry(const void* p,
                                        std::memory_order order = std::memory_order_acquire) noexcept {
  const std::uintptr_t granule = reinterpret_cast<std::uintptr_t>(p) >> MAP_GRANULE_SHIFT;
  // Written as the leaf's number, which the read computes too: one shift for both.
  if ((granule >> SEGMENT_MAP_LEAF_BITS) >= SegmentMap::LEAVES) [[unlikely]]
    return 0;
  return g_segment_map.read(granule).load(order);
}

// The entry covering `p`: its granule's, or its segment's first granule's when
// that stands for the whole segment (tags kept).
inline std::uintptr_t segment_map_covering(const void* p,
                                           std::memory_order order = std::memory_order_acquire) noexcept {
  const std::uintptr_t entry = segment_map_entry(p, order);
  if (entry != 0) return entry;
  const auto segment =
      reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(p) & ~(SEGMENT_SIZE - 1));
  const std::uintptr_t whole = segment_map_entry(segment, order);
  return (whole & WHOLE_TAG) != 0 ? whole : 0;
}

inline std::size_t small_slab_index(const void* p) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) >> SLAB_SHIFT) & (SLABS_PER_SEGMENT - 1);
}

// The header an entry covering `p` names: a large span's, or the segment of a small slab's.
inline SegmentHeader* segment_of_entry(std::uintptr_t entry, const void* p) noexcept {
  if ((entry & SMALL_TAG) != 0)
    return SegmentHeader::of_slab(reinterpret_cast<Slab*>(entry - SMALL_TAG), small_slab_index(p));
  return reinterpret_cast<SegmentHeader*>(entry & ~WHOLE_TAG);
}

inline SegmentHeader* segment_map_lookup(const void* p) noexcept {
  return segment_of_entry(segment_map_covering(p), p);
}

// True if `p` lies in a large span of some allocator.
inline bool segment_map_is_large(const void* p) noexcept {
  const std::uintptr_t entry = segment_map_covering(p);
  return entry != 0 && (entry & SMALL_TAG) == 0;
}

// The lookup a validation repeats once it pinned a large span's header: seq_cst,
// the validator's half of the binding protocol (core/span_release.cpp).
inline SegmentHeader* segment_map_lookup_pinned(const void* p) noexcept {
  return segment_of_entry(segment_map_covering(p, std::memory_order_seq_cst), p);
}

// The slab metadata for `p` if it lies in a small segment, else nullptr. Reads
// only the map entry; the segment header itself is not touched.
inline Slab* small_slab_of(const void* p) noexcept {
  const std::uintptr_t entry = segment_map_entry(p);
  if ((entry & SMALL_TAG) == 0) return nullptr;  // not ours (0), or a large span
  Slab* const s = reinterpret_cast<Slab*>(entry - SMALL_TAG);
  if (s == nullptr) __builtin_unreachable();  // a tagged entry is a slab: no second test
  return s;
}

// Makes sure the leaves covering [base, base + size) exist, reserving the missing
// ones; false if the range is beyond the map or the OS refused a leaf. The one
// step of a reservation's publication that can fail: done before anything is
// published (handle/registry.cpp, when the reservation's ids are taken).
bool segment_map_cover(std::uintptr_t base, std::size_t size) noexcept;

// Linearization point of a reservation: from here on its pointers are recognised.
// The header's range was covered (segment_map_cover) before.
void segment_map_set(const SegmentHeader* header) noexcept;
void segment_map_clear(const SegmentHeader* header) noexcept;

// Bytes reserved for leaves so far (tests).
inline std::size_t segment_map_reserved_bytes() noexcept { return g_segment_map.reserved_bytes(); }

}  // namespace tslab::detail

#endif  // TSLAB_SEGMENT_SEGMENT_MAP_H
