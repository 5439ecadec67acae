// This file contains EpochRing: the allocator's ring of epoch slots, each ACTIVE
// or CLOSING, each activation numbered by a monotonic era.
//
// The allocation fast path reads one word per slot, open_era(e): the slot's era
// while it is ACTIVE, 0 while it is CLOSING. A thread's bin remembers the era its
// slabs belong to; a mismatch sends the allocation to the slow path.
#ifndef TSLAB_EPOCH_EPOCH_RING_H
#define TSLAB_EPOCH_EPOCH_RING_H

#include <atomic>
#include <cstdint>
#include <mutex>

#include "slab_alloc.h"

namespace tslab::detail {

class EpochRing {
 public:
  explicit EpochRing(std::uint32_t count) noexcept;

  std::uint32_t count() const noexcept { return count_; }
  std::uint32_t current() const noexcept { return current_.load(std::memory_order_acquire); }

  // Relaxed: a thread that learned of a close (happens-after it) sees 0 by coherence;
  // an allocation racing with the close linearizes before it.
  std::uint64_t open_era(std::uint32_t e) const noexcept {
    return open_era_[e].load(std::memory_order_relaxed);
  }
  std::uint64_t era(std::uint32_t e) const noexcept { return era_[e].load(std::memory_order_acquire); }
  EpochLifecycleState state(std::uint32_t e) const noexcept {
    return open_era(e) != 0 ? EPOCH_ACTIVE : EPOCH_CLOSING;
  }

  // The current slot becomes CLOSING; the next becomes ACTIVE with a new era.
  std::uint32_t advance() noexcept;
  // Precondition: e < count(). Marks e CLOSING (idempotent).
  void close(std::uint32_t e) noexcept;

 private:
  const std::uint32_t count_;
  std::atomic<std::uint32_t> current_{0};
  std::mutex mutex_;        // serialises advance and close
  std::uint64_t next_era_;  // guarded by mutex_
  std::atomic<std::uint64_t> open_era_[SLAB_MAX_EPOCH_COUNT];
  std::atomic<std::uint64_t> era_[SLAB_MAX_EPOCH_COUNT];
};

}  // namespace tslab::detail

#endif  // TSLAB_EPOCH_EPOCH_RING_H
