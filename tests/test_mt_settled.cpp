// This file contains the race test of settled slabs (core/settled_slabs.cpp):
// frees into slabs that survivors pin, by their owner and by another thread,
// and the owner's collections of the other thread's frees, race closes of the
// slot that settle those slabs and skip them. A free that a
// settling close missed while the slab still looked unchanged would leave the
// freed block's page committed for good; so after the race every slab must hold
// exactly the pages of the blocks still live in it, and the checker must find
// every settled slab unchanged since it settled.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "platform/process_fence.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/platform.hpp"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;
constexpr std::size_t SLAB = SLAB_PAGE_SIZE;
constexpr std::size_t PAGE = 4096;
constexpr std::size_t BLOCK = 64;

std::uintptr_t slab_base(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t{SLAB - 1};
}

std::size_t resident_of_slab(std::uintptr_t base) {
  return tslab::OsPlatform::instance().resident_bytes(reinterpret_cast<const void*>(base), SLAB);
}

constexpr std::size_t PAGES = SLAB / PAGE, PER_PAGE = PAGE / BLOCK;

// One survivor on each page of a slab.
bool survives(const void* p) {
  return (reinterpret_cast<std::uintptr_t>(p) & (SLAB - 1)) / BLOCK % PER_PAGE == 10;
}
std::size_t page_of(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & (SLAB - 1)) / PAGE; }

