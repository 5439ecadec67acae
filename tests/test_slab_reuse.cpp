// This file contains the tests of memory reuse across kinds of block, within one
// open epoch: empty slabs of one size class serve the next class a program
// needs (Heap::hand_back_spare_slabs), warm slabs make way for a large block's
// fresh pages, and cached large spans for a fresh slab's. Checked by the
// allocator's counters, never by time or RSS.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "core/allocator_core.h"
#include "heap/heap.h"
#include "platform/process_fence.h"
#include "segment/segment_map.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/platform.hpp"
#include "tslab/stats.hpp"

namespace {

namespace td = tslab::detail;

using tslab::Error;
constexpr std::size_t SLAB = SLAB_PAGE_SIZE;
constexpr std::size_t MiB = std::size_t{1} << 20;
constexpr std::size_t PAGE = 4096;

std::size_t resident_of_slab(const void* p) {
  const auto start = reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t{SLAB - 1};
  return tslab::OsPlatform::instance().resident_bytes(reinterpret_cast<const void*>(start), SLAB);
}

// `count` blocks of `size` bytes in `epoch` (the current one if SLAB_NO_EPOCH),
// each written.
std::vector<void*> fill(tslab::Allocator& a, std::size_t size, std::size_t count,
                        tslab::EpochId epoch = SLAB_NO_EPOCH) {
  std::vector<void*> blocks(count);
  for (std::size_t i = 0; i < count; ++i) {
    blocks[i] = epoch == SLAB_NO_EPOCH ? a.allocate(size) : a.allocate(size, epoch);
    EXPECT_NE(blocks[i], nullptr);
    if (blocks[i] != nullptr) std::memset(blocks[i], static_cast<int>(i), size);
  }
  return blocks;
}

void free_all(tslab::Allocator& a, const std::vector<void*>& blocks) {
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
}

// Lets two windows of the hand-back grace end, each at a slow path (a new size
// class's first block, which takes one slab): what the pool keeps beyond the
// retention is then at most GRACE_KEEP_PER_TAKEN slabs, for the one taken in
// the second window. The blocks are freed.
void end_two_grace_windows(tslab::Allocator& a) {
  for (const std::size_t size : {48, 96}) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(td::AllocatorCore::HAND_BACK_GRACE_NS + 50'000'000));
    void* p = a.allocate(size);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(a.deallocate(p), Error::ok);
  }
}
constexpr std::size_t GRACE_KEPT = td::AllocatorCore::GRACE_KEEP_PER_TAKEN * SLAB;

// A program whose size mix moves: ten slabs of 64-byte blocks die, then as many
// bytes of 48-byte blocks are needed. They take the emptied slabs (warm: the
// reserve has room), not new ones; the first class takes its slabs back after.
// One new slab each time: the look that first sees the slabs empty takes none
// (a slab that empties and fills again, as a request's, is not spare).
TEST(SlabReuse, EmptySlabsOfOneClassServeTheNextClassNeeded) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(4 * MiB), Error::ok);
  const std::vector<void*> first = fill(a, 64, 10 * (SLAB / 64));
  free_all(a, first);
  const tslab::GlobalStats before = tslab::stats(a);
  const std::vector<void*> second = fill(a, 48, 9 * (SLAB / 48));
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.new_slabs_total, before.new_slabs_total + 1) << "one beyond the ten the program had";
  EXPECT_GE(after.slabs_reused_total - before.slabs_reused_total, 8u);
  EXPECT_GE(after.slabs_recycled_total - before.slabs_recycled_total, 8u);
  EXPECT_EQ(after.decommit_calls_total, before.decommit_calls_total) << "warm: no page went back";
  EXPECT_ALLOCATOR_OK(a);
  free_all(a, second);
  const std::vector<void*> third = fill(a, 64, 8 * (SLAB / 64));
  EXPECT_EQ(tslab::stats(a).new_slabs_total, after.new_slabs_total + 1);
  free_all(a, third);
  EXPECT_ALLOCATOR_OK(a);
}

// Without a reserve and without retention the emptied slabs go back to the OS
// on their way through the pool, and are reused all the same.
TEST(SlabReuse, WithoutAReserveEmptySlabsAreReturnedAndReused) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  const std::vector<void*> first = fill(a, 256, 10 * (SLAB / 256));
  free_all(a, first);
  const tslab::GlobalStats before = tslab::stats(a);
  const std::vector<void*> second = fill(a, 1024, 9 * (SLAB / 1024));
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.new_slabs_total, before.new_slabs_total + 1);
  EXPECT_GE(after.decommit_bytes_total - before.decommit_bytes_total, 8 * SLAB);
  free_all(a, second);
  EXPECT_ALLOCATOR_OK(a);
}

