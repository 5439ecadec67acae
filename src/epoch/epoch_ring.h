// This file contains EpochRing: the allocator's ring of epoch slots, each ACTIVE
// or CLOSING, each activation numbered by an era: monotonic, and unique in the
// process (no two allocators share one).
//
// Two kinds of activation share the ring. advance() rotates: it closes the
// current slot and activates the next one (batches, requests, frames). open()
// activates a slot *held* outside the rotation (a cache, a session): advance()
// skips held slots, so it never closes or re-activates one; a held slot leaves
// the hold when it is closed, and rejoins the rotation as a CLOSING slot.
// A ring may make slot 0 *permanent*: held from the start and never closed
// (the process allocator's slot 0 takes every plain malloc outside a scope).
//
// The allocation fast path reads one word per slot, open_era(e): the slot's era
// while it is ACTIVE, 0 while it is CLOSING. A thread's bin remembers the era its
// slabs belong to; a mismatch sends the allocation to the slow path.
#ifndef TSLAB_EPOCH_EPOCH_RING_H
#define TSLAB_EPOCH_EPOCH_RING_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "platform/mutex.h"
#include "platform/zeroed_tail.h"
#include "slab_alloc.h"

namespace tslab::detail {

class EpochRing {
 public:
  // `tail`: zero-filled memory of tail_bytes(count) bytes, aligned to
  // ZeroedTail::MAX_ALIGN, that outlives the ring; the per-slot tables but the
  // one every allocation reads are laid out in it.
  EpochRing(std::uint32_t count, bool first_permanent, void* tail) noexcept;
  static std::size_t tail_bytes(std::uint32_t count) noexcept {
    ZeroedTail tables(0);
    for_each_tail_table([&](auto table) { tables.take(table, static_cast<EpochRing*>(nullptr), count); });
    return tables.end();
  }

  std::uint32_t count() const noexcept { return count_; }
  std::uint32_t current() const noexcept { return current_.load(std::memory_order_acquire); }

  // Relaxed: a thread that learned of a close (happens-after it) sees 0 by coherence;
  // an allocation racing with the close linearizes before it.
  std::uint64_t open_era(std::uint32_t e) const noexcept {
    return open_era_[e].load(std::memory_order_relaxed);
  }
  // The word open_era(e) reads, for a reader that keeps its address (Slab::open_era).
  const std::atomic<std::uint64_t>* open_era_word(std::uint32_t e) const noexcept { return &open_era_[e]; }
  std::uint64_t era(std::uint32_t e) const noexcept { return era_[e].load(std::memory_order_acquire); }
  EpochLifecycleState state(std::uint32_t e) const noexcept {
    return open_era(e) != 0 ? EPOCH_ACTIVE : EPOCH_CLOSING;
  }

  // The current slot becomes CLOSING; the next slot that is not held becomes
  // ACTIVE with a new era (the current slot again, if every other one is held).
  // *closed_era: the era of the activation that ended; 0 if none did (the
  // current slot is permanent: it stays ACTIVE, and stays put if no other slot
  // is free).
  std::uint32_t advance(std::uint64_t* closed_era) noexcept;
  // Activates a slot outside the rotation, held until it is closed: the slot the
  // rotation would reach last, preferring one that is CLOSING. Returns count()
  // if every slot but the current one is held. *ended_era: the era of the slot's
  // previous activation if that was still open (it ends here), else 0;
  // *opened_era (when given): the era of the activation opened here.
  std::uint32_t open_held(std::uint64_t* ended_era, std::uint64_t* opened_era = nullptr) noexcept;
  bool held(std::uint32_t e) const noexcept { return held_[e].load(std::memory_order_acquire); }
  bool permanent(std::uint32_t e) const noexcept { return e == 0 && first_permanent_; }
  // The newest era of slot e that has ended (closed, or re-activated while
  // open); 0 if none. Published after the change that ended it: once this reads
  // X, no allocation can newly enter any era <= X of the slot.
  std::uint64_t ended_era(std::uint32_t e) const noexcept {
    return ended_era_[e].load(std::memory_order_acquire);
  }
  // Precondition: e < count() and e is not permanent. Marks e CLOSING
  // (idempotent) and ends its hold.
  void close(std::uint32_t e) noexcept;
  // Closes e only if its current activation is `era`: a request naming a past
  // activation of a wrapped slot is refused. Returns false if the era is stale.
  // Precondition: e is not permanent.
  bool close_if_era(std::uint32_t e, std::uint64_t era) noexcept;

