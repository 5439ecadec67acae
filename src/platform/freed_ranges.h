// This file contains FreedRanges: the address ranges of reservations given back
// lately, so that the next reservations take those addresses again.
//
// The kernel hands out addresses top down, and tslab places an aligned
// reservation right below the previous one (OsPlatform): without a record of
// what went back, addresses drift down for the process's life, and every new
// stretch of them costs the segment map a leaf of its own, whose pages stay
// committed (an allocator made and freed a million times would cost the map
// half a gigabyte). Only ranges of whole granules are kept (segments and spans);
// neighbours merge into one. A reservation takes the smallest range it fits in,
// at its top, and what is left below stays recorded.
//
// Only a hint: a range may have been taken by another mapping since it was
// recorded (the caller checks where the kernel put the reservation, and
// forgets the ranges that overlap it if it was not there). Never blocks: a call
// that finds the table busy (another thread, or the thread a signal handler
// interrupted) does nothing. In a forked child whose parent held it, the first
// call takes the table over, emptied: no thread of the child will let it go,
// and its ranges may be half-written. Async-signal-safe, allocates nothing.
#ifndef TSLAB_PLATFORM_FREED_RANGES_H
#define TSLAB_PLATFORM_FREED_RANGES_H

#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tslab::detail {

class FreedRanges {
 public:
  static constexpr std::uintptr_t GRANULE = std::uintptr_t{64} << 10;
  static constexpr std::size_t CAPACITY = 64;

  // Records [base, base + size), merged with a recorded neighbour. Ignored
  // unless both are whole granules; when the table is full, the smallest range
  // (this one included) is forgotten.
  void add(std::uintptr_t base, std::size_t size) noexcept {
    if (base % GRANULE != 0 || size % GRANULE != 0 || size == 0 || !try_lock()) return;
    std::uintptr_t top = base + size;
    for (std::size_t i = 0; i < count_;) {
      if (ranges_[i].base == top || ranges_[i].top == base) {  // a neighbour: merged, looked at again
        base = ranges_[i].base < base ? ranges_[i].base : base;
        top = ranges_[i].top > top ? ranges_[i].top : top;
        ranges_[i] = ranges_[--count_];
        continue;
      }
      ++i;
    }
    std::size_t at = count_;
    if (count_ == CAPACITY) {
      at = smallest();
      if (ranges_[at].top - ranges_[at].base > top - base) at = CAPACITY;  // this one is the smallest
    } else {
      ++count_;
    }
    if (at < CAPACITY) ranges_[at] = Range{base, top};
    unlock();
  }

  // The highest address of a recorded range where `size` bytes at `alignment`
  // fit, from the smallest such range, which is no longer recorded as free up
  // from there; 0 if none fits.
  std::uintptr_t take(std::size_t size, std::size_t alignment) noexcept {
    if (!try_lock()) return 0;
    std::size_t best = CAPACITY;
    std::uintptr_t at = 0;
    for (std::size_t i = 0; i < count_; ++i) {
      const Range& r = ranges_[i];
      if (r.top - r.base < size) continue;
      const std::uintptr_t want = (r.top - size) & ~(std::uintptr_t{alignment} - 1);
      if (want < r.base) continue;
      if (best == CAPACITY || r.top - r.base < ranges_[best].top - ranges_[best].base) best = i, at = want;
    }
    if (best != CAPACITY) {
      // What is left below stays recorded; a sliver above (under one alignment) is dropped.
      if (at - ranges_[best].base >= GRANULE)
        ranges_[best].top = at;
      else
        ranges_[best] = ranges_[--count_];
    }
    unlock();
    return at;
  }

  // Forgets every range that overlaps [base, base + size): another mapping holds part of it.
  void forget(std::uintptr_t base, std::size_t size) noexcept {
    if (!try_lock()) return;
    for (std::size_t i = 0; i < count_;) {
      if (ranges_[i].base < base + size && base < ranges_[i].top) {
        ranges_[i] = ranges_[--count_];
        continue;
      }
      ++i;
    }
    unlock();
  }

  // The ranges recorded; unlocked, for tests.
  std::size_t count() const noexcept { return count_; }
  // Test hook: the table as held by a thread of process `pid`.
  void hold_for_testing(int pid) noexcept { holder_.store(pid, std::memory_order_relaxed); }

 private:
  struct Range {
    std::uintptr_t base;
    std::uintptr_t top;
  };

  bool try_lock() noexcept {
    const int me = static_cast<int>(::getpid());
    int seen = 0;
    if (holder_.compare_exchange_strong(seen, me, std::memory_order_acquire)) return true;
    if (seen == me) return false;  // a thread of this process holds it
    // Held by a thread of the parent when this process was forked.
    if (!holder_.compare_exchange_strong(seen, me, std::memory_order_acquire)) return false;
    count_ = 0;
    return true;
  }
  void unlock() noexcept { holder_.store(0, std::memory_order_release); }
  std::size_t smallest() const noexcept {
    std::size_t s = 0;
    for (std::size_t i = 1; i < count_; ++i)
      if (ranges_[i].top - ranges_[i].base < ranges_[s].top - ranges_[s].base) s = i;
    return s;
  }

  std::atomic<int> holder_{0};  // the pid of the process whose thread holds the table; 0: free
  std::size_t count_ = 0;
  Range ranges_[CAPACITY] = {};
};

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_FREED_RANGES_H