// Beyond the reserve, slabs a heap hands back outside a close stay committed
// within the retention (TSLAB_LARGE_RETAIN): the next class takes them without a
// fault or a system call. Slabs a growth took none of for the grace go back to
// that bound. A close gives what is so kept back, so does collect().
TEST(SlabReuse, BeyondTheReserveHandedBackSlabsStayWithinTheRetentionUntilAClose) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(4 * SLAB), Error::ok);
  const std::vector<void*> first = fill(a, 256, 10 * (SLAB / 256));
  free_all(a, first);
  tslab::GlobalStats before = tslab::stats(a);
  const std::vector<void*> second = fill(a, 1024, 9 * (SLAB / 1024));
  tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.new_slabs_total, before.new_slabs_total + 1);
  // Ten slabs handed back for the growth, which took eight of them: none went back.
  EXPECT_EQ(after.decommit_bytes_total, before.decommit_bytes_total);
  EXPECT_ALLOCATOR_OK(a);
  free_all(a, second);

  // Kept again: the 256-byte class grows while the 1024-byte slabs are spare.
  before = tslab::stats(a);
  const std::vector<void*> third = fill(a, 256, 11 * (SLAB / 256));
  free_all(a, third);
  const std::vector<void*> fourth = fill(a, 1024, 10 * (SLAB / 1024));
  free_all(a, fourth);
  end_two_grace_windows(a);
  after = tslab::stats(a);
  EXPECT_LE(after.warm_reserve_bytes, 4 * SLAB + GRACE_KEPT) << "within the retention once the grace ended";
  // A close of another epoch returns what the retention holds.
  const EpochId e = slab_epoch_open(a.c_allocator());
  ASSERT_NE(e, SLAB_NO_EPOCH);
  ASSERT_TRUE(epoch_close(a.c_allocator(), e));
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  a.collect();
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

// A program whose phases each fill and free far more than the retention, in a
// different size class each: the slabs a heap hands back because it is about to
// grow stay committed beyond the retention while the growth takes them, so the
// next phase faults none of them in again (before: all but the retention's went
// back to the OS at the hand-back, and each came back as a fresh slab's pages).
// Once the windows of the grace found few of them taken, the excess beyond the
// retention goes back at a heap's next slow path.
TEST(SlabReuse, SlabsHandedBackAsTheHeapGrowsServeTheGrowthBeyondTheRetention) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(4 * SLAB), Error::ok);
  const std::vector<void*> first = fill(a, 256, 40 * (SLAB / 256));
  free_all(a, first);
  tslab::GlobalStats before = tslab::stats(a);
  const std::vector<void*> second = fill(a, 1024, 39 * (SLAB / 1024));
  tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.new_slabs_total, before.new_slabs_total + 1) << "one beyond the forty the program had";
  EXPECT_EQ(after.decommit_bytes_total, before.decommit_bytes_total) << "the growth took them warm";
  EXPECT_LE(after.warm_reserve_bytes, 4 * SLAB);
  EXPECT_ALLOCATOR_OK(a);

  // A growth that takes few of them: the rest waits out the grace, then goes
  // back to the retention's bound at the next slow path.
  free_all(a, second);
  before = tslab::stats(a);
  const std::vector<void*> third = fill(a, 4096, 4 * (SLAB / 4096));
  after = tslab::stats(a);
  EXPECT_GE(after.warm_reserve_bytes, 30 * SLAB) << "handed back for the growth, kept for it";
  end_two_grace_windows(a);
  after = tslab::stats(a);
  EXPECT_LE(after.warm_reserve_bytes, 4 * SLAB + GRACE_KEPT)
      << "unused for the grace: back within the retention";
  EXPECT_GE(after.decommit_bytes_total - before.decommit_bytes_total, 26 * SLAB);
  free_all(a, third);
  EXPECT_ALLOCATOR_OK(a);
}

// The grace is not kept alive by a few warm slabs taken now and then (another
// thread's traffic through the pool): each window keeps beyond the retention at
// most GRACE_KEEP_PER_TAKEN times what was taken in it. Before, any take
// restarted the grace, and every slab handed back stayed committed for good.
// (The sleeps only make windows end: a slower machine takes fewer slabs per
// window, which keeps less.)
TEST(SlabReuse, AFewSlabsTakenNowAndThenDoNotKeepAHandBackCommitted) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(4 * SLAB), Error::ok);
  free_all(a, fill(a, 64, 60 * (SLAB / 64)));
  const std::vector<void*> grown = fill(a, 4096, 4 * (SLAB / 4096));  // hands the 60 back
  ASSERT_GE(tslab::stats(a).warm_reserve_bytes, 40 * SLAB);
  std::vector<void*> trickle;
  for (const std::size_t size : {16, 32, 48, 80, 96, 112, 128, 144, 160, 176, 192, 208}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    trickle.push_back(a.allocate(size));  // a new class: one warm slab taken
    ASSERT_NE(trickle.back(), nullptr);
  }
  // At least three windows ended, none with more than five slabs taken in it.
  EXPECT_LE(tslab::stats(a).warm_reserve_bytes, 4 * SLAB + 5 * GRACE_KEPT);
  free_all(a, trickle);
  free_all(a, grown);
  EXPECT_ALLOCATOR_OK(a);
}

