// This file contains the tests of tslab in a process whose address space is
// capped (RLIMIT_AS) before tslab reserved anything: the first allocator is
// created under the cap, so everything tslab reserves up front must fit in it.
// RLIMIT_AS counts reservations without backing too, so a large reservation
// made at start, even never touched, would make creation fail here.
//
// Each scenario runs in a forked child of a test process that never uses tslab
// itself (tests/capped_child.h), so the child starts with nothing reserved.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "capped_child.h"
#include "slab_alloc.h"
#include "test_util.h"

namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;
// Address space the child may add to what it uses when the cap is set.
constexpr std::size_t MARGIN = 64 * MiB;

constexpr std::size_t SMALL_SIZES[] = {16, 48, 128, 256, 1000, 4000};
constexpr std::size_t SMALL_COUNT = sizeof(SMALL_SIZES) / sizeof(SMALL_SIZES[0]);
constexpr std::size_t BLOCKS = 4000;
constexpr std::size_t HANDLES = 500;
constexpr std::size_t LARGE_SIZES[] = {70000, 300000};  // a large span each

struct LiveBlock {
  void* p;
  std::size_t size;
  std::uint64_t tag;
};

void check_slab_allocator(SlabAllocator* alloc, const char* when) {
  char message[256] = {};
  CHILD_CHECK(slab_check(alloc, message, sizeof message), "%s: %s", when, message);
}

// BLOCKS small blocks of every size and the large ones, each filled with its pattern.
void allocate_blocks(SlabAllocator* alloc, std::vector<LiveBlock>& live, std::uint64_t first_tag) {
  const EpochId epoch = epoch_current(alloc);
  for (std::size_t i = 0; i < BLOCKS + sizeof(LARGE_SIZES) / sizeof(LARGE_SIZES[0]); ++i) {
    const std::size_t size = i < BLOCKS ? SMALL_SIZES[i % SMALL_COUNT] : LARGE_SIZES[i - BLOCKS];
    void* p = slab_malloc_epoch(alloc, size, epoch);
    CHILD_CHECK(p != nullptr, "block %zu of %zu bytes under the cap: %s", i, size,
                slab_error_string(slab_last_error()));
    tslab_test::fill_pattern(p, size, first_tag + i);
    live.push_back({p, size, first_tag + i});
  }
}

void free_blocks(SlabAllocator* alloc, std::vector<LiveBlock>& live) {
  for (const LiveBlock& b : live) {
    CHILD_CHECK(tslab_test::check_pattern(b.p, b.size, b.tag), "a block of %zu bytes lost its pattern",
                b.size);
    CHILD_CHECK(slab_free_checked(alloc, b.p), "free of %zu bytes: %s", b.size,
                slab_error_string(slab_last_error()));
  }
  live.clear();
}

void allocator_created_under_the_cap() {
  std::vector<LiveBlock> live;
  live.reserve(2 * BLOCKS);
  tslab_test::cap_address_space(MARGIN);

  SlabAllocator* alloc = slab_allocator_create();
  CHILD_CHECK(alloc != nullptr, "allocator created under a cap of VmSize + 64 MiB: %s",
              slab_error_string(slab_last_error()));
  for (int round = 0; round < 2; ++round) {
    allocate_blocks(alloc, live, 1 + round * 10000);
    check_slab_allocator(alloc, "with the blocks live");
    free_blocks(alloc, live);
    check_slab_allocator(alloc, "after the frees");
  }
  SlabHandle handles[HANDLES];
  for (std::size_t i = 0; i < HANDLES; ++i) {
    CHILD_CHECK(alloc_obj_epoch(alloc, 200, epoch_current(alloc), &handles[i]) != nullptr,
                "handle block %zu: %s", i, slab_error_string(slab_last_error()));
  }
  for (SlabHandle h : handles)
    CHILD_CHECK(free_obj(alloc, h), "free_obj: %s", slab_error_string(slab_last_error()));
  check_slab_allocator(alloc, "at the end");
  slab_allocator_free(alloc);
}

// Allocates blocks of `size` until refused, which must be out of memory.
void fill_until_refused(SlabAllocator* alloc, std::size_t size, std::vector<LiveBlock>& live) {
  const EpochId epoch = epoch_current(alloc);
  for (;;) {
    void* p = slab_malloc_epoch(alloc, size, epoch);
    if (p == nullptr) {
      CHILD_CHECK(slab_last_error() == TSLAB_ERR_OUT_OF_MEMORY, "%zu bytes refused with %s", size,
                  slab_error_string(slab_last_error()));
      return;
    }
    CHILD_CHECK(live.size() < live.capacity(), "%zu bytes never ran out of memory", size);
    tslab_test::fill_pattern(p, size, live.size() + 1);
    live.push_back({p, size, live.size() + 1});
  }
}

