// This file contains the tests of mixed lifetimes in one allocator: a long-lived
// epoch held outside the rotation (slab_epoch_open) next to rotating short
// epochs (epoch_advance), across many wraps of the ring.
#include <gtest/gtest.h>

#include <vector>

#include "slab_stats.h"
#include "test_util.h"

namespace {

std::uint64_t decommitted_bytes(SlabAllocator* a) {
  SlabGlobalStats g{};
  EXPECT_TRUE(slab_stats_global(a, &g));
  return g.decommit_bytes_total;
}

TEST(EpochOpen, HeldEpochSurvivesManyWrapsOfTheRotation) {
  SlabAllocatorOptions options{4};
  SlabAllocator* a = slab_allocator_create_with(&options);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(slab_set_warm_reserve(a, 0));  // so that the held epoch's close shows its pages going back
  const EpochId cache = slab_epoch_open(a);
  ASSERT_NE(cache, SLAB_NO_EPOCH);
  EXPECT_TRUE(slab_epoch_is_held(a, cache));
  EXPECT_EQ(slab_epoch_state(a, cache), EPOCH_ACTIVE);
  const std::uint64_t cache_era = slab_epoch_era(a, cache);
  std::vector<void*> kept;
  std::uint64_t tag = 0;
  for (int batch = 0; batch < 200; ++batch) {  // 50 wraps of a 4-slot ring
    const EpochId e = epoch_current(a);
    ASSERT_NE(e, cache) << "the rotation never makes a held slot current";
    std::vector<void*> temp;
    for (int i = 0; i < 100; ++i) {
      void* p = slab_malloc_epoch(a, 48 + 16 * (i % 8), e);
      ASSERT_NE(p, nullptr);
      temp.push_back(p);
      if (i % 10 == 0) {
        void* q = slab_malloc_epoch(a, 96, cache);  // the long-lived side keeps taking objects
        ASSERT_NE(q, nullptr);
        tslab_test::fill_pattern(q, 96, ++tag);
        kept.push_back(q);
      }
    }
    for (void* p : temp) ASSERT_TRUE(slab_free_checked(a, p));
    epoch_advance(a);
    ASSERT_EQ(slab_epoch_era(a, cache), cache_era) << "batch " << batch << ": the held slot was re-activated";
    ASSERT_EQ(slab_epoch_state(a, cache), EPOCH_ACTIVE);
  }
  for (std::size_t i = 0; i < kept.size(); ++i) ASSERT_TRUE(tslab_test::check_pattern(kept[i], 96, i + 1));
  EXPECT_SLAB_CHECK_OK(a);
  // Closing it ends the hold and returns its empty slabs' pages.
  for (void* q : kept) ASSERT_TRUE(slab_free_checked(a, q));
  const std::uint64_t before = decommitted_bytes(a);
  ASSERT_TRUE(epoch_close(a, cache));
  EXPECT_FALSE(slab_epoch_is_held(a, cache));
  EXPECT_EQ(slab_epoch_state(a, cache), EPOCH_CLOSING);
  EXPECT_GE(decommitted_bytes(a) - before, std::uint64_t{SLAB_PAGE_SIZE});
  EXPECT_EQ(slab_malloc_epoch(a, 96, cache), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  // ...and the slot rejoins the rotation.
  bool reached = false;
  for (int i = 0; i < 4; ++i) reached = reached || epoch_advance(a) == cache;
  EXPECT_TRUE(reached);
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

TEST(EpochOpen, EveryOtherSlotHeldRefusesAndRotatesInPlace) {
  SlabAllocatorOptions options{3};
  SlabAllocator* a = slab_allocator_create_with(&options);
  const EpochId x = slab_epoch_open(a), y = slab_epoch_open(a);
  ASSERT_NE(x, SLAB_NO_EPOCH);
  ASSERT_NE(y, SLAB_NO_EPOCH);
  EXPECT_NE(x, y);
  EXPECT_EQ(slab_epoch_open(a), SLAB_NO_EPOCH);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_NO_FREE_EPOCH);
  const EpochId cur = epoch_current(a);
  void* p = slab_malloc_epoch(a, 64, cur);
  ASSERT_NE(p, nullptr);
  const std::uint64_t era = slab_epoch_era(a, cur);
  EXPECT_EQ(epoch_advance(a), cur);  // the only slot in rotation
  EXPECT_GT(slab_epoch_era(a, cur), era);
  EXPECT_FALSE(epoch_close_era(a, cur, era));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_EPOCH);
  EXPECT_TRUE(slab_free_checked(a, p)) << "a block of the ended activation is still freed once";
  EXPECT_FALSE(slab_free_checked(a, p));
  // Closing a held slot frees it for the next open.
  ASSERT_TRUE(epoch_close(a, x));
  EXPECT_EQ(slab_epoch_open(a), x);
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

// Opening a slot whose creation-time activation is still open ends that
// activation: its blocks stay valid, new allocations get the held era.
TEST(EpochOpen, OpeningAnOpenSlotEndsItsPreviousActivation) {
  SlabAllocatorOptions options{4};
  SlabAllocator* a = slab_allocator_create_with(&options);
  void* old = slab_malloc_epoch(a, 128, 3);
  ASSERT_NE(old, nullptr);
  tslab_test::fill_pattern(old, 128, 7);
  const std::uint64_t old_era = slab_epoch_era(a, 3);
  ASSERT_EQ(slab_epoch_open(a), 3u);
  EXPECT_GT(slab_epoch_era(a, 3), old_era);
  EXPECT_FALSE(epoch_close_era(a, 3, old_era));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_EPOCH);
  void* fresh = slab_malloc_epoch(a, 128, 3);
  ASSERT_NE(fresh, nullptr);
  EXPECT_NE(tslab_test::slab_window(fresh), tslab_test::slab_window(old))
      << "two activations never share a slab";
  EXPECT_TRUE(tslab_test::check_pattern(old, 128, 7));
  EXPECT_TRUE(slab_free_checked(a, old));
  EXPECT_TRUE(slab_free_checked(a, fresh));
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

TEST(EpochOpen, BadAllocatorsAreRefused) {
  EXPECT_EQ(slab_epoch_open(nullptr), SLAB_NO_EPOCH);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_FALSE(slab_epoch_is_held(nullptr, 0));
  SlabAllocator* a = slab_allocator_create();
  EXPECT_FALSE(slab_epoch_is_held(a, SLAB_MAX_EPOCH_COUNT));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  slab_allocator_free(a);
  EXPECT_EQ(slab_epoch_open(a), SLAB_NO_EPOCH);  // destroyed: its record reads as dead
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
}

TEST(EpochOpen, CppApi) {
  tslab::Allocator alloc;
  const tslab::EpochId e = alloc.epoch_open();
  ASSERT_NE(e, SLAB_NO_EPOCH);
  EXPECT_TRUE(alloc.epoch_held(e));
  for (int i = 0; i < 40; ++i) EXPECT_NE(alloc.epoch_advance(), e);
  EXPECT_EQ(alloc.epoch_close(e), tslab::Error::ok);
  EXPECT_FALSE(alloc.epoch_held(e));
}

}  // namespace
