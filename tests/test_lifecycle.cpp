// Epoch lifecycle: closing an epoch returns its memory, recycled slabs are
// reused by later epochs, stale handles and stale (slot, era) requests are
// refused, collect() serves lifetime-unaware use, per-epoch metadata.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "test_util.h"
#include "tslab/options.h"
#include "tslab/tslab.hpp"

using tslab::Error;

namespace {

std::uint64_t new_slabs(const tslab::Allocator& a) {
  std::uint64_t n = 0;
  for (std::uint32_t c = 0; c < slab_size_class_count(); ++c) n += a.perf_counters(c).new_slab_count;
  return n;
}

std::uint64_t pool_reuses(const tslab::Allocator& a) {
  std::uint64_t n = 0;
  for (std::uint32_t c = 0; c < slab_size_class_count(); ++c) n += a.perf_counters(c).empty_slab_recycled;
  return n;
}

// The closes here record the process RSS around them (slab_epoch_info): on for
// the whole binary, before any allocator reads the options.
const bool g_close_rss = tslab_option_set("TSLAB_CLOSE_RSS", "1");

}  // namespace

// 256 MiB in one epoch, all freed, epoch closed: the allocator's own resident
// bytes (slabs, spans and metadata, measured with mincore) fall to <= 2% of the
// peak. Full size even under sanitizers: the bound is about proportions.
TEST(Lifecycle, ClosingAnEmptiedEpochReturnsItsPages) {
  tslab::Allocator a;
  constexpr std::size_t kBytes = std::size_t{256} << 20;
  constexpr std::size_t kSize = 256;
  std::vector<void*> blocks(kBytes / kSize);
  const tslab::EpochId e = 3;
  for (auto& p : blocks) {
    p = a.allocate(kSize, e);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xab, kSize);  // really resident
  }
  const std::uint64_t peak = a.resident_bytes();
  EXPECT_GE(peak, kBytes);
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_GE(a.resident_bytes(), kBytes) << "nothing may go back before the close";
  ASSERT_EQ(a.epoch_close(e), Error::ok);
  const std::uint64_t after = a.resident_bytes();
  // Beyond the warm reserve (kept committed for the next epochs), <= 2% stays.
  EXPECT_LE(after, peak / 50 + a.warm_reserve()) << "peak " << peak << " B, after close " << after << " B";
  EXPECT_ALLOCATOR_OK(a);
  const SlabEpochInfo info = a.epoch_info(e);
  EXPECT_EQ(info.live_count, 0u);
  EXPECT_EQ(info.state, EPOCH_CLOSING);
  ASSERT_TRUE(g_close_rss);
  EXPECT_GT(info.rss_before_close, info.rss_after_close);
}

