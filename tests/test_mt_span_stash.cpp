// This file contains the concurrency tests of the span stash (core/span_stash.cpp):
// threads free large blocks into their stashes and take them back while other
// threads empty the stashes (collect, a changing warm reserve) and free blocks
// across threads. Exactly one party gets each stashed span: a span handed out
// twice shows as a block whose pattern changed under its owner, or as a free
// refused; the checker verifies the stashes' count at the end. Run under TSan by
// `make test`.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "test_util.h"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;
constexpr std::size_t KiB = 1024;

struct Block {
  unsigned char* p;
  std::size_t size;
  unsigned char tag;
};

bool intact(const Block& b) {
  // First and last page and a line in the middle: a span given to two blocks
  // at once has one of them overwritten.
  return b.p[0] == b.tag && b.p[b.size / 2] == b.tag && b.p[b.size - 1] == b.tag;
}

// Runs worker(id) on two threads while the stashes are emptied from outside,
// over and over, until both are done: collects, and a warm reserve moving
// between the default, none and `some`. The workers start once the first
// collect is under way. Returns the number of rounds.
template <class Worker>
std::uint64_t run_while_stashes_emptied(tslab::Allocator& a, std::size_t some, Worker worker) {
  constexpr int WORKERS = 2;
  std::atomic<int> running{WORKERS};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int id = 0; id < WORKERS; ++id)
    threads.emplace_back([&, id] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      worker(id);
      running.fetch_sub(1);
    });
  const std::size_t reserves[] = {6 * 1024 * KiB, 0, some};
  std::uint64_t collects = 0;
  do {
    go.store(true, std::memory_order_release);
    a.collect();
    EXPECT_EQ(a.set_warm_reserve(reserves[collects % 3]), Error::ok);
    ++collects;
    std::this_thread::yield();
  } while (running.load() > 0);
  for (std::thread& t : threads) t.join();
  return collects;
}

TEST(SpanStashConcurrent, StashesTakenWhileCollectedAndFreedAcrossThreads) {
  tslab::Allocator a;
  const std::uint64_t rounds = tslab_test::scaled(100000);
  std::atomic<std::uint64_t> failures{0};
  std::mutex exchange_mutex;
  std::vector<Block> exchange;  // blocks handed to the other worker to free

  auto worker = [&](int id) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(id) * 104729 + 7);
    void* small = a.allocate(64);  // a heap, and so a stash
    std::vector<Block> mine;
    for (std::uint64_t i = 0; i < rounds; ++i) {
      const std::size_t size = (64 * KiB + 1) + rng() % (512 * KiB);
      auto* p = static_cast<unsigned char*>(a.allocate(size));
      if (p == nullptr) {
        failures.fetch_add(1);
        continue;
      }
      const auto tag = static_cast<unsigned char>(rng() | 1);
      p[0] = p[size / 2] = p[size - 1] = tag;
      mine.push_back(Block{p, size, tag});
      if (mine.size() > 4 || rng() % 3 == 0) {
        const std::size_t k = rng() % mine.size();
        Block b = mine[k];
        mine[k] = mine.back();
        mine.pop_back();
        if (!intact(b)) failures.fetch_add(1);
        if (rng() % 4 == 0) {
          std::lock_guard<std::mutex> lock(exchange_mutex);
          exchange.push_back(b);
        } else if (a.deallocate(b.p) != Error::ok) {
          failures.fetch_add(1);
        }
      }
      Block theirs{};
      {
        std::lock_guard<std::mutex> lock(exchange_mutex);
        if (!exchange.empty()) {
          theirs = exchange.back();
          exchange.pop_back();
        }
      }
      if (theirs.p != nullptr && (!intact(theirs) || a.deallocate(theirs.p) != Error::ok))
        failures.fetch_add(1);
    }
    for (const Block& b : mine)
      if (!intact(b) || a.deallocate(b.p) != Error::ok) failures.fetch_add(1);
    if (a.deallocate(small) != Error::ok) failures.fetch_add(1);
  };
  const std::uint64_t collects = run_while_stashes_emptied(a, 512 * KiB, worker);
  for (const Block& b : exchange)
    if (!intact(b) || a.deallocate(b.p) != Error::ok) failures.fetch_add(1);
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_GT(collects, 0u);
  EXPECT_ALLOCATOR_OK(a);
  a.collect();
  EXPECT_ALLOCATOR_OK(a);
}

