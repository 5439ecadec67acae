// This file contains a step-by-step test of a close's second look at pinned
// slabs (AllocatorCore::purge_pinned_candidates_locked): a close that waits out
// allocations in flight for a pinned candidate must record as waited out the
// slot and era the candidate was found in, even when the slab has drained,
// been recycled and been taken into another slot's life while the close waited.
// The close is held in its wait by another thread that stays inside an
// allocation marker (Heap::begin_alloc), so the interleaving is taken every time.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "heap/heap.h"
#include "platform/process_fence.h"
#include "segment/segment_map.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

namespace td = tslab::detail;
using tslab::Error;

td::Slab* slab_of(const void* p) { return td::segment_map_lookup(p)->slab_for(p); }

// Slot Y opens first (an older era), then slot X, whose slab S keeps one block
// past X's close: S is a pinned candidate. A close of slot Z then has to wait
// out allocations for S's era; while it waits, S drains, is recycled into the
// warm reserve and is taken by an allocation in Y. The close then records what
// it waited out: X's era in slot X. Recording it in the slab's slot of the
// moment (Y) would mark Y's open era as waited out, and Y's close would return
// its slabs' pages without waiting for allocations that may still see Y open.
TEST(PinnedPurge, AWaitedOutCandidateIsRecordedInTheSlotItWasFoundIn) {
  if (!td::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closes never wait";
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(4u << 20), Error::ok);
  const tslab::EpochId y = a.epoch_open(), x = a.epoch_open(), z = a.epoch_open();
  ASSERT_NE(y, SLAB_NO_EPOCH);
  ASSERT_NE(x, SLAB_NO_EPOCH);
  ASSERT_NE(z, SLAB_NO_EPOCH);

  std::vector<void*> blocks;
  for (std::size_t i = 0; i < SLAB_PAGE_SIZE / 64; ++i) blocks.push_back(a.allocate(64, x));
  void* survivor = blocks[blocks.size() / 2];
  for (void* p : blocks) {
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, 64);
  }
  for (void* p : blocks) {
    if (p == survivor) continue;
    ASSERT_EQ(a.deallocate(p), Error::ok);
  }
  td::Slab* const s = slab_of(survivor);
  ASSERT_EQ(a.epoch_close(x), Error::ok);  // first look: S is a candidate

  // A thread that stays inside an allocation: every quiescence wait waits for it.
  std::atomic<int> step{0};
  std::thread blocker([&] {
    void* mine = a.allocate(32, y);
    td::Heap* heap = slab_of(mine)->heap.load();
    heap->begin_alloc();
    step.store(1);
    while (step.load() != 2) std::this_thread::yield();
    heap->end_alloc();
    EXPECT_EQ(a.deallocate(mine), Error::ok);
  });
  while (step.load() != 1) std::this_thread::yield();

  const std::uint64_t waits = tslab::stats(a).quiescence_waits_total;
  std::thread closer([&] { EXPECT_EQ(a.epoch_close(z), Error::ok); });
  // The close is in its wait once it counted it (before waiting, outside the lock).
  while (tslab::stats(a).quiescence_waits_total == waits) std::this_thread::yield();

  // Meanwhile S drains and goes into the warm reserve; Y's next slab is S.
  ASSERT_EQ(a.deallocate(survivor), Error::ok);
  void* in_y = a.allocate(64, y);
  ASSERT_NE(in_y, nullptr);
  ASSERT_EQ(slab_of(in_y), s) << "the warm reserve's only slab";
  ASSERT_EQ(s->epoch, y);

  step.store(2);
  closer.join();
  blocker.join();

  // Y closes with an empty slab beyond the (now empty) reserve: its pages go back
  // only after a wait, which the close of Z must not have recorded for Y.
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.deallocate(in_y), Error::ok);
  const std::uint64_t before_y = tslab::stats(a).quiescence_waits_total;
  ASSERT_EQ(a.epoch_close(y), Error::ok);
  EXPECT_GT(tslab::stats(a).quiescence_waits_total, before_y) << "Y's era was never waited out";
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
