// This file contains SlabRegistry: slab id -> slab metadata, for handle lookup.
// Ids are handed out once per slab address and never reused; the entry for an id
// never changes after it is published, so lookups need no lock.
#ifndef TSLAB_HANDLE_REGISTRY_H
#define TSLAB_HANDLE_REGISTRY_H

#include <atomic>
#include <cstdint>

#include "handle/handle.h"
#include "segment/slab.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

class SlabRegistry {
 public:
  // Reserves address space for MAX_SLAB_IDS entries; false if refused.
  bool init(Platform& platform) noexcept;
  void release(Platform& platform) noexcept;

  // Caller holds the allocator lock. Returns false when ids are exhausted.
  bool add(Slab* slab) noexcept;

  Slab* lookup(std::uint32_t id) const noexcept {
    // Acquire pairs with the release in add(): the entry below it is published.
    if (id == 0 || id >= count_.load(std::memory_order_acquire)) return nullptr;
    return entries_[id].load(std::memory_order_acquire);
  }
  std::uint32_t count() const noexcept { return count_.load(std::memory_order_acquire); }
  std::size_t resident_bytes(const Platform& platform) const noexcept {
    return platform.resident_bytes(entries_, std::size_t{count()} * sizeof(std::atomic<Slab*>));
  }

 private:
  std::atomic<Slab*>* entries_ = nullptr;
  std::atomic<std::uint32_t> count_{1};  // id 0 is never used
};

}  // namespace tslab::detail

#endif  // TSLAB_HANDLE_REGISTRY_H
