// This file contains the fault-injection tests: an allocator on a
// FaultInjectingPlatform whose reserve/commit calls are refused, all at once or
// after a budget. Refusals surface as out_of_memory, never as corruption; blocks
// allocated before a refusal stay intact and freeable; allocation recovers.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <set>
#include <vector>

#include "forwarding_platform.h"
#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/platform.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;

struct Block {
  void* p;
  std::size_t size;
  std::uint64_t tag;
};

tslab::Options options_for(tslab::FaultInjectingPlatform& fip, std::uint32_t epochs = 16) {
  tslab::Options o;
  o.platform = &fip;
  o.epoch_count = epochs;
  return o;
}

// Allocates a mixed workload before any refusal and tags every block.
std::vector<Block> allocate_baseline(tslab::Allocator& a, std::uint64_t seed) {
  std::vector<Block> blocks;
  tslab_test::Rng rng(seed);
  for (int i = 0; i < 2000; ++i) {
    std::size_t size = rng.range(1, 4000);
    if (i % 100 == 0) size = rng.range(70000, 300000);
    void* p = a.allocate(size, static_cast<tslab::EpochId>(i % 3));
    if (p == nullptr) {
      ADD_FAILURE() << "baseline allocation failed: " << tslab::to_string(tslab::last_error());
      break;
    }
    tslab_test::fill_pattern(p, size, seed + i);
    blocks.push_back({p, size, seed + i});
  }
  return blocks;
}

void verify_and_free(tslab::Allocator& a, const std::vector<Block>& blocks) {
  for (const Block& b : blocks) {
    ASSERT_TRUE(tslab_test::check_pattern(b.p, b.size, b.tag)) << "block of " << b.size << " bytes corrupted";
    ASSERT_GE(a.usable_size(b.p), b.size);
    ASSERT_EQ(a.deallocate(b.p), Error::ok);
  }
}

TEST(FaultInjection, ConstructionUnderRefusalThrows) {
  tslab::FaultInjectingPlatform fip(tslab::OsPlatform::instance());
  fip.refuse_all(true);
  EXPECT_THROW({ tslab::Allocator a(options_for(fip)); }, std::bad_alloc);
  EXPECT_GT(fip.refusals(), 0u);
  fip.refuse_all(false);
  tslab::Allocator a(options_for(fip));
  ASSERT_TRUE(a.valid());
  void* p = a.allocate(64);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_GT(fip.reserve_calls(), 0u) << "the allocator did not use the platform it was given";
}