// A slab of a closed epoch that still holds blocks returns its pages when its
// last block is freed, from the owner or from another thread.
TEST(Lifecycle, SlabsOfAClosedEpochEmptyingLaterReturnTheirPages) {
  tslab::Allocator a;
  const std::size_t n = tslab_test::scaled(200000);
  std::vector<void*> blocks(n);
  for (auto& p : blocks) {
    p = a.allocate(128, 2);
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, 128);
  }
  ASSERT_EQ(a.epoch_close(2), Error::ok);
  const std::uint64_t while_live = a.resident_bytes();
  EXPECT_GE(while_live, n * 128) << "live blocks keep their pages";
  EXPECT_EQ(a.allocate(128, 2), nullptr);
  EXPECT_EQ(tslab::last_error(), Error::epoch_closing);
  for (std::size_t i = 0; i < n / 2; ++i) ASSERT_EQ(a.deallocate(blocks[i]), Error::ok);
  std::thread other([&] {
    for (std::size_t i = n / 2; i < n; ++i) EXPECT_EQ(a.deallocate(blocks[i]), Error::ok);
  });
  other.join();
  EXPECT_LE(a.resident_bytes() + n * 128 * 9 / 10, while_live + a.warm_reserve())
      << "emptied slabs beyond the warm reserve gave their pages back";
  EXPECT_EQ(a.epoch_info(2).live_count, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

// Returned slabs are reused by later epochs without new OS memory, and handles
// into a recycled slab are refused (its generation moved on).
TEST(Lifecycle, RecycledSlabsServeLaterEpochsAndOldHandlesGoStale) {
  tslab::Allocator a;
  const std::size_t n = tslab_test::scaled(50000);
  std::vector<tslab::Handle> handles(n);
  for (auto& h : handles) {
    const tslab::Allocation x = a.allocate_with_handle(64, 1);
    ASSERT_NE(x.ptr, nullptr);
    h = x.handle;
  }
  for (tslab::Handle h : handles) ASSERT_EQ(a.free_handle(h), Error::ok);
  ASSERT_EQ(a.epoch_close(1), Error::ok);
  const std::uint64_t slabs_before = new_slabs(a);
  const std::uint64_t reuses_before = pool_reuses(a);
  std::vector<void*> again(n);
  for (auto& p : again) {
    p = a.allocate(64, 5);
    ASSERT_NE(p, nullptr);
  }
  EXPECT_EQ(new_slabs(a), slabs_before) << "the closed epoch's slabs were not reused";
  EXPECT_GT(pool_reuses(a), reuses_before);
  for (tslab::Handle h : handles) {
    EXPECT_NE(a.free_handle(h), Error::ok);
    EXPECT_EQ(a.handle_to_ptr(h), nullptr);
  }
  for (void* p : again) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// The ring wraps thousands of times; a close naming a past activation of a slot
// is refused and leaves the slot's current activation open.
TEST(Lifecycle, StaleEraClosesAreRefusedAcrossThousandsOfWraps) {
  tslab::Allocator a(tslab::Options{4, nullptr});
  std::uint64_t refused = 0;
  for (int round = 0; round < 5000; ++round) {
    const tslab::EpochId e = a.epoch_current();
    const std::uint64_t era = a.epoch_era(e);
    void* p = a.allocate(32, e);
    ASSERT_NE(p, nullptr);
    for (int k = 0; k < 4; ++k) a.epoch_advance();  // the slot comes round again
    ASSERT_EQ(a.epoch_current(), e);
    ASSERT_NE(a.epoch_era(e), era);
    EXPECT_EQ(a.epoch_close(e, era), Error::stale_epoch);
    EXPECT_EQ(tslab::last_error(), Error::stale_epoch);
    refused += a.epoch_state(e) == tslab::EpochState::active;
    EXPECT_EQ(a.epoch_close(e, a.epoch_era(e)), Error::ok) << "the current era closes";
    EXPECT_EQ(a.deallocate(p), Error::ok);
    a.epoch_advance();  // move on to an open slot for the next round
  }
  EXPECT_EQ(refused, 5000u);
  EXPECT_ALLOCATOR_OK(a);
}

// Lifetime-unaware use: everything in one open epoch, freed, collect() returns it.
TEST(Lifecycle, CollectReturnsEmptySlabsOfOpenEpochs) {
  tslab::Allocator a;
  const std::size_t n = tslab_test::scaled(400000);
  std::vector<void*> blocks(n);
  for (std::size_t i = 0; i < n; ++i) {
    blocks[i] = a.allocate(64 + (i % 8) * 96, 0);
    ASSERT_NE(blocks[i], nullptr);
    std::memset(blocks[i], 2, 64);
  }
  const std::uint64_t peak = a.resident_bytes();
  // Keep every 100th block (pinned), free the rest.
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 100 != 0) {
      ASSERT_EQ(a.deallocate(blocks[i]), Error::ok);
    }
  }
  const std::uint64_t returned = a.collect();
  EXPECT_GT(returned, 0u);
  const std::uint64_t after = a.resident_bytes();
  EXPECT_LT(after, peak) << "collect returned nothing";
  // Pinned blocks survive, and the epoch stays open and usable.
  for (std::size_t i = 0; i < n; i += 100) EXPECT_GE(a.usable_size(blocks[i]), 64u);
  void* p = a.allocate(64, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(p), Error::ok);
  for (std::size_t i = 0; i < n; i += 100) ASSERT_EQ(a.deallocate(blocks[i]), Error::ok);
  a.collect();
  EXPECT_LE(a.resident_bytes(), peak / 10);
  EXPECT_ALLOCATOR_OK(a);
}

