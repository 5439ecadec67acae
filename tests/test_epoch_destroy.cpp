// This file contains the tests of epoch_destroy: a closed epoch's live blocks,
// small and large, are freed at once, their pointers and handles are refused
// afterwards, other epochs are untouched, and the pages go back.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "slab_alloc.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;

TEST(EpochDestroy, FreesEveryLiveBlockAndRefusesTheirPointersAndHandles) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  const tslab::EpochId doomed = 3, kept = 4;
  std::vector<void*> blocks;
  std::vector<tslab::Handle> handles;
  for (std::size_t i = 0; i < 20000; ++i) {
    const std::size_t size = 16 + 40 * (i % 50);
    void* p = a.allocate(size, doomed);
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, size);
    blocks.push_back(p);
  }
  for (std::size_t i = 0; i < 10; ++i)
    blocks.push_back(a.allocate(100000 + i * 4096, doomed));  // large spans
  for (std::size_t i = 0; i < 500; ++i) {
    const tslab::Allocation h = a.allocate_with_handle(64, doomed);
    ASSERT_NE(h.ptr, nullptr);
    handles.push_back(h.handle);
  }
  // Some blocks are freed before: they are not counted again.
  for (std::size_t i = 0; i < 1000; ++i) ASSERT_EQ(a.deallocate(blocks[i]), Error::ok);
  void* survivor = a.allocate(200, kept);
  std::memset(survivor, 7, 200);
  const std::uint64_t peak = a.resident_bytes();
  const std::uint64_t before = tslab::stats(a).destroyed_blocks_total;

  std::uint64_t released = 0;
  ASSERT_EQ(a.epoch_destroy(doomed, &released), Error::ok);
  EXPECT_EQ(released, blocks.size() - 1000 + handles.size());
  EXPECT_EQ(tslab::stats(a).destroyed_blocks_total - before, released);
  EXPECT_EQ(a.epoch_state(doomed), tslab::EpochState::closing);
  EXPECT_EQ(a.epoch_info(doomed).live_count, 0u);
  // Refused: as a double free, or as never allocated once the slab went back.
  // (Not the blocks freed before: their emptied slabs may serve other blocks since,
  // as `survivor`.)
  for (std::size_t i = 1000; i < blocks.size(); ++i) {
    const Error e = a.deallocate(blocks[i]);
    EXPECT_TRUE(e == Error::double_free || e == Error::not_allocated) << static_cast<int>(e);
  }
  for (tslab::Handle h : handles) EXPECT_NE(a.free_handle(h), Error::ok);
  EXPECT_LT(a.resident_bytes() + 4 * (1u << 20), peak) << "the pages went back";
  // The other epoch is untouched.
  for (std::size_t i = 0; i < 200; ++i) ASSERT_EQ(static_cast<unsigned char*>(survivor)[i], 7);
  EXPECT_EQ(a.deallocate(survivor), Error::ok);
  // A second destroy finds nothing; the slot can be used again.
  ASSERT_EQ(a.epoch_destroy(doomed, &released), Error::ok);
  EXPECT_EQ(released, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(EpochDestroy, BlocksOfOtherThreadsAreFreedThroughTheRemoteProtocol) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  const EpochId e = 2;
  std::vector<void*> theirs;
  std::thread([&] {
    for (int i = 0; i < 5000; ++i) theirs.push_back(slab_malloc_epoch(a, 48, e));
  }).join();  // their owner has exited: its heap is abandoned
  std::vector<void*> from_live_thread;
  std::atomic<bool> ready{false}, done{false};
  std::thread live([&] {
    for (int i = 0; i < 5000; ++i) from_live_thread.push_back(slab_malloc_epoch(a, 80, e));
    ready = true;
    while (!done.load()) std::this_thread::yield();
    // Its own frees after the destroy are refused.
    for (void* p : from_live_thread) EXPECT_FALSE(slab_free_checked(a, p));
  });
  while (!ready.load()) std::this_thread::yield();
  uint64_t released = 0;
  ASSERT_TRUE(slab_epoch_destroy(a, e, &released));
  EXPECT_EQ(released, 10000u);
  done = true;
  live.join();
  for (void* p : theirs) EXPECT_FALSE(slab_free_checked(a, p));
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

TEST(EpochDestroy, BadArgumentsAreRefused) {
  tslab::Allocator a;
  EXPECT_EQ(a.epoch_destroy(a.epoch_count()), Error::epoch_out_of_range);
  EXPECT_FALSE(slab_epoch_destroy(nullptr, 0, nullptr));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  tslab::Allocator moved_from;
  tslab::Allocator other(std::move(moved_from));
  EXPECT_EQ(moved_from.epoch_destroy(0), Error::invalid_argument);
}

}  // namespace
