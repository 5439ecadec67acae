// This file contains the tests of the handle law (DESIGN.md law 5): a handle is
// accepted only by the allocator that issued it, however many allocators come
// and go, and a stale handle is never accepted again, however often its slab is
// reused: an id whose generation would wrap is retired. The first two tests are
// the reproducers of the 12-bit allocator tag and the 17-bit generation.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "handle/handle.h"
#include "handle/registry.h"
#include "segment/segment_map.h"
#include "size_class/size_classes.h"
#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

namespace td = tslab::detail;

std::uint32_t slab_id_of(const void* p) { return td::small_slab_of(p)->id; }

TEST(HandleExactness, ForeignHandleRefusedHoweverManyAllocatorsCome) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  SlabHandle ha = 0;
  void* pa = alloc_obj_epoch(a, 64, 0, &ha);
  ASSERT_NE(pa, nullptr);
  // With a 12-bit tag from the allocator's serial number, the 4,181st allocator
  // created after `a` had a's tag, and its first block the same slab id,
  // generation and slot as a's: it accepted a's handle and freed its own block.
  for (int i = 0; i < 5000; ++i) {
    SlabAllocator* b = slab_allocator_create();
    ASSERT_NE(b, nullptr);
    SlabHandle hb = 0;
    void* pb = alloc_obj_epoch(b, 64, 0, &hb);
    ASSERT_NE(pb, nullptr);
    ASSERT_FALSE(free_obj(b, ha)) << "allocator " << i << " accepted another allocator's handle";
    ASSERT_EQ(slab_last_error(), TSLAB_ERR_FOREIGN);
    ASSERT_EQ(slab_handle_to_ptr(b, hb), pb) << "b's own block must still be live";
    ASSERT_TRUE(free_obj(b, hb));
    slab_allocator_free(b);
  }
  EXPECT_EQ(slab_handle_to_ptr(a, ha), pa);
  EXPECT_TRUE(free_obj(a, ha));
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

TEST(HandleExactness, HandleOfADestroyedAllocatorIsStaleForTheNextOwnerOfItsIds) {
  SlabAllocator* gone = slab_allocator_create();
  ASSERT_NE(gone, nullptr);
  std::vector<SlabHandle> old(100);
  for (SlabHandle& h : old) ASSERT_NE(alloc_obj_epoch(gone, 64, 0, &h), nullptr);
  slab_allocator_free(gone);
  // The next allocator takes the freed ids; its blocks sit where the old ones did.
  SlabAllocator* next = slab_allocator_create();
  ASSERT_NE(next, nullptr);
  std::vector<SlabHandle> mine(100);
  for (SlabHandle& h : mine) ASSERT_NE(alloc_obj_epoch(next, 64, 0, &h), nullptr);
  std::set<std::uint32_t> old_ids, new_ids;
  for (SlabHandle h : old) old_ids.insert(td::handle_decode(h).slab_id);
  for (SlabHandle h : mine) new_ids.insert(td::handle_decode(h).slab_id);
  EXPECT_EQ(old_ids, new_ids) << "expected the ids to be reused (the case under test)";
  for (SlabHandle h : old) {
    EXPECT_FALSE(free_obj(next, h));
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_HANDLE);
  }
  for (SlabHandle h : mine) EXPECT_TRUE(free_obj(next, h)) << "a stale probe freed a live block";
  EXPECT_SLAB_CHECK_OK(next);
  slab_allocator_free(next);
}

TEST(HandleExactness, StaleHandleRefusedAfterMoreReusesThanA17BitGeneration) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  SlabHandle h0 = 0;
  void* p0 = alloc_obj_epoch(a, 64, epoch_current(a), &h0);
  ASSERT_NE(p0, nullptr);
  ASSERT_TRUE(free_obj(a, h0));
  epoch_advance(a);
  // Each round reuses the same slab with its generation moved on. A 17-bit
  // generation came back to h0's after 131,072 rounds, and h0 freed the block of
  // that round.
  const std::uint32_t rounds = (1u << 17) + 2;
  std::uint32_t same_slab = 0;
  for (std::uint32_t i = 0; i < rounds; ++i) {
    SlabHandle h = 0;
    void* p = alloc_obj_epoch(a, 64, epoch_current(a), &h);
    ASSERT_NE(p, nullptr);
    same_slab += p == p0;
    ASSERT_NE(h, h0) << "round " << i;
    ASSERT_FALSE(free_obj(a, h0)) << "round " << i << ": a stale handle freed a live block";
    ASSERT_TRUE(free_obj(a, h)) << "round " << i;
    epoch_advance(a);
  }
  EXPECT_GT(same_slab, rounds / 2) << "the rounds were meant to reuse one slab";
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

