// Concurrency of the epoch lifecycle, and regression tests for both seed-000 bugs:
//   bug 1 (reuse before madvise): a slab must be unreachable by every allocation
//         path while its pages are being returned. A platform hook widens that
//         window and records the range; allocating threads check every block.
//   bug 2 (premature recycling): no valid handle is refused after slabs empty
//         and get recycled concurrently.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "forwarding_platform.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

using tslab::Error;

namespace {

// Forwards to the OS, but holds every decommit open for a while and publishes
// the ranges being decommitted. Several threads may decommit at once (a close
// under the allocator lock, an owner purging its own free pages outside it), so
// each decommit takes a slot of its own: one shared range would be torn by two
// decommits and name memory neither of them returns.
class SlowDecommitPlatform final : public tslab_test::ForwardingPlatform {
 public:
  bool decommit(void* p, std::size_t size) noexcept override {
    const auto begin = reinterpret_cast<std::uintptr_t>(p);
    std::size_t slot = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (slot < SLOTS && ranges_[slot].begin != 0) ++slot;
      if (slot < SLOTS) ranges_[slot] = {begin, begin + size};
    }
    decommits_.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // the widened window
    const bool ok = os().decommit(p, size);
    if (slot < SLOTS) {
      std::lock_guard<std::mutex> lock(mutex_);
      ranges_[slot] = {};
    }
    return ok;
  }
  // True if `p` lies in a range whose pages are being returned right now.
  bool in_flight(const void* p) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Range& r : ranges_)
      if (r.begin != 0 && a >= r.begin && a < r.end) return true;
    return false;
  }
  std::uint64_t decommits() const noexcept { return decommits_.load(std::memory_order_relaxed); }

 private:
  struct Range {
    std::uintptr_t begin = 0, end = 0;
  };
  static constexpr std::size_t SLOTS = 16;  // more decommits at once than threads in the test
  mutable std::mutex mutex_;
  Range ranges_[SLOTS];
  std::atomic<std::uint64_t> decommits_{0};
};

}  // namespace

