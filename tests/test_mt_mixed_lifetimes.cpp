// This file contains the concurrency tests of mixed lifetimes in one allocator:
// worker threads serve request-shaped batches in rotating epochs, which each of
// them closes in turn with epoch_advance, while a shared cache keeps objects in a
// long-lived epoch held outside the rotation; the cache's evictions are freed by
// whichever thread inserts. Run with and without the warm reserve.
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "test_util.h"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;

struct Cached {
  void* p;
  std::size_t size;
  std::uint64_t tag;
};

void serve_with_held_cache(std::size_t reserve) {
  tslab::Allocator a(tslab::Options{8, nullptr});
  ASSERT_EQ(a.set_warm_reserve(reserve), Error::ok);
  const tslab::EpochId cache_epoch = a.epoch_open();
  ASSERT_NE(cache_epoch, SLAB_NO_EPOCH);
  const std::uint64_t cache_era = a.epoch_era(cache_epoch);
  std::mutex cache_mutex;
  std::deque<Cached> cache;
  constexpr std::size_t kCacheCapacity = 2000;
  std::atomic<long> failures{0}, corrupt{0}, held_violations{0};
  const std::size_t requests = tslab_test::scaled(6000);
  constexpr unsigned kThreads = 3;

  auto worker = [&](unsigned t) {
    tslab_test::Rng rng(t + 1);
    tslab::EpochId epoch = a.epoch_current();
    std::vector<Cached> mine;
    for (std::size_t r = 0; r < requests; ++r) {
      const std::size_t k = 5 + rng.next() % 40;
      for (std::size_t i = 0; i < k; ++i) {
        const std::size_t size = 16 + rng.next() % 1000;
        const std::uint64_t tag = tslab_test::make_tag(t, r * 64 + i);
        if (rng.next() % 100 == 0) {  // 1%: into the cache's held epoch
          void* p = a.allocate(size, cache_epoch);
          if (p == nullptr) {
            ++failures;
            continue;
          }
          tslab_test::fill_pattern(p, size, tag);
          Cached evicted{nullptr, 0, 0};
          {
            std::lock_guard<std::mutex> lock(cache_mutex);
            cache.push_back({p, size, tag});
            if (cache.size() > kCacheCapacity) {
              evicted = cache.front();
              cache.pop_front();
            }
          }
          if (evicted.p != nullptr) {
            if (!tslab_test::check_pattern(evicted.p, evicted.size, evicted.tag)) ++corrupt;
            if (a.deallocate(evicted.p) != Error::ok) ++failures;
          }
          continue;
        }
        void* p = a.allocate(size, epoch);
        // Another thread closed the batch: move to the current epoch.
        for (int tries = 0; p == nullptr && tries < 64 && tslab::last_error() == Error::epoch_closing;
             ++tries) {
          epoch = a.epoch_current();
          p = a.allocate(size, epoch);
        }
        if (p == nullptr) {
          ++failures;
          continue;
        }
        tslab_test::fill_pattern(p, size, tag);
        mine.push_back({p, size, tag});
      }
      for (const Cached& c : mine) {
        if (!tslab_test::check_pattern(c.p, c.size, c.tag)) ++corrupt;
        if (a.deallocate(c.p) != Error::ok) ++failures;
      }
      mine.clear();
      if (r % 97 == 96) epoch = a.epoch_advance();  // this thread ends the batch
      if (a.epoch_era(cache_epoch) != cache_era || !a.epoch_held(cache_epoch)) ++held_violations;
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(corrupt.load(), 0) << "a block was written by someone else while it was live";
  EXPECT_EQ(held_violations.load(), 0) << "the rotation touched the held epoch";
  EXPECT_ALLOCATOR_OK(a);
  for (const Cached& c : cache) {
    EXPECT_TRUE(tslab_test::check_pattern(c.p, c.size, c.tag));
    EXPECT_EQ(a.deallocate(c.p), Error::ok);
  }
  EXPECT_EQ(a.epoch_close(cache_epoch), Error::ok);
  EXPECT_FALSE(a.epoch_held(cache_epoch));
  a.epoch_advance();
  EXPECT_EQ(a.epoch_info(cache_epoch).live_count, 0u);
  EXPECT_ALLOCATOR_OK(a);
  a.collect();
  const tslab::GlobalStats g = tslab::stats(a);
  EXPECT_EQ(g.warm_reserve_bytes, 0u) << "collect returns the reserve";
}

TEST(MtMixedLifetimes, RotatingBatchesBesideAHeldCacheEpoch) { serve_with_held_cache(0); }

TEST(MtMixedLifetimes, RotatingBatchesBesideAHeldCacheEpochWithTheWarmReserve) {
  serve_with_held_cache(4 * 1024 * 1024);
}

}  // namespace
