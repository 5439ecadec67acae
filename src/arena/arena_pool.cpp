// This file contains the ArenaCore record pool: one process-wide free list,
// refilled by carving chunks reserved from the OS platform. Chunks are never
// returned (the pool only grows to the peak number of live arenas); a mutex
// guards the list and the chunk being carved.
#include "arena/arena_pool.h"

#include <algorithm>
#include <cstddef>
#include <mutex>

#include "arena/arena_core.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

namespace {

constexpr std::size_t CHUNK_BYTES = 64 * 1024;
constexpr std::size_t RECORD_ALIGN = alignof(ArenaCore);
constexpr std::size_t RECORD_BYTES = (sizeof(ArenaCore) + RECORD_ALIGN - 1) / RECORD_ALIGN * RECORD_ALIGN;

struct FreeRecord {
  FreeRecord* next;
};

struct Pool {
  std::mutex mutex;
  FreeRecord* free = nullptr;  // guarded by mutex
  std::byte* carve = nullptr;  // next unused record of the current chunk
  std::byte* carve_end = nullptr;
};

constinit Pool g_pool;

}  // namespace

void* arena_record_acquire() noexcept {
  std::lock_guard<std::mutex> lock(g_pool.mutex);
  if (g_pool.free != nullptr) {
    FreeRecord* r = g_pool.free;
    g_pool.free = r->next;
    return r;
  }
  if (g_pool.carve == nullptr || static_cast<std::size_t>(g_pool.carve_end - g_pool.carve) < RECORD_BYTES) {
    OsPlatform& os = OsPlatform::instance();
    const std::size_t page = os.page_size();
    const std::size_t bytes = std::max(CHUNK_BYTES, page);
    // Page-aligned, so every record carved at a multiple of RECORD_BYTES is aligned.
    void* chunk = os.reserve(bytes, page);
    if (chunk == nullptr) return nullptr;
    g_pool.carve = static_cast<std::byte*>(chunk);
    g_pool.carve_end = g_pool.carve + bytes;
  }
  void* record = g_pool.carve;
  g_pool.carve += RECORD_BYTES;
  return record;
}

void arena_record_release(void* record) noexcept {
  if (record == nullptr) return;
  std::lock_guard<std::mutex> lock(g_pool.mutex);
  auto* r = static_cast<FreeRecord*>(record);
  r->next = g_pool.free;
  g_pool.free = r;
}

}  // namespace tslab::detail
