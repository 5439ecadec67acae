// This file contains the size tests: the size-class table, every request size
// from 1 to 70000 (every class and past the largest), aligned allocation, bad alignments, overflowing and
// huge sizes, and size 0 in both the malloc-style and the handle API.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

using tslab_test::is_aligned;

constexpr std::size_t kMaxClassSize = 65536;

// The documented table: 16..128 in steps of 16, then 8 classes per doubling.
std::uint32_t expected_class_size(std::uint32_t c) {
  if (c < 8) return 16u * (c + 1);
  const std::uint32_t group = (c - 8) / 8;
  const std::uint32_t step = (c - 8) % 8 + 1;
  const std::uint32_t base = 128u << group;
  return base + step * (base / 8);
}

TEST(SizeClasses, TableMatchesDocumentedLayout) {
  ASSERT_EQ(slab_size_class_count(), 80u);
  for (std::uint32_t c = 0; c < 80; ++c)
    EXPECT_EQ(slab_class_size(c), expected_class_size(c)) << "class " << c;
  EXPECT_EQ(slab_class_size(8), 144u);
  EXPECT_EQ(slab_class_size(15), 256u);
  EXPECT_EQ(slab_class_size(63), 16384u);
  EXPECT_EQ(slab_class_size(64), 18432u);
  EXPECT_EQ(slab_class_size(79), 65536u);
  EXPECT_EQ(slab_class_size(80), 0u);
  EXPECT_EQ(slab_class_size(1000), 0u);
  EXPECT_EQ(slab_class_size(UINT32_MAX), 0u);
}

TEST(SizeClasses, SmallestFittingClassWithinWastageBound) {
  for (std::size_t s = 1; s <= kMaxClassSize; ++s) {
    const std::uint32_t c = slab_size_class_of(s);
    ASSERT_LT(c, slab_size_class_count()) << "size " << s;
    const std::uint32_t cs = slab_class_size(c);
    ASSERT_GE(cs, s) << "size " << s;
    if (c > 0) {
      ASSERT_LT(slab_class_size(c - 1), s) << "size " << s << " not in smallest class";
    }
    if (s > 128) {
      ASSERT_LE((cs - s) * 8, s) << "size " << s << " wastes more than 12.5% in class " << cs;
    }
    ASSERT_EQ(cs % 16, 0u);
  }
  for (std::size_t s :
       {kMaxClassSize + 1, std::size_t{70000}, std::size_t{1} << 20, std::size_t{1} << 40, SIZE_MAX})
    EXPECT_EQ(slab_size_class_of(s), slab_size_class_count()) << "size " << s;
}

TEST(SizeClasses, ObjectCount) {
  EXPECT_EQ(slab_object_count(0), 0u);
  for (std::uint32_t s = 1; s <= kMaxClassSize; ++s)
    ASSERT_EQ(slab_object_count(s), SLAB_PAGE_SIZE / slab_class_size(slab_size_class_of(s))) << "size " << s;
  EXPECT_EQ(slab_object_count(16), 4096u);
  EXPECT_EQ(slab_object_count(128), 512u);
  EXPECT_EQ(slab_object_count(16384), 4u);
  EXPECT_EQ(slab_object_count(20000), 3u);
  EXPECT_EQ(slab_object_count(40000), 1u);
  EXPECT_EQ(slab_object_count(65536), 1u);
  EXPECT_EQ(slab_object_count(65537), 0u);
  EXPECT_EQ(slab_object_count(1u << 24), 0u);
  EXPECT_EQ(slab_object_count(UINT32_MAX), 0u);
}

// Every size 1..70000 through the pointer API: usable size, alignment, full-size
// writes that keep their contents while neighbours are written, and check().
TEST(Sizes, EverySizeUpTo70000PointerApi) {
  tslab::Allocator a;
  constexpr std::size_t kWindow = 512;
  std::vector<std::pair<void*, std::size_t>> live;
  live.reserve(kWindow);
  auto drain = [&] {
    for (auto& [p, n] : live) {
      ASSERT_TRUE(tslab_test::check_pattern(p, n, n)) << "block of size " << n << " was overwritten";
      ASSERT_EQ(a.deallocate(p), tslab::Error::ok) << "size " << n;
    }
    live.clear();
  };
  for (std::size_t s = 1; s <= 70000; ++s) {
    void* p = a.allocate(s);
    ASSERT_NE(p, nullptr) << "size " << s;
    ASSERT_TRUE(is_aligned(p, 16)) << "size " << s;
    const std::size_t usable = a.usable_size(p);
    ASSERT_GE(usable, s);
    if (s <= kMaxClassSize) {
      ASSERT_EQ(usable, slab_class_size(slab_size_class_of(s))) << "size " << s;
    }
    tslab_test::fill_pattern(p, usable, usable);
    live.emplace_back(p, usable);
    if (live.size() == kWindow) {
      drain();
      if (HasFatalFailure()) return;
    }
    if (s % 10000 == 0) {
      EXPECT_ALLOCATOR_OK(a);
    }
  }
  drain();
  EXPECT_ALLOCATOR_OK(a);
}

