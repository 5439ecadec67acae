// This file contains the interleaved-churn concurrency tests (seed 000's first
// pattern): threads allocate and free mixed sizes at random in a shared epoch,
// each in a private window; blocks are exchanged between threads for remote
// frees; and epochs advance under the workers' feet. Every free must succeed,
// every block must keep its contents, and check() must hold at the end.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;
using tslab_test::Rng;

constexpr unsigned kThreads = 4;
constexpr std::size_t kWindow = 1024;
constexpr std::size_t kPatternBytes = 128;  // bytes verified per block

struct Slot {
  void* p = nullptr;
  tslab::Handle h = 0;  // non-zero: free by handle
  std::size_t size = 0;
  std::uint64_t tag = 0;
};

struct Stats {
  std::size_t allocs = 0;
  std::size_t alloc_failures = 0;
  std::size_t unexpected_errors = 0;
  std::size_t free_failures = 0;
  std::size_t corrupted = 0;
  std::size_t remote_frees = 0;
  std::string failure_details;  // the first few failed frees
};

std::size_t random_size(Rng& rng) {
  const std::uint64_t r = rng.range(0, 99);
  if (r < 70) return rng.range(1, 256);
  if (r < 95) return rng.range(257, 4096);
  if (r < 98) return rng.range(4097, 16384);
  if (r < 99) return rng.range(16385, 65536);
  return rng.range(65537, 262144);
}

std::size_t pattern_len(std::size_t size) { return size < kPatternBytes ? size : kPatternBytes; }

bool allocate_into(tslab::Allocator& a, Slot& s, Rng& rng, tslab::EpochId e, std::uint64_t tag, Stats& st) {
  s.size = random_size(rng);
  s.tag = tag;
  if (rng.coin()) {
    const tslab::Allocation r = a.allocate_with_handle(s.size, e);
    s.p = r.ptr;
    s.h = r.handle;
    if (s.p != nullptr && s.h == 0) ++st.unexpected_errors;
  } else {
    s.p = a.allocate(s.size, e);
    s.h = 0;
  }
  if (s.p == nullptr) return false;
  ++st.allocs;
  tslab_test::fill_pattern(s.p, pattern_len(s.size), tag);
  return true;
}

void release(tslab::Allocator& a, Slot& s, Stats& st) {
  if (!tslab_test::check_pattern(s.p, pattern_len(s.size), s.tag)) ++st.corrupted;
  const Error err = s.h != 0 ? a.free_handle(s.h) : a.deallocate(s.p);
  if (err != Error::ok && ++st.free_failures <= 3)
    st.failure_details += std::string(" [") + (s.h != 0 ? "handle" : "pointer") + " free of " +
                          std::to_string(s.size) + " B: " + tslab::to_string(err) + "]";
  s = Slot{};
}

void expect_clean(const std::vector<Stats>& stats) {
  for (unsigned t = 0; t < stats.size(); ++t) {
    EXPECT_EQ(stats[t].free_failures, 0u) << "thread " << t << stats[t].failure_details;
    EXPECT_EQ(stats[t].corrupted, 0u) << "thread " << t;
    EXPECT_EQ(stats[t].unexpected_errors, 0u) << "thread " << t;
    EXPECT_GT(stats[t].allocs, 0u) << "thread " << t;
  }
}

TEST(MtChurn, InterleavedSharedEpochPrivateWindows) {
  tslab::Allocator a;
  const std::size_t ops = tslab_test::scaled(400000);
  std::vector<Stats> stats(kThreads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Stats& st = stats[t];
      Rng rng(1000 + t);
      std::vector<Slot> window(kWindow);
      for (std::size_t i = 0; i < ops; ++i) {
        Slot& s = window[rng.next() % kWindow];
        if (s.p != nullptr) {
          release(a, s, st);
        } else if (!allocate_into(a, s, rng, 0, tslab_test::make_tag(t, i), st)) {
          ++st.alloc_failures;
        }
      }
      for (Slot& s : window)
        if (s.p != nullptr) release(a, s, st);
    });
  }
  for (auto& th : threads) th.join();
  expect_clean(stats);
  for (unsigned t = 0; t < kThreads; ++t) EXPECT_EQ(stats[t].alloc_failures, 0u) << "thread " << t;
  EXPECT_ALLOCATOR_OK(a);
}

