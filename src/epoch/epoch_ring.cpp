// This file contains the epoch ring's transitions.
#include "epoch/epoch_ring.h"

namespace tslab::detail {

EpochRing::EpochRing(std::uint32_t count) noexcept : count_(count), next_era_(count + 1) {
  for (std::uint32_t e = 0; e < SLAB_MAX_EPOCH_COUNT; ++e) {
    const std::uint64_t era = e < count ? e + 1 : 0;
    era_[e].store(era, std::memory_order_relaxed);
    open_era_[e].store(era, std::memory_order_relaxed);
  }
}

std::uint32_t EpochRing::advance() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::uint32_t cur = current_.load(std::memory_order_relaxed);
  open_era_[cur].store(0, std::memory_order_release);
  const std::uint32_t next = (cur + 1) % count_;
  const std::uint64_t era = next_era_++;
  era_[next].store(era, std::memory_order_release);
  // Linearization point of the new activation: allocations may enter it from here.
  open_era_[next].store(era, std::memory_order_release);
  current_.store(next, std::memory_order_release);
  return next;
}

void EpochRing::close(std::uint32_t e) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  // Linearization point of a close: no allocation that starts after this succeeds.
  open_era_[e].store(0, std::memory_order_release);
}

}  // namespace tslab::detail
