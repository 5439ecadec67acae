// This file contains the process-wide segment map's leaves and updates
// (segment/segment_map.h). A leaf is reserved without backing: only the pages
// covering granules tslab actually uses are ever touched.
#include "segment/segment_map.h"

#include "platform/fork_hooks.h"
#include "platform/mutex.h"

namespace tslab::detail {

constinit SegmentMap g_segment_map;

namespace {

TSLAB_FORK_HELD constinit Mutex g_mutex;  // guards the first initialisation and the creation of leaves
constinit std::atomic<bool> g_initialised{false};

// A span of whole segments has one entry per segment (WHOLE_TAG); decided from
// its range alone, the same when the range is set and when it is cleared.
bool whole_segments(const SegmentHeader* header) {
  return header->kind == SlabKind::large && header->base % SEGMENT_SIZE == 0 &&
         header->size % SEGMENT_SIZE == 0;
}

// Sets (or, with `clear`, empties) the entries of a header's range.
void store_range(const SegmentHeader* header, bool clear, std::memory_order order) {
  const std::uintptr_t first = header->base >> MAP_GRANULE_SHIFT;
  const std::uintptr_t last = (header->base + header->size - 1) >> MAP_GRANULE_SHIFT;
  const bool small = header->kind == SlabKind::small;
  const bool whole = whole_segments(header);
  const std::uintptr_t step = whole ? SLABS_PER_SEGMENT : 1;
  const std::uintptr_t entry = reinterpret_cast<std::uintptr_t>(header) | (whole ? WHOLE_TAG : 0);
  for (std::uintptr_t g = first; g <= last; g += step) {
    SegmentMapEntry* e = g_segment_map.write(g);
    if (e == nullptr) continue;
    if (clear)
      e->store(0, order);
    else if (small)  // each granule is a slab: its metadata, tagged
      e->store(reinterpret_cast<std::uintptr_t>(&header->slabs[g - first]) | SMALL_TAG, order);
    else
      e->store(entry, order);
  }
}

}  // namespace

bool segment_map_init() noexcept {
  // Held across fork(): a leaf is never half created in the child.
  fork_hold_lock(ForkRank::segment_map, g_mutex);
  if (g_initialised.load(std::memory_order_acquire)) return true;
  const LockGuard lock(g_mutex);
  if (!g_initialised.load(std::memory_order_relaxed)) {
    g_segment_map.init_locked();
    g_initialised.store(true, std::memory_order_release);
  }
  return true;
}

bool segment_map_cover(std::uintptr_t base, std::size_t size) noexcept {
  if (!g_initialised.load(std::memory_order_acquire)) return false;  // segment_map_init comes first
  if (size == 0 || base >= ADDRESS_LIMIT || size > ADDRESS_LIMIT - base) return false;
  const std::size_t first = base >> (MAP_GRANULE_SHIFT + SEGMENT_MAP_LEAF_BITS);
  const std::size_t last = (base + size - 1) >> (MAP_GRANULE_SHIFT + SEGMENT_MAP_LEAF_BITS);
  for (std::size_t leaf = first; leaf <= last; ++leaf) {
    if (g_segment_map.has_leaf(leaf)) continue;
    const LockGuard lock(g_mutex);
    if (!g_segment_map.has_leaf(leaf) && !g_segment_map.add_leaf_locked(leaf)) return false;
  }
  return true;
}

void segment_map_set(const SegmentHeader* header) noexcept {
  store_range(header, false, std::memory_order_release);
}

void segment_map_clear(const SegmentHeader* header) noexcept {
  // seq_cst: the releaser's half of a span header's binding protocol (core/span_release.cpp).
  store_range(header, true, std::memory_order_seq_cst);
}

}  // namespace tslab::detail