// Threads swap blocks through a shared board of atomic slots, so a large share
// of frees are remote frees into slabs their owners are still allocating from.
TEST(MtChurn, ChurnWithCrossThreadExchange) {
  tslab::Allocator a;
  constexpr std::size_t kBoard = 256;
  std::vector<std::atomic<Slot*>> board(kBoard);
  for (auto& b : board) b.store(nullptr);
  const std::size_t ops = tslab_test::scaled(200000);
  std::vector<Stats> stats(kThreads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Stats& st = stats[t];
      Rng rng(2000 + t);
      std::vector<Slot> window(kWindow / 4);
      for (std::size_t i = 0; i < ops; ++i) {
        Slot& s = window[rng.next() % window.size()];
        if (s.p == nullptr) {
          if (!allocate_into(a, s, rng, 1, tslab_test::make_tag(t, i), st)) ++st.alloc_failures;
          continue;
        }
        if (rng.range(0, 2) == 0) {
          release(a, s, st);
          continue;
        }
        // Publish our block; whatever was there is now ours to free.
        Slot* mine = new Slot(s);
        s = Slot{};
        Slot* theirs = board[rng.next() % kBoard].exchange(mine, std::memory_order_acq_rel);
        if (theirs != nullptr) {
          release(a, *theirs, st);
          ++st.remote_frees;
          delete theirs;
        }
      }
      for (Slot& s : window)
        if (s.p != nullptr) release(a, s, st);
    });
  }
  for (auto& th : threads) th.join();
  Stats leftovers;
  for (auto& b : board) {
    Slot* s = b.exchange(nullptr);
    if (s != nullptr) {
      release(a, *s, leftovers);
      delete s;
    }
  }
  stats.push_back(leftovers);
  for (unsigned t = 0; t < kThreads; ++t) {
    EXPECT_GT(stats[t].remote_frees, 0u) << "thread " << t;
    EXPECT_EQ(stats[t].alloc_failures, 0u) << "thread " << t;
  }
  for (const Stats& st : stats) {
    EXPECT_EQ(st.free_failures, 0u) << st.failure_details;
    EXPECT_EQ(st.corrupted, 0u);
    EXPECT_EQ(st.unexpected_errors, 0u);
  }
  EXPECT_ALLOCATOR_OK(a);
}

// One thread keeps advancing the epoch ring while workers allocate into the
// current epoch. An allocation may lose the race to a close (epoch_closing, then
// retry); any other failure is a bug. Frees into CLOSING epochs must succeed.
TEST(MtChurn, ChurnWhileEpochsAdvance) {
  tslab::Allocator a;
  const std::size_t ops = tslab_test::scaled(200000);
  const unsigned workers = kThreads - 1;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> advances{0};
  std::vector<Stats> stats(workers);
  std::vector<std::size_t> closing_races(workers, 0);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < workers; ++t) {
    threads.emplace_back([&, t] {
      Stats& st = stats[t];
      Rng rng(3000 + t);
      std::vector<Slot> window(kWindow / 2);
      for (std::size_t i = 0; i < ops; ++i) {
        Slot& s = window[rng.next() % window.size()];
        if (s.p != nullptr) {
          release(a, s, st);
          continue;
        }
        bool ok = false;
        for (int attempt = 0; attempt < 1000 && !ok; ++attempt) {
          ok = allocate_into(a, s, rng, a.epoch_current(), tslab_test::make_tag(t, i), st);
          if (!ok) {
            const Error err = tslab::last_error();
            if (err == Error::epoch_closing) {
              ++closing_races[t];
            } else {
              ++st.unexpected_errors;
              break;
            }
          }
        }
        if (!ok) ++st.alloc_failures;
      }
      for (Slot& s : window)
        if (s.p != nullptr) release(a, s, st);
    });
  }
  std::thread advancer([&] {
    Rng rng(77);
    do {  // at least once, however late the thread gets a processor
      a.epoch_advance();
      advances.fetch_add(1, std::memory_order_relaxed);
      for (std::uint64_t k = rng.range(0, 2000); k > 0; --k) std::this_thread::yield();
    } while (!done.load(std::memory_order_acquire));
  });
  for (auto& th : threads) th.join();
  done.store(true, std::memory_order_release);
  advancer.join();
  EXPECT_GT(advances.load(), 0u);
  expect_clean(stats);
  for (unsigned t = 0; t < workers; ++t) EXPECT_EQ(stats[t].alloc_failures, 0u) << "thread " << t;
  EXPECT_EQ(a.epoch_state(a.epoch_current()), tslab::EpochState::active);
  EXPECT_ALLOCATOR_OK(a);
}

// The seed-compatible C API under the same interleaved churn, all in epoch 0.
TEST(MtChurn, CApiInterleavedChurn) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  const std::size_t ops = tslab_test::scaled(200000);
  std::vector<std::size_t> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Rng rng(4000 + t);
      std::vector<SlabHandle> hs(kWindow, 0);
      for (std::size_t i = 0; i < ops; ++i) {
        SlabHandle& h = hs[rng.next() % kWindow];
        if (h != 0) {
          void* p = slab_handle_to_ptr(a, h);
          if (p == nullptr || *static_cast<std::uint32_t*>(p) != t) ++failures[t];
          if (!free_obj(a, h)) ++failures[t];
          h = 0;
        } else {
          void* p = alloc_obj_epoch(a, static_cast<std::uint32_t>(rng.range(4, 512)), 0, &h);
          if (p == nullptr || h == 0) {
            ++failures[t];
            h = 0;
          } else {
            *static_cast<std::uint32_t*>(p) = t;
          }
        }
      }
      for (SlabHandle h : hs)
        if (h != 0 && !free_obj(a, h)) ++failures[t];
    });
  }
  for (auto& th : threads) th.join();
  for (unsigned t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0u) << "thread " << t;
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

}  // namespace
