// This file contains the pointer API tests: every kind of bad pointer passed to
// free (never returned, free slot, interior, double, foreign, large spans),
// usable_size of non-blocks, and data integrity of live blocks under churn.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;

int g_static_object = 0;

TEST(PointerApi, NullIsOk) {
  tslab::Allocator a;
  EXPECT_EQ(a.deallocate(nullptr), Error::ok);
  EXPECT_EQ(a.usable_size(nullptr), 0u);
  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(slab_free_checked(c, nullptr));
  slab_free(c, nullptr);
  EXPECT_EQ(slab_usable_size(c, nullptr), 0u);
  slab_allocator_free(c);
}

TEST(PointerApi, PointersNeverReturnedAreNotAllocated) {
  tslab::Allocator a;
  void* live = a.allocate(64);  // the allocator has slabs of its own
  ASSERT_NE(live, nullptr);
  int on_stack = 0;
  void* from_malloc = std::malloc(128);
  ASSERT_NE(from_malloc, nullptr);
  void* big_malloc = std::malloc(1 << 20);
  ASSERT_NE(big_malloc, nullptr);
  void* candidates[] = {&on_stack, &g_static_object, from_malloc, big_malloc,
                        static_cast<char*>(big_malloc) + 65536};
  for (void* p : candidates) {
    EXPECT_EQ(a.deallocate(p), Error::not_allocated) << p;
    EXPECT_EQ(tslab::last_error(), Error::not_allocated);
    EXPECT_EQ(a.usable_size(p), 0u) << p;
  }
  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  for (void* p : candidates) {
    EXPECT_FALSE(slab_free_checked(c, p));
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_NOT_ALLOCATED);
    slab_free(c, p);  // no crash, error recorded
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_NOT_ALLOCATED);
  }
  slab_allocator_free(c);
  std::free(from_malloc);
  std::free(big_malloc);
  // The victims are untouched and the allocator still works.
  EXPECT_EQ(on_stack, 0);
  EXPECT_EQ(g_static_object, 0);
  EXPECT_EQ(a.usable_size(live), 64u);
  EXPECT_EQ(a.deallocate(live), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// A block alone in a fresh epoch's slab: the other slots of that slab were
// never handed out. Freeing one must be rejected as not_allocated without
// disturbing anything. `far` picks the slot farthest away inside the 64 KiB
// window instead of the neighbouring one.
void expect_free_slot_rejected(bool far) {
  tslab::Allocator a;
  for (std::size_t size : {std::size_t{16}, std::size_t{64}, std::size_t{256}, std::size_t{4096}}) {
    SCOPED_TRACE(testing::Message() << "size " << size << (far ? " far slot" : " neighbouring slot"));
    const auto e = static_cast<tslab::EpochId>(size % 13 + 1);
    char* p = static_cast<char*>(a.allocate(size, e));
    ASSERT_NE(p, nullptr);
    const std::uintptr_t window = tslab_test::slab_window(p);
    char* slot = nullptr;
    if (far) {
      // The highest slot-aligned address above p, else the lowest below it.
      std::size_t k = 1;
      while (tslab_test::slab_window(p + (k + 1) * size) == window) ++k;
      slot = p + k * size;
      if (tslab_test::slab_window(slot) != window) {
        k = 1;
        while (tslab_test::slab_window(p - (k + 1) * size) == window) ++k;
        slot = p - k * size;
      }
    } else {
      slot = p + size;
      if (tslab_test::slab_window(slot) != window) slot = p - size;
    }
    ASSERT_EQ(tslab_test::slab_window(slot), window);
    EXPECT_EQ(a.usable_size(slot), 0u);
    EXPECT_EQ(a.ptr_to_handle(slot), 0u);
    // A slot past the carved part was certainly never handed out: not_allocated.
    // A free slot among the carved ones may have been (the allocator does not
    // record which), so it reads as a double free. Both are refused.
    EXPECT_EQ(a.deallocate(slot), far ? Error::not_allocated : Error::double_free);
    EXPECT_ALLOCATOR_OK(a);
    // The only real block is intact and the next allocations stay distinct.
    EXPECT_EQ(a.usable_size(p), size);
    std::set<void*> seen{p};
    for (int i = 0; i < 8; ++i) {
      void* q = a.allocate(size, e);
      ASSERT_NE(q, nullptr);
      EXPECT_TRUE(seen.insert(q).second) << "block handed out twice";
    }
    for (void* q : seen) EXPECT_EQ(a.deallocate(q), Error::ok);
  }
  EXPECT_ALLOCATOR_OK(a);
}

TEST(PointerApi, FreeCarvedNeighbourSlotIsRefused) { expect_free_slot_rejected(false); }

TEST(PointerApi, NeverHandedOutFarSlotIsNotAllocated) { expect_free_slot_rejected(true); }

TEST(PointerApi, InteriorPointers) {
  tslab::Allocator a;
  char* p = static_cast<char*>(a.allocate(128));
  ASSERT_NE(p, nullptr);
  tslab_test::fill_pattern(p, 128, 77);
  for (std::size_t off :
       {std::size_t{1}, std::size_t{8}, std::size_t{16}, std::size_t{64}, std::size_t{127}}) {
    EXPECT_EQ(a.deallocate(p + off), Error::interior_pointer) << off;
    EXPECT_EQ(tslab::last_error(), Error::interior_pointer);
    EXPECT_EQ(a.usable_size(p + off), 0u) << off;
  }
  EXPECT_EQ(a.usable_size(p), 128u);
  EXPECT_TRUE(tslab_test::check_pattern(p, 128, 77));
  EXPECT_ALLOCATOR_OK(a);

  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  char* q = static_cast<char*>(slab_malloc_epoch(c, 128, 0));
  ASSERT_NE(q, nullptr);
  EXPECT_FALSE(slab_free_checked(c, q + 1));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INTERIOR_POINTER);
  EXPECT_FALSE(slab_free_checked(c, q + 16));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INTERIOR_POINTER);
  EXPECT_TRUE(slab_free_checked(c, q));
  EXPECT_SLAB_CHECK_OK(c);
  slab_allocator_free(c);

  EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(PointerApi, DoubleFreeDetectedAndHarmless) {
  tslab::Allocator a;
  std::vector<void*> blocks;
  for (int i = 0; i < 3000; ++i) {
    void* p = a.allocate(48 + (i % 3) * 16);
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
  }
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  for (void* p : blocks) {
    ASSERT_EQ(a.deallocate(p), Error::double_free);
    ASSERT_EQ(tslab::last_error(), Error::double_free);
    ASSERT_EQ(a.usable_size(p), 0u);
  }
  EXPECT_ALLOCATOR_OK(a);
  std::set<void*> fresh;
  for (int i = 0; i < 6000; ++i) {
    void* p = a.allocate(48 + (i % 3) * 16);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(fresh.insert(p).second) << "a rejected double free left a block on a free list twice";
  }
  for (void* p : fresh) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_ALLOCATOR_OK(a);

  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  void* q = slab_malloc_epoch(c, 1000, 2);
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(slab_free_checked(c, q));
  EXPECT_FALSE(slab_free_checked(c, q));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOUBLE_FREE);
  slab_free(c, q);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOUBLE_FREE);
  EXPECT_SLAB_CHECK_OK(c);
  slab_allocator_free(c);
}

