// This file contains the epoch tests: initial states and eras, epoch_advance
// including many wraparounds, epoch_close, allocation into CLOSING and
// out-of-range epochs, frees into CLOSING epochs, epoch isolation of slabs, and
// the epoch_count option of both APIs.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

using tslab::EpochState;
using tslab::Error;

TEST(Epochs, InitialStateAndEras) {
  tslab::Allocator a;
  ASSERT_EQ(a.epoch_count(), SLAB_DEFAULT_EPOCH_COUNT);
  EXPECT_EQ(a.epoch_current(), 0u);
  std::set<std::uint64_t> eras;
  for (tslab::EpochId e = 0; e < a.epoch_count(); ++e) {
    EXPECT_EQ(a.epoch_state(e), EpochState::active) << e;
    const std::uint64_t era = a.epoch_era(e);
    EXPECT_GE(era, 1u) << e;
    eras.insert(era);
  }
  EXPECT_EQ(eras.size(), a.epoch_count()) << "eras of the ring slots must be distinct";
  EXPECT_EQ(a.epoch_era(a.epoch_count()), 0u);
  EXPECT_EQ(a.epoch_era(UINT32_MAX), 0u);
}

TEST(Epochs, AdvanceClosesCurrentAndActivatesNext) {
  tslab::Allocator a;
  std::uint64_t max_era = 0;
  for (tslab::EpochId e = 0; e < a.epoch_count(); ++e) max_era = std::max(max_era, a.epoch_era(e));
  const std::uint64_t era1_before = a.epoch_era(1);
  const tslab::EpochId next = a.epoch_advance();
  EXPECT_EQ(next, 1u);
  EXPECT_EQ(a.epoch_current(), 1u);
  EXPECT_EQ(a.epoch_state(0), EpochState::closing);
  EXPECT_EQ(a.epoch_state(1), EpochState::active);
  EXPECT_GT(a.epoch_era(1), max_era);
  EXPECT_NE(a.epoch_era(1), era1_before);
  for (tslab::EpochId e = 2; e < a.epoch_count(); ++e) EXPECT_EQ(a.epoch_state(e), EpochState::active) << e;
}

TEST(Epochs, WraparoundManyTimesErasStrictlyIncrease) {
  for (std::uint32_t n : {1u, 2u, 3u, 16u, 256u}) {
    tslab::Options o;
    o.epoch_count = n;
    tslab::Allocator a(o);
    ASSERT_EQ(a.epoch_count(), n);
    std::uint64_t max_era = 0;
    for (tslab::EpochId e = 0; e < n; ++e) max_era = std::max(max_era, a.epoch_era(e));
    tslab::EpochId cur = a.epoch_current();
    const std::uint32_t rounds = n * 10 + 7;
    for (std::uint32_t i = 0; i < rounds; ++i) {
      const tslab::EpochId prev = cur;
      cur = a.epoch_advance();
      ASSERT_EQ(cur, (prev + 1) % n) << "n=" << n << " step " << i;
      ASSERT_EQ(a.epoch_current(), cur);
      ASSERT_EQ(a.epoch_state(cur), EpochState::active);
      if (n > 1) {
        ASSERT_EQ(a.epoch_state(prev), EpochState::closing);
      }
      const std::uint64_t era = a.epoch_era(cur);
      ASSERT_GT(era, max_era) << "n=" << n << " step " << i;
      max_era = era;
      // The reactivated slot takes allocations again.
      void* p = a.allocate(64, cur);
      ASSERT_NE(p, nullptr) << "n=" << n << " step " << i;
      ASSERT_EQ(a.deallocate(p), Error::ok);
    }
    // After at least one full lap every slot but the current one is CLOSING.
    for (tslab::EpochId e = 0; e < n; ++e)
      EXPECT_EQ(a.epoch_state(e), e == cur ? EpochState::active : EpochState::closing)
          << "n=" << n << " e=" << e;
    EXPECT_ALLOCATOR_OK(a);
  }
}

