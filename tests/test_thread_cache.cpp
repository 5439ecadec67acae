// This file contains the tests of the thread cache across allocators: a thread
// that alternates between several live allocators stays on their fast paths,
// and its frees of its own blocks stay local, counted by the allocators' own
// statistics (slow-path allocations, remote frees collected).
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "slab_stats.h"
#include "test_util.h"

namespace {

struct Counts {
  std::uint64_t slow_paths = 0;
  std::uint64_t remote_collected = 0;
};

Counts counts(SlabAllocator* a) {
  SlabGlobalStats g{};
  EXPECT_TRUE(slab_stats_global(a, &g));
  return Counts{g.slow_path_total, g.remote_frees_collected_total};
}

// Round-robin over `allocators`: each round allocates `window` blocks from each
// (sizes 16..512 B) and frees them, interleaved, so every call switches allocator.
void alternate(const std::vector<SlabAllocator*>& allocators, std::size_t rounds, std::size_t window) {
  std::vector<void*> blocks(allocators.size() * window);
  for (std::size_t r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < window; ++i)
      for (std::size_t k = 0; k < allocators.size(); ++k) {
        void* p = slab_malloc_epoch(allocators[k], 16 + 16 * ((i + k) % 32), 0);
        ASSERT_NE(p, nullptr);
        blocks[i * allocators.size() + k] = p;
      }
    for (std::size_t i = 0; i < window; ++i)
      for (std::size_t k = 0; k < allocators.size(); ++k)
        ASSERT_TRUE(slab_free_checked(allocators[k], blocks[i * allocators.size() + k]));
  }
}

void expect_warm_alternation_stays_fast(std::size_t n_allocators) {
  std::vector<SlabAllocator*> allocators;
  for (std::size_t i = 0; i < n_allocators; ++i) allocators.push_back(slab_allocator_create());
  alternate(allocators, 4, 64);  // warm: every bin has its slab
  std::vector<Counts> before;
  for (SlabAllocator* a : allocators) before.push_back(counts(a));
  const std::size_t rounds = tslab_test::scaled(200), window = 64;
  alternate(allocators, rounds, window);
  const std::uint64_t ops_per_allocator = 2 * rounds * window;  // allocations + frees
  for (std::size_t k = 0; k < allocators.size(); ++k) {
    const Counts after = counts(allocators[k]);
    EXPECT_LE((after.slow_paths - before[k].slow_paths) * 1000, ops_per_allocator)
        << "allocator " << k << " of " << n_allocators << ": more than 1 slow path per 1,000 operations";
    // A thread's own blocks go back locally: nothing is ever collected remotely.
    EXPECT_EQ(after.remote_collected, 0u) << "allocator " << k;
    EXPECT_SLAB_CHECK_OK(allocators[k]);
  }
  for (SlabAllocator* a : allocators) slab_allocator_free(a);
}

TEST(ThreadCache, TwoAllocatorsAlternatingStayOnTheFastPath) { expect_warm_alternation_stays_fast(2); }

TEST(ThreadCache, EightAllocatorsAlternatingStayOnTheFastPath) { expect_warm_alternation_stays_fast(8); }

// More live allocators than the cache has ways: some share a way and evict each
// other's line, which costs slow paths, but a thread's frees of its own blocks
// still go back locally and every block is handed out once.
TEST(ThreadCache, MoreAllocatorsThanWaysStayCorrectAndLocal) {
  std::vector<SlabAllocator*> allocators;
  for (int i = 0; i < 40; ++i) allocators.push_back(slab_allocator_create());
  alternate(allocators, tslab_test::scaled(20), 32);
  for (SlabAllocator* a : allocators) {
    EXPECT_EQ(counts(a).remote_collected, 0u);
    EXPECT_SLAB_CHECK_OK(a);
    slab_allocator_free(a);
  }
}

// A heap the thread's record had to give up (it used more allocators than the
// record holds) is adopted by the next thread; blocks allocated before stay valid.
TEST(ThreadCache, ThreadUsingMoreAllocatorsThanItsRecordKeepsEveryBlockValid) {
  std::vector<SlabAllocator*> allocators;
  std::vector<void*> first;
  for (int i = 0; i < 80; ++i) {
    allocators.push_back(slab_allocator_create());
    first.push_back(slab_malloc_epoch(allocators.back(), 64, 0));
    ASSERT_NE(first.back(), nullptr);
    tslab_test::fill_pattern(first.back(), 64, static_cast<std::uint64_t>(i));
  }
  for (int i = 0; i < 80; ++i) {
    EXPECT_TRUE(
        tslab_test::check_pattern(first[static_cast<std::size_t>(i)], 64, static_cast<std::uint64_t>(i)));
    EXPECT_TRUE(
        slab_free_checked(allocators[static_cast<std::size_t>(i)], first[static_cast<std::size_t>(i)]));
    EXPECT_FALSE(
        slab_free_checked(allocators[static_cast<std::size_t>(i)], first[static_cast<std::size_t>(i)]));
    EXPECT_SLAB_CHECK_OK(allocators[static_cast<std::size_t>(i)]);
    slab_allocator_free(allocators[static_cast<std::size_t>(i)]);
  }
}

// A thread's heap has a bin for every (epoch, size class) pair: 80 classes of
// up to 256 epochs. Only the bins a thread uses may cost resident memory; a
// thread that allocates in one epoch of a 256-epoch allocator commits a few
// pages of them, not 1.4 MiB (the process malloc has 64 epochs, and every
// thread that calls it has a heap), and walks of the heaps (statistics, the
// checker) leave the others untouched.
TEST(ThreadCache, AHeapCommitsOnlyTheBinsItsThreadUses) {
  SlabAllocatorOptions options{SLAB_MAX_EPOCH_COUNT};
  SlabAllocator* a = slab_allocator_create_with(&options);
  ASSERT_NE(a, nullptr);
  void* mine = slab_malloc_epoch(a, 64, 0);
  ASSERT_NE(mine, nullptr);
  SlabGlobalStats before{};
  ASSERT_TRUE(slab_stats_global(a, &before));
  constexpr unsigned THREADS = 8;
  tslab_test::SpinBarrier all_attached(THREADS + 1), measured(THREADS + 1);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < THREADS; ++t)
    threads.emplace_back([&] {
      void* p = slab_malloc_epoch(a, 64, 0);
      EXPECT_NE(p, nullptr);
      all_attached.arrive_and_wait();  // every thread holds its own heap now
      measured.arrive_and_wait();
      EXPECT_TRUE(slab_free_checked(a, p));
    });
  all_attached.arrive_and_wait();
  // Twice: the figure must not grow because a snapshot walked the heaps (a read
  // of a page never written maps it, and it counts as resident then).
  SlabGlobalStats after{};
  EXPECT_TRUE(slab_stats_global(a, &after));
  EXPECT_TRUE(slab_stats_global(a, &after));
  EXPECT_SLAB_CHECK_OK(a);
  EXPECT_TRUE(slab_stats_global(a, &after));
  measured.arrive_and_wait();
  for (std::thread& t : threads) t.join();
  const std::uint64_t per_thread = (after.metadata_bytes - before.metadata_bytes) / THREADS;
  EXPECT_LT(per_thread, 64u << 10) << "resident metadata per thread heap (its bins for "
                                   << SLAB_MAX_EPOCH_COUNT << " epochs span "
                                   << SLAB_MAX_EPOCH_COUNT * slab_size_class_count() * 72 << " bytes)";
  EXPECT_TRUE(slab_free_checked(a, mine));
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

}  // namespace