TEST(MtSettled, FreesIntoSettledSlabsRaceClosesThatSettleThem) {
  if (!tslab::detail::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closed pages stay";
  constexpr std::size_t SLABS = 24;
  const std::size_t rounds = tslab_test::scaled(40);
  for (std::size_t round = 0; round < rounds; ++round) {
    tslab::Allocator a;
    const tslab::EpochId scope = a.epoch_open(), other = a.epoch_open();
    ASSERT_NE(scope, SLAB_NO_EPOCH);
    ASSERT_NE(other, SLAB_NO_EPOCH);
    std::vector<void*> blocks, survivors;
    for (std::size_t i = 0; i < SLABS * (SLAB / BLOCK); ++i) {
      blocks.push_back(a.allocate(BLOCK, scope));
      ASSERT_NE(blocks.back(), nullptr);
      std::memset(blocks.back(), 1, BLOCK);
    }
    for (void* p : blocks) {
      if (survives(p)) {
        survivors.push_back(p);
      } else {
        ASSERT_EQ(a.deallocate(p), Error::ok);
      }
    }
    ASSERT_EQ(survivors.size(), PAGES * SLABS);
    ASSERT_EQ(a.epoch_close(scope), Error::ok);  // first look
    ASSERT_EQ(a.epoch_close(other), Error::ok);  // second look: free pages go back
    const tslab::EpochId again = a.epoch_open();
    ASSERT_EQ(again, scope);
    ASSERT_EQ(a.epoch_close(again), Error::ok);  // they settle

    // Of each slab's survivors, the owner frees those of the even pages below
    // 14, another thread those of the odd ones, two stay; meanwhile a third
    // thread opens and closes the slot, settling each slab again after each free.
    std::vector<void*> owner_frees, remote_frees, kept;
    for (void* p : survivors)
      (page_of(p) >= PAGES - 2 ? kept : page_of(p) % 2 == 0 ? owner_frees : remote_frees).push_back(p);
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> closes{0};
    std::thread closer([&] {
      while (!stop.load(std::memory_order_acquire)) {
        const tslab::EpochId e = a.epoch_open();
        if (e == SLAB_NO_EPOCH) continue;
        void* mine = a.allocate(BLOCK, e);
        if (mine != nullptr) {
          EXPECT_EQ(a.deallocate(mine), Error::ok);
        }
        EXPECT_EQ(a.epoch_close(e), Error::ok);
        closes.fetch_add(1, std::memory_order_relaxed);
      }
    });
    std::thread remote([&] {
      for (void* p : remote_frees) {
        EXPECT_EQ(a.deallocate(p), Error::ok);
        std::this_thread::yield();
      }
    });
    // The owner frees, and now and then collects: it takes in the other
    // thread's frees (Heap::collect), a change of its own to their bitmaps.
    for (std::size_t i = 0; i < owner_frees.size(); ++i) {
      ASSERT_EQ(a.deallocate(owner_frees[i]), Error::ok);
      if (i % 8 == 0) a.collect();
      std::this_thread::yield();
    }
    remote.join();
    // At least a few closes ran while the frees did (the closer runs on).
    while (closes.load(std::memory_order_relaxed) < 4) std::this_thread::yield();
    stop.store(true, std::memory_order_release);
    closer.join();

    // Two closes of the slot with every free done: each slab ends with exactly
    // the pages of its two survivors.
    for (int i = 0; i < 2; ++i) {
      const tslab::EpochId e = a.epoch_open();
      ASSERT_EQ(e, scope);
      ASSERT_EQ(a.epoch_close(e), Error::ok);
    }
    for (void* p : kept) {
      ASSERT_EQ(resident_of_slab(slab_base(p)), 2 * PAGE)
          << "round " << round << ": a freed block's page stayed";
      for (std::size_t b = 0; b < BLOCK; ++b) ASSERT_EQ(static_cast<unsigned char*>(p)[b], 1);
    }
    const tslab::EpochStats es = tslab::epoch_stats(a, scope);
    EXPECT_EQ(es.last_close_pinned_slabs, SLABS);
    EXPECT_EQ(es.last_close_live_blocks, kept.size());
    EXPECT_EQ(es.last_close_pinned_bytes, SLABS * 2 * PAGE);
    EXPECT_ALLOCATOR_OK(a);
    for (void* p : kept) ASSERT_EQ(a.deallocate(p), Error::ok);
    EXPECT_ALLOCATOR_OK(a);
  }
}

// Settled slabs emptied by another thread's frees while closes of their slot
// run and the owner walks for empty slabs: each such free pushes its slab on
// the unsettled stack (Slab::unsettle) and queues it for the owner, whose
// collection takes it back to the walk that recycles it; meanwhile closes
// sweep the stack, and a slab recycled before a close swept it leaves the
// stack first (AllocatorCore::still_reached). Every slab must go back to the pool
// exactly once, and the stack, its flags and the heap's lists must agree.
TEST(MtSettled, SettledSlabsAnotherThreadEmptiesAreRecycledOnce) {
  if (!tslab::detail::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closed pages stay";
  constexpr std::size_t SLABS = 48;
  const std::size_t rounds = tslab_test::scaled(40);
  for (std::size_t round = 0; round < rounds; ++round) {
    tslab::Allocator a;
    const tslab::EpochId scope = a.epoch_open(), other = a.epoch_open();
    ASSERT_NE(scope, SLAB_NO_EPOCH);
    ASSERT_NE(other, SLAB_NO_EPOCH);
    std::vector<void*> blocks, survivors;  // survivors: one at the start of each slab
    for (std::size_t i = 0; i < SLABS * (SLAB / BLOCK); ++i) {
      blocks.push_back(a.allocate(BLOCK, scope));
      ASSERT_NE(blocks.back(), nullptr);
    }
    for (void* p : blocks) {
      if ((reinterpret_cast<std::uintptr_t>(p) & (SLAB - 1)) == 0) {
        survivors.push_back(p);
      } else {
        ASSERT_EQ(a.deallocate(p), Error::ok);
      }
    }
    ASSERT_EQ(survivors.size(), SLABS);
    ASSERT_EQ(a.epoch_close(scope), Error::ok);
    ASSERT_EQ(a.epoch_close(other), Error::ok);
    const tslab::EpochId again = a.epoch_open();
    ASSERT_EQ(again, scope);
    ASSERT_EQ(a.epoch_close(again), Error::ok);  // they settle
    a.collect();                                 // and leave the owner's walk
    const tslab::GlobalStats before = tslab::stats(a);

    std::atomic<bool> stop{false};
    std::thread closer([&] {
      while (!stop.load(std::memory_order_acquire)) {
        const tslab::EpochId e = a.epoch_open();
        if (e == SLAB_NO_EPOCH) continue;
        EXPECT_EQ(a.epoch_close(e), Error::ok);
      }
    });
    std::thread remote([&] {
      for (void* p : survivors) {
        EXPECT_EQ(a.deallocate(p), Error::ok);
        std::this_thread::yield();
      }
    });
    for (std::size_t i = 0; i < 4 * SLABS; ++i) {
      a.collect();  // the owner's collection and walk, racing the frees and closes
      std::this_thread::yield();
    }
    remote.join();
    stop.store(true, std::memory_order_release);
    closer.join();
    a.collect();
    const tslab::GlobalStats after = tslab::stats(a);
    EXPECT_EQ(after.slabs_recycled_total - before.slabs_recycled_total, SLABS) << "round " << round;
    EXPECT_EQ(after.slabs_partial + after.slabs_full + after.slabs_empty, 0u) << "round " << round;
    EXPECT_ALLOCATOR_OK(a);
  }
}

}  // namespace
