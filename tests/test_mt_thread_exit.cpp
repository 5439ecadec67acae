// This file contains the thread-exit tests: a thread that exits with live
// blocks abandons its heap; its blocks (by pointer and by handle) stay valid and
// can be freed from any thread, exactly once; and the memory is adopted and
// reused by later threads instead of fresh slabs being carved.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;

struct Block {
  void* p = nullptr;
  tslab::Handle h = 0;  // non-zero: allocated (and freed) through the handle API
  std::size_t size = 0;
  std::uint64_t tag = 0;
};

constexpr std::size_t kSizes[] = {64, 256, 1024, 4096};
constexpr tslab::EpochId kEpochs = 4;
constexpr std::size_t kBins = std::size(kSizes) * kEpochs;

// `n` blocks spread over kSizes x epochs 0..3, half with handles, all tagged.
std::vector<Block> allocate_workload(tslab::Allocator& a, std::size_t n, std::uint64_t tag_base) {
  std::vector<Block> blocks;
  blocks.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Block b;
    b.size = kSizes[i % std::size(kSizes)];
    const auto e = static_cast<tslab::EpochId>((i / std::size(kSizes)) % kEpochs);
    b.tag = tag_base + i;
    if (i % 2 == 0) {
      const tslab::Allocation r = a.allocate_with_handle(b.size, e);
      b.p = r.ptr;
      b.h = r.handle;
    } else {
      b.p = a.allocate(b.size, e);
    }
    if (b.p == nullptr) {
      ADD_FAILURE() << "allocation " << i << " failed: " << tslab::to_string(tslab::last_error());
      break;
    }
    tslab_test::fill_pattern(b.p, b.size, b.tag);
    blocks.push_back(b);
  }
  return blocks;
}

// Frees blocks from `begin` on with a stride, checking each block's pattern
// first; returns the number of failures and describes the first few in `details`.
std::size_t free_blocks(tslab::Allocator& a, const std::vector<Block>& blocks, std::size_t begin,
                        std::size_t stride, std::string* details = nullptr) {
  std::size_t failures = 0;
  for (std::size_t i = begin; i < blocks.size(); i += stride) {
    const Block& b = blocks[i];
    std::string what;
    if (!tslab_test::check_pattern(b.p, b.size, b.tag)) what = "corrupted";
    const Error err = b.h != 0 ? a.free_handle(b.h) : a.deallocate(b.p);
    if (err != Error::ok) what += std::string(what.empty() ? "" : ", ") + tslab::to_string(err);
    if (what.empty()) continue;
    if (++failures <= 3 && details != nullptr)
      *details += std::string(" [") + (b.h != 0 ? "handle" : "pointer") + " free of " +
                  std::to_string(b.size) + " B: " + what + "]";
  }
  return failures;
}

