// This file contains the tests of the process-wide tables that take address
// space in proportion to use (segment/lazy_table.h): the segment map and the
// slab registry reserve a leaf only when a reservation or an id first needs it,
// a pointer or handle whose leaf was never reserved reads as "not ours" and
// never faults, and the metadata arena's chunks start small and grow.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "forwarding_platform.h"
#include "handle/handle.h"
#include "handle/registry.h"
#include "segment/meta_arena.h"
#include "segment/segment_map.h"
#include "slab_alloc.h"
#include "tslab/platform.hpp"
#include "tslab/tslab.hpp"

namespace td = tslab::detail;

namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;

// A pointer in each 64 GiB region of the address space (a leaf's), and beyond it.
std::vector<std::uintptr_t> one_address_per_region() {
  std::vector<std::uintptr_t> out;
  for (std::uintptr_t region = 0; region < td::SegmentMap::LEAVES; ++region)
    out.push_back((region << (td::MAP_GRANULE_SHIFT + td::SEGMENT_MAP_LEAF_BITS)) + 12345 * 16);
  out.push_back(td::ADDRESS_LIMIT - 16);
  for (std::uintptr_t a : {td::ADDRESS_LIMIT, td::ADDRESS_LIMIT << 1, ~std::uintptr_t{0} - 15})
    out.push_back(a);
  return out;
}

TEST(LazyMaps, PointersInRegionsWithoutALeafAreNotOurs) {
  tslab::Allocator alloc;
  void* small = alloc.allocate(64);
  void* large = alloc.allocate(MiB);
  ASSERT_NE(small, nullptr);
  ASSERT_NE(large, nullptr);
  const std::size_t leaves = td::segment_map_reserved_bytes() / td::SegmentMap::LEAF_BYTES;
  EXPECT_LT(leaves, td::SegmentMap::LEAVES / 8) << "most regions have no leaf of their own";
  std::size_t not_ours = 0;
  for (std::uintptr_t a : one_address_per_region()) {
    auto* p = reinterpret_cast<void*>(a);
    // Never a fault; a tslab reservation that happens to cover the address is
    // an interior pointer, anything else was never allocated.
    const td::SegmentHeader* header = td::segment_map_lookup(p);
    const tslab::Error e = alloc.deallocate(p);
    EXPECT_NE(e, tslab::Error::ok) << std::hex << a;
    if (header == nullptr) {
      EXPECT_EQ(e, tslab::Error::not_allocated) << std::hex << a;
      ++not_ours;
    }
  }
  EXPECT_GE(not_ours, td::SegmentMap::LEAVES - leaves);
  EXPECT_NE(td::small_slab_of(small), nullptr);
  EXPECT_NE(td::segment_map_lookup(large), nullptr);
  EXPECT_EQ(alloc.deallocate(large), tslab::Error::ok);
  EXPECT_EQ(alloc.deallocate(small), tslab::Error::ok);
}

TEST(LazyMaps, HandlesNamingIdsWithoutALeafAreInvalid) {
  tslab::Allocator alloc;
  const tslab::Allocation a = alloc.allocate_with_handle(100, alloc.epoch_current());
  ASSERT_NE(a.ptr, nullptr);
  const std::uint32_t far_ids[] = {td::MAX_SLAB_IDS - 1, td::MAX_SLAB_IDS / 2 + 77,
                                   static_cast<std::uint32_t>(td::Registry::LEAF_ENTRIES * 100 + 3)};
  for (std::uint32_t id : far_ids) {
    EXPECT_EQ(td::registry_word(id), 0u) << id;
    for (std::uint32_t generation : {0u, 1u, td::HANDLE_GEN_MASK}) {
      EXPECT_EQ(alloc.free_handle(td::handle_encode(generation, id, 0)), tslab::Error::invalid_handle) << id;
    }
  }
  EXPECT_EQ(alloc.free_handle(a.handle), tslab::Error::ok);
}

