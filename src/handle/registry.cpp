// This file contains the slab registry's reservation and publication.
#include "handle/registry.h"

namespace tslab::detail {

namespace {
constexpr std::size_t registry_bytes() { return std::size_t{MAX_SLAB_IDS} * sizeof(std::atomic<Slab*>); }
}  // namespace

bool SlabRegistry::init(Platform& platform) noexcept {
  entries_ = static_cast<std::atomic<Slab*>*>(platform.reserve(registry_bytes(), platform.page_size()));
  return entries_ != nullptr;
}

void SlabRegistry::release(Platform& platform) noexcept {
  if (entries_ != nullptr) platform.release(entries_, registry_bytes());
  entries_ = nullptr;
}

bool SlabRegistry::add(Slab* slab) noexcept {
  const std::uint32_t id = count_.load(std::memory_order_relaxed);
  if (id >= MAX_SLAB_IDS) return false;
  slab->id = id;
  entries_[id].store(slab, std::memory_order_release);
  // Linearization point of a slab id: handles naming it can be resolved from here.
  count_.store(id + 1, std::memory_order_release);
  return true;
}

}  // namespace tslab::detail
