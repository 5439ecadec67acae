// This file contains the bulk concurrency tests (seed 000's smoke test, bug 2):
// every thread allocates many 128-byte blocks in epoch 0 holding every handle,
// then frees them all. Every free must succeed, whatever the other threads do
// meanwhile (law 5: the handle contract). Variants free each other's handles
// and free the same handles twice to prove each succeeds exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "slab_alloc.h"
#include "test_util.h"

namespace {

constexpr unsigned kThreads = 8;
constexpr std::uint32_t kSize = 128;

struct Worker {
  std::vector<SlabHandle> handles;
  std::size_t alloc_failures = 0;
  std::size_t free_failures = 0;
  std::size_t wrong_owner = 0;
  std::size_t second_free_accepted = 0;
};

class CAllocator {
 public:
  CAllocator() : a_(slab_allocator_create()) {}
  ~CAllocator() { slab_allocator_free(a_); }
  CAllocator(const CAllocator&) = delete;
  CAllocator& operator=(const CAllocator&) = delete;
  SlabAllocator* get() const { return a_; }

 private:
  SlabAllocator* a_;
};

// Allocates `n` blocks in `epoch`, writing the owner's id into each.
void bulk_allocate(SlabAllocator* a, unsigned tid, std::size_t n, Worker& w, EpochId epoch = 0) {
  w.handles.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    SlabHandle h = 0;
    void* p = alloc_obj_epoch(a, kSize, epoch, &h);
    if (p == nullptr || h == 0) {
      ++w.alloc_failures;
      w.handles[i] = 0;
      continue;
    }
    static_cast<std::uint8_t*>(p)[0] = static_cast<std::uint8_t>(tid);
    static_cast<std::uint8_t*>(p)[kSize - 1] = static_cast<std::uint8_t>(tid);
    w.handles[i] = h;
  }
}

// Frees every handle of `owner`, first checking the block still carries its id.
void bulk_free(SlabAllocator* a, const Worker& owner, unsigned owner_id, Worker& me) {
  for (SlabHandle h : owner.handles) {
    if (h == 0) continue;
    const auto* p = static_cast<const std::uint8_t*>(slab_handle_to_ptr(a, h));
    if (p == nullptr || p[0] != static_cast<std::uint8_t>(owner_id) ||
        p[kSize - 1] != static_cast<std::uint8_t>(owner_id))
      ++me.wrong_owner;
    if (!free_obj(a, h)) ++me.free_failures;
  }
}

// The seed's smoke test: each thread allocates all, then frees all of its own.
TEST(MtBulk, BulkAllocThenBulkFreeOwnHandles) {
  CAllocator alloc;
  SlabAllocator* a = alloc.get();
  ASSERT_NE(a, nullptr);
  const std::size_t n = tslab_test::scaled(500000);
  std::vector<Worker> w(kThreads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      bulk_allocate(a, t, n, w[t]);
      bulk_free(a, w[t], t, w[t]);
    });
  }
  for (auto& th : threads) th.join();
  std::size_t total_free_failures = 0;
  for (unsigned t = 0; t < kThreads; ++t) {
    EXPECT_EQ(w[t].alloc_failures, 0u) << "thread " << t;
    EXPECT_EQ(w[t].free_failures, 0u) << "thread " << t << " had valid handles rejected";
    EXPECT_EQ(w[t].wrong_owner, 0u) << "thread " << t << " found blocks overwritten";
    total_free_failures += w[t].free_failures;
  }
  EXPECT_EQ(total_free_failures, 0u);
  EXPECT_SLAB_CHECK_OK(a);
  // Every handle is now dead.
  for (unsigned t = 0; t < kThreads; ++t) {
    for (std::size_t i = 0; i < w[t].handles.size(); i += 997) {
      EXPECT_EQ(slab_handle_to_ptr(a, w[t].handles[i]), nullptr);
      EXPECT_FALSE(free_obj(a, w[t].handles[i]));
    }
  }
  // The allocator keeps working after the storm.
  SlabHandle h = 0;
  ASSERT_NE(alloc_obj_epoch(a, kSize, 0, &h), nullptr);
  EXPECT_TRUE(free_obj(a, h));
  EXPECT_SLAB_CHECK_OK(a);
}