TEST(LazyMaps, CoverRefusesRangesBeyondTheMap) {
  tslab::Allocator alloc;  // the map is initialised
  EXPECT_FALSE(td::segment_map_cover(td::ADDRESS_LIMIT - td::SEGMENT_SIZE, 2 * td::SEGMENT_SIZE));
  EXPECT_FALSE(td::segment_map_cover(td::ADDRESS_LIMIT, td::SEGMENT_SIZE));
  EXPECT_FALSE(td::segment_map_cover(td::SEGMENT_SIZE, 0));
  EXPECT_FALSE(td::segment_map_cover(td::SEGMENT_SIZE, ~std::size_t{0}));
}

// Large spans take one id each: past a leaf's worth of them the registry has a
// second leaf, and every handle of either leaf resolves.
TEST(LazyMaps, LeavesComeWithUse) {
  tslab::Allocator alloc;
  const std::size_t spans = td::Registry::LEAF_ENTRIES + 1000;
  std::vector<tslab::Allocation> blocks(spans);
  for (std::size_t i = 0; i < spans; ++i) {
    blocks[i] = alloc.allocate_with_handle(70000, alloc.epoch_current());
    ASSERT_NE(blocks[i].ptr, nullptr) << i;
  }
  EXPECT_GE(td::registry_reserved_bytes(), 2 * td::Registry::LEAF_BYTES);
  EXPECT_LE(td::registry_reserved_bytes(), 3 * td::Registry::LEAF_BYTES) << "ids are handed out densely";
  // The spans' reservations (two granules, 128 KiB, each) lie in a few 64 GiB regions.
  EXPECT_LE(td::segment_map_reserved_bytes(), 4 * td::SegmentMap::LEAF_BYTES);
  for (std::size_t i = 0; i < spans; ++i) {
    ASSERT_EQ(alloc.handle_to_ptr(blocks[i].handle), blocks[i].ptr) << i;
    ASSERT_EQ(alloc.free_handle(blocks[i].handle), tslab::Error::ok) << i;
  }
}

// A span of whole segments writes one map entry per segment, tagged to stand for
// the whole segment: a 64 MiB block 16 entries, not 1,024 (a 1 TiB one 2 MiB of
// map, not 128). Every address in it still resolves to its header, and none
// once its range went back. A span below a segment writes one entry per granule.
TEST(LazyMaps, SpansOfWholeSegmentsTakeOneEntryPerSegment) {
  tslab::Allocator alloc;
  constexpr std::size_t BIG = 64 * MiB, SMALLER = 3 * MiB;
  auto* big = static_cast<char*>(alloc.allocate(BIG));
  auto* smaller = static_cast<char*>(alloc.allocate(SMALLER));
  ASSERT_NE(big, nullptr);
  ASSERT_NE(smaller, nullptr);
  const td::SegmentHeader* big_header = td::segment_map_lookup(big);
  const td::SegmentHeader* smaller_header = td::segment_map_lookup(smaller);
  ASSERT_NE(big_header, nullptr);
  ASSERT_NE(smaller_header, nullptr);
  ASSERT_EQ(reinterpret_cast<std::uintptr_t>(big) % td::SEGMENT_SIZE, 0u);
  std::size_t entries = 0;
  for (std::size_t off = 0; off < BIG; off += td::MAP_GRANULE) {
    entries += td::segment_map_entry(big + off) != 0;
    ASSERT_EQ(td::segment_map_lookup(big + off + 4096), big_header) << off;
    ASSERT_EQ(td::segment_map_lookup_pinned(big + off), big_header) << off;
    ASSERT_TRUE(td::segment_map_is_large(big + off)) << off;
  }
  EXPECT_EQ(entries, BIG / td::SEGMENT_SIZE);
  entries = 0;
  for (std::size_t off = 0; off < SMALLER; off += td::MAP_GRANULE) {
    entries += td::segment_map_entry(smaller + off) != 0;
    ASSERT_EQ(td::segment_map_lookup(smaller + off), smaller_header) << off;
  }
  EXPECT_EQ(entries, SMALLER / td::MAP_GRANULE);
  EXPECT_EQ(alloc.deallocate(big + td::SEGMENT_SIZE + 64), tslab::Error::interior_pointer);
  ASSERT_EQ(alloc.deallocate(big), tslab::Error::ok);
  ASSERT_EQ(alloc.deallocate(smaller), tslab::Error::ok);
  alloc.collect();  // the free spans' ranges go back
  for (std::size_t off = 0; off < BIG; off += td::MAP_GRANULE) {
    const td::SegmentHeader* now = td::segment_map_lookup(big + off);
    // Another reservation may have taken the addresses since; never the old span.
    ASSERT_TRUE(now == nullptr || now != big_header || !now->released) << off;
    if (now == nullptr) {
      EXPECT_EQ(alloc.deallocate(big + off), tslab::Error::not_allocated) << off;
    }
  }
  EXPECT_TRUE(alloc.check().ok);
}