TEST(MtThreadExit, BlocksOfExitedThreadFreedByMainThenAdoptedByNewThread) {
  tslab::Allocator a;
  void* mine = a.allocate(64, 0);  // the main thread has a heap of its own
  ASSERT_NE(mine, nullptr);
  const std::size_t n = tslab_test::scaled(20000) < 4000 ? 4000 : tslab_test::scaled(20000);

  const std::uint64_t slabs0 = tslab_test::total_new_slabs(a);
  std::vector<Block> blocks;
  std::thread([&] { blocks = allocate_workload(a, n, 1); }).join();
  ASSERT_EQ(blocks.size(), n);
  const std::uint64_t carved_by_exited = tslab_test::total_new_slabs(a) - slabs0;
  ASSERT_GT(carved_by_exited, 2 * (kBins + 4)) << "workload too small to show reuse";

  // Everything is still live and resolvable after the owner's exit.
  for (const Block& b : blocks) {
    ASSERT_EQ(a.usable_size(b.p), b.size);
    if (b.h != 0) {
      ASSERT_EQ(a.handle_to_ptr(b.h), b.p);
    }
  }
  EXPECT_ALLOCATOR_OK(a);

  // The main thread frees half.
  EXPECT_EQ(free_blocks(a, blocks, 0, 2), 0u);
  EXPECT_ALLOCATOR_OK(a);

  // A new thread frees the rest, then allocates the same workload again.
  std::size_t new_thread_failures = 0;
  std::uint64_t grown = 0;
  std::vector<Block> second;
  std::thread([&] {
    new_thread_failures = free_blocks(a, blocks, 1, 2);
    const std::uint64_t before = tslab_test::total_new_slabs(a);
    second = allocate_workload(a, n, 1000000);
    grown = tslab_test::total_new_slabs(a) - before;
  }).join();
  EXPECT_EQ(new_thread_failures, 0u);
  ASSERT_EQ(second.size(), n);
  EXPECT_LE(grown, kBins + 4) << "the exited thread's " << carved_by_exited << " slabs were not reused";

  // The second thread exited too; its blocks are freed from here.
  EXPECT_EQ(free_blocks(a, second, 0, 1), 0u);
  EXPECT_EQ(a.deallocate(mine), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(MtThreadExit, HandlesOfExitedThreadFreeExactlyOnce) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  const std::size_t n = tslab_test::scaled(50000);
  std::vector<SlabHandle> hs(n, 0);
  std::vector<void*> ps(n, nullptr);
  std::thread([&] {
    for (std::size_t i = 0; i < n; ++i) {
      ps[i] = alloc_obj_epoch(a, static_cast<std::uint32_t>(16 + (i % 64) * 16), static_cast<EpochId>(i % 3),
                              &hs[i]);
      if (ps[i] != nullptr) *static_cast<std::uint64_t*>(ps[i]) = i;
    }
  }).join();
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_NE(ps[i], nullptr);
    ASSERT_NE(hs[i], 0u);
  }
  // Another short-lived thread resolves and frees them all.
  std::size_t resolve_failures = 0, free_failures = 0;
  std::thread([&] {
    for (std::size_t i = 0; i < n; ++i) {
      void* p = slab_handle_to_ptr(a, hs[i]);
      if (p != ps[i] || *static_cast<std::uint64_t*>(p) != i) ++resolve_failures;
      if (slab_ptr_to_handle(a, ps[i]) != hs[i]) ++resolve_failures;
      if (!free_obj(a, hs[i])) ++free_failures;
    }
  }).join();
  EXPECT_EQ(resolve_failures, 0u);
  EXPECT_EQ(free_failures, 0u);
  // A second free, from yet another thread (the main one), fails for each.
  std::size_t second_accepted = 0, wrong_error = 0;
  for (SlabHandle h : hs) {
    if (free_obj(a, h)) {
      ++second_accepted;
    } else if (slab_last_error() != TSLAB_ERR_DOUBLE_FREE && slab_last_error() != TSLAB_ERR_STALE_HANDLE) {
      ++wrong_error;
    }
  }
  EXPECT_EQ(second_accepted, 0u);
  EXPECT_EQ(wrong_error, 0u);
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

// Many short-lived threads, two at a time. Each first frees the blocks left by
// the previous pair (whose threads have exited), then allocates its own and
// exits with them live. Every free succeeds, nothing is corrupted, and the
// number of fresh slabs stays far below one set per thread.
TEST(MtThreadExit, ManyShortLivedThreadsHandOffBlocks) {
  tslab::Allocator a;
  const std::size_t threads = tslab_test::scaled(200) < 50 ? 50 : tslab_test::scaled(200);
  constexpr std::size_t kPerThread = 128;
  constexpr std::size_t kThreadSizes[] = {32, 128, 512, 2048};
  std::vector<std::vector<Block>> left(threads);
  std::vector<std::size_t> failures(threads, 0);
  std::vector<std::string> details(threads);

  auto body = [&](std::size_t k) {
    if (k >= 2) {
      // Pair j = threads 2j and 2j+1: thread k frees the blocks of thread k-2,
      // a member of the previous pair, which has exited.
      failures[k] += free_blocks(a, left[k - 2], 0, 1, &details[k]);
      left[k - 2].clear();
    }
    std::vector<Block> mine;
    for (std::size_t i = 0; i < kPerThread; ++i) {
      Block b;
      b.size = kThreadSizes[i % std::size(kThreadSizes)];
      b.tag = tslab_test::make_tag(k, i);
      if (i % 2 == 0) {
        const tslab::Allocation r = a.allocate_with_handle(b.size, 0);
        b.p = r.ptr;
        b.h = r.handle;
      } else {
        b.p = a.allocate(b.size, 0);
      }
      if (b.p == nullptr) {
        ++failures[k];
        continue;
      }
      tslab_test::fill_pattern(b.p, b.size, b.tag);
      mine.push_back(b);
    }
    left[k] = std::move(mine);
  };

  for (std::size_t k = 0; k < threads; k += 2) {
    std::thread t0(body, k);
    std::thread t1;
    if (k + 1 < threads) t1 = std::thread(body, k + 1);
    t0.join();
    if (t1.joinable()) t1.join();
  }
  std::size_t total_failures = 0;
  std::string all_details;
  for (std::size_t k = 0; k < threads; ++k) {
    total_failures += failures[k];
    all_details += details[k];
  }
  EXPECT_EQ(total_failures, 0u) << all_details;
  // The last pair's blocks are freed by the main thread.
  for (auto& v : left) EXPECT_EQ(free_blocks(a, v, 0, 1), 0u);
  const std::uint64_t slabs = tslab_test::total_new_slabs(a);
  const std::uint64_t no_reuse_floor = threads * std::size(kThreadSizes);
  EXPECT_LE(slabs, 64 + threads / 2) << "fresh slabs for " << threads << " threads (" << no_reuse_floor
                                     << " if no memory of exited threads were reused)";
  EXPECT_ALLOCATOR_OK(a);
}

// Exited threads' blocks freed concurrently by two live threads, one by pointer
// and one by handle, while a third thread keeps allocating.
TEST(MtThreadExit, ConcurrentFreesOfAbandonedBlocks) {
  tslab::Allocator a;
  const std::size_t n = tslab_test::scaled(40000);
  std::vector<Block> blocks;
  std::thread([&] { blocks = allocate_workload(a, n, 77); }).join();
  ASSERT_EQ(blocks.size(), n);
  std::size_t f0 = 0, f1 = 0, alloc_failures = 0;
  std::thread t0([&] { f0 = free_blocks(a, blocks, 0, 2); });
  std::thread t1([&] { f1 = free_blocks(a, blocks, 1, 2); });
  std::thread t2([&] {
    std::vector<void*> v;
    for (std::size_t i = 0; i < n; ++i) {
      void* p = a.allocate(kSizes[i % std::size(kSizes)], static_cast<tslab::EpochId>(i % kEpochs));
      if (p == nullptr) {
        ++alloc_failures;
      } else {
        v.push_back(p);
      }
      if (v.size() > 256) {
        for (void* q : v)
          if (a.deallocate(q) != Error::ok) ++alloc_failures;
        v.clear();
      }
    }
    for (void* q : v)
      if (a.deallocate(q) != Error::ok) ++alloc_failures;
  });
  t0.join();
  t1.join();
  t2.join();
  EXPECT_EQ(f0, 0u);
  EXPECT_EQ(f1, 0u);
  EXPECT_EQ(alloc_failures, 0u);
  for (const Block& b : blocks) {
    EXPECT_EQ(a.usable_size(b.p), 0u);
    if (b.h != 0) {
      EXPECT_EQ(a.handle_to_ptr(b.h), nullptr);
    }
  }
  EXPECT_ALLOCATOR_OK(a);
}

// Threads that exit holding many empty slabs hand them back (more than a heap
// keeps for its next owner) while another thread closes epochs, another
// collects, another allocates and frees large blocks, and the exiting threads
// free one another's blocks: no block's bytes change while it is live, every
// free is accepted exactly once, and the allocator checks out.
TEST(MtThreadExit, ExitsHandingSlabsBackRaceClosesCollectsAndRemoteFrees) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(4 * SLAB_PAGE_SIZE), Error::ok);
  ASSERT_EQ(a.set_large_retain(16 * SLAB_PAGE_SIZE), Error::ok);
  SlabAllocator* c = a.c_allocator();
  struct Live {
    void* p;
    std::size_t size;
    std::uint64_t tag;
  };
  std::mutex m;
  std::vector<Live> handed;  // blocks freed by a thread of a later wave
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> corrupt{0}, refused{0}, failed{0};
  const auto release = [&](const Live& b) {
    if (!tslab_test::check_pattern(b.p, b.size, b.tag)) corrupt.fetch_add(1);
    if (!slab_free_checked(c, b.p)) refused.fetch_add(1);
  };
  std::thread closer([&] {
    while (!stop.load()) {
      epoch_advance(c);
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  std::thread collector([&] {
    while (!stop.load()) {
      slab_collect(c);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::thread large([&] {
    for (std::uint64_t i = 0; !stop.load(); ++i) {
      void* p = slab_malloc_epoch(c, 300000, epoch_current(c));
      if (p == nullptr) continue;  // the epoch was closing: refused, not failed
      tslab_test::fill_pattern(p, 300000, i);
      if (!tslab_test::check_pattern(p, 300000, i)) corrupt.fetch_add(1);
      if (!slab_free_checked(c, p)) refused.fetch_add(1);
    }
  });
  constexpr std::size_t kWaveSizes[] = {48, 256, 1024, 3072};
  const std::size_t waves =
      std::max<std::size_t>(3, tslab_test::scaled(12));  // remote frees need a later wave
  for (std::size_t w = 0; w < waves; ++w) {
    std::vector<std::thread> workers;
    for (std::uint64_t t = 0; t < 4; ++t) {
      workers.emplace_back([&, w, t] {
        const std::size_t size = kWaveSizes[(w + t) % std::size(kWaveSizes)];
        const std::size_t n = 80 * SLAB_PAGE_SIZE / size;  // about 80 slabs: beyond what a heap keeps
        std::vector<Live> mine;
        mine.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
          const std::uint64_t tag = tslab_test::make_tag(w * 4 + t, i);
          void* p = slab_malloc_epoch(c, size, epoch_current(c));
          if (p == nullptr) {
            if (slab_last_error() != TSLAB_ERR_EPOCH_CLOSING) failed.fetch_add(1);
            continue;
          }
          tslab_test::fill_pattern(p, size, tag);
          mine.push_back({p, size, tag});
        }
        std::vector<Live> theirs;
        {
          const std::lock_guard<std::mutex> lock(m);
          theirs.swap(handed);
          for (std::size_t i = 0; i < mine.size(); i += 50) handed.push_back(mine[i]);
        }
        for (const Live& b : theirs) release(b);  // remote frees of an earlier wave's blocks
        for (std::size_t i = 0; i < mine.size(); ++i)
          if (i % 50 != 0) release(mine[i]);
      });
    }
    for (std::thread& t : workers) t.join();
  }
  stop.store(true);
  closer.join();
  collector.join();
  large.join();
  for (const Live& b : handed) release(b);
  EXPECT_EQ(corrupt.load(), 0u);
  EXPECT_EQ(refused.load(), 0u);
  EXPECT_EQ(failed.load(), 0u);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
