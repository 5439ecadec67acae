// This file contains SegmentHeader, the metadata of one OS reservation: either a
// 4 MiB segment cut into 64 slabs, or a large span holding one block (whole
// 64 KiB granules below a segment, whole segments from there on: span_unit).
// Headers live in the metadata arena, never inside the reservation they describe.
#ifndef TSLAB_SEGMENT_SEGMENT_H
#define TSLAB_SEGMENT_SEGMENT_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "segment/slab.h"

namespace tslab::detail {

class AllocatorCore;

struct alignas(64) SegmentHeader {
  AllocatorCore* owner = nullptr;
  SlabKind kind = SlabKind::small;
  std::uintptr_t base = 0;  // reservation start
  std::size_t size = 0;     // reservation bytes
  std::uint32_t slab_count = 0;
  std::uint32_t slabs_taken = 0;         // small: slabs handed out so far (allocator lock)
  SegmentHeader* next = nullptr;         // allocator's list of reservations (allocator lock)
  SegmentHeader* next_cached = nullptr;  // large: the allocator's cache of free spans (allocator lock)
  SegmentHeader* prev_cached = nullptr;  // large: the span before it in its cache bin (allocator lock)
  // Large: the cache's order of age, oldest first, among the spans that keep
  // pages committed or among those that keep none (allocator lock).
  SegmentHeader* older_cached = nullptr;
  SegmentHeader* newer_cached = nullptr;
  // Large: the span's reservation went back to the OS; `base` and `size` still
  // name the old range until the header is bound to a new one (allocator lock;
  // core/span_release.cpp).
  bool released = false;
  // Large: bytes from `base` that may hold data, because the span was last freed
  // into the warm cache without returning its pages; 0 when it reads as zero.
  // Written by the span's owner (its freeing thread) or under the allocator lock
  // while it is cached.
  std::size_t dirty_bytes = 0;
  // Large: when the span was cached with dirty bytes (monotonic ns; allocator lock).
  std::uint64_t cached_ns = 0;
  // Large: the platform refused to grow this range once (Platform::grow_into):
  // not asked again until the header is bound to another range (allocator lock).
  bool ungrowable = false;
  // Large: taken by a grow (core/span_grow.cpp), in no list, its range about to
  // move or moved; a fork's child gives such a header up (allocator lock).
  bool growing = false;
  // Large: cached with no page committed (dirty_bytes 0): behind the warm spans
  // of its bin and in the cache's cold order of age (allocator lock).
  bool cached_cold = false;
  // Large: in the cache of free spans (allocator lock).
  bool cached = false;
  Slab* slabs = nullptr;  // slab_count entries, right after the header (first_slab)
  // Small segments whose slabs all wait in the pool go dormant: the pages of their
  // slab metadata go back to the OS too (allocator lock for all of these).
  std::uint32_t pooled = 0;    // slabs of this segment in the pool, or retired (handle/registry.h)
  std::uint32_t first_id = 0;  // registry id of slabs[0]; ids are consecutive
  bool dormant = false;
  SegmentHeader* next_dormant = nullptr;
  // Per slab: validations in progress by threads that do not own it (the pin
  // protocol of core/blocks.cpp). Here, in the header, and not in the slab's own
  // metadata: a dormant segment's slab metadata pages go back to the OS and are
  // written again on wake, while another thread may hold a pin at any time. Also
  // off the owner's lines: every remote free writes its slab's pin.
  std::atomic<std::uint32_t> pins[SLABS_PER_SEGMENT] = {};

  std::atomic<std::uint32_t>& pins_of(const Slab* s) noexcept { return pins[s - slabs]; }
  // The index of the slab holding `p`, an address inside the reservation.
  std::size_t slab_index(const void* p) const {
    if (kind == SlabKind::large) return 0;
    return (reinterpret_cast<std::uintptr_t>(p) - base) >> SLAB_SHIFT;
  }
  Slab* slab_for(const void* p) const { return &slabs[slab_index(p)]; }
  // Where the slab array of a header starts: directly behind it.
  static Slab* first_slab(SegmentHeader* header) { return reinterpret_cast<Slab*>(header + 1); }
  // The header of a small segment from its slab `s`, the segment's slab `index`.
  static SegmentHeader* of_slab(Slab* s, std::size_t index) {
    return reinterpret_cast<SegmentHeader*>(s - index) - 1;
  }
};

static_assert(sizeof(SegmentHeader) % alignof(Slab) == 0);

}  // namespace tslab::detail

#endif  // TSLAB_SEGMENT_SEGMENT_H
