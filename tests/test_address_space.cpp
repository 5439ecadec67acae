// This file contains the test that large spans and segments share memory
// mappings: a process holding tens of thousands of blocks above the largest
// size class must stay far below the kernel's limit on mappings
// (vm.max_map_count, 65,530 by default), which one mapping per span would hit;
// and that blocks up to the largest size class share slabs: a span of its own
// costs a 4 MiB-aligned reservation and a page-table page per block.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "core/allocator_core.h"
#include "forwarding_platform.h"
#include "segment/segment_map.h"
#include "slab_stats.h"
#include "tslab/platform.hpp"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

// A field of /proc/self/status in KiB (VmSize, VmPTE).
std::uint64_t status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(status, line);)
    if (line.compare(0, prefix.size(), prefix) == 0) return std::stoull(line.substr(prefix.size()));
  return 0;
}

std::size_t mappings() {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

TEST(AddressSpace, ManyLargeSpansShareMappings) {
  tslab::Allocator a;
  constexpr std::size_t SPANS = 20000;
  const std::size_t before = mappings();
  std::vector<void*> spans;
  spans.reserve(SPANS);
  for (std::size_t i = 0; i < SPANS; ++i) {
    void* p = a.allocate(70000 + (i % 16) * 4096);
    ASSERT_NE(p, nullptr) << i;
    static_cast<char*>(p)[0] = 1;
    spans.push_back(p);
  }
  const std::size_t after = mappings();
  EXPECT_LT(after - before, SPANS / 20) << before << " -> " << after << " mappings";
  for (void* p : spans) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
}

// `spans` blocks of 70,000 bytes, every second one freed and a block of
// `replacement` bytes allocated after it, then a collect (what the cache kept
// goes back too): the count of mappings must grow by less than spans / 20.
void expect_replaced_blocks_share_mappings(std::size_t spans, std::size_t replacement) {
  tslab::Allocator a;
  const std::size_t before = mappings();
  std::vector<void*> blocks(spans);
  for (void*& p : blocks) {
    p = a.allocate(70000);
    ASSERT_NE(p, nullptr);
    static_cast<char*>(p)[0] = 1;
  }
  std::vector<void*> replaced;
  replaced.reserve(spans / 2);
  for (std::size_t i = 0; i < spans; i += 2) {
    ASSERT_EQ(a.deallocate(blocks[i]), tslab::Error::ok);
    void* p = a.allocate(replacement);
    ASSERT_NE(p, nullptr) << i;
    static_cast<char*>(p)[0] = 1;
    replaced.push_back(p);
  }
  a.collect();
  const std::size_t after = mappings();
  EXPECT_LT(after, before + spans / 20) << before << " -> " << after << " mappings";
  for (std::size_t i = 1; i < spans; i += 2) ASSERT_EQ(a.deallocate(blocks[i]), tslab::Error::ok);
  for (void* p : replaced) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
}

// Freed blocks between live ones: the ranges they go back to the OS from lie
// inside the live blocks' mapping, which would split at each one (a process
// keeping tens of thousands of such blocks would reach vm.max_map_count).
TEST(AddressSpace, LiveLargeSpansWithFreedOnesBetweenShareMappings) {
  expect_replaced_blocks_share_mappings(20000, 140000);
}

// The same with blocks above 1 MiB in place of the freed ones: each took the
// freed block's span, carved out of a chunk, and grew it out of the chunk into
// a range of its own (mremap), which merged with no neighbour: a mapping per
// block (2,000 blocks replaced: +2,000 mappings).
TEST(AddressSpace, BlocksAboveAMebibyteInPlaceOfFreedCarvedOnesShareMappings) {
  expect_replaced_blocks_share_mappings(4000, 1100000);
}

// A block of 1 MiB or less that realloc grows beyond 1 MiB moves out of its
// chunk with its pages: only the pages it wrote are committed after the move,
// where a copy would write all of them (20,000 blocks of 1 MiB with a page
// written each, grown to 2 MiB: 20 GB resident).
TEST(AddressSpace, ABlockReallocatedOutOfItsChunkCommitsOnlyThePagesItWrote) {
  tslab::Allocator a;
  tslab::detail::AllocatorCore& core = *a.core();
  constexpr std::size_t BLOCKS = 64;
  std::vector<void*> blocks(BLOCKS);
  for (void*& p : blocks) {
    p = a.allocate(1 << 20);
    ASSERT_NE(p, nullptr);
    std::memset(p, 7, 4096);
  }
  for (void*& p : blocks) {
    p = core.realloc_large(p, 2 << 20, 0);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(static_cast<unsigned char*>(p)[4095], 7);
    EXPECT_LE(tslab::OsPlatform::instance().resident_bytes(p, 2 << 20), std::size_t{64} << 10);
  }
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
}

TEST(AddressSpace, BlocksUpToTheLargestClassShareSlabs) {
  tslab::Allocator a;
  constexpr std::size_t PER_SIZE = 1000;
  constexpr std::size_t SIZES[] = {16385, 20000, 32768, 40000, 65536};
  const std::uint64_t vm_before = status_kib("VmSize"), pte_before = status_kib("VmPTE");
  std::vector<void*> blocks;
  std::uint64_t bytes = 0;
  for (std::size_t size : SIZES)
    for (std::size_t i = 0; i < PER_SIZE; ++i) {
      void* p = a.allocate(size);
      ASSERT_NE(p, nullptr) << size;
      std::memset(p, 1, size);
      blocks.push_back(p);
      bytes += size;
    }
  SlabGlobalStats g{};
  ASSERT_TRUE(slab_stats_global(a.c_allocator(), &g));
  EXPECT_EQ(g.large_spans_live, 0u);
  // A span each would be 5,000 reservations of 4 MiB (20 GiB) and 5,000
  // page-table pages (20 MiB); slabs take at most twice the bytes (a 36 KiB
  // block has a 64 KiB slab), plus segments and metadata.
  const std::uint64_t vm_growth = (status_kib("VmSize") - vm_before) * 1024;
  const std::uint64_t pte_growth = (status_kib("VmPTE") - pte_before) * 1024;
  EXPECT_LT(vm_growth, 2 * bytes + 64 * (std::uint64_t{1} << 20)) << "for " << bytes << " bytes";
  EXPECT_LT(pte_growth, bytes / 256 + (std::uint64_t{1} << 20)) << "for " << bytes << " bytes";
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
}

// A reservation given back makes room for the next one at its own addresses:
// addresses do not drift down for the process's life, each new stretch of them
// costing the segment map a leaf of its own, committed as it is used and kept.
// Allocators made and freed over and over land where the last one was.
TEST(AddressSpace, AllocatorsMadeAndFreedOverAndOverReuseTheirAddresses) {
  std::set<std::uintptr_t> segments;
  for (int i = 0; i < 500; ++i) {
    tslab::Allocator a;
    void* p = a.allocate(64);
    ASSERT_NE(p, nullptr) << i;
    segments.insert(reinterpret_cast<std::uintptr_t>(p) >> 22);
    ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
  }
  EXPECT_LE(segments.size(), 8u) << "a segment per allocator, at " << segments.size() << " addresses";
}

// The same for large buffers whose ranges go back (collect returns the cache).
TEST(AddressSpace, LargeBuffersFreedAndCollectedOverAndOverReuseTheirAddresses) {
  tslab::Allocator a;
  std::set<std::uintptr_t> segments;
  std::vector<void*> buffers(20);
  for (int round = 0; round < 300; ++round) {
    for (void*& p : buffers) {
      p = a.allocate(3000000 + (round % 7) * 65536);
      ASSERT_NE(p, nullptr) << round;
      static_cast<char*>(p)[0] = 1;
      segments.insert(reinterpret_cast<std::uintptr_t>(p) >> 22);
    }
    for (void* p : buffers) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
    a.collect();
  }
  // Twenty buffers of at most 3.3 MB: one segment each, and room for their sizes' mix.
  EXPECT_LE(segments.size(), 80u) << "buffers at " << segments.size() << " addresses";
}

// The same for buffers grown step by step (realloc): each grow moves the range
// (mremap) and leaves the old one unmapped, whose addresses are taken again too.
TEST(AddressSpace, BuffersGrownAndFreedOverAndOverReuseTheirAddresses) {
  tslab::Allocator a;
  tslab::detail::AllocatorCore& core = *a.core();
  std::set<std::uintptr_t> segments;
  for (int round = 0; round < 100; ++round) {
    void* p = a.allocate(100000);
    ASSERT_NE(p, nullptr);
    for (std::size_t n = 200000; n <= (std::size_t{16} << 20); n *= 2) {
      p = core.realloc_large(p, n, 0);
      ASSERT_NE(p, nullptr) << round << " " << n;
      static_cast<char*>(p)[n - 1] = 1;
      segments.insert(reinterpret_cast<std::uintptr_t>(p) >> 22);
    }
    ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
    a.collect();
  }
  // A round's buffers take about 64 MiB of addresses (each reservation twice its
  // block): 16 segments, and room for where they land from round to round.
  EXPECT_LE(segments.size(), 100u) << "buffers at " << segments.size() << " addresses";
}

// Out of address space (a reservation refused), the ranges of segments whose
// slabs are all free (dormant) go back to the OS too, and a segment takes its
// range back at the same address when it is needed again. If another mapping
// holds that range then, the segment waits: its old pointers are no
// allocator's and leave the other mapping alone, its old handles are stale, and
// new segments serve.
TEST(AddressSpace, ADormantSegmentGivesItsRangeBackWhenAReservationIsRefused) {
  constexpr std::size_t BLOCK = 1024, SEGMENT = std::size_t{4} << 20, PER_SEGMENT = SEGMENT / BLOCK;
  tslab::FaultInjectingPlatform platform(tslab::OsPlatform::instance());
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator a(options);
  std::vector<void*> blocks;
  const auto fill = [&] {
    for (std::size_t i = 0; i < 3 * PER_SEGMENT; ++i) {
      blocks.push_back(a.allocate(BLOCK));
      if (blocks.back() == nullptr) return false;
    }
    return true;
  };
  const auto free_and_collect = [&] {
    for (void* p : blocks)
      if (a.deallocate(p) != tslab::Error::ok) return false;
    blocks.clear();
    a.collect();
    return true;
  };
  const auto refused_reservation = [&] {
    platform.refuse_all(true);
    void* big = a.allocate(8 * SEGMENT);
    platform.refuse_all(false);
    return big == nullptr;
  };
  ASSERT_TRUE(fill());
  void* old = blocks.front();
  const tslab::Handle handle = a.ptr_to_handle(old);
  ASSERT_NE(handle, 0u);
  const tslab::detail::SegmentHeader* seg = tslab::detail::segment_map_lookup(old);
  ASSERT_NE(seg, nullptr);
  const std::uintptr_t base = seg->base;
  const auto in_range = [&](void* p) {
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    return at >= base && at < base + SEGMENT;
  };
  ASSERT_TRUE(free_and_collect());
  ASSERT_TRUE(seg->dormant);
  EXPECT_FALSE(seg->released) << "collect() keeps a dormant segment's range";
  const std::uint64_t reserved = tslab::stats(a).reserved_bytes;
  ASSERT_TRUE(refused_reservation());
  ASSERT_TRUE(seg->dormant && seg->released) << "a refused reservation left the dormant range reserved";
  EXPECT_EQ(tslab::detail::segment_map_lookup(old), nullptr);
  EXPECT_LE(tslab::stats(a).reserved_bytes + SEGMENT, reserved);
  EXPECT_TRUE(a.check().ok);

  // Needed again: the segment takes its range back where it was.
  ASSERT_TRUE(fill());
  EXPECT_FALSE(seg->dormant || seg->released);
  EXPECT_EQ(tslab::detail::segment_map_lookup(old), seg);
  EXPECT_EQ(static_cast<std::size_t>(std::count_if(blocks.begin(), blocks.end(), in_range)), PER_SEGMENT);
  EXPECT_EQ(a.free_handle(handle), tslab::Error::stale_handle);
  EXPECT_TRUE(a.check().ok);
  ASSERT_TRUE(free_and_collect());
  ASSERT_TRUE(refused_reservation());
  ASSERT_TRUE(seg->dormant && seg->released);

  // Another mapping takes the range: the segment waits, others serve.
  void* other = ::mmap(reinterpret_cast<void*>(base), SEGMENT, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(other, MAP_FAILED);
  if (other != reinterpret_cast<void*>(base)) {
    ::munmap(other, SEGMENT);
    GTEST_SKIP() << "the kernel placed the mapping elsewhere";
  }
  std::memset(other, 7, SEGMENT);
  ASSERT_TRUE(fill());
  EXPECT_EQ(std::count_if(blocks.begin(), blocks.end(), in_range), 0) << "a block in the other mapping";
  EXPECT_TRUE(seg->dormant && seg->released);
  EXPECT_NE(a.deallocate(old), tslab::Error::ok);
  EXPECT_EQ(a.free_handle(handle), tslab::Error::stale_handle);
  EXPECT_EQ(static_cast<unsigned char*>(other)[0], 7);
  EXPECT_EQ(static_cast<unsigned char*>(other)[SEGMENT - 1], 7);
  EXPECT_TRUE(a.check().ok);
  ASSERT_TRUE(free_and_collect());
  EXPECT_TRUE(a.check().ok);
  ::munmap(other, SEGMENT);
}

// A platform that cannot reserve a range at a given address (a custom one
// without reserve_at): a refused reservation leaves dormant segments' ranges
// reserved, since they could not be had back.
TEST(AddressSpace, WithoutReserveAtADormantSegmentKeepsItsRange) {
  constexpr std::size_t BLOCK = 1024, SEGMENT = std::size_t{4} << 20, PER_SEGMENT = SEGMENT / BLOCK;
  tslab_test::ForwardingPlatform inner;
  ASSERT_FALSE(inner.can_reserve_at());
  tslab::FaultInjectingPlatform platform(inner);
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator a(options);
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 2 * PER_SEGMENT; ++i) {
    blocks.push_back(a.allocate(BLOCK));
    ASSERT_NE(blocks.back(), nullptr);
  }
  const tslab::detail::SegmentHeader* seg = tslab::detail::segment_map_lookup(blocks.front());
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
  a.collect();
  ASSERT_TRUE(seg->dormant);
  platform.refuse_all(true);
  EXPECT_EQ(a.allocate(8 * SEGMENT), nullptr);
  platform.refuse_all(false);
  EXPECT_FALSE(seg->released);
  EXPECT_EQ(tslab::detail::segment_map_lookup(reinterpret_cast<void*>(seg->base)), seg);
  EXPECT_TRUE(a.check().ok);
}

}  // namespace