void out_of_memory_under_the_cap() {
  std::vector<LiveBlock> live;
  live.reserve(std::size_t{1} << 20);
  tslab_test::cap_address_space(MARGIN);

  SlabAllocator* alloc = slab_allocator_create();
  CHILD_CHECK(alloc != nullptr, "allocator created under a cap of VmSize + 64 MiB: %s",
              slab_error_string(slab_last_error()));
  fill_until_refused(alloc, 16384, live);
  const std::size_t filled = live.size();
  CHILD_CHECK(filled * 16384 >= 8 * MiB, "only %zu blocks of 16 KiB under a cap of VmSize + 64 MiB", filled);
  fill_until_refused(alloc, 1000, live);
  CHILD_CHECK(slab_malloc_epoch(alloc, 8 * MiB, epoch_current(alloc)) == nullptr,
              "8 MiB under the exhausted cap");
  CHILD_CHECK(slab_last_error() == TSLAB_ERR_OUT_OF_MEMORY, "8 MiB refused with %s",
              slab_error_string(slab_last_error()));
  check_slab_allocator(alloc, "after running out");

  // Every second block goes; as many of each size come back, without new memory.
  std::vector<LiveBlock> kept;
  kept.reserve(live.size());
  std::size_t freed_big = 0, freed_small = 0;
  for (std::size_t i = 0; i < live.size(); ++i) {
    const LiveBlock& b = live[i];
    CHILD_CHECK(tslab_test::check_pattern(b.p, b.size, b.tag), "a block of %zu bytes lost its pattern",
                b.size);
    if (i % 2 == 0) {
      kept.push_back(b);
      continue;
    }
    CHILD_CHECK(slab_free_checked(alloc, b.p), "free: %s", slab_error_string(slab_last_error()));
    ++(b.size == 16384 ? freed_big : freed_small);
  }
  const EpochId epoch = epoch_current(alloc);
  for (std::size_t i = 0; i < freed_big + freed_small; ++i) {
    const std::size_t size = i < freed_big ? 16384 : 1000;
    void* p = slab_malloc_epoch(alloc, size, epoch);
    CHILD_CHECK(p != nullptr, "%zu bytes after frees, under the cap: %s", size,
                slab_error_string(slab_last_error()));
    kept.push_back({p, size, 0});
    tslab_test::fill_pattern(p, size, 0);
  }
  check_slab_allocator(alloc, "after freeing and allocating again");

  tslab_test::lift_address_space_cap();
  void* big = slab_malloc_epoch(alloc, 8 * MiB, epoch);
  CHILD_CHECK(big != nullptr, "8 MiB with the cap lifted: %s", slab_error_string(slab_last_error()));
  CHILD_CHECK(slab_free_checked(alloc, big), "free of 8 MiB");
  free_blocks(alloc, kept);
  check_slab_allocator(alloc, "at the end");
  slab_allocator_free(alloc);
}

// Blocks of 4, 8, ... 400 MiB, each freed before the next: 20 GiB in all, never
// more than 400 MiB live. The ranges of freed spans go back to the OS, so each
// block fits under a cap of VmSize + 512 MiB.
void growing_blocks_under_the_cap() {
  tslab_test::cap_address_space(512 * MiB);
  SlabAllocator* alloc = slab_allocator_create();
  CHILD_CHECK(alloc != nullptr, "allocator created under a cap: %s", slab_error_string(slab_last_error()));
  for (std::size_t k = 1; k <= 100; ++k) {
    const std::size_t size = k * 4 * MiB;
    auto* p = static_cast<unsigned char*>(slab_malloc_epoch(alloc, size, epoch_current(alloc)));
    CHILD_CHECK(p != nullptr, "block of %zu MiB under the cap: %s", size / MiB,
                slab_error_string(slab_last_error()));
    p[0] = p[size - 1] = 1;
    CHILD_CHECK(slab_free_checked(alloc, p), "free of %zu MiB: %s", size / MiB,
                slab_error_string(slab_last_error()));
  }
  check_slab_allocator(alloc, "at the end");
  slab_allocator_free(alloc);
}

