// This file contains the regression test for the reclaimable-slab count: a slab
// a heap takes from the allocator is empty until its first block is handed out,
// and must count as reclaimable for as long as it stays so. A remote free that
// lands while the slab is being taken lets the allocation be served from another
// slab, leaving the new one empty; the invariant checker then found it
// uncounted ("reclaimable 0 bytes, but 0 live and 65536 committed"), the cause
// of an intermittent failure of MtChurn.ChurnWithCrossThreadExchange.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "hook_platform.h"
#include "size_class/size_classes.h"
#include "test_util.h"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

namespace td = tslab::detail;

TEST(MtReclaimCounts, SlabTakenWhileARemoteFreeArrivesIsCountedEmpty) {
  tslab_test::HookPlatform platform;
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator a(options);
  constexpr std::size_t SIZE = td::MAX_SMALL_SIZE;  // 4 blocks per slab
  const std::uint32_t capacity = td::class_capacity(td::class_of_size(SIZE));
  // Exactly one segment's worth of slabs, every block allocated by this thread.
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < td::SLABS_PER_SEGMENT * capacity; ++i) {
    blocks.push_back(a.allocate(SIZE, 0));
    ASSERT_NE(blocks.back(), nullptr);
  }
  // The next slab needs a new segment. While it is reserved, another thread
  // frees one of this thread's blocks: the allocation then takes that block.
  void* remote = blocks.back();
  blocks.pop_back();
  platform.on_next_reserve_of(td::SEGMENT_SIZE, [&] {
    std::thread([&] { EXPECT_EQ(a.deallocate(remote), tslab::Error::ok); }).join();
  });
  void* p = a.allocate(SIZE, 0);
  ASSERT_EQ(p, remote) << "the allocation was meant to be served by the remotely freed block";
  blocks.push_back(p);

  EXPECT_ALLOCATOR_OK(a);
  const tslab::ClassStats c = tslab::class_stats(a, td::class_of_size(SIZE));
  EXPECT_EQ(c.reclaimable_slabs, 1u) << "the new, still empty slab";
  EXPECT_EQ(c.reclaimable_bytes, td::SLAB_SIZE);
  for (void* q : blocks) EXPECT_EQ(a.deallocate(q), tslab::Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
