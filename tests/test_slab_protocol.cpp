// Unit tests of the slab block-state protocol (segment/slab.h), step by step on
// one slab: the allocated/remote bitmaps, owner and remote frees, collection and
// bogus remote bits left by rejected frees.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "segment/slab.h"
#include "size_class/size_classes.h"

namespace td = tslab::detail;

namespace {

class SlabProtocol : public ::testing::Test {
 protected:
  void SetUp() override {
    memory_ = static_cast<char*>(std::aligned_alloc(td::SLAB_SIZE, td::SLAB_SIZE));
    const std::uint32_t cls = td::class_of_size(64);
    slab_.start = memory_;
    slab_.obj_size = td::class_block_size(cls);
    slab_.magic = td::class_magic(cls);
    slab_.capacity = td::class_capacity(cls);
    slab_.carved.store(100);  // slots 0..99 prepared for hand-out, the rest never
  }
  void TearDown() override { std::free(memory_); }

  std::vector<std::uint32_t> collect() {
    std::vector<std::uint32_t> slots;
    slab_.collect_remote([&](td::FreeBlock* b) {
      slots.push_back(static_cast<std::uint32_t>((reinterpret_cast<char*>(b) - memory_) / slab_.obj_size));
    });
    return slots;
  }

  char* memory_ = nullptr;
  td::Slab slab_;
};

}  // namespace

TEST_F(SlabProtocol, RemoteFreeOfALiveBlockSucceedsOnceAndIsCollectedOnce) {
  ASSERT_TRUE(slab_.try_mark_allocated(3));
  EXPECT_EQ(slab_.live_blocks(), 1u);
  EXPECT_EQ(slab_.free_remote(3), TSLAB_OK);
  EXPECT_EQ(slab_.live_blocks(), 0u) << "a remotely freed block is no longer live";
  EXPECT_EQ(slab_.free_remote(3), TSLAB_ERR_DOUBLE_FREE) << "second free before collection";
  EXPECT_EQ(collect(), std::vector<std::uint32_t>{3});
  EXPECT_EQ(slab_.free_remote(3), TSLAB_ERR_DOUBLE_FREE) << "second free after collection";
  EXPECT_TRUE(collect().empty());
  EXPECT_TRUE(slab_.try_mark_allocated(3)) << "a collected slot can be handed out again";
}

TEST_F(SlabProtocol, OwnerFreeOfARemotelyFreedBlockIsADoubleFree) {
  ASSERT_TRUE(slab_.try_mark_allocated(5));
  ASSERT_EQ(slab_.free_remote(5), TSLAB_OK);
  EXPECT_EQ(slab_.free_local(5), TSLAB_ERR_DOUBLE_FREE);
  EXPECT_EQ(collect(), std::vector<std::uint32_t>{5}) << "the block is collected exactly once";
  EXPECT_EQ(slab_.free_local(5), TSLAB_ERR_DOUBLE_FREE);
}

TEST_F(SlabProtocol, OwnerFreesAreCheckedAgainstTheBitmap) {
  ASSERT_TRUE(slab_.try_mark_allocated(9));
  EXPECT_EQ(slab_.free_local(9), TSLAB_OK);
  EXPECT_EQ(slab_.free_local(9), TSLAB_ERR_DOUBLE_FREE);
  EXPECT_EQ(slab_.free_remote(9), TSLAB_ERR_DOUBLE_FREE);
  EXPECT_EQ(slab_.free_local(200), TSLAB_ERR_NOT_ALLOCATED) << "slot 200 was never carved";
  EXPECT_EQ(slab_.free_remote(200), TSLAB_ERR_NOT_ALLOCATED);
  EXPECT_TRUE(collect().empty()) << "rejected frees leave nothing to collect";
}

TEST_F(SlabProtocol, ABogusRemoteBitHoldsItsSlotBackUntilCollectionDropsIt) {
  // A double free that raced the owner's collection leaves a remote bit on a
  // free slot. The owner must not hand that slot out while the bit is there, or
  // the next collection would take the new block away from its holder.
  slab_.bits[0].remote.fetch_or(std::uint64_t{1} << 7);
  EXPECT_FALSE(slab_.try_mark_allocated(7));
  EXPECT_TRUE(collect().empty()) << "a bogus bit is dropped, not collected as a free block";
  EXPECT_EQ(slab_.bits[0].remote.load(), 0u);
  EXPECT_TRUE(slab_.try_mark_allocated(7));
  EXPECT_EQ(slab_.free_remote(7), TSLAB_OK);
  EXPECT_EQ(collect(), std::vector<std::uint32_t>{7});
}

TEST_F(SlabProtocol, CollectionTakesExactlyThePendingBlocksAcrossWords) {
  std::vector<std::uint32_t> freed;
  for (std::uint32_t slot = 0; slot < 100; ++slot) ASSERT_TRUE(slab_.try_mark_allocated(slot));
  for (std::uint32_t slot = 1; slot < 100; slot += 7) {
    ASSERT_EQ(slab_.free_remote(slot), TSLAB_OK);
    freed.push_back(slot);
  }
  EXPECT_EQ(collect(), freed);
  EXPECT_EQ(slab_.live_blocks(), 100u - freed.size());
}