// A thread that exits holding many empty slabs hands them back: the next
// thread's new size class takes them (no new slab), where before they waited in
// the exited thread's heap for an adoption; with neither reserve nor retention
// their pages go back at the exit. A heap with a few empty slabs keeps them for
// the thread that adopts it, which then takes no slab at all.
TEST(SlabReuse, AThreadThatExitsWithManyEmptySlabsHandsThemBack) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  constexpr std::size_t MANY = 80;  // beyond what a heap keeps for its next owner (64)
  void* kept = nullptr;
  std::thread first([&] {
    kept = a.allocate(64);  // a live block: the heap stays with it
    free_all(a, fill(a, 256, MANY * (SLAB / 256)));
  });
  first.join();
  const tslab::GlobalStats after_exit = tslab::stats(a);
  EXPECT_EQ(after_exit.committed_bytes, SLAB) << "the 64-byte slab only";
  EXPECT_GE(after_exit.decommit_bytes_total, MANY * SLAB);
  // The next thread adopts the heap (its empty slabs are not in it any more)
  // and its new class takes the pooled slabs, not new ones.
  std::thread second([&] {
    const std::vector<void*> blocks = fill(a, 1024, MANY * (SLAB / 1024));
    EXPECT_EQ(tslab::stats(a).new_slabs_total, after_exit.new_slabs_total);
    free_all(a, blocks);
  });
  second.join();
  ASSERT_EQ(a.deallocate(kept), Error::ok);

  // A few empty slabs stay with the heap: the adopting thread's allocations of
  // the same class take neither a slab from the pool nor a new one.
  a.collect();
  std::thread few([&] { free_all(a, fill(a, 512, 4 * (SLAB / 512))); });
  few.join();
  const tslab::GlobalStats after_few = tslab::stats(a);
  std::thread again([&] {
    const std::vector<void*> blocks = fill(a, 512, 4 * (SLAB / 512));
    const tslab::GlobalStats s = tslab::stats(a);
    EXPECT_EQ(s.new_slabs_total, after_few.new_slabs_total);
    EXPECT_EQ(s.slabs_reused_total, after_few.slabs_reused_total);
    free_all(a, blocks);
  });
  again.join();
  EXPECT_ALLOCATOR_OK(a);
}

// A thread that exits holding its blocks, which another thread then frees, left
// its heap full of slabs that are empty but not yet collected. The thread that
// adopts the heap collects those frees and hands the empty slabs back as an
// exit does, where before they stayed with the heap (their pages committed) for
// whatever its new owner would allocate of those classes.
TEST(SlabReuse, AHeapAdoptedAfterItsBlocksWereFreedElsewhereHandsItsEmptySlabsBack) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  constexpr std::size_t MANY = 80;  // beyond what a heap keeps for its next owner (64)
  std::vector<void*> left;
  std::thread first([&] { left = fill(a, 256, MANY * (SLAB / 256)); });
  first.join();
  // Remote frees into the abandoned heap: queued, not collected.
  free_all(a, left);
  const tslab::GlobalStats before = tslab::stats(a);
  ASSERT_GE(before.slabs_empty, MANY);
  ASSERT_GE(before.committed_bytes, MANY * SLAB);
  std::thread second([&] {
    void* p = a.allocate(64);  // adopts the heap
    ASSERT_NE(p, nullptr);
    const tslab::GlobalStats adopted = tslab::stats(a);
    EXPECT_LE(adopted.slabs_empty, 1u) << "the 256-byte slabs left the heap";
    EXPECT_GE(adopted.slabs_recycled_total, before.slabs_recycled_total + MANY);
    EXPECT_GE(adopted.decommit_bytes_total, before.decommit_bytes_total + MANY * SLAB);
    EXPECT_LE(adopted.committed_bytes, SLAB) << "the 64-byte slab only";
    ASSERT_EQ(a.deallocate(p), Error::ok);
  });
  second.join();
  EXPECT_ALLOCATOR_OK(a);
}

