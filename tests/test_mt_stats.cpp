// This file contains the concurrency tests of the statistics: snapshots, texts
// and the metrics endpoint while other threads allocate, free across threads,
// advance and close epochs, exit and get adopted. Run under TSan by `make test`;
// the assertions check what a snapshot may say while the allocator moves.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "http_get.h"
#include "test_util.h"
#include "tslab/stats.hpp"

namespace {

TEST(StatsConcurrent, SnapshotsWhileThreadsAllocateFreeAndClose) {
  tslab::Allocator a;
  const std::uint64_t rounds = tslab_test::scaled(200000);
  constexpr int WORKERS = 2;
  constexpr std::size_t WINDOW = 256;
  std::atomic<bool> done{false};
  std::atomic<int> running{WORKERS};
  // Blocks handed from worker to worker, so frees cross threads.
  std::mutex exchange_mutex;
  std::vector<void*> exchange;

  auto worker = [&](int id) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(id) * 7919 + 1);
    std::vector<void*> mine;
    for (std::uint64_t i = 0; i < rounds; ++i) {
      const tslab::EpochId e = a.epoch_current();
      void* p = a.allocate(16 + rng() % 2000, e);
      if (p != nullptr) mine.push_back(p);  // nullptr: its epoch closed meanwhile
      if (mine.size() > WINDOW) {
        const std::size_t k = rng() % mine.size();
        if (rng() % 4 == 0) {
          std::lock_guard<std::mutex> lock(exchange_mutex);
          exchange.push_back(mine[k]);
        } else {
          EXPECT_EQ(a.deallocate(mine[k]), tslab::Error::ok);
        }
        mine[k] = mine.back();
        mine.pop_back();
      }
      if (i % 64 == 0) {
        std::vector<void*> theirs;
        {
          std::lock_guard<std::mutex> lock(exchange_mutex);
          theirs.swap(exchange);
        }
        for (void* q : theirs) EXPECT_EQ(a.deallocate(q), tslab::Error::ok);
      }
      if (id == 0 && i % 2000 == 1999) a.epoch_advance();  // closes the previous slot
    }
    for (void* p : mine) a.deallocate(p);
    running.fetch_sub(1);
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < WORKERS; ++i) threads.emplace_back(worker, i);
  // A short-lived thread whose heap is abandoned and adopted while snapshots run.
  threads.emplace_back([&] {
    for (int i = 0; i < 100; ++i) a.deallocate(a.allocate(64));
  });

  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  std::uint64_t snapshots = 0, last_closes = 0, last_decommitted = 0;
  while (running.load() > 0 || snapshots < 3) {
    const tslab::GlobalStats g = tslab::stats(a);
    ASSERT_EQ(g.version, SLAB_STATS_VERSION);
    // At most WINDOW + exchange-sized backlog per worker is live, plus in-flight blocks.
    EXPECT_LE(g.live_blocks, 4 * WINDOW * WORKERS + 100000);
    EXPECT_LE(g.reclaimable_bytes, g.committed_bytes);
    EXPECT_LE(g.live_bytes, g.committed_bytes + g.large_live_bytes);
    EXPECT_GE(g.epoch_close_calls_total, last_closes);  // counters never go back
    EXPECT_GE(g.decommit_bytes_total, last_decommitted);
    last_closes = g.epoch_close_calls_total;
    last_decommitted = g.decommit_bytes_total;
    const tslab::EpochStats es = tslab::epoch_stats(a, a.epoch_current());
    EXPECT_LE(es.live_blocks, g.live_blocks + 100000);
    EXPECT_FALSE(tslab::to_json(a).empty());
    if (snapshots % 8 == 0) {
      const std::string metrics = tslab_test::http_get(port, "/metrics");
      EXPECT_EQ(metrics.rfind("HTTP/1.1 200", 0), 0u);
    }
    ++snapshots;
  }
  for (std::thread& t : threads) t.join();
  for (void* p : exchange) a.deallocate(p);
  tslab::metrics_stop();

  // Quiescent again: the snapshot is exact.
  const tslab::GlobalStats end = tslab::stats(a);
  EXPECT_EQ(end.live_blocks, 0u);
  EXPECT_EQ(end.live_bytes, 0u);
  EXPECT_GE(end.epoch_close_calls_total, 1u);
  EXPECT_EQ(end.invalid_frees_total, 0u);
  EXPECT_TRUE(a.check().ok) << a.check().message;
}

// A large block's epoch is written when its span is handed out, without the
// allocator lock; epoch_info counts live spans under the lock. It reads a span's
// epoch only once the span reads in use, so it never reads the epoch a span's
// next block is being given (ThreadSanitizer reports that read otherwise), and a
// span counts in the epoch of the block it holds.
// Threads taking snapshots at once share one spare snapshot, one at a time:
// the others map their own. Each thread's snapshots of its own allocator are
// exact, whichever buffer it got.
TEST(StatsConcurrent, SnapshotsAtOnceEachSeeTheirOwnAllocator) {
  constexpr int THREADS = 4;
  const std::uint64_t rounds = tslab_test::scaled(2000);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < THREADS; ++t) {
    threads.emplace_back([&, t] {
      tslab::Allocator a;
      std::vector<void*> blocks;
      for (int i = 0; i < 10 * (t + 1); ++i) blocks.push_back(a.allocate(64));
      for (std::uint64_t r = 0; r < rounds; ++r)
        if (tslab::stats(a).live_blocks != blocks.size()) wrong.fetch_add(1);
      for (void* p : blocks) a.deallocate(p);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(StatsConcurrent, EpochInfoWhileLargeSpansChangeEpochs) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_large_retain(64 * 1024 * 1024), tslab::Error::ok);  // the spans are reused
  constexpr std::uint32_t EPOCHS = 4;
  std::vector<tslab::EpochId> epochs;
  for (std::uint32_t i = 0; i < EPOCHS; ++i) epochs.push_back(a.epoch_open());
  for (const tslab::EpochId e : epochs) ASSERT_NE(e, SLAB_NO_EPOCH);
  const std::uint64_t rounds = tslab_test::scaled(20000);
  std::atomic<bool> done{false}, reading{false};
  std::thread worker([&] {
    while (!reading.load(std::memory_order_acquire)) std::this_thread::yield();
    for (std::uint64_t i = 0; i < rounds; ++i) {
      void* p = a.allocate(100000 + (i % 7) * 1000, epochs[i % EPOCHS]);
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
    }
    done.store(true, std::memory_order_release);
  });
  std::uint64_t reads = 0;
  do {  // the worker starts once the first read is under way
    reading.store(true, std::memory_order_release);
    const SlabEpochInfo info = a.epoch_info(epochs[reads % EPOCHS]);
    // One block is live at a time, but the walk is no snapshot: the worker reuses
    // its spans through its stash without the lock, so a span seen holding this
    // epoch's block may be freed and a later block of the epoch land in a span
    // further along the walk (one the worker took because the walk's pin held
    // the first): counted twice. Each span counts once, as a reservation of its own.
    ASSERT_LE(info.live_count * 131072, tslab::stats(a).reserved_bytes) << "spans counted more than once";
    ++reads;
  } while (!done.load(std::memory_order_acquire));
  worker.join();
  for (const tslab::EpochId e : epochs) EXPECT_EQ(a.epoch_info(e).live_count, 0u);
  EXPECT_GT(reads, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