// Blocks of 100 KB until the cap refuses one, all freed; blocks of `big` bytes
// until refused, all freed; then blocks of 100 KB again: as many fit as the
// first time. Before, each took a freed span of `big` bytes as its own (the
// stash and the cache handed out any span large enough), so the freed spans'
// address space stayed under the small blocks: 326 fitted after 1 MiB blocks
// where 2,174 had, 633 after 3 MiB ones.
void small_blocks_after_large_ones_freed(std::size_t big) {
  tslab_test::cap_address_space(256 * MiB);
  SlabAllocator* alloc = slab_allocator_create();
  CHILD_CHECK(alloc != nullptr, "allocator created under a cap: %s", slab_error_string(slab_last_error()));
  std::vector<LiveBlock> live;
  live.reserve(100000);
  fill_until_refused(alloc, 100000, live);
  const std::size_t first = live.size();
  CHILD_CHECK(first >= 1000, "only %zu blocks of 100 KB under a cap of VmSize + 256 MiB", first);
  free_blocks(alloc, live);
  fill_until_refused(alloc, big, live);
  CHILD_CHECK(live.size() * big >= 128 * MiB, "only %zu blocks of %zu bytes", live.size(), big);
  free_blocks(alloc, live);
  fill_until_refused(alloc, 100000, live);
  CHILD_CHECK(live.size() >= first * 9 / 10,
              "%zu blocks of 100 KB after the large ones were freed, %zu before", live.size(), first);
  free_blocks(alloc, live);
  check_slab_allocator(alloc, "at the end");
  slab_allocator_free(alloc);
}

// Blocks of 4 MiB until the cap refuses one, all freed; small blocks until
// refused, all freed and collected (their segments' slabs all go back to the
// pool: the segments go dormant); then blocks of 4 MiB again: as many fit as
// the first time, and then as many small blocks. Before, a dormant segment kept
// its 4 MiB range for good: no block of 4 MiB fitted where 61 had.
void large_blocks_after_small_ones_freed() {
  std::vector<LiveBlock> live;
  live.reserve(200000);  // before the cap: the vector's own memory is not the allocator's
  tslab_test::cap_address_space(256 * MiB);
  SlabAllocator* alloc = slab_allocator_create();
  CHILD_CHECK(alloc != nullptr, "allocator created under a cap: %s", slab_error_string(slab_last_error()));
  fill_until_refused(alloc, 4 * MiB, live);
  const std::size_t large_first = live.size();
  CHILD_CHECK(large_first >= 32, "only %zu blocks of 4 MiB under a cap of VmSize + 256 MiB", large_first);
  free_blocks(alloc, live);
  fill_until_refused(alloc, 2000, live);
  const std::size_t small_first = live.size();
  free_blocks(alloc, live);
  slab_collect(alloc);
  fill_until_refused(alloc, 4 * MiB, live);
  CHILD_CHECK(live.size() >= large_first * 9 / 10,
              "%zu blocks of 4 MiB after the small ones were freed, %zu before", live.size(), large_first);
  free_blocks(alloc, live);
  fill_until_refused(alloc, 2000, live);
  CHILD_CHECK(live.size() >= small_first * 9 / 10,
              "%zu blocks of 2,000 bytes after the large ones were freed, %zu before", live.size(),
              small_first);
  free_blocks(alloc, live);
  check_slab_allocator(alloc, "at the end");
  slab_allocator_free(alloc);
}

TEST(AddressSpaceCap, LargeBlocksAfterFreedSmallOnesFitAsManyAsBefore) {
  tslab_test::expect_capped_child_passes(large_blocks_after_small_ones_freed);
}

TEST(AddressSpaceCap, SmallBlocksAfterFreedLargeOnesFitAsManyAsBefore) {
  tslab_test::expect_capped_child_passes([] { small_blocks_after_large_ones_freed(MiB); });
  tslab_test::expect_capped_child_passes([] { small_blocks_after_large_ones_freed(3 * MiB); });
}

TEST(AddressSpaceCap, FreedSpansGiveTheirAddressSpaceBack) {
  tslab_test::expect_capped_child_passes(growing_blocks_under_the_cap);
}

TEST(AddressSpaceCap, AnAllocatorCreatedUnderACapWorks) {
  tslab_test::expect_capped_child_passes(allocator_created_under_the_cap);
}

TEST(AddressSpaceCap, RunningOutUnderACapFailsCleanlyAndFreesServeAgain) {
  tslab_test::expect_capped_child_passes(out_of_memory_under_the_cap);
}

}  // namespace