TEST(PointerApi, ForeignPointers) {
  tslab::Allocator a;
  tslab::Allocator b;
  void* mine = b.allocate(64);  // b has live slabs of the same class
  ASSERT_NE(mine, nullptr);
  std::vector<void*> theirs;
  for (std::size_t s :
       {std::size_t{16}, std::size_t{64}, std::size_t{2000}, std::size_t{16384}, std::size_t{100000}}) {
    void* p = a.allocate(s);
    ASSERT_NE(p, nullptr);
    theirs.push_back(p);
  }
  for (void* p : theirs) {
    EXPECT_EQ(b.deallocate(p), Error::foreign) << p;
    EXPECT_EQ(b.usable_size(p), 0u);
    EXPECT_GT(a.usable_size(p), 0u) << "a foreign free damaged the owner's block";
  }
  EXPECT_ALLOCATOR_OK(a);
  EXPECT_ALLOCATOR_OK(b);
  for (void* p : theirs) EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_EQ(b.deallocate(mine), Error::ok);
}

TEST(PointerApi, LargeSpans) {
  tslab::Allocator a;
  for (std::size_t s : {std::size_t{65537}, std::size_t{70000}, std::size_t{100000}, std::size_t{3} << 20}) {
    char* p = static_cast<char*>(a.allocate(s));
    ASSERT_NE(p, nullptr);
    EXPECT_GE(a.usable_size(p), s);
    std::memset(p, 0x3C, s);
    for (std::size_t off : {std::size_t{1}, std::size_t{16}, std::size_t{4096}, s / 2, s - 16}) {
      EXPECT_EQ(a.deallocate(p + off), Error::interior_pointer) << s << "+" << off;
      EXPECT_EQ(a.usable_size(p + off), 0u) << s << "+" << off;
    }
    EXPECT_EQ(static_cast<unsigned char>(p[s - 1]), 0x3Cu);
    EXPECT_EQ(a.deallocate(p), Error::ok);
    EXPECT_EQ(a.usable_size(p), 0u);
    EXPECT_EQ(a.deallocate(p), Error::double_free) << s;
    EXPECT_ALLOCATOR_OK(a);
  }
  // Large blocks keep working after the misuse.
  void* p = a.allocate(200000);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(p), Error::ok);
}