// `reserve`: the warm reserve's bound. With none, every empty slab's pages go
// back; with a small one, slabs also pass through the reserve (kept committed,
// taken first) while others are being returned.
static void expect_no_block_from_a_returning_slab(std::size_t reserve, std::uint64_t min_decommits) {
  SlowDecommitPlatform platform;
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator a(options);
  ASSERT_EQ(a.set_warm_reserve(reserve), Error::ok);
  std::atomic<bool> done{false};
  std::atomic<long> violations{0}, failures{0};
  // Allocating threads work in epochs 8 and 9. Each round they fill slabs, free
  // them and collect(): their empty slabs go back to the pool (pages first) and
  // the next round takes slabs from the pool, while other slabs' pages are being
  // returned. A block from a slab whose pages are in flight is the seed's bug 1.
  auto worker = [&](tslab::EpochId e) {
    std::vector<void*> held(4096);
    while (!done.load(std::memory_order_relaxed)) {
      for (auto& p : held) {
        p = a.allocate(64, e);
        if (p == nullptr) {
          ++failures;
          continue;
        }
        if (platform.in_flight(p)) ++violations;
        static_cast<char*>(p)[0] = 1;
      }
      for (void* p : held)
        if (p != nullptr && a.deallocate(p) != Error::ok) ++failures;
      a.collect();
    }
  };
  std::thread w1(worker, 8), w2(worker, 9);
  // The closer fills epochs 0..7 in turn, frees them and closes them.
  for (tslab::EpochId e = 0; e < 8; ++e) {
    std::vector<void*> blocks(8192);
    for (auto& p : blocks) {
      p = a.allocate(64, e);
      if (p == nullptr) ++failures;
    }
    for (void* p : blocks)
      if (p != nullptr && a.deallocate(p) != Error::ok) ++failures;
    EXPECT_EQ(a.epoch_close(e), Error::ok);
  }
  // The workers' collects keep returning pages: let them until enough went back
  // for the check to mean something (a bound, not a timing assumption).
  for (int waited_ms = 0; platform.decommits() <= min_decommits && waited_ms < 20000; ++waited_ms)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  done = true;
  w1.join();
  w2.join();
  EXPECT_GT(platform.decommits(), min_decommits) << "the test returned too few pages to mean anything";
  EXPECT_EQ(violations.load(), 0) << "a block came from a slab whose pages were being returned";
  EXPECT_EQ(failures.load(), 0);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(MtLifecycle, NoBlockIsHandedOutOfASlabWhosePagesAreBeingReturned) {
  expect_no_block_from_a_returning_slab(0, 16);
}

TEST(MtLifecycle, NoBlockIsHandedOutOfASlabWhosePagesAreBeingReturnedWithAWarmReserve) {
  expect_no_block_from_a_returning_slab(8 * SLAB_PAGE_SIZE, 4);
}

TEST(MtLifecycle, NoValidHandleIsRefusedWhileSlabsEmptyAndAreRecycled) {
  tslab::Allocator a;
  constexpr int kThreads = 4;
  const std::size_t per_thread = tslab_test::scaled(100000);
  std::atomic<bool> done{false};
  std::atomic<long> refused{0}, alloc_failures{0};
  tslab_test::SpinBarrier half(kThreads + 1);
  auto worker = [&](int t) {
    std::vector<tslab::Handle> handles(per_thread);
    for (auto& h : handles) {
      const tslab::Allocation x = a.allocate_with_handle(128, 0);
      if (x.ptr == nullptr) ++alloc_failures;
      h = x.handle;
    }
    // Free every other handle: many slabs go half empty, slabs of blocks freed in
    // runs go fully empty while the collector recycles what it can.
    for (std::size_t i = (t % 2); i < per_thread; i += 2)
      if (a.free_handle(handles[i]) != Error::ok) ++refused;
    half.arrive_and_wait();
    for (std::size_t i = 1 - (t % 2); i < per_thread; i += 2)
      if (a.free_handle(handles[i]) != Error::ok) ++refused;
    for (std::size_t i = 0; i < per_thread; ++i)
      if (a.free_handle(handles[i]) == Error::ok) ++refused;  // each succeeds exactly once
  };
  std::thread collector([&] {
    tslab::EpochId other = 1;
    while (!done.load(std::memory_order_relaxed)) {
      a.collect();  // recycles empty slabs of the open epoch 0 the workers use
      if (other < a.epoch_count()) {
        // Other epochs fill, empty and close: their slabs join the pool too.
        std::vector<void*> blocks(2048);
        for (auto& p : blocks) p = a.allocate(128, other);
        for (void* p : blocks)
          if (p != nullptr) a.deallocate(p);
        a.epoch_close(other++);
      }
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) workers.emplace_back(worker, t);
  half.arrive_and_wait();
  for (auto& w : workers) w.join();
  done = true;
  collector.join();
  EXPECT_EQ(alloc_failures.load(), 0);
  EXPECT_EQ(refused.load(), 0) << "a valid handle was refused, or a freed one accepted";
  EXPECT_ALLOCATOR_OK(a);
}

TEST(MtLifecycle, ClosesRaceFreesAndAllocationsInOtherEpochs) {
  tslab::Allocator a(tslab::Options{8, nullptr});
  constexpr int kWorkers = 2;
  const int rounds = static_cast<int>(tslab_test::scaled(400));
  std::atomic<long> free_failures{0}, bad_alloc_errors{0}, double_successes{0};
  std::atomic<bool> done{false};
  // Cross-thread hand-off slots: each worker frees half of what the other allocated.
  std::vector<std::atomic<void*>> mailbox(kWorkers * 256);
  for (auto& m : mailbox) m.store(nullptr);
  auto worker = [&](int t) {
    for (int r = 0; r < rounds; ++r) {
      std::vector<void*> mine;
      for (int i = 0; i < 256; ++i) {
        const tslab::EpochId e = a.epoch_current();
        void* p = a.allocate(32 + (i % 16) * 24, e);
        if (p == nullptr) {
          // Only a close racing this thread's view of the current epoch may refuse.
          if (tslab::last_error() != Error::epoch_closing) ++bad_alloc_errors;
          continue;
        }
        mine.push_back(p);
      }
      for (std::size_t i = 0; i < mine.size(); ++i) {
        if (i % 2 == 0) {
          if (a.deallocate(mine[i]) != Error::ok) ++free_failures;
          if (a.deallocate(mine[i]) == Error::ok) ++double_successes;
        } else {
          void* old = mailbox[(1 - t) * 256 + (i % 256)].exchange(mine[i]);
          if (old != nullptr && a.deallocate(old) != Error::ok) ++free_failures;
        }
      }
      for (int i = 0; i < 256; ++i) {
        void* p = mailbox[t * 256 + i].exchange(nullptr);
        if (p != nullptr && a.deallocate(p) != Error::ok) ++free_failures;
      }
    }
  };
  std::thread closer([&] {
    while (!done.load(std::memory_order_relaxed)) {
      const tslab::EpochId old = a.epoch_current();
      a.epoch_advance();
      a.epoch_close(old);
      a.collect();
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kWorkers; ++t) workers.emplace_back(worker, t);
  for (auto& w : workers) w.join();
  done = true;
  closer.join();
  for (auto& m : mailbox)
    if (void* p = m.exchange(nullptr)) {
      if (a.deallocate(p) != Error::ok) ++free_failures;
    }
  EXPECT_EQ(free_failures.load(), 0);
  EXPECT_EQ(bad_alloc_errors.load(), 0);
  EXPECT_EQ(double_successes.load(), 0);
  EXPECT_ALLOCATOR_OK(a);
}

// The pin protocol: threads keep freeing stale handles while their slabs are
// recycled and reused by the owner for another size class, or taken into use by
// another thread's heap. One attacker has no heap in the allocator (its frees
// take the validated path), the other has one (they take the handle's fast path
// and its remote ending, AllocatorCore::free_handle_other). No stale free may
// succeed, every free of the new blocks must, and the other thread's blocks keep
// what it wrote (TSan: no race on the slab's identity fields while they are
// rewritten).
TEST(MtLifecycle, StaleHandlesNeverReachARecycledSlabsNextLife) {
  tslab::Allocator a;
  const int rounds = static_cast<int>(tslab_test::scaled(200));
  constexpr std::size_t kBlocks = 2048;
  std::vector<std::atomic<tslab::Handle>> stale(kBlocks);
  for (auto& h : stale) h.store(0);
  std::atomic<bool> done{false};
  std::atomic<long> stale_successes{0}, live_broken{0};
  auto attack = [&] {
    while (!done.load(std::memory_order_relaxed))
      for (auto& h : stale) {
        const tslab::Handle x = h.load(std::memory_order_relaxed);
        if (x != 0 && a.free_handle(x) == Error::ok) ++stale_successes;
      }
  };
  std::thread attacker(attack);
  std::thread attacker_with_heap([&] {
    void* own = a.allocate(64, 0);
    ASSERT_NE(own, nullptr);
    attack();
    EXPECT_EQ(a.deallocate(own), Error::ok);
  });
  // Takes recycled slabs into its own heap; each of its blocks holds its handle.
  std::thread taker([&] {
    while (!done.load(std::memory_order_relaxed)) {
      std::vector<tslab::Allocation> mine(kBlocks);
      for (auto& m : mine) {
        m = a.allocate_with_handle(64, 0);
        if (m.ptr != nullptr) *static_cast<std::uint64_t*>(m.ptr) = m.handle;
      }
      for (const auto& m : mine) {
        if (m.ptr == nullptr) continue;
        if (*static_cast<std::uint64_t*>(m.ptr) != m.handle) ++live_broken;
        if (a.free_handle(m.handle) != Error::ok) ++live_broken;
      }
      a.collect();
    }
  });
  long owner_failures = 0;
  for (int r = 0; r < rounds; ++r) {
    const std::size_t size = (r % 2 == 0) ? 64 : 96;  // the next life has another class
    std::vector<tslab::Handle> live(kBlocks);
    for (auto& h : live) {
      const tslab::Allocation x = a.allocate_with_handle(size, 0);
      ASSERT_NE(x.ptr, nullptr);
      h = x.handle;
    }
    for (std::size_t i = 0; i < kBlocks; ++i) {
      if (a.free_handle(live[i]) != Error::ok) ++owner_failures;
      stale[i].store(live[i], std::memory_order_relaxed);  // only stale copies from here
    }
    a.collect();  // the emptied slabs go back to the pool, to be reused next round
  }
  done = true;
  attacker.join();
  attacker_with_heap.join();
  taker.join();
  EXPECT_EQ(live_broken.load(), 0) << "a block of a later life was freed or overwritten";
  EXPECT_EQ(stale_successes.load(), 0) << "a stale handle freed a block";
  EXPECT_EQ(owner_failures, 0);
  EXPECT_ALLOCATOR_OK(a);
}