TEST(HandleExactness, SlabWhoseGenerationRunsOutIsRetiredNeverReused) {
  tslab::Allocator a;
  tslab::Allocation first = a.allocate_with_handle(64, a.epoch_current());
  ASSERT_NE(first.ptr, nullptr);
  const std::uint32_t id = slab_id_of(first.ptr);
  const std::uintptr_t window = tslab_test::slab_window(first.ptr);
  // Two lives left on this slab's id.
  td::registry_set_generation_for_testing(id, td::HANDLE_GEN_MASK - 1);
  ASSERT_EQ(a.free_handle(first.handle), tslab::Error::stale_handle) << "its generation moved under it";
  ASSERT_EQ(a.deallocate(first.ptr), tslab::Error::ok);
  a.epoch_advance();  // recycles the slab: generation HANDLE_GEN_MASK, its last
  tslab::Allocation last = a.allocate_with_handle(64, a.epoch_current());
  ASSERT_NE(last.ptr, nullptr);
  ASSERT_EQ(slab_id_of(last.ptr), id) << "expected the slab's last life";
  EXPECT_EQ(td::handle_decode(last.handle).generation, td::HANDLE_GEN_MASK);
  ASSERT_EQ(a.free_handle(last.handle), tslab::Error::ok);
  a.epoch_advance();  // no generation left: retired
  EXPECT_EQ(td::registry_current_generation(id), td::GEN_RETIRED);
  // However much the allocator churns, the retired slab is never used again, and
  // none of its handles is accepted.
  for (int round = 0; round < 200; ++round) {
    std::vector<tslab::Allocation> blocks;
    for (int i = 0; i < 2000; ++i) {
      blocks.push_back(a.allocate_with_handle(64, a.epoch_current()));
      ASSERT_NE(blocks.back().ptr, nullptr);
      ASSERT_NE(tslab_test::slab_window(blocks.back().ptr), window) << "a retired slab was reused";
    }
    EXPECT_NE(a.free_handle(first.handle), tslab::Error::ok);
    EXPECT_NE(a.free_handle(last.handle), tslab::Error::ok);
    for (const tslab::Allocation& b : blocks) ASSERT_EQ(a.free_handle(b.handle), tslab::Error::ok);
    a.epoch_advance();
  }
  EXPECT_ALLOCATOR_OK(a);
}

TEST(HandleExactness, RetiredSlabStaysOutWhenItsSegmentSleepsAndWakes) {
  tslab::Allocator a;
  const std::uint32_t capacity = td::class_capacity(td::class_of_size(td::MAX_SMALL_SIZE));
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < td::SLABS_PER_SEGMENT * capacity; ++i) {
    blocks.push_back(a.allocate(td::MAX_SMALL_SIZE, a.epoch_current()));
    ASSERT_NE(blocks.back(), nullptr);
  }
  const std::uint32_t id = slab_id_of(blocks[7 * capacity]);
  const std::uintptr_t window = tslab_test::slab_window(blocks[7 * capacity]);
  td::registry_set_generation_for_testing(id, td::HANDLE_GEN_MASK);
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
  blocks.clear();
  a.epoch_advance();  // every slab recycled, one retired: the segment goes dormant
  EXPECT_EQ(td::registry_current_generation(id), td::GEN_RETIRED);
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < td::SLABS_PER_SEGMENT * capacity; ++i) {
      blocks.push_back(a.allocate(td::MAX_SMALL_SIZE, a.epoch_current()));
      ASSERT_NE(blocks.back(), nullptr);
      ASSERT_NE(tslab_test::slab_window(blocks.back()), window) << "a retired slab was reused";
    }
    EXPECT_ALLOCATOR_OK(a);
    for (void* p : blocks) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
    blocks.clear();
    a.epoch_advance();
  }
  EXPECT_ALLOCATOR_OK(a);
}