// Counts what a metadata arena reserves.
class CountingPlatform final : public tslab_test::ForwardingPlatform {
 public:
  std::vector<std::size_t> reserved;

  void* reserve(std::size_t size, std::size_t alignment) noexcept override {
    reserved.push_back(size);
    return os().reserve(size, alignment);
  }
};

TEST(LazyMaps, MetadataArenaChunksStartSmallAndGrow) {
  CountingPlatform platform;
  platform.reserved.reserve(1000);
  {
    td::MetaArena arena(platform, 1);
    ASSERT_TRUE(arena.reserve_first_chunk());
    ASSERT_EQ(platform.reserved.size(), 1u);
    EXPECT_LE(platform.reserved[0], td::MetaArena::FIRST_CHUNK_SIZE) << "the first chunk";
    std::size_t used = 0;
    while (used < 16 * MiB) {
      ASSERT_NE(arena.allocate(1000), nullptr);
      used += 1024;
    }
    std::size_t total = 0;
    for (std::size_t i = 0; i < platform.reserved.size(); ++i) {
      total += platform.reserved[i];
      EXPECT_LE(platform.reserved[i], MiB) << "chunk " << i;
      if (i > 0) {
        EXPECT_GE(platform.reserved[i], platform.reserved[i - 1]) << "chunk " << i;
      }
    }
    EXPECT_LE(total, used + 2 * MiB) << "reserved in proportion to use";
    // A block larger than any chunk gets a chunk of its own.
    ASSERT_NE(arena.allocate(3 * MiB), nullptr);
    EXPECT_GE(platform.reserved.back(), 3 * MiB);
  }
}

// A heap of many epochs, then a segment's metadata: the large block gets a chunk
// of its own and the first chunk still takes the second block.
TEST(LazyMaps, ALargeMetadataBlockLeavesTheCurrentChunksRoom) {
  CountingPlatform platform;
  platform.reserved.reserve(10);
  td::MetaArena arena(platform, 1);
  ASSERT_TRUE(arena.reserve_first_chunk());
  ASSERT_NE(arena.allocate(300 * 1024), nullptr);
  ASSERT_EQ(platform.reserved.size(), 2u);
  EXPECT_GE(platform.reserved[1], 300 * 1024u);
  ASSERT_NE(arena.allocate(80 * 1024), nullptr);
  EXPECT_EQ(platform.reserved.size(), 2u) << "the first chunk had room for it";
}

// A small segment's slab metadata is left zero until a slab is taken
// (new_small_segment), which is a slab not taken: every field its default.
TEST(LazyMaps, AZeroSlabIsADefaultSlab) {
  alignas(td::Slab) unsigned char zero[sizeof(td::Slab)] = {};
  alignas(td::Slab) unsigned char made[sizeof(td::Slab)] = {};
  new (made) td::Slab();
  EXPECT_EQ(std::memcmp(zero, made, sizeof zero), 0) << "a field of Slab has a non-zero default";
  EXPECT_EQ(reinterpret_cast<td::Slab*>(made)->state.load(), td::SLAB_UNUSED);
}

