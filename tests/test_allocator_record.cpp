// This file contains the tests of an allocator's record: the object and the
// per-slot tables that follow it (AllocatorCore::tail_bytes). The tables are
// laid out for the allocator's slots and never written whole: they start as the
// record's zero pages. Before, they were arrays of 256 slots inside the object,
// which its constructor wrote whole: 64 KiB committed per allocator, whatever
// its slots, and again for the dead allocator left in the record at its end.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/allocator_core.h"
#include "slab_alloc.h"
#include "slab_arena.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace td = tslab::detail;

namespace {

std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

// The bytes every record is reserved for: the object and the tables of the most slots.
std::size_t record_bytes() {
  const std::size_t page = page_size();
  return (sizeof(td::AllocatorCore) + td::AllocatorCore::tail_bytes(SLAB_MAX_EPOCH_COUNT) + page - 1) / page *
         page;
}

// Pages of [p, p + size) the process has mapped in (written, or read).
std::size_t resident_pages(const void* p, std::size_t size) {
  std::vector<unsigned char> pages(size / page_size());
  if (::mincore(const_cast<void*>(p), size, pages.data()) != 0) return SIZE_MAX;
  std::size_t n = 0;
  for (unsigned char v : pages) n += v & 1;
  return n;
}

std::size_t pages_for(std::size_t bytes) { return (bytes + page_size() - 1) / page_size(); }

}  // namespace

// An allocator of 16 slots, every slot used (allocated into, labelled, closed,
// reopened, its statistics read), has the pages of its object and of 16 slots'
// tables in its record, not of 256: 4 pages at most where it had 16.
TEST(AllocatorRecord, AnAllocatorCommitsThePagesOfItsOwnSlotsOnly) {
  tslab::Options options;
  options.epoch_count = 16;
  tslab::Allocator a(options);
  const td::AllocatorCore* core = a.core();
  SlabAllocator* c = a.c_allocator();
  for (EpochId e = 0; e < 16; ++e) {
    void* p = slab_malloc_epoch(c, 64, e);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(slab_epoch_set_label(c, e, "phase"));
    ASSERT_TRUE(slab_free_checked(c, p));
    ASSERT_TRUE(slab_epoch_close(c, e));
    SlabEpochStats stats;
    stats.size = sizeof stats;
    ASSERT_TRUE(slab_stats_epoch(c, SLAB_STATS_ALL_CLASSES, e, &stats));
    EXPECT_EQ(stats.closes_total, 1u);
  }
  for (EpochId e = 0; e < 32; ++e) slab_epoch_advance(c);
  const std::size_t used = pages_for(sizeof(td::AllocatorCore) + td::AllocatorCore::tail_bytes(16));
  const std::size_t resident = resident_pages(core, record_bytes());
  EXPECT_LE(resident, used) << "of " << record_bytes() / page_size() << " pages";
  EXPECT_LT(resident, pages_for(64 * 1024)) << "the tables of 256 slots took 16 pages";
  EXPECT_SLAB_CHECK_OK(c);
}

// The dead allocator that takes a destroyed one's place keeps only its object's
// pages in the record: the destroy decommits it and the dead one has no slots.
TEST(AllocatorRecord, ADestroyedAllocatorLeavesOnlyADeadObjectResident) {
  SlabAllocator* c = slab_allocator_create_with(nullptr);
  ASSERT_NE(c, nullptr);
  const void* record = nullptr;
  {
    SlabAllocatorOptions o;
    std::memset(&o, 0, sizeof o);
    o.epoch_count = SLAB_MAX_EPOCH_COUNT;
    slab_allocator_free(c);
    c = slab_allocator_create_with(&o);
    ASSERT_NE(c, nullptr);
  }
  record = c;
  for (EpochId e = 0; e < SLAB_MAX_EPOCH_COUNT; ++e) ASSERT_TRUE(slab_epoch_set_label(c, e, "every slot"));
  EXPECT_GE(resident_pages(record, record_bytes()), pages_for(SLAB_MAX_EPOCH_COUNT * SLAB_EPOCH_LABEL_SIZE));
  slab_allocator_free(c);
  EXPECT_LE(resident_pages(record, record_bytes()), pages_for(sizeof(td::AllocatorCore)));
  EXPECT_EQ(slab_epoch_count(c), 0u) << "a stale pointer meets the dead allocator";
}