// Threads that were alive together each leave a few empty slabs in their heaps
// (fewer than the 64 a heap keeps for the thread that adopts it): together the
// abandoned heaps keep what the warm reserve and the retention would, at least
// one heap's 64, and the rest go back to the pool, so a wave of threads does not
// leave its peak behind.
TEST(SlabReuse, AbandonedHeapsTogetherKeepABoundedNumberOfEmptySlabs) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  constexpr std::size_t THREADS = 40, EACH = 20;  // 800 empty slabs, 20 per heap
  std::atomic<std::size_t> filled{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> wave;
  for (std::size_t t = 0; t < THREADS; ++t)
    wave.emplace_back([&] {
      free_all(a, fill(a, 256, EACH * (SLAB / 256)));
      filled.fetch_add(1);
      while (!go.load()) std::this_thread::yield();  // all alive at once: no heap is adopted
    });
  while (filled.load() < THREADS) std::this_thread::yield();
  go.store(true);
  for (std::thread& t : wave) t.join();
  const tslab::GlobalStats g = tslab::stats(a);
  EXPECT_EQ(g.heaps_abandoned, THREADS);
  constexpr std::size_t KEPT = 64;  // of the 800 the threads left: no reserve, no retention
  static_assert(td::AllocatorCore::ABANDON_KEEP_EMPTY == KEPT);
  EXPECT_LE(g.slabs_empty, KEPT);
  EXPECT_LE(g.committed_bytes, (KEPT + THREADS) * SLAB);
  EXPECT_ALLOCATOR_OK(a);
}

// Many slabs that emptied go back to the pool at the next slow paths, also when
// the heap does not grow again: here the thread's size mix moved to a class whose
// slab still has room (its carving takes slow paths, no slab). Before, they went
// back only when the heap was about to take a slab, and stayed with it for good.
TEST(SlabReuse, ManySlabsThatEmptiedGoBackWithoutTheHeapGrowing) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  constexpr std::size_t MANY = 100;  // beyond the 64 that make a slow path look
  void* first = a.allocate(64);      // the 64-byte class's slab, carved as it goes
  ASSERT_NE(first, nullptr);
  free_all(a, fill(a, 1024, MANY * (SLAB / 1024)));
  const tslab::GlobalStats before = tslab::stats(a);
  ASSERT_GE(before.reclaimable_slabs, MANY);
  std::vector<void*> small;
  for (std::size_t i = 0; i + 1 < SLAB / 64; ++i) {
    small.push_back(a.allocate(64));
    ASSERT_NE(small.back(), nullptr);
  }
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.new_slabs_total, before.new_slabs_total) << "the heap did not grow";
  EXPECT_GE(after.slabs_recycled_total, before.slabs_recycled_total + MANY);
  EXPECT_LE(after.committed_bytes, 2 * SLAB);
  free_all(a, small);
  ASSERT_EQ(a.deallocate(first), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// A bin that empties one slab at a time (one block allocated and freed in a
// loop) keeps it while another class grows: the hand-back waits until two more
// slabs emptied since its last look, so the loop takes no slab from the pool.
TEST(SlabReuse, ABinEmptyingOneSlabAtATimeKeepsIt) {
  tslab::Allocator a;
  std::vector<void*> growing;
  void* one = a.allocate(128);
  ASSERT_EQ(a.deallocate(one), Error::ok);
  const tslab::GlobalStats before = tslab::stats(a);
  for (std::size_t i = 0; i < 20 * (SLAB / 512); ++i) {
    growing.push_back(a.allocate(512));
    void* p = a.allocate(128);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(a.deallocate(p), Error::ok);
  }
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.slabs_recycled_total, before.slabs_recycled_total) << "the 128-byte slab stayed";
  free_all(a, growing);
  EXPECT_ALLOCATOR_OK(a);
}

// A bin whose slabs hold long-lived (or leaked) blocks is not walked by a
// hand-back for the few slabs that emptied: those are found at the front of the
// list, and the walk ends once it met as many as the bin counts. Slabs that
// emptied behind forty full ones still go back and serve the growing class.
TEST(SlabReuse, AHandBackReadsOnlyTheSlabsItCountsEmpty) {
  constexpr std::size_t FULL = 40;
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  const std::vector<void*> emptied = fill(a, 256, 2 * (SLAB / 256));  // the bin's oldest slabs
  const std::vector<void*> kept = fill(a, 256, FULL * (SLAB / 256));
  free_all(a, emptied);
  const td::Heap* heap = td::small_slab_of(kept.front())->heap.load();
  ASSERT_NE(heap, nullptr);
  const std::uint64_t examined = heap->spare_slabs_examined();
  const tslab::GlobalStats before = tslab::stats(a);
  const std::vector<void*> growing = fill(a, 1024, 8 * (SLAB / 1024));
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.slabs_recycled_total - before.slabs_recycled_total, 2u) << "both emptied slabs went back";
  EXPECT_EQ(after.new_slabs_total - before.new_slabs_total, 6u) << "and served the 1024-byte class";
  EXPECT_GT(heap->spare_slabs_examined(), examined);
  EXPECT_LE(heap->spare_slabs_examined() - examined, 8u) << "the full slabs were not read";
  free_all(a, growing);
  free_all(a, kept);
  EXPECT_ALLOCATOR_OK(a);
}

