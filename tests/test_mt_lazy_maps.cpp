// This file contains the concurrency tests of the tables that reserve their
// leaves on first use (segment/lazy_table.h): lookups that race the publication
// of a leaf read either the shared zero leaf or the new one, never anything
// else, and never fault; ids handed out across a leaf's start resolve through
// their handles while another thread probes the ids around it. Under
// ThreadSanitizer the race detector watches the lookups and the leaves'
// creation.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "handle/handle.h"
#include "handle/registry.h"
#include "segment/segment_map.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

namespace td = tslab::detail;

constexpr unsigned REGION_SHIFT = td::MAP_GRANULE_SHIFT + td::SEGMENT_MAP_LEAF_BITS;  // 64 GiB, a leaf's
// Regions between 1 TiB and 2 TiB: far below where the OS places mappings, so
// no reservation ever lies there; this test alone gives them leaves.
constexpr std::uintptr_t FIRST_REGION = 16;
constexpr std::uintptr_t REGIONS = 16;

// Readers look pointers of the regions up while a writer gives each region its
// leaf: every lookup reads an empty entry, and every free refuses the pointer.
TEST(MtLazyMaps, SegmentMapLeavesPublishedWhileLookedUp) {
  tslab::Allocator alloc;  // the map is initialised
  std::atomic<bool> done{false};
  std::atomic<unsigned> readers_started{0};
  std::atomic<std::uint64_t> wrong{0}, lookups{0};
  auto reader = [&](std::uint64_t seed) {
    tslab_test::Rng rng(seed);
    readers_started.fetch_add(1, std::memory_order_release);
    while (!done.load(std::memory_order_acquire)) {
      const std::uintptr_t region = FIRST_REGION + rng.next() % REGIONS;
      const std::uintptr_t offset = (rng.next() % (std::uintptr_t{1} << REGION_SHIFT)) & ~std::uintptr_t{15};
      auto* p = reinterpret_cast<void*>((region << REGION_SHIFT) + offset);
      if (td::segment_map_entry(p) != 0 || td::small_slab_of(p) != nullptr) wrong.fetch_add(1);
      if (alloc.deallocate(p) != tslab::Error::not_allocated) wrong.fetch_add(1);
      lookups.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  while (readers_started.load(std::memory_order_acquire) < 2) std::this_thread::yield();
  for (std::uintptr_t region = FIRST_REGION; region < FIRST_REGION + REGIONS; ++region) {
    EXPECT_TRUE(td::segment_map_cover(region << REGION_SHIFT, td::SEGMENT_SIZE)) << region;
    // A range across the region's end takes the next region's leaf too.
    EXPECT_TRUE(
        td::segment_map_cover(((region + 1) << REGION_SHIFT) - td::SEGMENT_SIZE, 2 * td::SEGMENT_SIZE));
  }
  const std::uint64_t before_done = lookups.load(std::memory_order_relaxed);
  while (lookups.load(std::memory_order_relaxed) < before_done + 1000) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  r1.join();
  r2.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_GE(td::segment_map_reserved_bytes(), REGIONS * td::SegmentMap::LEAF_BYTES);
}

// Two threads take ids (a large span each) until the registry reserves its next
// leaf, while a third frees handles naming the ids around the leaf's start:
// each is refused (free, another allocator's, or never issued), none faults.
TEST(MtLazyMaps, RegistryLeafPublishedWhileHandlesResolve) {
  tslab::Allocator probe;
  const tslab::Allocation first = probe.allocate_with_handle(70000, probe.epoch_current());
  ASSERT_NE(first.ptr, nullptr);
  const std::uint32_t first_id = td::handle_decode(first.handle).slab_id;
  const std::uint32_t boundary =
      static_cast<std::uint32_t>((first_id / td::Registry::LEAF_ENTRIES + 1) * td::Registry::LEAF_ENTRIES);
  ASSERT_LT(boundary, td::MAX_SLAB_IDS);

  std::atomic<bool> crossed{false};
  std::atomic<unsigned> workers_done{0};
  std::atomic<std::uint64_t> wrong{0}, probes{0};
  auto worker = [&]() {
    tslab::Allocator alloc;
    std::vector<tslab::Allocation> spans;
    spans.reserve(td::Registry::LEAF_ENTRIES);
    while (!crossed.load(std::memory_order_acquire)) {
      const tslab::Allocation a = alloc.allocate_with_handle(70000, alloc.epoch_current());
      if (a.ptr == nullptr) {
        wrong.fetch_add(1);
        break;
      }
      spans.push_back(a);
      if (td::handle_decode(a.handle).slab_id >= boundary) crossed.store(true, std::memory_order_release);
    }
    for (const tslab::Allocation& a : spans) {
      if (alloc.handle_to_ptr(a.handle) != a.ptr) wrong.fetch_add(1);
      if (alloc.free_handle(a.handle) != tslab::Error::ok) wrong.fetch_add(1);
    }
    workers_done.fetch_add(1, std::memory_order_release);
  };
  auto prober = [&]() {
    tslab_test::Rng rng(7);
    while (workers_done.load(std::memory_order_acquire) < 2) {
      const auto id = static_cast<std::uint32_t>(boundary - 64 + rng.next() % 256);
      (void)td::registry_word(id);
      if (probe.free_handle(td::handle_encode(td::HANDLE_GEN_MASK, id, 0)) == tslab::Error::ok)
        wrong.fetch_add(1);
      if (probe.handle_to_ptr(td::handle_encode(0, id, 1)) != nullptr) wrong.fetch_add(1);
      probes.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread p(prober), w1(worker), w2(worker);
  w1.join();
  w2.join();
  p.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_TRUE(crossed.load());
  EXPECT_GE(td::registry_reserved_bytes(),
            (boundary / td::Registry::LEAF_ENTRIES + 1) * td::Registry::LEAF_BYTES);
  EXPECT_EQ(probe.free_handle(first.handle), tslab::Error::ok);
}

}  // namespace