TEST(PointerApi, UsableSizeOfNonBlocksIsZero) {
  tslab::Allocator a;
  int x = 0;
  EXPECT_EQ(a.usable_size(&x), 0u);
  EXPECT_EQ(a.usable_size(&g_static_object), 0u);
  void* m = std::malloc(32);
  EXPECT_EQ(a.usable_size(m), 0u);
  std::free(m);
  char* p = static_cast<char*>(a.allocate(100));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.usable_size(p), 112u);
  EXPECT_EQ(a.usable_size(p + 1), 0u);
  EXPECT_EQ(a.usable_size(p + 112), 0u);  // the next (free) slot
  EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_EQ(a.usable_size(p), 0u);
}

// Fill blocks with patterns, free a random half, allocate more, verify every
// live block, several rounds; then check() and free everything.
TEST(PointerApi, DataIntegrityUnderChurn) {
  tslab::Allocator a;
  struct Block {
    void* p;
    std::size_t size;
    std::uint64_t tag;
  };
  std::vector<Block> live;
  tslab_test::Rng rng(2024);
  std::uint64_t next_tag = 1;
  const int rounds = 8;
  const std::size_t per_round = tslab_test::scaled(6000);
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < per_round; ++i) {
      std::size_t size = rng.range(1, 2048);
      if (rng.range(0, 99) == 0) size = rng.range(16385, 200000);
      const tslab::EpochId e = static_cast<tslab::EpochId>(rng.range(0, 3));
      void* p = (i % 5 == 0) ? a.allocate_aligned(size, 64, e) : a.allocate(size, e);
      ASSERT_NE(p, nullptr);
      tslab_test::fill_pattern(p, size, next_tag);
      live.push_back({p, size, next_tag++});
    }
    for (const Block& b : live)
      ASSERT_TRUE(tslab_test::check_pattern(b.p, b.size, b.tag)) << "round " << round;
    // Free a random half.
    for (std::size_t i = 0; i < live.size();) {
      if (rng.coin()) {
        ASSERT_EQ(a.deallocate(live[i].p), Error::ok);
        live[i] = live.back();
        live.pop_back();
      } else {
        ++i;
      }
    }
    EXPECT_ALLOCATOR_OK(a);
  }
  for (const Block& b : live) {
    ASSERT_TRUE(tslab_test::check_pattern(b.p, b.size, b.tag));
    ASSERT_EQ(a.deallocate(b.p), Error::ok);
  }
  EXPECT_ALLOCATOR_OK(a);
}

// Random addresses (mapped or not) are rejected without touching them.
TEST(PointerApi, RandomAddressesRejected) {
  tslab::Allocator a;
  std::vector<void*> live;
  for (int i = 0; i < 1000; ++i) live.push_back(a.allocate(64 + (i % 10) * 100));
  std::set<void*> live_set(live.begin(), live.end());
  tslab_test::Rng rng(5);
  std::size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    // 16-aligned addresses across the user address space, and near live blocks.
    std::uintptr_t addr = (rng.next() & ((std::uintptr_t{1} << 47) - 1)) & ~std::uintptr_t{15};
    if (i % 2 == 0) {
      addr = reinterpret_cast<std::uintptr_t>(live[rng.next() % live.size()]) +
             static_cast<std::intptr_t>(rng.range(0, 1 << 22)) - (1 << 21);
      addr &= ~std::uintptr_t{15};
    }
    void* p = reinterpret_cast<void*>(addr);
    if (p == nullptr || live_set.count(p) != 0) continue;
    if (a.deallocate(p) == Error::ok) ++accepted;
  }
  EXPECT_EQ(accepted, 0u);
  EXPECT_ALLOCATOR_OK(a);
  for (void* p : live) ASSERT_EQ(a.deallocate(p), Error::ok);
}

}  // namespace