// Spare slabs whose blocks lie deep in a long free list of other slabs' blocks
// stay where they are: the hand-back gives up past a budget in proportion to
// what it would take, puts the blocks it took off back, and the bin still
// serves every free block it holds.
TEST(SlabReuse, AHandBackGivesUpOnSpareSlabsDeepInALongFreeList) {
  constexpr std::size_t SLABS = 40, PER = SLAB / 256;
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  const std::vector<void*> spare = fill(a, 256, 2 * PER);
  std::vector<void*> half = fill(a, 256, SLABS * PER);
  free_all(a, spare);  // freed first: at the end of the bin's free list
  std::vector<void*> kept;
  for (std::size_t i = 0; i < half.size(); ++i) {
    if (i % 2 == 0)
      ASSERT_EQ(a.deallocate(half[i]), Error::ok);
    else
      kept.push_back(half[i]);
  }
  const td::Heap* heap = td::small_slab_of(kept.front())->heap.load();
  const std::uint64_t given_up = heap->spare_walks_given_up();
  const tslab::GlobalStats before = tslab::stats(a);
  const std::vector<void*> growing = fill(a, 1024, 8 * (SLAB / 1024));
  EXPECT_GT(heap->spare_walks_given_up(), given_up);
  EXPECT_EQ(tslab::stats(a).slabs_recycled_total, before.slabs_recycled_total) << "the spare slabs stayed";
  EXPECT_ALLOCATOR_OK(a);
  // The bin's free list is whole: its free blocks are handed out without a new slab.
  const tslab::GlobalStats refilled = tslab::stats(a);
  const std::vector<void*> again = fill(a, 256, (SLABS / 2 + 2) * PER);
  EXPECT_EQ(tslab::stats(a).new_slabs_total, refilled.new_slabs_total);
  free_all(a, again);
  free_all(a, growing);
  free_all(a, kept);
  EXPECT_ALLOCATOR_OK(a);
}

// When most of a bin's slabs are spare, its free list is rebuilt from the
// bitmaps of the slabs that stay rather than walked: the spare slabs go back,
// and the free blocks of the others are all listed again, lowest address first.
TEST(SlabReuse, AHandBackOfMostOfABinRebuildsItsFreeList) {
  constexpr std::size_t PER = SLAB / 256;
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  std::vector<void*> stay = fill(a, 256, 2 * PER);
  const std::vector<void*> spare = fill(a, 256, 6 * PER);
  std::vector<void*> kept;
  for (std::size_t i = 0; i < stay.size(); ++i) {
    if (i % 3 == 0)
      ASSERT_EQ(a.deallocate(stay[i]), Error::ok);
    else
      kept.push_back(stay[i]);
  }
  free_all(a, spare);
  const tslab::GlobalStats before = tslab::stats(a);
  const std::vector<void*> growing = fill(a, 1024, 8 * (SLAB / 1024));
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.slabs_recycled_total - before.slabs_recycled_total, 6u) << "the spare slabs went back";
  EXPECT_ALLOCATOR_OK(a);
  // Every freed block of the two slabs that stayed is listed again, and nothing else.
  const std::size_t freed = stay.size() - kept.size();
  std::vector<void*> again;
  for (std::size_t i = 0; i < freed; ++i) again.push_back(a.allocate(256));
  EXPECT_EQ(tslab::stats(a).new_slabs_total, after.new_slabs_total) << "served from the rebuilt list";
  std::vector<void*> expected;
  for (std::size_t i = 0; i < stay.size(); i += 3) expected.push_back(stay[i]);
  std::vector<void*> sorted_again = again;
  std::sort(sorted_again.begin(), sorted_again.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(sorted_again, expected);
  EXPECT_LT(again.front(), again.back()) << "lowest address first";
  free_all(a, again);
  free_all(a, growing);
  free_all(a, kept);
  EXPECT_ALLOCATOR_OK(a);
}

// Slabs that empty and fill again between two looks (each request's blocks die
// at its end, and the next request's take their place) are not spare: however
// many bins do so, none of their slabs goes back while another class grows.
TEST(SlabReuse, SlabsThatEmptyAndFillAgainAreNotSpare) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);  // every slab the growing class takes is cold
  constexpr std::size_t REQUEST_SIZES[] = {32, 96, 160, 224};
  std::vector<void*> growing;
  const tslab::GlobalStats before = tslab::stats(a);
  for (std::size_t i = 0; i < 30 * (SLAB / 512); ++i) {
    growing.push_back(a.allocate(512));
    void* request[4];
    for (std::size_t k = 0; k < 4; ++k) request[k] = a.allocate(REQUEST_SIZES[k]);
    for (void* p : request) ASSERT_EQ(a.deallocate(p), Error::ok);
  }
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.slabs_recycled_total, before.slabs_recycled_total) << "no request slab went back";
  EXPECT_EQ(after.new_slabs_total - before.new_slabs_total, 30u + 4u);
  free_all(a, growing);
  EXPECT_ALLOCATOR_OK(a);
}

