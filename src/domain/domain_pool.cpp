// This file contains the epoch-domain pool: one process-wide free list of
// domain records, refilled by carving chunks reserved from the OS platform.
// Chunks are never returned (the pool only grows to the peak number of live
// domains); a mutex guards the list and the chunk being carved.
#include "domain/domain_pool.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <mutex>

#include "tslab/platform.hpp"

namespace tslab::detail {

namespace {

constexpr std::size_t CHUNK_BYTES = 64 * 1024;

struct Pool {
  std::mutex mutex;
  EpochDomain* free = nullptr;  // guarded by mutex
  std::byte* carve = nullptr;   // next unused record of the current chunk
  std::byte* carve_end = nullptr;
};

constinit Pool g_pool;

}  // namespace

EpochDomain* domain_pool_acquire() noexcept {
  EpochDomain* d = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_pool.mutex);
    if (g_pool.free != nullptr) {
      d = g_pool.free;
      g_pool.free = d->priv_next;
    } else {
      if (g_pool.carve == nullptr ||
          static_cast<std::size_t>(g_pool.carve_end - g_pool.carve) < sizeof(EpochDomain)) {
        OsPlatform& os = OsPlatform::instance();
        const std::size_t page = os.page_size();
        const std::size_t bytes = std::max(CHUNK_BYTES, page);
        void* chunk = os.reserve(bytes, page);
        if (chunk == nullptr) return nullptr;
        g_pool.carve = static_cast<std::byte*>(chunk);
        g_pool.carve_end = g_pool.carve + bytes;
      }
      d = reinterpret_cast<EpochDomain*>(g_pool.carve);
      g_pool.carve += sizeof(EpochDomain);
    }
  }
  std::memset(static_cast<void*>(d), 0, sizeof(EpochDomain));
  return d;
}

void domain_pool_release(EpochDomain* d) noexcept {
  if (d == nullptr) return;
  std::lock_guard<std::mutex> lock(g_pool.mutex);
  d->priv_next = g_pool.free;
  g_pool.free = d;
}

}  // namespace tslab::detail