TEST(Sizes, EverySizeUpTo70000HandleApi) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  std::vector<SlabHandle> handles;
  for (std::uint32_t s = 1; s <= 70000; ++s) {
    SlabHandle h = 0;
    void* p = alloc_obj_epoch(a, s, s % SLAB_DEFAULT_EPOCH_COUNT, &h);
    ASSERT_NE(p, nullptr) << "size " << s;
    ASSERT_NE(h, 0u);
    ASSERT_TRUE(is_aligned(p, 16));
    ASSERT_GE(slab_usable_size(a, p), s);
    std::memset(p, 0xA5, slab_usable_size(a, p));
    handles.push_back(h);
    if (handles.size() == 256) {
      for (SlabHandle x : handles) ASSERT_TRUE(free_obj(a, x));
      handles.clear();
    }
  }
  for (SlabHandle x : handles) ASSERT_TRUE(free_obj(a, x));
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

TEST(Sizes, LargeSpansBeyondClasses) {
  tslab::Allocator a;
  for (std::size_t s : {std::size_t{16385}, std::size_t{20000}, std::size_t{65536}, std::size_t{65537},
                        std::size_t{1} << 20, (std::size_t{1} << 22) + 3, std::size_t{64} << 20}) {
    void* p = a.allocate(s);
    ASSERT_NE(p, nullptr) << s;
    EXPECT_TRUE(is_aligned(p, 16));
    EXPECT_GE(a.usable_size(p), s);
    auto* b = static_cast<unsigned char*>(p);
    b[0] = 1;
    b[s / 2] = 2;
    b[s - 1] = 3;
    EXPECT_EQ(a.deallocate(p), tslab::Error::ok);
  }
  EXPECT_ALLOCATOR_OK(a);
}

std::vector<std::size_t> sample_sizes() {
  std::vector<std::size_t> sizes = {1,     2,     7,     15,    16,    17,    31,   32,   33,    63,
                                    64,    65,    100,   127,   128,   129,   255,  256,  257,   1000,
                                    1024,  1025,  4095,  4096,  4097,  8191,  8192, 8193, 16383, 16384,
                                    16385, 20000, 32768, 65535, 65536, 65537, 70000};
  tslab_test::Rng rng(42);
  for (int i = 0; i < 24; ++i) sizes.push_back(rng.range(1, 70000));
  return sizes;
}

TEST(Aligned, PowerOfTwoAlignmentsAndSizes) {
  tslab::Allocator a;
  std::vector<std::size_t> alignments;
  for (std::size_t al = 1; al <= 4096; al *= 2) alignments.push_back(al);
  alignments.push_back(8192);
  alignments.push_back(65536);
  alignments.push_back(std::size_t{1} << 20);
  const auto sizes = sample_sizes();
  for (std::size_t al : alignments) {
    std::vector<void*> live;
    for (std::size_t s : sizes) {
      void* p = a.allocate_aligned(s, al);
      ASSERT_NE(p, nullptr) << "size " << s << " alignment " << al;
      ASSERT_TRUE(is_aligned(p, al)) << "size " << s << " alignment " << al << " at " << p;
      ASSERT_TRUE(is_aligned(p, 16));
      ASSERT_GE(a.usable_size(p), s);
      std::memset(p, static_cast<int>(s & 0xFF), s);
      live.push_back(p);
    }
    std::set<void*> unique(live.begin(), live.end());
    EXPECT_EQ(unique.size(), live.size()) << "alignment " << al << " returned a block twice";
    for (void* p : live) ASSERT_EQ(a.deallocate(p), tslab::Error::ok) << "alignment " << al;
    EXPECT_ALLOCATOR_OK(a);
  }
}