// The warm reserve stays when a large block faults fresh pages in: a program
// that uses small and large blocks side by side (a server's buffers and the
// objects around them) reuses its empty slabs instead of returning them for
// each buffer and faulting them in again at its next small blocks.
TEST(SlabReuse, ALargeBlocksFreshPagesLeaveTheWarmReserve) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(4 * MiB), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  const tslab::EpochId e = a.epoch_current();
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 48 * (SLAB / 64); ++i) blocks.push_back(a.allocate(64, e));
  free_all(a, blocks);
  a.epoch_advance();  // the emptied slabs stay committed, in the reserve
  const tslab::GlobalStats warm = tslab::stats(a);
  ASSERT_EQ(warm.warm_reserve_bytes, 48 * SLAB);
  void* big = a.allocate(MiB);
  ASSERT_NE(big, nullptr);
  std::memset(big, 1, MiB);
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.warm_reserve_bytes, warm.warm_reserve_bytes) << "the reserve's slabs stayed";
  EXPECT_EQ(after.decommit_calls_total, warm.decommit_calls_total);
  ASSERT_EQ(a.deallocate(big), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// Empty slabs kept beyond the reserve (handed back as a heap's size mix moved)
// make way for a large block that faults fresh pages in, down to the reserve:
// what is kept for reuse does not add to the footprint when the program moves
// to large blocks.
TEST(SlabReuse, SlabsBeyondTheReserveMakeWayForALargeBlocksFreshPages) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(4 * SLAB), Error::ok);
  ASSERT_EQ(a.set_large_retain(64 * SLAB), Error::ok);
  free_all(a, fill(a, 256, 40 * (SLAB / 256)));
  // The heap grows in another class: the 40 empty slabs are handed back, warm.
  const std::vector<void*> other = fill(a, 1024, 2 * (SLAB / 1024));
  const tslab::GlobalStats warm = tslab::stats(a);
  ASSERT_GE(warm.warm_reserve_bytes, 4 * SLAB + MiB) << "slabs beyond the reserve are kept";
  void* big = a.allocate(MiB);
  ASSERT_NE(big, nullptr);
  std::memset(big, 1, MiB);
  tslab::GlobalStats after = tslab::stats(a);
  // At least a MiB (all beyond the reserve if a second went by unused meanwhile).
  EXPECT_LE(after.warm_reserve_bytes + MiB, warm.warm_reserve_bytes) << "a MiB of them went back";
  EXPECT_GE(after.warm_reserve_bytes, 4 * SLAB) << "never the reserve's";
  EXPECT_GT(after.decommit_calls_total, warm.decommit_calls_total);
  void* bigger = a.allocate(8 * MiB);
  ASSERT_NE(bigger, nullptr);
  std::memset(bigger, 1, 8 * MiB);
  after = tslab::stats(a);
  EXPECT_EQ(after.warm_reserve_bytes, 4 * SLAB) << "down to the reserve, no further";
  ASSERT_EQ(a.deallocate(bigger), Error::ok);
  ASSERT_EQ(a.deallocate(big), Error::ok);
  free_all(a, other);
  EXPECT_ALLOCATOR_OK(a);
}