// A new segment's slab metadata (64 x sizeof(Slab)) is touched slab by slab as
// the slabs are taken, not all at once: an allocator that took one slab has
// none of the later slabs' metadata pages resident; taking them faults them in,
// and a block of a slab not taken yet is refused as not allocated.
TEST(LazyMaps, ASegmentsSlabMetadataIsTouchedAsItsSlabsAreTaken) {
  tslab::Allocator a;
  void* p = a.allocate(64);
  ASSERT_NE(p, nullptr);
  td::SegmentHeader* seg = td::segment_map_lookup(p);
  ASSERT_NE(seg, nullptr);
  ASSERT_EQ(seg->slabs_taken, 1u);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto first = (reinterpret_cast<std::uintptr_t>(&seg->slabs[8]) + page - 1) & ~(page - 1);
  const auto last = reinterpret_cast<std::uintptr_t>(&seg->slabs[td::SLABS_PER_SEGMENT]) & ~(page - 1);
  ASSERT_GT(last, first);
  std::vector<unsigned char> resident((last - first) / page);
  const auto count = [&] {
    if (::mincore(reinterpret_cast<void*>(first), last - first, resident.data()) != 0)
      return std::size_t{999};
    std::size_t n = 0;
    for (unsigned char r : resident) n += r & 1;
    return n;
  };
  EXPECT_EQ(count(), 0u) << "the metadata of slabs never taken is resident";
  // A pointer into a slab not taken yet is refused. (Its validation reads the
  // slab's metadata: the OS's shared zero page, which mincore reports resident,
  // so residency is not checked after it.)
  char* untaken = reinterpret_cast<char*>(seg->base) + 40 * td::SLAB_SIZE;
  EXPECT_EQ(a.deallocate(untaken), tslab::Error::not_allocated);
  EXPECT_EQ(a.deallocate(untaken + 16), tslab::Error::not_allocated);
  EXPECT_EQ(a.usable_size(untaken), 0u);
  EXPECT_EQ(a.ptr_to_handle(untaken), 0u);
  // Handles naming a slab not taken yet (its id is the segment's): refused.
  for (std::uint32_t generation = 0; generation < 4; ++generation)
    for (std::uint32_t slot : {0u, 1u, 4095u}) {
      const std::uint64_t h = td::handle_encode(generation, seg->first_id + 40, slot);
      EXPECT_EQ(a.handle_to_ptr(h), nullptr) << generation << " " << slot;
      EXPECT_NE(a.free_handle(h), tslab::Error::ok) << generation << " " << slot;
    }
  // Blocks of 16 KiB, four to a slab: 200 of them take the segment's other slabs.
  std::vector<void*> blocks;
  while (seg->slabs_taken < td::SLABS_PER_SEGMENT) {
    blocks.push_back(a.allocate(16384));
    ASSERT_NE(blocks.back(), nullptr);
    ASSERT_LT(blocks.size(), 1000u);
  }
  EXPECT_EQ(count(), resident.size()) << "every slab taken, every metadata page touched";
  for (std::uint32_t i = 0; i < td::SLABS_PER_SEGMENT; ++i) {
    EXPECT_EQ(seg->slabs[i].start, reinterpret_cast<char*>(seg->base) + i * td::SLAB_SIZE);
    EXPECT_EQ(seg->slabs[i].id, seg->first_id + i);
  }
  for (void* b : blocks) EXPECT_EQ(a.deallocate(b), tslab::Error::ok);
  EXPECT_EQ(a.deallocate(p), tslab::Error::ok);
  EXPECT_TRUE(a.check().ok);
}

}  // namespace
