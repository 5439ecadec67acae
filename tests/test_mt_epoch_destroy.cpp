// This file contains the concurrency test of epoch_destroy: owners free their
// blocks of an epoch while another thread destroys it, and another thread
// churns in another epoch. Every block is freed (the frees that succeed plus
// the blocks the destroy released cover the blocks allocated); a free that races
// the destroy's free of the same block may succeed too (the remote-free
// protocol cannot tell one winner: segment/slab.h), so the sum may exceed the
// count by those races, never the other way; the bitmaps stay exact (check()).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <thread>
#include <utility>
#include <vector>

#include "slab_alloc.h"
#include "test_util.h"

namespace {

using tslab_test::scaled;

TEST(EpochDestroyRace, EveryBlockIsFreedExactlyOnce) {
  constexpr int OWNERS = 3;
  const std::size_t per_owner = scaled(4000);
  const int rounds = static_cast<int>(scaled(30));
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  const EpochId churn_epoch = epoch_current(a);  // never taken by slab_epoch_open
  std::atomic<bool> stop{false};
  std::thread churner([&] {  // allocations in flight in another epoch all along
    std::vector<void*> window(256, nullptr);
    for (std::size_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      void*& slot = window[i % window.size()];
      if (slot != nullptr) {
        EXPECT_TRUE(slab_free_checked(a, slot));
      }
      slot = slab_malloc_epoch(a, 16 + (i % 30) * 24, churn_epoch);
    }
    for (void* p : window) {
      if (p != nullptr) {
        EXPECT_TRUE(slab_free_checked(a, p));
      }
    }
  });
  for (int r = 0; r < rounds; ++r) {
    const EpochId e = slab_epoch_open(a);  // a fresh activation each round
    ASSERT_NE(e, SLAB_NO_EPOCH);
    std::atomic<std::uint64_t> freed{0}, allocated{0};
    std::barrier start(OWNERS + 1);
    std::vector<std::thread> owners;
    for (int t = 0; t < OWNERS; ++t)
      owners.emplace_back([&, t] {
        std::vector<void*> mine;
        for (std::size_t i = 0; i < per_owner; ++i) {
          void* p = slab_malloc_epoch(a, i % 7 == 0 ? 70000 + i : 32 + (i % 40) * 16, e);
          ASSERT_NE(p, nullptr);
          mine.push_back(p);
        }
        start.arrive_and_wait();
        std::uint64_t ok = 0;
        for (std::size_t i = 0; i < mine.size(); ++i)
          ok += slab_free_checked(a, mine[(i * 7919 + static_cast<std::size_t>(t)) % mine.size()]) ? 1 : 0;
        freed.fetch_add(ok);
        allocated.fetch_add(mine.size());
      });
    start.arrive_and_wait();
    std::uint64_t released = 0;
    ASSERT_TRUE(slab_epoch_destroy(a, e, &released));
    for (auto& t : owners) t.join();
    EXPECT_GE(freed.load() + released, allocated.load()) << "round " << r;
    EXPECT_LE(released, allocated.load()) << "round " << r;
    SlabEpochInfo info{};
    ASSERT_TRUE(slab_epoch_info(a, e, &info));
    EXPECT_EQ(info.live_count, 0u) << "round " << r;
    EXPECT_EQ(slab_epoch_state(a, e), EPOCH_CLOSING);
  }
  stop = true;
  churner.join();
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

TEST(EpochDestroyRace, NoLargeAllocationRacingTheDestroyOutlivesIt) {
  constexpr std::size_t CAP = 2048;  // blocks per round, should the destroy lag
  const int rounds = static_cast<int>(std::max<std::size_t>(scaled(150), 20));
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  int survivors = 0, rounds_with_survivors = 0;
  for (int r = 0; r < rounds; ++r) {
    const EpochId e = slab_epoch_open(a);
    ASSERT_NE(e, SLAB_NO_EPOCH);
    std::vector<void*> blocks;
    blocks.reserve(CAP);
    std::atomic<std::size_t> made{0};
    std::thread allocating([&] {
      // Until the destroy refuses it: spans taken fresh, from the cache, aligned.
      for (std::size_t i = 0; i < CAP; ++i) {
        void* p = i % 3 == 2 ? slab_malloc_aligned_epoch(a, 70000 + i * 64, 4096, e)
                             : slab_malloc_epoch(a, 70000 + (i % 5) * 40000, e);
        if (p == nullptr) break;
        blocks.push_back(p);
        made.store(blocks.size(), std::memory_order_release);
      }
    });
    // A few blocks first, so that the destroy meets allocations in flight.
    while (made.load(std::memory_order_acquire) < 4 + static_cast<std::size_t>(r % 8)) {
    }
    std::uint64_t released = 0;
    ASSERT_TRUE(slab_epoch_destroy(a, e, &released));
    allocating.join();
    int live = 0;
    for (void* p : blocks) live += slab_usable_size(a, p) != 0 ? 1 : 0;
    survivors += live;
    rounds_with_survivors += live != 0 ? 1 : 0;
    EXPECT_EQ(released, blocks.size()) << "round " << r;
    SlabEpochInfo info{};
    ASSERT_TRUE(slab_epoch_info(a, e, &info));
    EXPECT_EQ(info.live_count, 0u) << "round " << r;
  }
  EXPECT_EQ(survivors, 0) << "in " << rounds_with_survivors << " of " << rounds << " rounds";
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

// An allocation with a handle racing the destroy of its epoch either is
// refused, or returns its block with the block's own handle, which a free then
// refuses as a double free once the destroy released the block. Before, the
// slow path looked the handle up after the allocation's end: a destroy that
// had waited for the allocation, then released its block before that lookup,
// left a non-NULL block with handle 0. Each round, the first allocation of a
// fresh activation (a slow path) meets its destroy, started a little later
// each round, so that the rounds sweep the allocation's whole length.
TEST(EpochDestroyRace, AnAllocationWithAHandleRacingTheDestroyGetsItsBlocksHandle) {
  const std::uint64_t rounds = std::max<std::size_t>(scaled(4000), 2000);
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  std::atomic<EpochId> current{SLAB_NO_EPOCH};
  std::atomic<std::uint64_t> round{0}, done{0};
  std::uint64_t made = 0, zero_handles = 0, bad_refusals = 0;
  std::thread allocating([&] {
    std::vector<SlabHandle> made_now;
    for (std::uint64_t r = 1; r <= rounds; ++r) {
      while (round.load(std::memory_order_acquire) < r) {
      }
      SlabHandle h = 0;
      // A small block (a fresh activation's first: the slow path) or a span.
      if (alloc_obj_epoch(a, r % 2 == 0 ? 20000 : 70000, current.load(std::memory_order_acquire), &h) !=
          nullptr) {
        ++made;
        if (h == 0)
          ++zero_handles;
        else
          made_now.push_back(h);
      }
      done.store(r, std::memory_order_release);
      // Released by the destroy: its handle is refused as such, never as none.
      while (round.load(std::memory_order_acquire) == r) {
      }
      for (SlabHandle held : made_now) {
        const bool freed = free_obj(a, held);
        const TslabError why = slab_last_error();
        if (freed || (why != TSLAB_ERR_DOUBLE_FREE && why != TSLAB_ERR_STALE_HANDLE)) {
          ++bad_refusals;
          ADD_FAILURE() << "round " << r << (r % 2 == 0 ? " small" : " span") << ": freed " << freed << ", "
                        << slab_error_string(why);
        }
      }
      made_now.clear();
    }
  });
  for (std::uint64_t r = 1; r <= rounds; ++r) {
    const EpochId e = slab_epoch_open(a);
    ASSERT_NE(e, SLAB_NO_EPOCH);
    current.store(e, std::memory_order_release);
    round.store(r, std::memory_order_release);
    for (std::uint64_t spin = (r * 7919) % 4000; spin != 0; --spin) asm volatile("" ::: "memory");
    ASSERT_TRUE(slab_epoch_destroy(a, e, nullptr));
    while (done.load(std::memory_order_acquire) < r) {
    }
  }
  round.store(rounds + 1, std::memory_order_release);
  allocating.join();
  EXPECT_EQ(zero_handles, 0u) << "of " << made << " blocks, over " << rounds << " destroys";
  EXPECT_EQ(bad_refusals, 0u);
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

}  // namespace