  // Bumped by every close and advance: owners compare it on their slow path to
  // learn that some bin of theirs may belong to a closed activation.
  std::uint64_t close_count() const noexcept { return close_count_.load(std::memory_order_acquire); }

  // --- per-epoch metadata (precondition: e < count()) ---
  // Label of the slot's current activation (cleared on re-activation); copied
  // out NUL-terminated, at most LABEL_SIZE - 1 characters.
  static constexpr std::size_t LABEL_SIZE = 32;
  void set_label(std::uint32_t e, const char* label) noexcept;
  void label(std::uint32_t e, char* out, std::size_t out_size) const noexcept;
  // Domain reference count of the slot (reset on re-activation); never below 0,
  // never wrapped: an increment at UINT32_MAX is refused and returns 0.
  std::uint32_t inc_refcount(std::uint32_t e) noexcept;
  std::uint32_t dec_refcount(std::uint32_t e) noexcept;
  std::uint32_t refcount(std::uint32_t e) const noexcept {
    return refcount_[e].load(std::memory_order_acquire);
  }
  // Tests only: a count near its maximum without 2^32 increments.
  void set_refcount_for_test(std::uint32_t e, std::uint32_t n) noexcept {
    refcount_[e].store(n, std::memory_order_release);
  }
  // Monotonic time (ns) at which the slot's current activation opened.
  std::uint64_t open_since_ns(std::uint32_t e) const noexcept {
    return open_since_[e].load(std::memory_order_acquire);
  }

  // For fork (core/fork.cpp): the ring's lock, held across the fork.
  Mutex& mutex_for_fork() const noexcept { return mutex_; }

 private:
  static std::uint64_t take_eras(std::uint32_t n) noexcept;
  void close_locked(std::uint32_t e) noexcept;
  // A new activation of slot e; returns its era. An activation still open there
  // ends (ended_era).
  std::uint64_t activate_locked(std::uint32_t e, std::uint64_t now) noexcept;

  // Calls take(&EpochRing::table) for each table laid out in the tail.
  template <class Take>
  static void for_each_tail_table(Take&& take) noexcept {
    take(&EpochRing::era_);
    take(&EpochRing::refcount_);
    take(&EpochRing::open_since_);
    take(&EpochRing::held_);
    take(&EpochRing::ended_era_);
    take(&EpochRing::labels_);
  }

  const std::uint32_t count_;
  const bool first_permanent_;
  std::atomic<std::uint32_t> current_{0};
  // Written by closes only: a line apart from the fields above, which every
  // allocation reads through the allocator's first line.
  alignas(64) mutable Mutex mutex_;  // serialises advance and close, guards labels
  std::atomic<std::uint64_t> close_count_{0};
  alignas(64) std::atomic<std::uint64_t> open_era_[SLAB_MAX_EPOCH_COUNT] = {};  // read by every allocation
  // count_ entries each, in the tail (for_each_tail_table).
  std::atomic<std::uint64_t>* era_ = nullptr;
  std::atomic<std::uint32_t>* refcount_ = nullptr;
  std::atomic<std::uint64_t>* open_since_ = nullptr;
  std::atomic<bool>* held_ = nullptr;                // written under mutex_
  std::atomic<std::uint64_t>* ended_era_ = nullptr;  // written under mutex_
  char (*labels_)[LABEL_SIZE] = nullptr;             // guarded by mutex_
};

}  // namespace tslab::detail

#endif  // TSLAB_EPOCH_EPOCH_RING_H
