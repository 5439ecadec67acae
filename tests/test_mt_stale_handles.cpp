// This file contains a stress test of stale handles freed by threads that have a
// heap of their own in the allocator, so that their frees take the handle's fast
// path and its remote ending (core/fast_path.h, AllocatorCore::free_handle_other)
// while the owner recycles the slabs the handles named and another thread takes
// them into new lives. A stale handle must never free a block of a later life.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;

TEST(MtStaleHandles, StaleHandlesFromThreadsWithHeapsNeverFreeALaterLifesBlock) {
  tslab::Allocator a;
  const std::size_t rounds = tslab_test::scaled(300);
  constexpr std::size_t kBlocks = 2048;
  std::vector<std::atomic<tslab::Handle>> stale(kBlocks);
  for (auto& h : stale) h.store(0);
  std::atomic<bool> done{false};
  std::atomic<long> stale_accepted{0}, live_broken{0};
  // Free every stale handle published so far, over and over.
  auto attacker = [&] {
    void* own = a.allocate(64, 0);  // a heap of its own
    ASSERT_NE(own, nullptr);
    while (!done.load(std::memory_order_relaxed))
      for (auto& h : stale) {
        const tslab::Handle x = h.load(std::memory_order_relaxed);
        if (x != 0 && a.free_handle(x) == Error::ok) ++stale_accepted;
      }
    EXPECT_EQ(a.deallocate(own), Error::ok);
  };
  // Takes recycled slabs into its own heap; each of its blocks holds its own
  // handle, which must still be there, and free, when it frees the block.
  auto taker = [&] {
    while (!done.load(std::memory_order_relaxed)) {
      std::vector<tslab::Allocation> mine(kBlocks);
      for (auto& m : mine) {
        m = a.allocate_with_handle(64, 0);
        if (m.ptr != nullptr) *static_cast<std::uint64_t*>(m.ptr) = m.handle;
      }
      for (auto& m : mine) {
        if (m.ptr == nullptr) continue;
        if (*static_cast<std::uint64_t*>(m.ptr) != m.handle) ++live_broken;
        if (a.free_handle(m.handle) != Error::ok) ++live_broken;
      }
      a.collect();
    }
  };
  std::thread t1(attacker), t2(attacker), t3(taker);
  long owner_refused = 0;
  std::vector<tslab::Handle> previous;
  for (std::size_t r = 0; r < rounds; ++r) {
    const std::size_t size = r % 2 == 0 ? 64 : 96;
    std::vector<tslab::Handle> live(kBlocks);
    for (auto& h : live) {
      const tslab::Allocation x = a.allocate_with_handle(size, 0);
      ASSERT_NE(x.ptr, nullptr);
      h = x.handle;
    }
    for (std::size_t i = 0; i < kBlocks; ++i) {
      if (a.free_handle(live[i]) != Error::ok) ++owner_refused;
      stale[i].store(live[i], std::memory_order_relaxed);
    }
    for (const auto h : previous)
      if (a.free_handle(h) == Error::ok) ++stale_accepted;
    a.collect();  // the owner recycles its empty slabs; the taker may get them
    for (const auto h : live)
      if (a.free_handle(h) == Error::ok) ++stale_accepted;
    previous = live;
  }
  done = true;
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(stale_accepted.load(), 0) << "a stale handle was accepted";
  EXPECT_EQ(live_broken.load(), 0) << "a live block was freed or overwritten through a stale handle";
  EXPECT_EQ(owner_refused, 0);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