// All threads finish allocating before any frees, so frees of every slab
// interleave across threads; thread i frees thread (i+1)%T's handles. Then
// thread i frees thread (i+2)%T's handles again: each of those must fail.
TEST(MtBulk, BulkFreeOfAnotherThreadsHandles) {
  CAllocator alloc;
  SlabAllocator* a = alloc.get();
  ASSERT_NE(a, nullptr);
  const std::size_t n = tslab_test::scaled(500000);
  std::vector<Worker> w(kThreads);
  std::vector<Worker> second(kThreads);
  tslab_test::SpinBarrier barrier(kThreads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      bulk_allocate(a, t, n, w[t]);
      barrier.arrive_and_wait();
      const unsigned victim = (t + 1) % kThreads;
      bulk_free(a, w[victim], victim, w[t]);
      barrier.arrive_and_wait();
      const unsigned again = (t + 2) % kThreads;
      for (SlabHandle h : w[again].handles) {
        if (h == 0) continue;
        if (free_obj(a, h)) ++second[t].second_free_accepted;
        if (slab_handle_to_ptr(a, h) != nullptr) ++second[t].wrong_owner;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (unsigned t = 0; t < kThreads; ++t) {
    EXPECT_EQ(w[t].alloc_failures, 0u) << "thread " << t;
    EXPECT_EQ(w[t].free_failures, 0u) << "thread " << t << " could not free another thread's valid handles";
    EXPECT_EQ(w[t].wrong_owner, 0u) << "thread " << t << " found another thread's blocks overwritten";
    EXPECT_EQ(second[t].second_free_accepted, 0u) << "thread " << t << ": a handle was freed twice";
    EXPECT_EQ(second[t].wrong_owner, 0u) << "thread " << t << ": freed handles still resolve";
  }
  EXPECT_SLAB_CHECK_OK(a);
}

// Bulk phases repeated in rounds: slabs that drained in one round are refilled
// in the next, while other threads still hold handles into them.
TEST(MtBulk, RepeatedBulkRoundsWithStaggeredFrees) {
  CAllocator alloc;
  SlabAllocator* a = alloc.get();
  ASSERT_NE(a, nullptr);
  const std::size_t n = tslab_test::scaled(60000);
  const int rounds = 4;
  std::vector<Worker> w(kThreads);
  tslab_test::SpinBarrier barrier(kThreads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Worker& me = w[t];
      Worker batch;
      for (int r = 0; r < rounds; ++r) {
        bulk_allocate(a, t, n, batch);
        me.alloc_failures += batch.alloc_failures;
        batch.alloc_failures = 0;
        // Odd threads free their blocks in reverse, even ones forwards.
        if (t % 2 == 1)
          std::vector<SlabHandle>(batch.handles.rbegin(), batch.handles.rend()).swap(batch.handles);
        if (r % 2 == 0) barrier.arrive_and_wait();  // every other round, free in lock step
        bulk_free(a, batch, t, me);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (unsigned t = 0; t < kThreads; ++t) {
    EXPECT_EQ(w[t].alloc_failures, 0u) << "thread " << t;
    EXPECT_EQ(w[t].free_failures, 0u) << "thread " << t;
    EXPECT_EQ(w[t].wrong_owner, 0u) << "thread " << t;
  }
  EXPECT_SLAB_CHECK_OK(a);
}

// The handle contract across a close: threads hold handles into epoch 1 when it
// is closed; while they free each other's handles, the main thread allocates in
// other epochs (which may take memory the close gave up). Every handle frees
// exactly once and no block on either side is overwritten.
TEST(MtBulk, CloseEpochWhileHandlesOutstanding) {
  CAllocator alloc;
  SlabAllocator* a = alloc.get();
  ASSERT_NE(a, nullptr);
  constexpr unsigned kWorkers = 4;
  const std::size_t n = tslab_test::scaled(100000);
  std::vector<Worker> w(kWorkers);
  std::vector<Worker> second(kWorkers);
  std::vector<std::size_t> closing_accepted(kWorkers, 0);
  tslab_test::SpinBarrier barrier(kWorkers + 1);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kWorkers; ++t) {
    threads.emplace_back([&, t] {
      bulk_allocate(a, t, n, w[t], 1);
      barrier.arrive_and_wait();  // all allocated
      barrier.arrive_and_wait();  // epoch 1 closed
      if (alloc_obj_epoch(a, kSize, 1, nullptr) != nullptr || slab_last_error() != TSLAB_ERR_EPOCH_CLOSING)
        ++closing_accepted[t];
      const unsigned victim = (t + 1) % kWorkers;
      bulk_free(a, w[victim], victim, w[t]);
      barrier.arrive_and_wait();  // all freed
      const unsigned again = (t + 2) % kWorkers;
      for (SlabHandle h : w[again].handles)
        if (h != 0 && free_obj(a, h)) ++second[t].second_free_accepted;
    });
  }
  barrier.arrive_and_wait();
  ASSERT_TRUE(epoch_close(a, 1));
  barrier.arrive_and_wait();
  // Allocate in epochs 2 and 3 while the workers free into the closed epoch.
  std::vector<void*> mine;
  for (std::size_t i = 0; i < n; ++i) {
    void* p = slab_malloc_epoch(a, kSize, 2 + static_cast<EpochId>(i % 2));
    if (p == nullptr) break;
    tslab_test::fill_pattern(p, kSize, i);
    mine.push_back(p);
  }
  barrier.arrive_and_wait();
  for (auto& th : threads) th.join();
  EXPECT_EQ(mine.size(), n);
  std::size_t corrupted = 0, free_failures = 0;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    if (!tslab_test::check_pattern(mine[i], kSize, i)) ++corrupted;
    if (!slab_free_checked(a, mine[i])) ++free_failures;
  }
  EXPECT_EQ(corrupted, 0u);
  EXPECT_EQ(free_failures, 0u);
  for (unsigned t = 0; t < kWorkers; ++t) {
    EXPECT_EQ(w[t].alloc_failures, 0u) << "thread " << t;
    EXPECT_EQ(w[t].free_failures, 0u) << "thread " << t << ": valid handles rejected after the close";
    EXPECT_EQ(w[t].wrong_owner, 0u) << "thread " << t;
    EXPECT_EQ(second[t].second_free_accepted, 0u) << "thread " << t;
    EXPECT_EQ(closing_accepted[t], 0u) << "thread " << t << ": the closed epoch took an allocation";
  }
  EXPECT_SLAB_CHECK_OK(a);
}

}  // namespace