TEST(FaultInjection, RefuseAllThenRecover) {
  tslab::FaultInjectingPlatform fip(tslab::OsPlatform::instance());
  tslab::Allocator a(options_for(fip));
  const std::vector<Block> before = allocate_baseline(a, 1000);
  const std::uint64_t refusals_before = fip.refusals();

  fip.refuse_all(true);
  // Large blocks always need fresh memory.
  for (std::size_t s : {std::size_t{65537}, std::size_t{100000}, std::size_t{8} << 20}) {
    EXPECT_EQ(a.allocate(s), nullptr) << s;
    EXPECT_EQ(tslab::last_error(), Error::out_of_memory) << s;
    EXPECT_EQ(a.allocate_aligned(s, 4096, 1), nullptr) << s;
    EXPECT_EQ(tslab::last_error(), Error::out_of_memory) << s;
    const tslab::Allocation h = a.allocate_with_handle(s, 2);
    EXPECT_EQ(h.ptr, nullptr) << s;
    EXPECT_EQ(h.handle, 0u);
    EXPECT_EQ(tslab::last_error(), Error::out_of_memory) << s;
  }
  // Small blocks in a fresh epoch succeed only while existing memory lasts.
  std::vector<Block> during;
  bool failed = false;
  const std::size_t cap = (std::size_t{1} << 30) / 16384;
  for (std::size_t i = 0; i < cap; ++i) {
    void* p = a.allocate(16384, 5);
    if (p == nullptr) {
      EXPECT_EQ(tslab::last_error(), Error::out_of_memory);
      failed = true;
      break;
    }
    ASSERT_EQ(a.usable_size(p), 16384u);
    tslab_test::fill_pattern(p, 64, 7000 + i);
    during.push_back({p, 64, 7000 + i});
  }
  EXPECT_TRUE(failed) << "1 GiB of fresh slabs were carved while the OS refused all memory";
  EXPECT_GT(fip.refusals(), refusals_before);
  // Further attempts keep failing cleanly; the handle API and the C-style calls too.
  for (int i = 0; i < 100; ++i) {
    if (a.allocate(16384, 5) != nullptr) {
      ADD_FAILURE() << "allocation succeeded after the fresh-memory path was refused";
      break;
    }
    ASSERT_EQ(tslab::last_error(), Error::out_of_memory);
  }
  EXPECT_ALLOCATOR_OK(a);
  // Epoch operations need no memory and keep working.
  EXPECT_EQ(a.epoch_close(6), Error::ok);
  a.epoch_advance();
  EXPECT_ALLOCATOR_OK(a);

  // Nothing lost: every block from before and during the refusal is intact.
  verify_and_free(a, before);
  verify_and_free(a, during);
  EXPECT_ALLOCATOR_OK(a);

  fip.refuse_all(false);
  void* big = a.allocate(1 << 20, 7);
  ASSERT_NE(big, nullptr) << tslab::to_string(tslab::last_error());
  std::vector<Block> after;
  for (int i = 0; i < 5000; ++i) {
    void* p = a.allocate(16384, 8);
    ASSERT_NE(p, nullptr) << "allocation did not recover after refuse_all(false)";
    tslab_test::fill_pattern(p, 32, i);
    after.push_back({p, 32, static_cast<std::uint64_t>(i)});
  }
  verify_and_free(a, after);
  EXPECT_EQ(a.deallocate(big), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// A workload under a budget of n successful reserve/commit calls: every
// failure is out_of_memory, every success is a usable distinct block, and
// everything is intact and freeable after the budget is lifted.
void run_budget(std::int64_t n, bool budget_before_construction) {
  SCOPED_TRACE(testing::Message() << "budget " << n << (budget_before_construction ? " (before ctor)" : ""));
  tslab::FaultInjectingPlatform fip(tslab::OsPlatform::instance());
  if (budget_before_construction) fip.refuse_after(n);
  tslab::Allocator a;
  try {
    a = tslab::Allocator(options_for(fip, 4));
  } catch (const std::bad_alloc&) {
    ASSERT_TRUE(budget_before_construction) << "construction failed without refusals";
    return;  // a budget too small to build the allocator
  }
  if (!budget_before_construction) fip.refuse_after(n);
  std::vector<Block> ok;
  std::vector<tslab::Allocation> handles;
  std::set<void*> distinct;
  std::size_t failures = 0;
  tslab_test::Rng rng(static_cast<std::uint64_t>(n) * 31 + 1);
  for (int i = 0; i < 3000; ++i) {
    std::size_t size = rng.range(1, 16384);
    if (i % 50 == 0) size = rng.range(65537, 400000);
    const auto e = static_cast<tslab::EpochId>(rng.range(0, 3));
    if (i % 4 == 0) {
      const tslab::Allocation h = a.allocate_with_handle(size, e);
      if (h.ptr == nullptr) {
        ASSERT_EQ(h.handle, 0u);
        ASSERT_EQ(tslab::last_error(), Error::out_of_memory);
        ++failures;
        continue;
      }
      ASSERT_NE(h.handle, 0u);
      ASSERT_TRUE(distinct.insert(h.ptr).second);
      tslab_test::fill_pattern(h.ptr, size, h.handle);
      handles.push_back(h);
      continue;
    }
    void* p = (i % 4 == 1) ? a.allocate_aligned(size, 256, e) : a.allocate(size, e);
    if (p == nullptr) {
      ASSERT_EQ(tslab::last_error(), Error::out_of_memory);
      ++failures;
      continue;
    }
    ASSERT_GE(a.usable_size(p), size);
    ASSERT_TRUE(distinct.insert(p).second) << "a live block was handed out twice";
    tslab_test::fill_pattern(p, size, 1000000 + i);
    ok.push_back({p, size, 1000000u + i});
  }
  if (failures > 0) {
    EXPECT_GT(fip.refusals(), 0u) << "out_of_memory without a refusal";
  }
  if (n == 0 && !budget_before_construction) {
    EXPECT_GT(failures, 0u) << "large blocks succeeded with no budget";
  }
  EXPECT_ALLOCATOR_OK(a);
  fip.reset();
  verify_and_free(a, ok);
  for (const auto& h : handles) {
    ASSERT_EQ(a.handle_to_ptr(h.handle), h.ptr);
    ASSERT_EQ(a.free_handle(h.handle), Error::ok);
  }
  EXPECT_ALLOCATOR_OK(a);
  // After the budget is lifted the allocator works in every epoch and size.
  for (tslab::EpochId e = 0; e < 4; ++e) {
    for (std::size_t s : {std::size_t{8}, std::size_t{700}, std::size_t{16384}, std::size_t{500000}}) {
      void* p = a.allocate(s, e);
      ASSERT_NE(p, nullptr) << "no recovery for size " << s << " epoch " << e;
      ASSERT_EQ(a.deallocate(p), Error::ok);
    }
  }
  EXPECT_ALLOCATOR_OK(a);
}

TEST(FaultInjection, RefuseAfterBudgetsAfterConstruction) {
  for (std::int64_t n = 0; n <= 24; ++n) {
    run_budget(n, false);
    if (HasFatalFailure()) return;
  }
  run_budget(100, false);
  run_budget(1000, false);
}

TEST(FaultInjection, RefuseAfterBudgetsBeforeConstruction) {
  for (std::int64_t n = 0; n <= 24; ++n) {
    run_budget(n, true);
    if (HasFatalFailure()) return;
  }
}

TEST(FaultInjection, PmrAndStlSurfaceBadAlloc) {
  tslab::FaultInjectingPlatform fip(tslab::OsPlatform::instance());
  tslab::Allocator a(options_for(fip));
  tslab::PmrResource res(a, 0);
  std::pmr::vector<int> v(&res);
  v.resize(1000, 7);
  fip.refuse_all(true);
  EXPECT_THROW((void)res.allocate(std::size_t{4} << 20), std::bad_alloc);
  tslab::StlAllocator<double> stl(a, 1);
  EXPECT_THROW((void)stl.allocate(1 << 20), std::bad_alloc);
  EXPECT_THROW(v.resize(std::size_t{8} << 20), std::bad_alloc);
  EXPECT_EQ(v.size(), 1000u) << "strong guarantee: the vector is unchanged";
  for (int x : v) ASSERT_EQ(x, 7);
  fip.refuse_all(false);
  v.resize(std::size_t{1} << 20, 3);
  EXPECT_EQ(v.back(), 3);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(FaultInjection, FreesNeverNeedMemory) {
  tslab::FaultInjectingPlatform fip(tslab::OsPlatform::instance());
  tslab::Allocator a(options_for(fip));
  std::vector<tslab::Allocation> hs;
  std::vector<Block> ps = allocate_baseline(a, 55);
  for (int i = 0; i < 3000; ++i) hs.push_back(a.allocate_with_handle(64 + (i % 7) * 512, i % 4));
  for (const auto& h : hs) ASSERT_NE(h.ptr, nullptr);
  fip.refuse_all(true);
  for (const auto& h : hs) ASSERT_EQ(a.free_handle(h.handle), Error::ok);
  verify_and_free(a, ps);
  // Closing drained epochs may hand pages back; it needs no memory either.
  for (tslab::EpochId e = 0; e < 4; ++e) EXPECT_EQ(a.epoch_close(e), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
  fip.refuse_all(false);
  void* p = a.allocate(64, 9);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(p), Error::ok);
}

// A platform that breaks its contract: every reservation it returns lies
// `offset` bytes past the alignment asked for. The allocator gives each such
// range back and refuses it: out of memory for a block (a page off: segments
// and spans), no allocator at all (8 bytes off: its metadata arena too).
// Nothing is corrupted, and freeing what it never handed out is refused.
class MisalignedPlatform final : public tslab_test::ForwardingPlatform {
 public:
  explicit MisalignedPlatform(std::size_t offset) : offset_(offset) {}
  void* reserve(std::size_t size, std::size_t alignment) noexcept override {
    auto* base = static_cast<char*>(os().reserve(size + EXTRA, alignment));
    return base == nullptr ? nullptr : base + offset_;
  }
  void release(void* p, std::size_t size) noexcept override {
    releases.fetch_add(1);
    os().release(static_cast<char*>(p) - offset_, size + EXTRA);
  }
  std::atomic<int> releases{0};

 private:
  static constexpr std::size_t EXTRA = std::size_t{4} << 20;  // room for the offset at any alignment
  std::size_t offset_;
};

TEST(FaultInjection, AMisalignedReservationIsRefusedNotUsed) {
  MisalignedPlatform platform(tslab::OsPlatform::instance().page_size());
  tslab::Options o;
  o.platform = &platform;
  tslab::Allocator a(o);  // its metadata arena asks for page alignment only: that holds
  ASSERT_TRUE(a.valid());
  const int releases_before = platform.releases.load();
  for (std::size_t size : {std::size_t{64}, std::size_t{4096}, std::size_t{100000}, std::size_t{5} << 20}) {
    EXPECT_EQ(a.allocate(size), nullptr) << size;
    EXPECT_EQ(tslab::last_error(), Error::out_of_memory) << size;
  }
  EXPECT_GE(platform.releases.load() - releases_before, 4) << "a misaligned range was kept";
  int local = 0;
  EXPECT_NE(a.deallocate(&local), Error::ok);
  EXPECT_TRUE(a.check().ok);

  MisalignedPlatform bytes_off(8);
  o.platform = &bytes_off;
  EXPECT_THROW({ tslab::Allocator b(o); }, std::bad_alloc);
  EXPECT_GE(bytes_off.releases.load(), 1) << "the misaligned metadata chunk was kept";
}

}  // namespace