// A cached large span makes way for a slab that faults fresh pages in, from its
// tail: the span stays cached, its head keeps the freed block's bytes, and the
// pages that went back read as zero when it is handed out again.
TEST(SlabReuse, ACachedLargeSpanMakesWayForAFreshSlab) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(4 * MiB), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  auto* big = static_cast<unsigned char*>(a.allocate(MiB));
  ASSERT_NE(big, nullptr);
  std::memset(big, 7, MiB);
  // Freed by a thread with no heap here, so the span goes to the cache, not to
  // the freeing thread's stash (whose spans do not make way: span_stash.cpp).
  std::thread([&] { EXPECT_EQ(a.deallocate(big), Error::ok); }).join();
  const tslab::GlobalStats cached = tslab::stats(a);
  ASSERT_EQ(cached.warm_reserve_bytes, MiB);
  void* small = a.allocate(64);  // the allocator's first slab: fresh pages
  ASSERT_NE(small, nullptr);
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.warm_reserve_bytes, MiB - SLAB) << "a slab's worth of the span went back";
  EXPECT_EQ(after.decommit_bytes_total - cached.decommit_bytes_total, SLAB);
  auto* again = static_cast<unsigned char*>(a.allocate(MiB));
  ASSERT_EQ(again, big) << "the span is still cached";
  EXPECT_EQ(again[0], 7);
  EXPECT_EQ(again[MiB - SLAB - 1], 7);
  EXPECT_EQ(again[MiB - SLAB], 0) << "the tail that went back reads as zero";
  EXPECT_EQ(again[MiB - 1], 0);
  ASSERT_EQ(a.deallocate(again), Error::ok);
  ASSERT_EQ(a.deallocate(small), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// An object that outlives its epoch (a cache entry made inside a request's
// scope) keeps only the page it is on. Not at the close itself: a slab that
// held a request in flight then drains soon after and is reused whole, warm.
// At the next close, of any epoch, its free pages go back.
TEST(PinnedSlabs, AnObjectOutlivingItsEpochKeepsOnlyItsPage) {
  if (!tslab::detail::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closed pages stay";
  tslab::Allocator a;
  const tslab::EpochId scope = a.epoch_open(), other = a.epoch_open();
  ASSERT_NE(scope, SLAB_NO_EPOCH);
  ASSERT_NE(other, SLAB_NO_EPOCH);
  const std::vector<void*> blocks = fill(a, 64, SLAB / 64, scope);
  void* survivor = blocks[SLAB / 64 / 2];  // mid-slab: free pages on both sides
  std::memset(survivor, 9, 64);
  for (void* p : blocks) {
    if (p == survivor) continue;
    ASSERT_EQ(a.deallocate(p), Error::ok);
  }
  ASSERT_EQ(resident_of_slab(survivor), SLAB);
  ASSERT_EQ(a.epoch_close(scope), Error::ok);
  EXPECT_EQ(resident_of_slab(survivor), SLAB) << "first look: kept whole";
  const tslab::GlobalStats before = tslab::stats(a);
  ASSERT_EQ(a.epoch_close(other), Error::ok);
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(resident_of_slab(survivor), PAGE) << "second look: only the survivor's page";
  EXPECT_EQ(after.decommit_calls_total - before.decommit_calls_total, 2u) << "one madvise per run of pages";
  for (std::size_t i = 0; i < 64; ++i) ASSERT_EQ(static_cast<unsigned char*>(survivor)[i], 9);
  EXPECT_ALLOCATOR_OK(a);
  ASSERT_EQ(a.deallocate(survivor), Error::ok);
  EXPECT_EQ(a.deallocate(survivor), Error::double_free);
  EXPECT_ALLOCATOR_OK(a);
}

// A slab from the warm reserve has its pages from an earlier life: those its
// new life never touched go back too when an object pins it.
TEST(PinnedSlabs, PagesOfAnEarlierLifeGoBackToo) {
  if (!tslab::detail::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closed pages stay";
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(4 * MiB), Error::ok);
  const tslab::EpochId first = a.epoch_open();
  free_all(a, fill(a, 64, SLAB / 64, first));
  ASSERT_EQ(a.epoch_close(first), Error::ok);  // the slab goes to the reserve, committed
  ASSERT_GE(tslab::stats(a).warm_reserve_bytes, SLAB);
  const tslab::EpochId scope = a.epoch_open(), other = a.epoch_open();
  void* survivor = a.allocate(64, scope);
  ASSERT_NE(survivor, nullptr);
  ASSERT_EQ(resident_of_slab(survivor), SLAB) << "taken from the reserve";
  ASSERT_EQ(a.epoch_close(scope), Error::ok);
  ASSERT_EQ(a.epoch_close(other), Error::ok);
  EXPECT_EQ(resident_of_slab(survivor), PAGE);
  ASSERT_EQ(a.deallocate(survivor), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// A slab that drains between the close and the next one (a request in flight)
// is recycled whole and kept warm: no page of it went back.
TEST(PinnedSlabs, ASlabThatDrainsBeforeTheSecondLookStaysWhole) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(4 * MiB), Error::ok);
  const tslab::EpochId scope = a.epoch_open(), other = a.epoch_open();
  std::vector<void*> blocks = fill(a, 64, SLAB / 64, scope);
  void* in_flight = blocks.back();
  blocks.pop_back();
  free_all(a, blocks);
  ASSERT_EQ(a.epoch_close(scope), Error::ok);
  const tslab::GlobalStats before = tslab::stats(a);
  ASSERT_EQ(a.deallocate(in_flight), Error::ok);
  ASSERT_EQ(a.epoch_close(other), Error::ok);
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.decommit_calls_total, before.decommit_calls_total);
  EXPECT_GE(after.warm_reserve_bytes, SLAB);
  EXPECT_ALLOCATOR_OK(a);
}

// Slabs that objects outlive their scope in settle once their free pages went
// back: the slot's later closes no longer walk them (a scope per request used to
// walk every slab its survivors pinned at every close), yet count them in the
// drain report; a free into one brings it back to the walk, which returns the
// page the freed block was on, and the free of its last block returns it whole.
TEST(PinnedSlabs, ASettledSlabIsWalkedAgainOnlyOnceABlockInItIsFreed) {
  if (!tslab::detail::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closed pages stay";
  tslab::Allocator a;
  const tslab::EpochId scope = a.epoch_open(), other = a.epoch_open();
  ASSERT_NE(scope, SLAB_NO_EPOCH);
  ASSERT_NE(other, SLAB_NO_EPOCH);
  constexpr std::size_t SLABS = 6, PER_SLAB = SLAB / 64;
  std::vector<void*> survivors;
  const std::vector<void*> blocks = fill(a, 64, SLABS * PER_SLAB, scope);
  // Two survivors per slab, on pages 1 and 14.
  for (void* p : blocks) {
    const std::size_t slot = (reinterpret_cast<std::uintptr_t>(p) & (SLAB - 1)) / 64;
    if (slot == 100 || slot == 900) {
      survivors.push_back(p);
      std::memset(p, 9, 64);
    } else {
      ASSERT_EQ(a.deallocate(p), Error::ok);
    }
  }
  ASSERT_EQ(survivors.size(), 2 * SLABS);
  ASSERT_EQ(a.epoch_close(scope), Error::ok);  // first look
  ASSERT_EQ(a.epoch_close(other), Error::ok);  // second look: the free pages go back
  for (void* p : survivors) ASSERT_EQ(resident_of_slab(p), 2 * PAGE);
  // The slot's next activation closes: its walk finds them with nothing to
  // return and settles them; the one after does not walk them.
  const auto close_again = [&] {
    const tslab::EpochId again = a.epoch_open();
    EXPECT_EQ(again, scope) << "the slot is reused";
    const std::uint64_t scanned = tslab::stats(a).close_slabs_scanned_total;
    EXPECT_EQ(a.epoch_close(again), Error::ok);
    return tslab::stats(a).close_slabs_scanned_total - scanned;
  };
  EXPECT_EQ(close_again(), SLABS) << "the walk that settles them";
  EXPECT_EQ(close_again(), 0u) << "settled slabs are not walked";
  tslab::EpochStats es = tslab::epoch_stats(a, scope);
  EXPECT_EQ(es.last_close_pinned_slabs, SLABS);
  EXPECT_EQ(es.last_close_live_blocks, 2 * SLABS);
  EXPECT_EQ(es.last_close_pinned_bytes, SLABS * 2 * PAGE);
  EXPECT_ALLOCATOR_OK(a);

  // A free into one of them: the next close walks that slab alone and returns the page.
  ASSERT_EQ(a.deallocate(survivors[0]), Error::ok);
  void* const neighbour = survivors[1];
  ASSERT_EQ(resident_of_slab(neighbour) / PAGE * PAGE, resident_of_slab(survivors[0]));
  EXPECT_EQ(close_again(), 1u);
  EXPECT_EQ(resident_of_slab(neighbour), PAGE);
  es = tslab::epoch_stats(a, scope);
  EXPECT_EQ(es.last_close_pinned_slabs, SLABS);
  EXPECT_EQ(es.last_close_live_blocks, 2 * SLABS - 1);
  EXPECT_EQ(es.last_close_pinned_bytes, (SLABS * 2 - 1) * PAGE);
  EXPECT_EQ(close_again(), 0u) << "settled again";
  for (std::size_t i = 0; i < 64; ++i) ASSERT_EQ(static_cast<unsigned char*>(neighbour)[i], 9);
  EXPECT_ALLOCATOR_OK(a);

  // The free of its last block returns the slab whole, at once.
  ASSERT_EQ(a.deallocate(neighbour), Error::ok);
  EXPECT_EQ(resident_of_slab(neighbour), 0u);
  EXPECT_LE(close_again(), 1u);
  es = tslab::epoch_stats(a, scope);
  EXPECT_EQ(es.last_close_pinned_slabs, SLABS - 1);
  EXPECT_EQ(es.last_close_live_blocks, 2 * SLABS - 2);
  EXPECT_NE(a.deallocate(neighbour), Error::ok) << "a double free";
  EXPECT_ALLOCATOR_OK(a);
  for (std::size_t i = 2; i < survivors.size(); ++i) ASSERT_EQ(a.deallocate(survivors[i]), Error::ok);
  close_again();
  es = tslab::epoch_stats(a, scope);
  EXPECT_EQ(es.last_close_pinned_slabs, 0u);
  EXPECT_EQ(es.last_close_drained, 1u);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