// A record that held an allocator whose every table was written (labels,
// holds, domain counts, closes, a destroy, live blocks) gives the allocator
// that reuses it tables as fresh as a new record's.
TEST(AllocatorRecord, AReusedRecordsTablesStartAsANewRecords) {
  SlabAllocatorOptions o;
  std::memset(&o, 0, sizeof o);
  o.epoch_count = SLAB_MAX_EPOCH_COUNT;
  SlabAllocator* old_one = slab_allocator_create_with(&o);
  ASSERT_NE(old_one, nullptr);
  for (EpochId e = 0; e < SLAB_MAX_EPOCH_COUNT; ++e) {
    ASSERT_TRUE(slab_epoch_set_label(old_one, e, "old label"));
    ASSERT_NE(slab_malloc_epoch(old_one, 64 + e, e), nullptr);  // left live
    ASSERT_EQ(slab_epoch_inc_refcount(old_one, e), 1u);
  }
  for (int i = 0; i < 8; ++i) ASSERT_NE(slab_epoch_open(old_one), SLAB_NO_EPOCH);
  for (EpochId e = 0; e < SLAB_MAX_EPOCH_COUNT; e += 3) ASSERT_TRUE(slab_epoch_close(old_one, e));
  std::uint64_t released = 0;
  ASSERT_TRUE(slab_epoch_destroy(old_one, 1, &released));
  EXPECT_EQ(released, 1u);
  slab_allocator_free(old_one);

  SlabAllocator* b = nullptr;
  for (int i = 0; i < 1000 && b == nullptr; ++i) {
    SlabAllocator* c = slab_allocator_create_with(&o);
    ASSERT_NE(c, nullptr);
    if (c == old_one)
      b = c;
    else
      slab_allocator_free(c);
  }
  ASSERT_EQ(b, old_one) << "the record was never reused";
  for (EpochId e = 0; e < SLAB_MAX_EPOCH_COUNT; ++e) {
    SlabEpochInfo info;
    ASSERT_TRUE(slab_epoch_info(b, e, &info));
    EXPECT_EQ(info.state, EPOCH_ACTIVE) << e;
    EXPECT_EQ(info.refcount, 0u) << e;
    EXPECT_EQ(info.live_count, 0u) << e;
    EXPECT_STREQ(info.label, "") << e;
    EXPECT_FALSE(slab_epoch_is_held(b, e)) << e;
    SlabEpochStats stats;
    stats.size = sizeof stats;
    ASSERT_TRUE(slab_stats_epoch(b, SLAB_STATS_ALL_CLASSES, e, &stats));
    EXPECT_EQ(stats.closes_total, 0u) << e;
    EXPECT_EQ(stats.last_close_live_blocks, 0u) << e;
  }
  // Slot 1's destroy is the old allocator's: an arena of the new one's slot 1 is not refused.
  SlabArenaOptions ao;
  ASSERT_TRUE(slab_arena_options_init(&ao));
  ao.epoch = 1;
  SlabArena* arena = slab_arena_create(b, &ao);
  EXPECT_NE(arena, nullptr) << slab_last_error();
  if (arena != nullptr) {
    EXPECT_TRUE(slab_arena_destroy(arena));
  }
  for (EpochId e = 0; e < SLAB_MAX_EPOCH_COUNT; ++e) {
    void* p = slab_malloc_epoch(b, 64, e);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(slab_free_checked(b, p));
  }
  EXPECT_SLAB_CHECK_OK(b);
  slab_allocator_free(b);
}