TEST(HandleExactness, LargeSpanWhoseGenerationRunsOutIsNeverReused) {
  tslab::Allocator a;
  constexpr std::size_t SIZE = 1 << 20;
  tslab::Allocation big = a.allocate_with_handle(SIZE, 0);
  ASSERT_NE(big.ptr, nullptr);
  const td::HandleParts parts = td::handle_decode(big.handle);
  td::registry_set_generation_for_testing(parts.slab_id, td::HANDLE_GEN_MASK);
  // The handle names the old generation now; free by pointer.
  ASSERT_EQ(a.deallocate(big.ptr), tslab::Error::ok);
  for (int i = 0; i < 10; ++i) {
    tslab::Allocation next = a.allocate_with_handle(SIZE, 0);
    ASSERT_NE(next.ptr, nullptr);
    EXPECT_NE(td::handle_decode(next.handle).slab_id, parts.slab_id) << "a retired span was reused";
    EXPECT_NE(a.free_handle(big.handle), tslab::Error::ok);
    ASSERT_EQ(a.free_handle(next.handle), tslab::Error::ok);
  }
  EXPECT_ALLOCATOR_OK(a);
}

TEST(HandleExactness, GarbageHandlesAreRefused) {
  tslab::Allocator a;
  tslab::Allocation live = a.allocate_with_handle(64, 0);
  ASSERT_NE(live.ptr, nullptr);
  tslab_test::Rng rng(99);
  for (int i = 0; i < 200000; ++i) {
    std::uint64_t h = rng.next();
    if (i % 3 == 0) h ^= live.handle & 0x0000000FFFFFF000ull;  // a real id, random slot and generation
    if (h == live.handle) continue;
    const tslab::Error e = a.free_handle(h);
    ASSERT_NE(e, tslab::Error::ok) << std::hex << h;
  }
  EXPECT_EQ(a.handle_to_ptr(live.handle), live.ptr);
  EXPECT_EQ(a.free_handle(live.handle), tslab::Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// Forged handles with the current generation of every id of a segment whose
// slabs all went back (dormant, its slab metadata returned to the OS), from the
// owner and from another thread with a heap: each is refused, none touches
// memory it must not.
TEST(HandleExactness, ForgedHandlesIntoADormantSegmentAreRefused) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), tslab::Error::ok);
  ASSERT_EQ(a.set_large_retain(0), tslab::Error::ok);
  const std::size_t per_slab = td::SLAB_SIZE / 256;
  std::vector<tslab::Allocation> blocks(td::SLABS_PER_SEGMENT * per_slab);
  for (auto& b : blocks) {
    b = a.allocate_with_handle(256, 0);
    ASSERT_NE(b.ptr, nullptr);
  }
  const td::SegmentHeader* const seg = td::segment_map_lookup(blocks[0].ptr);
  for (const auto& b : blocks) ASSERT_EQ(a.free_handle(b.handle), tslab::Error::ok);
  a.collect();
  ASSERT_TRUE(seg->dormant);
  const std::uint32_t first_id = seg->first_id;
  const std::uint32_t slab_count = seg->slab_count;
  // `live`: the one handle of the segment that names a live block, if any.
  auto forge_all = [&](std::uint64_t live) {
    for (std::uint32_t i = 0; i < slab_count; ++i) {
      const std::uint32_t generation = td::registry_current_generation(first_id + i);
      for (std::uint32_t slot : {0u, 1u, 255u}) {
        const std::uint64_t h = td::handle_encode(generation, first_id + i, slot);
        if (h == live) continue;
        EXPECT_NE(a.free_handle(h), tslab::Error::ok) << "id " << first_id + i << " slot " << slot;
      }
    }
  };
  forge_all(0);
  std::thread([&] {
    // A heap of its own; its block may wake the segment and take a slab of it.
    const tslab::Allocation own = a.allocate_with_handle(64, 1);
    ASSERT_NE(own.ptr, nullptr);
    forge_all(own.handle);
    EXPECT_EQ(a.free_handle(own.handle), tslab::Error::ok);
  }).join();
  for (const auto& b : blocks) EXPECT_NE(a.free_handle(b.handle), tslab::Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