TEST(Aligned, CApiAlignedInEpochs) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  for (std::size_t al = 1; al <= 65536; al *= 4) {
    for (EpochId e = 0; e < 4; ++e) {
      void* p = slab_malloc_aligned_epoch(a, 300, al, e);
      ASSERT_NE(p, nullptr) << al;
      EXPECT_TRUE(is_aligned(p, al));
      EXPECT_GE(slab_usable_size(a, p), 300u);
      EXPECT_TRUE(slab_free_checked(a, p));
    }
  }
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

TEST(Aligned, OneGibAlignment) {
  tslab::Allocator a;
  const std::size_t al = std::size_t{1} << 30;
  void* p = a.allocate_aligned(64, al);
  ASSERT_NE(p, nullptr) << tslab::to_string(tslab::last_error());
  EXPECT_TRUE(is_aligned(p, al));
  EXPECT_GE(a.usable_size(p), 64u);
  std::memset(p, 1, 64);
  EXPECT_EQ(a.deallocate(p), tslab::Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(Aligned, BadAlignmentsRejected) {
  tslab::Allocator a;
  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  for (std::size_t al :
       {std::size_t{0}, std::size_t{3}, std::size_t{5}, std::size_t{6}, std::size_t{12}, std::size_t{24},
        std::size_t{48}, std::size_t{100}, std::size_t{4097}, (std::size_t{1} << 20) + 16, SIZE_MAX}) {
    EXPECT_EQ(a.allocate_aligned(64, al), nullptr) << al;
    EXPECT_EQ(tslab::last_error(), tslab::Error::bad_alignment) << al;
    EXPECT_EQ(a.allocate_aligned(64, al, 1), nullptr) << al;
    EXPECT_EQ(tslab::last_error(), tslab::Error::bad_alignment) << al;
    EXPECT_EQ(slab_malloc_aligned_epoch(c, 64, al, 0), nullptr) << al;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_ALIGNMENT) << al;
  }
  // Powers of two beyond what any reservation could hold (2^46): too large.
  for (std::size_t al : {std::size_t{1} << 47, std::size_t{1} << 63}) {
    EXPECT_EQ(a.allocate_aligned(64, al), nullptr) << al;
    EXPECT_EQ(tslab::last_error(), tslab::Error::size_too_large) << al;
  }
  // Above a gigabyte, a power of two is an alignment like any other.
  void* big = a.allocate_aligned(64, std::size_t{1} << 31);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big) % (std::size_t{1} << 31), 0u);
  a.deallocate(big);
  EXPECT_ALLOCATOR_OK(a);
  EXPECT_SLAB_CHECK_OK(c);
  slab_allocator_free(c);
}

TEST(Overflow, SizePlusAlignmentOverflowIsSizeTooLarge) {
  tslab::Allocator a;
  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  struct Case {
    std::size_t size, alignment;
  };
  const Case cases[] = {
      {SIZE_MAX, 1},          {SIZE_MAX, 16},
      {SIZE_MAX, 64},         {SIZE_MAX - 15, 32},
      {SIZE_MAX - 63, 128},   {SIZE_MAX - 4095, 8192},
      {SIZE_MAX - 100, 4096}, {SIZE_MAX - (std::size_t{1} << 29), std::size_t{1} << 30},
  };
  for (const Case& k : cases) {
    EXPECT_EQ(a.allocate_aligned(k.size, k.alignment), nullptr) << k.size << "/" << k.alignment;
    EXPECT_EQ(tslab::last_error(), tslab::Error::size_too_large) << k.size << "/" << k.alignment;
    EXPECT_EQ(slab_malloc_aligned_epoch(c, k.size, k.alignment, 0), nullptr);
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_SIZE_TOO_LARGE) << k.size << "/" << k.alignment;
  }
  EXPECT_EQ(a.allocate(SIZE_MAX), nullptr);
  EXPECT_EQ(tslab::last_error(), tslab::Error::size_too_large);
  EXPECT_EQ(slab_malloc_epoch(c, SIZE_MAX, 0), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_SIZE_TOO_LARGE);
  const tslab::Allocation h = a.allocate_with_handle(SIZE_MAX, 0);
  EXPECT_EQ(h.ptr, nullptr);
  EXPECT_EQ(h.handle, 0u);
  EXPECT_EQ(tslab::last_error(), tslab::Error::size_too_large);
  // Still fully usable afterwards.
  void* p = a.allocate(100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(p), tslab::Error::ok);
  EXPECT_ALLOCATOR_OK(a);
  EXPECT_SLAB_CHECK_OK(c);
  slab_allocator_free(c);
}

