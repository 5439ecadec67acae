// Regression tests for three concurrency bugs found in review, each built so
// that it fails if the bug comes back:
//   1. a thread whose record of allocators was full gave its oldest heap away
//      before it had a new one, and kept using the given-away heap when getting
//      the new one failed (two threads on one heap);
//   2. a stale handle of a large span, validated just before the span was
//      reused, could free the new block;
//   3. a valid remote free racing the owner's collection could be reported as a
//      double free (law 5).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "test_util.h"
#include "tslab/tslab.hpp"

using tslab::Error;

TEST(ReviewRegressions, FailedAttachNeverLeavesTheThreadOnAGivenAwayHeap) {
  tslab::Allocator x;
  ASSERT_NE(x.allocate(32), nullptr);  // x's heap is the oldest entry of this thread's record
  std::vector<std::unique_ptr<tslab::Allocator>> others;
  for (int i = 0; i < 15; ++i) {  // fill the record
    others.push_back(std::make_unique<tslab::Allocator>());
    ASSERT_NE(others.back()->allocate(32), nullptr);
  }
  ASSERT_NE(x.allocate(32), nullptr);  // the thread cache names x's heap again
  tslab::FaultInjectingPlatform fault(tslab::OsPlatform::instance());
  tslab::Options options;
  options.platform = &fault;
  tslab::Allocator y(options);
  fault.refuse_all(true);
  EXPECT_EQ(y.allocate(32), nullptr);  // attaching to y fails: no heap can be made
  EXPECT_EQ(tslab::last_error(), Error::out_of_memory);

  // Another thread starts using x while this one keeps using it: if this thread
  // still held a heap that was handed back, both would run on it.
  std::atomic<bool> go{false};
  std::atomic<long> overwritten{0}, failures{0};
  const int rounds = static_cast<int>(tslab_test::scaled(20000));
  auto work = [&](unsigned char tag) {
    while (!go.load()) {
    }
    for (int it = 0; it < rounds; ++it) {
      unsigned char* p[32];
      for (auto& q : p) {
        q = static_cast<unsigned char*>(x.allocate(32));
        if (q == nullptr) {
          ++failures;
          return;
        }
        std::memset(q, tag, 32);
      }
      for (auto& q : p) {
        for (int k = 0; k < 32; ++k) {
          if (q[k] != tag) {
            ++overwritten;
            break;
          }
        }
        if (x.deallocate(q) != Error::ok) ++failures;
      }
    }
  };
  std::thread other([&] {
    void* first = x.allocate(32);  // attaches, adopting any heap x has on hand
    if (first == nullptr || x.deallocate(first) != Error::ok) ++failures;
    work(2);
  });
  go = true;
  work(1);
  other.join();
  EXPECT_EQ(overwritten.load(), 0) << "two threads were handed the same blocks";
  EXPECT_EQ(failures.load(), 0);
  const tslab::CheckReport report = x.check();
  EXPECT_TRUE(report.ok) << report.message;
}

TEST(ReviewRegressions, StaleLargeHandlesNeverFreeTheSpansNextBlock) {
  tslab::Allocator a;
  constexpr std::size_t kSize = 100000;  // a span of its own
  const int rounds = static_cast<int>(tslab_test::scaled(3000));
  std::atomic<tslab::Handle> stale{0};
  std::atomic<bool> done{false};
  std::atomic<long> stale_successes{0};
  // The attacker keeps freeing the most recent stale handle.
  std::thread attacker([&] {
    while (!done.load(std::memory_order_relaxed)) {
      const tslab::Handle h = stale.load(std::memory_order_relaxed);
      if (h != 0 && a.free_handle(h) == Error::ok) ++stale_successes;
    }
  });
  long owner_failures = 0, corrupted = 0;
  for (int i = 0; i < rounds; ++i) {
    const tslab::Allocation first = a.allocate_with_handle(kSize, 0);
    ASSERT_NE(first.ptr, nullptr);
    ASSERT_EQ(a.free_handle(first.handle), Error::ok);
    stale.store(first.handle, std::memory_order_relaxed);             // from now on only a stale copy
    const tslab::Allocation next = a.allocate_with_handle(kSize, 0);  // reuses the cached span
    ASSERT_NE(next.ptr, nullptr);
    static_cast<unsigned char*>(next.ptr)[0] = 0x5a;
    static_cast<unsigned char*>(next.ptr)[kSize - 1] = 0xa5;
    if (static_cast<unsigned char*>(next.ptr)[0] != 0x5a ||
        static_cast<unsigned char*>(next.ptr)[kSize - 1] != 0xa5)
      ++corrupted;
    if (a.free_handle(next.handle) != Error::ok) ++owner_failures;
  }
  done = true;
  attacker.join();
  EXPECT_EQ(stale_successes.load(), 0) << "a stale handle freed a block";
  EXPECT_EQ(owner_failures, 0) << "a valid handle could not free its block";
  EXPECT_EQ(corrupted, 0);
  const tslab::CheckReport report = a.check();
  EXPECT_TRUE(report.ok) << report.message;
}

TEST(ReviewRegressions, RemoteFreesOfLiveBlocksAlwaysSucceedWhileTheOwnerRecycles) {
  // The owner keeps collecting and handing the same slots out again while other
  // threads free what it gives them: every free of a live block must succeed.
  tslab::Allocator a;
  constexpr int kQueue = 64;
  std::atomic<void*> slots[kQueue] = {};
  std::atomic<bool> done{false};
  std::atomic<long> failures{0};
  auto freer = [&](int start) {
    while (!done.load(std::memory_order_relaxed)) {
      for (int i = start; i < kQueue; i += 2) {
        void* p = slots[i].exchange(nullptr, std::memory_order_acquire);
        if (p != nullptr && a.deallocate(p) != Error::ok) ++failures;
      }
    }
  };
  std::thread f0(freer, 0), f1(freer, 1);
  const long total = static_cast<long>(tslab_test::scaled(400000));
  for (long n = 0; n < total;) {
    for (int i = 0; i < kQueue && n < total; ++i) {
      if (slots[i].load(std::memory_order_relaxed) != nullptr) continue;
      void* p = a.allocate(48, 0);
      ASSERT_NE(p, nullptr);
      slots[i].store(p, std::memory_order_release);
      ++n;
    }
  }
  done = true;
  f0.join();
  f1.join();
  for (auto& s : slots) {
    if (void* p = s.load()) {
      EXPECT_EQ(a.deallocate(p), Error::ok);
    }
  }
  EXPECT_EQ(failures.load(), 0) << "a valid remote free was refused";
  const tslab::CheckReport report = a.check();
  EXPECT_TRUE(report.ok) << report.message;
}