// A thread that exits leaves its heap; collect() empties the abandoned cache.
TEST(Lifecycle, CollectReachesTheCachesOfExitedThreads) {
  tslab::Allocator a;
  const std::size_t n = tslab_test::scaled(100000);
  std::thread t([&] {
    std::vector<void*> blocks(n);
    for (auto& p : blocks) {
      p = a.allocate(128, 0);
      ASSERT_NE(p, nullptr);
      std::memset(p, 3, 128);
    }
    for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  });
  t.join();
  const std::uint64_t before = a.resident_bytes();
  EXPECT_GE(before, n * 128);
  a.collect();
  // At least 90% of the payload's pages went back (the rest of what stays is
  // metadata, a fixed cost that matters at the small sizes sanitizer runs use).
  EXPECT_LE(a.resident_bytes() + n * 128 * 9 / 10, before);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(Lifecycle, EpochMetadata) {
  tslab::Allocator a;
  const SlabEpochInfo fresh = a.epoch_info(6);
  EXPECT_EQ(fresh.state, EPOCH_ACTIVE);
  EXPECT_EQ(fresh.era, a.epoch_era(6));
  EXPECT_GT(fresh.open_since_ns, 0u);
  EXPECT_LE(fresh.open_since_ns, now_ns());
  EXPECT_EQ(fresh.live_count, 0u);
  EXPECT_STREQ(fresh.label, "");
  EXPECT_EQ(a.set_epoch_label(6, "request-batch-with-a-very-long-name-indeed"), Error::ok);
  EXPECT_EQ(std::strlen(a.epoch_info(6).label), SLAB_EPOCH_LABEL_SIZE - 1);
  EXPECT_EQ(a.set_epoch_label(99, "x"), Error::epoch_out_of_range);
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(a.allocate(48, 6));
  blocks.push_back(a.allocate(100000, 6));  // a span of its own counts too
  EXPECT_EQ(a.epoch_info(6).live_count, 1001u);
  SlabAllocator* c = reinterpret_cast<SlabAllocator*>(a.core());
  EXPECT_EQ(slab_epoch_inc_refcount(c, 6), 1u);
  EXPECT_EQ(slab_epoch_inc_refcount(c, 6), 2u);
  EXPECT_EQ(slab_epoch_get_refcount(c, 6), 2u);
  EXPECT_EQ(slab_epoch_dec_refcount(c, 6), 1u);
  EXPECT_EQ(slab_epoch_dec_refcount(c, 6), 0u);
  EXPECT_EQ(slab_epoch_dec_refcount(c, 6), 0u) << "never below zero";
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_EQ(a.epoch_info(6).live_count, 0u);
  SlabEpochInfo info;
  EXPECT_FALSE(slab_epoch_info(c, 99, &info));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  EXPECT_FALSE(slab_epoch_info(c, 1, nullptr));
}

// When every slab of a segment is back in the pool, the segment's metadata pages
// go back too (dormant). Stale handles into it are refused while it sleeps and
// after it wakes to serve a later epoch; waking needs no new OS memory.
TEST(Lifecycle, DormantSegmentsRefuseStaleHandlesAndWakeForLaterEpochs) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);   // warm slabs keep their segment awake
  const std::size_t n = 4 * 64 * (65536 / 256);  // four segments' worth of 256 B blocks
  std::vector<tslab::Handle> handles(n);
  for (auto& h : handles) {
    const tslab::Allocation x = a.allocate_with_handle(256, 1);
    ASSERT_NE(x.ptr, nullptr);
    h = x.handle;
  }
  const std::uint64_t resident_full = a.resident_bytes();
  for (tslab::Handle h : handles) ASSERT_EQ(a.free_handle(h), Error::ok);
  ASSERT_EQ(a.epoch_close(1), Error::ok);
  EXPECT_LE(a.resident_bytes(), resident_full / 100) << "data and metadata pages both went back";
  for (std::size_t i = 0; i < n; i += 97) {
    EXPECT_NE(a.free_handle(handles[i]), Error::ok);
    EXPECT_EQ(a.handle_to_ptr(handles[i]), nullptr);
  }
  EXPECT_ALLOCATOR_OK(a);
  const std::uint64_t slabs_before = new_slabs(a);
  std::vector<void*> again(n);
  for (auto& p : again) {
    p = a.allocate(256, 7);
    ASSERT_NE(p, nullptr);
  }
  EXPECT_EQ(new_slabs(a), slabs_before) << "dormant segments should serve the new epoch";
  for (std::size_t i = 0; i < n; i += 97) EXPECT_NE(a.free_handle(handles[i]), Error::ok);
  for (void* p : again) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// collect() also returns free 4 KiB pages inside slabs that still hold live
// blocks; the blocks on those pages come back into use when the bin runs dry.
TEST(Lifecycle, CollectReturnsFreePagesInsidePartlyUsedSlabs) {
  tslab::Allocator a;
  const std::size_t n = tslab_test::scaled(200000);
  std::vector<char*> blocks(n);
  for (std::size_t i = 0; i < n; ++i) {
    blocks[i] = static_cast<char*>(a.allocate(256, 0));
    ASSERT_NE(blocks[i], nullptr);
    std::memset(blocks[i], static_cast<int>(i & 0xff), 256);
  }
  const std::uint64_t full = a.resident_bytes();
  // Keep every 64th block: each 64 KiB slab keeps 4 blocks, so no slab empties,
  // but most of its 4 KiB pages hold none.
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 64 != 0) {
      ASSERT_EQ(a.deallocate(blocks[i]), Error::ok);
    }
  }
  EXPECT_GT(a.collect(), n * 256 / 2) << "free pages inside partly used slabs went back";
  EXPECT_LE(a.resident_bytes(), full / 2);
  for (std::size_t i = 0; i < n; i += 64) {
    ASSERT_EQ(blocks[i][0], static_cast<char>(i & 0xff));
    ASSERT_EQ(blocks[i][255], static_cast<char>(i & 0xff));
  }
  EXPECT_ALLOCATOR_OK(a);
  // The purged pages' blocks serve new allocations without new slabs.
  const std::uint64_t slabs_before = new_slabs(a);
  std::vector<void*> again(n - n / 64 - 1);
  for (auto& p : again) {
    p = a.allocate(256, 0);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x5a, 256);
  }
  EXPECT_EQ(new_slabs(a), slabs_before);
  for (std::size_t i = 0; i < n; i += 64) ASSERT_EQ(blocks[i][7], static_cast<char>(i & 0xff));
  EXPECT_ALLOCATOR_OK(a);
  for (void* p : again) ASSERT_EQ(a.deallocate(p), Error::ok);
  for (std::size_t i = 0; i < n; i += 64) ASSERT_EQ(a.deallocate(blocks[i]), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}