TEST(Epochs, CloseMarksClosingAndRejectsOutOfRange) {
  tslab::Allocator a;
  EXPECT_EQ(a.epoch_close(5), Error::ok);
  EXPECT_EQ(a.epoch_state(5), EpochState::closing);
  EXPECT_EQ(a.epoch_state(4), EpochState::active);
  EXPECT_EQ(a.epoch_state(6), EpochState::active);
  EXPECT_EQ(a.epoch_current(), 0u);
  // Closing twice is harmless.
  EXPECT_EQ(a.epoch_close(5), Error::ok);
  EXPECT_EQ(a.epoch_state(5), EpochState::closing);

  EXPECT_EQ(a.epoch_close(16), Error::epoch_out_of_range);
  EXPECT_EQ(a.epoch_close(UINT32_MAX), Error::epoch_out_of_range);

  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(epoch_close(c, 3));
  EXPECT_EQ(slab_epoch_state(c, 3), EPOCH_CLOSING);
  EXPECT_FALSE(epoch_close(c, 16));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  EXPECT_FALSE(epoch_close(c, 1000));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  slab_allocator_free(c);
}

TEST(Epochs, AllocationIntoClosingEpochFails) {
  tslab::Allocator a;
  ASSERT_EQ(a.epoch_close(2), Error::ok);
  for (std::size_t s :
       {std::size_t{1}, std::size_t{64}, std::size_t{5000}, std::size_t{16384}, std::size_t{100000}}) {
    EXPECT_EQ(a.allocate(s, 2), nullptr) << s;
    EXPECT_EQ(tslab::last_error(), Error::epoch_closing) << s;
    EXPECT_EQ(a.allocate_aligned(s, 256, 2), nullptr) << s;
    EXPECT_EQ(tslab::last_error(), Error::epoch_closing) << s;
    const tslab::Allocation h = a.allocate_with_handle(s, 2);
    EXPECT_EQ(h.ptr, nullptr) << s;
    EXPECT_EQ(h.handle, 0u);
    EXPECT_EQ(tslab::last_error(), Error::epoch_closing) << s;
  }
  // Neighbouring epochs are unaffected.
  void* p = a.allocate(64, 3);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(p), Error::ok);

  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(epoch_close(c, 7));
  SlabHandle h = 0;
  EXPECT_EQ(alloc_obj_epoch(c, 64, 7, &h), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  EXPECT_EQ(slab_malloc_epoch(c, 64, 7), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  EXPECT_EQ(slab_malloc_aligned_epoch(c, 64, 64, 7), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  // An epoch closed by epoch_advance behaves the same.
  const EpochId old = epoch_current(c);
  epoch_advance(c);
  EXPECT_EQ(slab_malloc_epoch(c, 64, old), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  EXPECT_EQ(alloc_obj_epoch(c, 64, old, &h), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  EXPECT_SLAB_CHECK_OK(c);
  slab_allocator_free(c);
}

TEST(Epochs, AllocationIntoOutOfRangeEpochFails) {
  tslab::Options o;
  o.epoch_count = 4;
  tslab::Allocator a(o);
  for (tslab::EpochId e : {4u, 5u, 16u, 255u, 256u, UINT32_MAX}) {
    EXPECT_EQ(a.allocate(64, e), nullptr) << e;
    EXPECT_EQ(tslab::last_error(), Error::epoch_out_of_range) << e;
    EXPECT_EQ(a.allocate(100000, e), nullptr) << e;
    EXPECT_EQ(tslab::last_error(), Error::epoch_out_of_range) << e;
    EXPECT_EQ(a.allocate_aligned(64, 64, e), nullptr) << e;
    EXPECT_EQ(tslab::last_error(), Error::epoch_out_of_range) << e;
    EXPECT_EQ(a.allocate_with_handle(64, e).ptr, nullptr) << e;
    EXPECT_EQ(tslab::last_error(), Error::epoch_out_of_range) << e;
  }
  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  SlabHandle h = 0;
  EXPECT_EQ(alloc_obj_epoch(c, 64, 16, &h), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  EXPECT_EQ(slab_malloc_epoch(c, 64, 16), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  EXPECT_EQ(slab_malloc_aligned_epoch(c, 64, 16, 99), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  // Nothing can be allocated there: CLOSING, with the reason.
  EXPECT_EQ(slab_epoch_state(c, 99), EPOCH_CLOSING);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  EXPECT_EQ(slab_epoch_state(nullptr, 0), EPOCH_CLOSING);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  slab_allocator_free(c);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(Epochs, FreesIntoClosingEpochSucceed) {
  tslab::Allocator a;
  std::vector<void*> ptrs;
  std::vector<tslab::Handle> handles;
  for (int i = 0; i < 3000; ++i) {
    const std::size_t size = 16 + (i % 40) * 50;
    void* p = a.allocate(size, 2);
    ASSERT_NE(p, nullptr);
    tslab_test::fill_pattern(p, size, i);
    ptrs.push_back(p);
    const tslab::Allocation h = a.allocate_with_handle(size, 2);
    ASSERT_NE(h.ptr, nullptr);
    handles.push_back(h.handle);
  }
  void* big = a.allocate(200000, 2);
  ASSERT_NE(big, nullptr);
  ASSERT_EQ(a.epoch_close(2), Error::ok);
  ASSERT_EQ(a.epoch_state(2), EpochState::closing);
  // Contents survive the close; every free succeeds. Half are freed first, then
  // other epochs allocate (and could take memory the close gave up), then the rest.
  auto free_ptrs = [&](std::size_t first) {
    for (std::size_t i = first; i < ptrs.size(); i += 2) {
      const std::size_t size = 16 + (i % 40) * 50;
      ASSERT_TRUE(tslab_test::check_pattern(ptrs[i], size, i)) << i;
      ASSERT_EQ(a.deallocate(ptrs[i]), Error::ok) << i;
    }
  };
  free_ptrs(0);
  for (std::size_t i = 0; i < handles.size(); i += 2) ASSERT_EQ(a.free_handle(handles[i]), Error::ok);
  std::vector<void*> others;
  for (int i = 0; i < 6000; ++i) {
    void* p = a.allocate(16 + (i % 40) * 50, 3 + i % 2);
    ASSERT_NE(p, nullptr);
    tslab_test::fill_pattern(p, 16 + (i % 40) * 50, 100000 + i);
    others.push_back(p);
  }
  free_ptrs(1);
  for (std::size_t i = 1; i < handles.size(); i += 2) ASSERT_EQ(a.free_handle(handles[i]), Error::ok);
  EXPECT_EQ(a.deallocate(big), Error::ok);
  for (std::size_t i = 0; i < others.size(); ++i) {
    ASSERT_TRUE(tslab_test::check_pattern(others[i], 16 + (i % 40) * 50, 100000 + i)) << i;
    ASSERT_EQ(a.deallocate(others[i]), Error::ok);
  }
  // Frees after close still detect double frees.
  EXPECT_EQ(a.deallocate(ptrs[0]), Error::double_free);
  EXPECT_NE(a.free_handle(handles[0]), Error::ok);
  EXPECT_ALLOCATOR_OK(a);

  // Through the C API, with the epoch closed by epoch_advance.
  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  std::vector<SlabHandle> hs(500);
  for (auto& h : hs) ASSERT_NE(alloc_obj_epoch(c, 96, 0, &h), nullptr);
  void* q = slab_malloc_epoch(c, 96, 0);
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(epoch_advance(c), 1u);
  ASSERT_EQ(slab_epoch_state(c, 0), EPOCH_CLOSING);
  for (SlabHandle h : hs) EXPECT_TRUE(free_obj(c, h));
  EXPECT_TRUE(slab_free_checked(c, q));
  EXPECT_SLAB_CHECK_OK(c);
  slab_allocator_free(c);
}

// Interleaved allocation in every epoch: no 64 KiB slab window holds blocks of
// two epochs, for every class size used.
TEST(Epochs, IsolationNoSharedSlabs) {
  tslab::Allocator a;
  const std::uint32_t n = a.epoch_count();
  const std::size_t sizes[] = {16, 48, 64, 128, 200, 1000, 4096, 9000, 16384};
  std::map<std::uintptr_t, tslab::EpochId> owner;
  std::vector<void*> live;
  tslab_test::Rng rng(7);
  for (int round = 0; round < 60; ++round) {
    for (tslab::EpochId e = 0; e < n; ++e) {
      for (std::size_t s : sizes) {
        void* p = (round % 3 == 2) ? a.allocate_with_handle(s, e).ptr : a.allocate(s, e);
        ASSERT_NE(p, nullptr);
        const auto [it, inserted] = owner.emplace(tslab_test::slab_window(p), e);
        ASSERT_EQ(it->second, e) << "epochs " << it->second << " and " << e << " share the slab at "
                                 << (it->first * SLAB_PAGE_SIZE) << " (size " << s << ")";
        live.push_back(p);
      }
    }
    // Free a few at random to make slabs partial and reused within their epoch.
    for (int k = 0; k < 40 && !live.empty(); ++k) {
      const std::size_t i = rng.next() % live.size();
      ASSERT_EQ(a.deallocate(live[i]), Error::ok);
      live[i] = live.back();
      live.pop_back();
    }
  }
  EXPECT_ALLOCATOR_OK(a);
  for (void* p : live) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(Epochs, EpochCountOption) {
  for (std::uint32_t n : {1u, 2u, 7u, 255u, 256u}) {
    tslab::Options o;
    o.epoch_count = n;
    tslab::Allocator a(o);
    EXPECT_EQ(a.epoch_count(), n);
    void* p = a.allocate(64, n - 1);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_EQ(a.deallocate(p), Error::ok);
    EXPECT_EQ(a.allocate(64, n), nullptr) << n;
    EXPECT_EQ(tslab::last_error(), Error::epoch_out_of_range);
    EXPECT_EQ(a.epoch_close(n), Error::epoch_out_of_range);
  }
  for (std::uint32_t bad : {0u, 257u, 1000u, UINT32_MAX}) {
    tslab::Options o;
    o.epoch_count = bad;
    EXPECT_THROW({ tslab::Allocator a(o); }, std::invalid_argument) << bad;
  }

  SlabAllocatorOptions co{};
  co.epoch_count = 0;
  SlabAllocator* c = slab_allocator_create_with(&co);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(slab_epoch_count(c), SLAB_DEFAULT_EPOCH_COUNT);
  slab_allocator_free(c);
  for (std::uint32_t n : {1u, 9u, 256u}) {
    co.epoch_count = n;
    c = slab_allocator_create_with(&co);
    ASSERT_NE(c, nullptr) << n;
    EXPECT_EQ(slab_epoch_count(c), n);
    EXPECT_EQ(epoch_current(c), 0u);
    EXPECT_EQ(slab_malloc_epoch(c, 32, n), nullptr);
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
    slab_allocator_free(c);
  }
  for (std::uint32_t bad : {257u, 100000u}) {
    co.epoch_count = bad;
    EXPECT_EQ(slab_allocator_create_with(&co), nullptr) << bad;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT) << bad;
  }
  c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(slab_epoch_count(c), SLAB_DEFAULT_EPOCH_COUNT);
  slab_allocator_free(c);
}

TEST(Epochs, SingleEpochRingReactivatesItself) {
  tslab::Options o;
  o.epoch_count = 1;
  tslab::Allocator a(o);
  void* old_block = a.allocate(128, 0);
  ASSERT_NE(old_block, nullptr);
  const std::uint64_t era = a.epoch_era(0);
  EXPECT_EQ(a.epoch_advance(), 0u);
  EXPECT_EQ(a.epoch_state(0), EpochState::active);
  EXPECT_GT(a.epoch_era(0), era);
  void* p = a.allocate(128, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(old_block), Error::ok);
  EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_EQ(a.epoch_close(0), Error::ok);
  EXPECT_EQ(a.allocate(128, 0), nullptr);
  EXPECT_EQ(tslab::last_error(), Error::epoch_closing);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(Epochs, CurrentEpochDefaultAllocationFollowsAdvance) {
  tslab::Allocator a;
  for (int i = 0; i < 40; ++i) {
    void* p = a.allocate(256);
    ASSERT_NE(p, nullptr) << "step " << i << ": " << tslab::to_string(tslab::last_error());
    EXPECT_EQ(a.deallocate(p), Error::ok);
    a.epoch_advance();
  }
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
