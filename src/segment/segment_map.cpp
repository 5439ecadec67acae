// This file contains the process-wide segment map's reservation and updates.
// The map is 2^25 pointers (256 MiB of address space, reserved without backing);
// only the pages covering granules tslab actually uses are ever touched.
#include "segment/segment_map.h"

#include "platform/fork_hooks.h"
#include "platform/mutex.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

std::atomic<std::uintptr_t>* g_segment_map = nullptr;

namespace {
Mutex g_init_mutex;
}

bool segment_map_init() noexcept {
  // Held across fork(): the map's initialisation is never half done in the child.
  fork_hold_lock(ForkRank::segment_map, g_init_mutex);
  LockGuard lock(g_init_mutex);
  if (g_segment_map != nullptr) return true;
  OsPlatform& os = OsPlatform::instance();
  void* mem = os.reserve(SEGMENT_MAP_ENTRIES * sizeof(std::atomic<std::uintptr_t>), os.page_size());
  if (mem == nullptr) return false;
  // Zero pages read as empty entries; std::atomic<uintptr_t> has uintptr_t's layout.
  g_segment_map = static_cast<std::atomic<std::uintptr_t>*>(mem);
  return true;
}

void segment_map_set(const SegmentHeader* header) noexcept {
  const std::uintptr_t first = header->base >> SEGMENT_SHIFT;
  const std::uintptr_t last = (header->base + header->size - 1) >> SEGMENT_SHIFT;
  const std::uintptr_t entry =
      reinterpret_cast<std::uintptr_t>(header) | (header->kind == SlabKind::large ? LARGE_TAG : 0);
  for (std::uintptr_t g = first; g <= last; ++g) g_segment_map[g].store(entry, std::memory_order_release);
}

void segment_map_clear(const SegmentHeader* header) noexcept {
  const std::uintptr_t first = header->base >> SEGMENT_SHIFT;
  const std::uintptr_t last = (header->base + header->size - 1) >> SEGMENT_SHIFT;
  for (std::uintptr_t g = first; g <= last; ++g) g_segment_map[g].store(0, std::memory_order_release);
}

}  // namespace tslab::detail