bool is_huge_size_error(tslab::Error e) {
  return e == tslab::Error::out_of_memory || e == tslab::Error::size_too_large;
}

TEST(Overflow, HugeSizesFailCleanly) {
  tslab::Allocator a;
  for (std::size_t s : {std::size_t{1} << 62, std::size_t{1} << 63, (std::size_t{1} << 62) + 12345,
                        SIZE_MAX - 4096, SIZE_MAX / 2}) {
    EXPECT_EQ(a.allocate(s), nullptr) << s;
    EXPECT_TRUE(is_huge_size_error(tslab::last_error()))
        << s << ": " << tslab::to_string(tslab::last_error());
    EXPECT_EQ(a.allocate(s, 3), nullptr) << s;
    EXPECT_TRUE(is_huge_size_error(tslab::last_error())) << s;
    EXPECT_EQ(a.allocate_aligned(s, 4096), nullptr) << s;
    EXPECT_TRUE(is_huge_size_error(tslab::last_error())) << s;
    const tslab::Allocation h = a.allocate_with_handle(s, 0);
    EXPECT_EQ(h.ptr, nullptr) << s;
    EXPECT_EQ(h.handle, 0u);
    EXPECT_TRUE(is_huge_size_error(tslab::last_error())) << s;
  }
  void* p = a.allocate(1 << 20);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(p), tslab::Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(SizeZero, MallocStyleReturnsUniqueFreeableBlocks) {
  tslab::Allocator a;
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) {
    void* p = a.allocate(0);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(is_aligned(p, 16));
    ASSERT_GT(a.usable_size(p), 0u);
    blocks.push_back(p);
  }
  for (EpochId e = 0; e < 4; ++e) {
    void* p = a.allocate(0, e);
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
  }
  std::set<void*> unique(blocks.begin(), blocks.end());
  EXPECT_EQ(unique.size(), blocks.size());
  for (void* p : blocks) EXPECT_EQ(a.deallocate(p), tslab::Error::ok);
  for (void* p : blocks) EXPECT_EQ(a.deallocate(p), tslab::Error::double_free);

  // The C API's aligned allocation keeps the unique block too (slab_malloc_epoch
  // refuses size 0: SizeZero.CPointerApiRejectsZero).
  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  void* p1 = slab_malloc_aligned_epoch(c, 0, 16, 0);
  void* p2 = slab_malloc_aligned_epoch(c, 0, 16, 0);
  ASSERT_NE(p1, nullptr);
  ASSERT_NE(p2, nullptr);
  EXPECT_NE(p1, p2);
  EXPECT_GT(slab_usable_size(c, p1), 0u);
  EXPECT_TRUE(slab_free_checked(c, p1));
  EXPECT_TRUE(slab_free_checked(c, p2));
  EXPECT_SLAB_CHECK_OK(c);
  slab_allocator_free(c);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(SizeZero, CPointerApiRejectsZero) {
  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  for (EpochId e = 0; e < 4; ++e) {
    EXPECT_EQ(slab_malloc_epoch(c, 0, e), nullptr);
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_SIZE_ZERO);
  }
  EXPECT_EQ(slab_malloc_epoch(nullptr, 0, 0), nullptr);  // no allocator comes first
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  void* p = slab_malloc_epoch(c, 1, 0);  // the smallest real request still works
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(slab_free_checked(c, p));
  EXPECT_SLAB_CHECK_OK(c);
  slab_allocator_free(c);
}

TEST(SizeZero, HandleApiRejectsZero) {
  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  SlabHandle h = 12345;
  EXPECT_EQ(alloc_obj_epoch(c, 0, 0, &h), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_SIZE_ZERO);
  EXPECT_EQ(alloc_obj_epoch(c, 0, 0, nullptr), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_SIZE_ZERO);
  slab_allocator_free(c);

  tslab::Allocator a;
  const tslab::Allocation r = a.allocate_with_handle(0, 0);
  EXPECT_EQ(r.ptr, nullptr);
  EXPECT_EQ(r.handle, 0u);
  EXPECT_EQ(tslab::last_error(), tslab::Error::size_zero);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