// Buffers that double from 64 KiB to 1 MiB (a vector's growth: the next one
// allocated, the old one's bytes copied, the old one freed) on two threads,
// while the main thread empties the stashes over and over: each thread grows
// its stashed spans into its next buffers as collects move them to the cache.
// Every buffer keeps its bytes, and the allocator stays consistent.
TEST(SpanStashConcurrent, DoublingBuffersGrowStashedSpansWhileCollected) {
  tslab::Allocator a;
  const std::uint64_t rounds = tslab_test::scaled(10000);
  std::atomic<std::uint64_t> failures{0};
  auto worker = [&](int id) {
    void* small = a.allocate(64);  // a heap, and so a stash
    for (std::uint64_t r = 0; r < rounds; ++r) {
      const auto tag = static_cast<unsigned char>(id * 64 + (r % 64) + 1);
      Block old{nullptr, 0, tag};
      for (std::size_t size = 64 * KiB + 1; size <= 1024 * KiB; size = 2 * size - 1) {
        auto* p = static_cast<unsigned char*>(a.allocate(size));
        if (p == nullptr) {
          failures.fetch_add(1);
          break;
        }
        if (old.p != nullptr) {
          if (!intact(old)) failures.fetch_add(1);
          std::memcpy(p, old.p, old.size);
          if (a.deallocate(old.p) != Error::ok) failures.fetch_add(1);
        }
        std::memset(p + old.size, tag, size - old.size);
        old = Block{p, size, tag};
      }
      if (old.p != nullptr && (!intact(old) || a.deallocate(old.p) != Error::ok)) failures.fetch_add(1);
    }
    if (a.deallocate(small) != Error::ok) failures.fetch_add(1);
  };
  const std::uint64_t collects = run_while_stashes_emptied(a, 1024 * KiB, worker);
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_GT(collects, 0u);
  EXPECT_ALLOCATOR_OK(a);
  a.collect();
  EXPECT_ALLOCATOR_OK(a);
}

// The statistics read a live span's epoch and extent under the lock while its
// thread frees it into its stash and takes it again without the lock: pinned,
// a span stays in the life it was seen in (ThreadSanitizer reports the reads
// otherwise), and at most the one block is counted.
TEST(SpanStashConcurrent, StatisticsWhileAThreadCyclesItsStash) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_open();
  ASSERT_NE(e, SLAB_NO_EPOCH);
  const std::uint64_t rounds = tslab_test::scaled(50000);
  std::atomic<bool> done{false}, reading{false};
  std::thread worker([&] {
    while (!reading.load(std::memory_order_acquire)) std::this_thread::yield();
    void* small = a.allocate(64);
    for (std::uint64_t i = 0; i < rounds; ++i) {
      void* p = a.allocate(200 * KiB, i % 2 == 0 ? e : a.epoch_current());
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(a.deallocate(p), Error::ok);
    }
    ASSERT_EQ(a.deallocate(small), Error::ok);
    done.store(true, std::memory_order_release);
  });
  std::uint64_t reads = 0;
  do {  // the worker starts once the first read is under way
    reading.store(true, std::memory_order_release);
    EXPECT_LE(a.epoch_info(e).live_count, 1u);
    EXPECT_LE(tslab::stats(a).large_spans_live, 1u);
    ++reads;
  } while (!done.load(std::memory_order_acquire));
  worker.join();
  EXPECT_EQ(a.epoch_info(e).live_count, 0u);
  EXPECT_GT(reads, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
