// This file contains the handle tests: round trips between handles and
// pointers, double frees, zero/garbage/bit-flipped/foreign handles, handles of
// large blocks, and handles whose slab was drained and its epoch closed.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <thread>
#include <unordered_set>
#include <vector>

#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;

class CAlloc {
 public:
  CAlloc() : a_(slab_allocator_create()) {}
  ~CAlloc() { slab_allocator_free(a_); }
  CAlloc(const CAlloc&) = delete;
  CAlloc& operator=(const CAlloc&) = delete;
  SlabAllocator* get() const { return a_; }

 private:
  SlabAllocator* a_;
};

TEST(Handles, RoundTrip) {
  CAlloc c;
  SlabAllocator* a = c.get();
  ASSERT_NE(a, nullptr);
  const std::uint32_t sizes[] = {1, 16, 17, 100, 128, 1000, 4096, 16384};
  for (EpochId e = 0; e < 4; ++e) {
    for (std::uint32_t s : sizes) {
      SlabHandle h = 0;
      void* p = alloc_obj_epoch(a, s, e, &h);
      ASSERT_NE(p, nullptr);
      ASSERT_NE(h, 0u);
      EXPECT_EQ(slab_handle_to_ptr(a, h), p);
      EXPECT_EQ(slab_ptr_to_handle(a, p), h);
      EXPECT_GE(slab_usable_size(a, p), s);
      std::memset(p, 0x5C, s);
      EXPECT_TRUE(free_obj(a, h));
      EXPECT_EQ(slab_handle_to_ptr(a, h), nullptr);
      EXPECT_EQ(slab_ptr_to_handle(a, p), 0u);
      EXPECT_FALSE(free_obj(a, h));
      EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOUBLE_FREE);
    }
  }
  // The handle output may be NULL.
  void* p = alloc_obj_epoch(a, 64, 0, nullptr);
  ASSERT_NE(p, nullptr);
  const SlabHandle h = slab_ptr_to_handle(a, p);
  ASSERT_NE(h, 0u);
  EXPECT_EQ(slab_handle_to_ptr(a, h), p);
  EXPECT_TRUE(free_obj(a, h));
  EXPECT_SLAB_CHECK_OK(a);
}

TEST(Handles, ManyLiveHandlesAreDistinctAndResolve) {
  tslab::Allocator a;
  std::vector<tslab::Allocation> live;
  std::unordered_set<tslab::Handle> seen;
  tslab_test::Rng rng(3);
  for (int i = 0; i < 20000; ++i) {
    const std::size_t size = rng.range(1, 3000);
    const tslab::Allocation r = a.allocate_with_handle(size, static_cast<tslab::EpochId>(i % 5));
    ASSERT_NE(r.ptr, nullptr);
    ASSERT_NE(r.handle, 0u);
    ASSERT_TRUE(seen.insert(r.handle).second) << "duplicate live handle";
    tslab_test::fill_pattern(r.ptr, size < 8 ? size : 8, i);
    live.push_back(r);
  }
  for (std::size_t i = 0; i < live.size(); ++i) {
    ASSERT_EQ(a.handle_to_ptr(live[i].handle), live[i].ptr);
    ASSERT_EQ(a.ptr_to_handle(live[i].ptr), live[i].handle);
  }
  for (std::size_t i = 0; i < live.size(); i += 2) ASSERT_EQ(a.free_handle(live[i].handle), Error::ok);
  for (std::size_t i = 0; i < live.size(); ++i) {
    if (i % 2 == 0) {
      ASSERT_EQ(a.handle_to_ptr(live[i].handle), nullptr);
    } else {
      ASSERT_EQ(a.handle_to_ptr(live[i].handle), live[i].ptr);
    }
  }
  // Blocks allocated with a handle can be freed by pointer too, and vice versa.
  for (std::size_t i = 1; i < live.size(); i += 2) ASSERT_EQ(a.deallocate(live[i].ptr), Error::ok);
  for (std::size_t i = 1; i < live.size(); i += 2) ASSERT_NE(a.free_handle(live[i].handle), Error::ok);
  void* p = a.allocate(200, 1);
  ASSERT_NE(p, nullptr);
  const tslab::Handle h = a.ptr_to_handle(p);
  ASSERT_NE(h, 0u);
  EXPECT_EQ(a.free_handle(h), Error::ok);
  EXPECT_EQ(a.deallocate(p), Error::double_free);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(Handles, DoubleFreeNeverFreesTwice) {
  tslab::Allocator a;
  std::vector<tslab::Allocation> blocks;
  for (int i = 0; i < 2000; ++i) blocks.push_back(a.allocate_with_handle(64, 0));
  for (auto& b : blocks) ASSERT_EQ(a.free_handle(b.handle), Error::ok);
  for (auto& b : blocks) {
    ASSERT_EQ(a.free_handle(b.handle), Error::double_free);
    ASSERT_EQ(tslab::last_error(), Error::double_free);
  }
  // Had a double free pushed a block twice, these would hand it out twice.
  const std::set<void*> fresh =
      tslab_test::distinct_blocks(4000, [&](std::size_t) { return a.allocate(64, 0); });
  EXPECT_ALLOCATOR_OK(a);
  for (void* p : fresh) ASSERT_EQ(a.deallocate(p), Error::ok);
}

TEST(Handles, ZeroAndGarbageHandlesRejected) {
  CAlloc c;
  SlabAllocator* a = c.get();
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE(free_obj(a, 0));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_HANDLE);
  EXPECT_EQ(slab_handle_to_ptr(a, 0), nullptr);

  // Live blocks that must survive the garbage.
  struct Live {
    SlabHandle h;
    void* p;
    std::uint32_t size;
  };
  std::vector<Live> live;
  tslab_test::Rng rng(99);
  for (int i = 0; i < 2000; ++i) {
    Live l{0, nullptr, static_cast<std::uint32_t>(rng.range(1, 20000))};
    l.p = alloc_obj_epoch(a, l.size, i % 3, &l.h);
    ASSERT_NE(l.p, nullptr);
    tslab_test::fill_pattern(l.p, l.size, l.h);
    live.push_back(l);
  }
  std::unordered_set<SlabHandle> live_set;
  for (auto& l : live) live_set.insert(l.h);

  const std::size_t n = tslab_test::scaled(100000);
  std::size_t accepted = 0, bad_error = 0;
  for (std::size_t i = 0; i < n; ++i) {
    SlabHandle g = rng.next();
    if (i % 4 == 1) g &= 0xFFFFFFFFull;  // small values
    if (i % 4 == 2) g &= 0xFFFFFFFFFFFF0000ull;
    if (g == 0 || live_set.count(g) != 0) continue;
    if (slab_handle_to_ptr(a, g) != nullptr) ++accepted;
    if (free_obj(a, g)) {
      ++accepted;
    } else if (slab_last_error() == TSLAB_OK) {
      ++bad_error;
    }
  }
  EXPECT_EQ(accepted, 0u) << "garbage handles accepted";
  EXPECT_EQ(bad_error, 0u) << "rejections without an error code";
  EXPECT_SLAB_CHECK_OK(a);
  for (auto& l : live) {
    ASSERT_EQ(slab_handle_to_ptr(a, l.h), l.p);
    ASSERT_TRUE(tslab_test::check_pattern(l.p, l.size, l.h));
    ASSERT_TRUE(free_obj(a, l.h));
  }
  EXPECT_SLAB_CHECK_OK(a);
}

// A single live block in its own allocator: every handle one bit away from its
// handle names nothing live, so each must be rejected, and the block survives.
TEST(Handles, BitFlippedHandlesRejected) {
  for (std::uint32_t size : {16u, 128u, 4096u, 16384u, 50000u}) {
    CAlloc c;
    SlabAllocator* a = c.get();
    ASSERT_NE(a, nullptr);
    SlabHandle h = 0;
    void* p = alloc_obj_epoch(a, size, 1, &h);
    ASSERT_NE(p, nullptr);
    for (int bit = 0; bit < 64; ++bit) {
      const SlabHandle g = h ^ (SlabHandle{1} << bit);
      EXPECT_EQ(slab_handle_to_ptr(a, g), nullptr) << "size " << size << " bit " << bit;
      EXPECT_FALSE(free_obj(a, g)) << "size " << size << " bit " << bit;
      EXPECT_NE(slab_last_error(), TSLAB_OK);
      ASSERT_EQ(slab_handle_to_ptr(a, h), p)
          << "size " << size << ": flipping bit " << bit << " freed the block";
    }
    EXPECT_SLAB_CHECK_OK(a);
    EXPECT_TRUE(free_obj(a, h));
  }
}

TEST(Handles, ForeignHandlesRejected) {
  tslab::Allocator a;
  tslab::Allocator b;
  std::vector<tslab::Allocation> in_a;
  for (std::size_t s :
       {std::size_t{16}, std::size_t{128}, std::size_t{3000}, std::size_t{16384}, std::size_t{70000}})
    for (int i = 0; i < 10; ++i) in_a.push_back(a.allocate_with_handle(s, 0));
  // Give b some live blocks of the same classes too.
  std::vector<tslab::Allocation> in_b;
  for (std::size_t s : {std::size_t{16}, std::size_t{128}, std::size_t{3000}})
    in_b.push_back(b.allocate_with_handle(s, 0));
  for (const auto& r : in_a) {
    ASSERT_NE(r.ptr, nullptr);
    EXPECT_EQ(b.free_handle(r.handle), Error::foreign);
    EXPECT_EQ(tslab::last_error(), Error::foreign);
    EXPECT_EQ(b.handle_to_ptr(r.handle), nullptr);
    EXPECT_EQ(b.ptr_to_handle(r.ptr), 0u);
    EXPECT_EQ(b.usable_size(r.ptr), 0u);
  }
  EXPECT_ALLOCATOR_OK(b);
  for (const auto& r : in_a) {
    EXPECT_EQ(a.handle_to_ptr(r.handle), r.ptr);
    EXPECT_EQ(a.free_handle(r.handle), Error::ok);
  }
  for (const auto& r : in_b) EXPECT_EQ(b.free_handle(r.handle), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
  EXPECT_ALLOCATOR_OK(b);
}

// A handle freed by the thread whose heap owns its slab takes the fast path,
// unpinned (core/fast_path.h); its slab may since have gone back to the pool and
// into another thread's heap. The old handle must then read stale, and the
// other thread's block must stay live.
TEST(Handles, OwnersHandleOfASlabAnotherThreadTookSinceIsStale) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  std::vector<tslab::Allocation> mine;
  const std::size_t per_slab = (64 * 1024) / 256;  // a slab's blocks of 256 B
  for (std::size_t i = 0; i < per_slab; ++i) mine.push_back(a.allocate_with_handle(256, 0));
  for (auto& b : mine) ASSERT_EQ(a.free_handle(b.handle), Error::ok);
  a.collect();  // this thread's heap gives its empty slab back
  std::vector<tslab::Allocation> theirs;
  std::thread([&] {
    for (std::size_t i = 0; i < per_slab; ++i) theirs.push_back(a.allocate_with_handle(256, 0));
  }).join();
  std::set<void*> their_blocks;
  for (auto& b : theirs) their_blocks.insert(b.ptr);
  std::size_t reused = 0;
  for (auto& b : mine) {
    if (their_blocks.count(b.ptr) != 0) ++reused;
    EXPECT_EQ(a.free_handle(b.handle), Error::stale_handle);
  }
  EXPECT_GT(reused, 0u) << "the other thread took no block of the recycled slab";
  for (auto& b : theirs) EXPECT_EQ(a.handle_to_ptr(b.handle), b.ptr);
  EXPECT_ALLOCATOR_OK(a);
  std::thread([&] {
    for (auto& b : theirs) EXPECT_EQ(a.free_handle(b.handle), Error::ok);
  }).join();
  EXPECT_ALLOCATOR_OK(a);
}

// The same with the slab taken back by the same heap: the fast path's own
// generation check is all that tells the old handles from the new ones.
TEST(Handles, OwnersHandleOfASlabItsOwnHeapTookAgainIsStale) {
  tslab::Allocator a;
  std::vector<tslab::Allocation> old_blocks;
  const std::size_t per_slab = (64 * 1024) / 256;
  for (std::size_t i = 0; i < per_slab; ++i) old_blocks.push_back(a.allocate_with_handle(256, 0));
  for (auto& b : old_blocks) ASSERT_EQ(a.free_handle(b.handle), Error::ok);
  a.collect();
  std::vector<tslab::Allocation> new_blocks;
  for (std::size_t i = 0; i < per_slab; ++i) new_blocks.push_back(a.allocate_with_handle(256, 0));
  std::set<void*> now;
  for (auto& b : new_blocks) now.insert(b.ptr);
  std::size_t reused = 0;
  for (auto& b : old_blocks) {
    reused += now.count(b.ptr);
    EXPECT_EQ(a.free_handle(b.handle), Error::stale_handle);
  }
  EXPECT_GT(reused, 0u) << "the slab was not taken again";
  for (auto& b : new_blocks)
    ASSERT_EQ(a.handle_to_ptr(b.handle), b.ptr) << "a stale handle freed a new block";
  for (auto& b : new_blocks) EXPECT_EQ(a.free_handle(b.handle), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// A thread with a heap of its own frees handles of another thread's blocks: a
// remote free from the slab the handle names (free_handle_other). Each block is
// freed once; a second free, a stale handle and a slot past the slab's last
// block are refused with the owner's errors; nothing is handed out twice.
TEST(Handles, HandlesOfAnotherThreadsBlocksFreedFromAThreadWithAHeap) {
  tslab::Allocator a;
  std::vector<tslab::Allocation> blocks;
  for (int i = 0; i < 3000; ++i) blocks.push_back(a.allocate_with_handle(16 + 48 * (i % 7), i % 2));
  std::thread([&] {
    void* own = a.allocate(64, 0);  // this thread's heap
    ASSERT_NE(own, nullptr);
    for (auto& b : blocks) ASSERT_EQ(a.free_handle(b.handle), Error::ok);
    for (auto& b : blocks) {
      ASSERT_EQ(a.free_handle(b.handle), Error::double_free);
      ASSERT_EQ(tslab::last_error(), Error::double_free);
    }
    // A 64 B block's handle with its slot field at its largest value: past the
    // last of its slab's 1,024 blocks.
    const std::uint64_t past_end = blocks[1].handle | 0xFFFu;
    EXPECT_EQ(a.free_handle(past_end), Error::invalid_handle);
    EXPECT_EQ(a.deallocate(own), Error::ok);
  }).join();
  a.collect();  // the owner collects the remote frees
  EXPECT_ALLOCATOR_OK(a);
  const std::set<void*> fresh = tslab_test::distinct_blocks(
      6000, [&](std::size_t i) { return a.allocate(16 + 48 * (i % 7), static_cast<tslab::EpochId>(i % 2)); });
  EXPECT_ALLOCATOR_OK(a);
  for (void* p : fresh) ASSERT_EQ(a.deallocate(p), Error::ok);
}

// The handle is written after the block left its free list (core/fast_path.h):
// an output pointer into the very block being handed out (a dangling pointer
// the caller kept to a block it freed, which the LIFO list gives back first)
// receives the handle and leaves the list intact.
TEST(Handles, AHandleWrittenIntoTheBlockHandedOutLeavesTheListIntact) {
  CAlloc c;
  SlabAllocator* a = c.get();
  ASSERT_NE(a, nullptr);
  std::vector<void*> keep;
  for (int i = 0; i < 8; ++i) keep.push_back(slab_malloc_epoch(a, 64, 0));
  void* x = keep.back();
  keep.pop_back();
  slab_free(a, x);
  SlabHandle* out = static_cast<SlabHandle*>(x);  // dangling: x is free
  void* p = alloc_obj_epoch(a, 64, 0, out);
  ASSERT_EQ(p, x) << "expected the block freed last";
  EXPECT_EQ(slab_ptr_to_handle(a, p), *out);
  const std::set<void*> fresh =
      tslab_test::distinct_blocks(2000, [&](std::size_t) { return slab_malloc_epoch(a, 64, 0); }, {p});
  EXPECT_SLAB_CHECK_OK(a);
  for (void* q : fresh) EXPECT_TRUE(slab_free_checked(a, q));
  for (void* q : keep) EXPECT_TRUE(slab_free_checked(a, q));
  EXPECT_SLAB_CHECK_OK(a);
}

TEST(Handles, LargeBlocks) {
  tslab::Allocator a;
  std::vector<tslab::Allocation> big;
  for (std::size_t s : {std::size_t{65537}, std::size_t{70000}, std::size_t{100000}, std::size_t{1} << 20,
                        std::size_t{10} << 20}) {
    const tslab::Allocation r = a.allocate_with_handle(s, 2);
    ASSERT_NE(r.ptr, nullptr) << s;
    ASSERT_NE(r.handle, 0u);
    EXPECT_GE(a.usable_size(r.ptr), s);
    EXPECT_EQ(a.handle_to_ptr(r.handle), r.ptr);
    EXPECT_EQ(a.ptr_to_handle(r.ptr), r.handle);
    tslab_test::fill_pattern(r.ptr, 4096, s);
    big.push_back(r);
  }
  std::set<tslab::Handle> distinct;
  for (const auto& r : big) distinct.insert(r.handle);
  EXPECT_EQ(distinct.size(), big.size());
  for (const auto& r : big) {
    EXPECT_EQ(a.ptr_to_handle(static_cast<char*>(r.ptr) + 16), 0u) << "interior pointer has no handle";
    EXPECT_EQ(a.free_handle(r.handle), Error::ok);
    EXPECT_EQ(a.handle_to_ptr(r.handle), nullptr);
    const Error again = a.free_handle(r.handle);
    EXPECT_TRUE(again == Error::double_free || again == Error::stale_handle) << tslab::to_string(again);
  }
  EXPECT_ALLOCATOR_OK(a);
  // The C API with a large size.
  CAlloc c;
  SlabHandle h = 0;
  void* p = alloc_obj_epoch(c.get(), 300000, 0, &h);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(h, 0u);
  EXPECT_EQ(slab_handle_to_ptr(c.get(), h), p);
  EXPECT_TRUE(free_obj(c.get(), h));
  EXPECT_FALSE(free_obj(c.get(), h));
}

// Handles of a drained and closed epoch: whatever reuse of their slabs happens
// afterwards, the old handles are rejected and never free the new blocks.
TEST(Handles, HandlesOfClosedDrainedEpochAreRejected) {
  tslab::Allocator a;
  std::vector<tslab::Handle> old_handles;
  for (int i = 0; i < 5000; ++i) {
    const tslab::Allocation r = a.allocate_with_handle(128, 3);
    ASSERT_NE(r.ptr, nullptr);
    old_handles.push_back(r.handle);
  }
  for (tslab::Handle h : old_handles) ASSERT_EQ(a.free_handle(h), Error::ok);
  ASSERT_EQ(a.epoch_close(3), Error::ok);
  std::vector<tslab::Allocation> fresh;
  for (tslab::EpochId e : {4u, 5u}) {
    for (int i = 0; i < 5000; ++i) {
      const tslab::Allocation r = a.allocate_with_handle(128, e);
      ASSERT_NE(r.ptr, nullptr);
      tslab_test::fill_pattern(r.ptr, 128, r.handle);
      fresh.push_back(r);
    }
  }
  for (tslab::Handle h : old_handles) {
    const Error err = a.free_handle(h);
    ASSERT_TRUE(err == Error::double_free || err == Error::stale_handle) << tslab::to_string(err);
    ASSERT_EQ(a.handle_to_ptr(h), nullptr);
  }
  for (const auto& r : fresh) {
    ASSERT_EQ(a.handle_to_ptr(r.handle), r.ptr);
    ASSERT_TRUE(tslab_test::check_pattern(r.ptr, 128, r.handle));
    ASSERT_EQ(a.free_handle(r.handle), Error::ok);
  }
  EXPECT_ALLOCATOR_OK(a);
}

TEST(Handles, PtrToHandleForNonBlocks) {
  tslab::Allocator a;
  int on_stack = 0;
  static int in_static = 0;
  EXPECT_EQ(a.ptr_to_handle(nullptr), 0u);
  EXPECT_EQ(a.ptr_to_handle(&on_stack), 0u);
  EXPECT_EQ(a.ptr_to_handle(&in_static), 0u);
  void* m = std::malloc(64);
  EXPECT_EQ(a.ptr_to_handle(m), 0u);
  std::free(m);
  void* p = a.allocate(128, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.ptr_to_handle(static_cast<char*>(p) + 1), 0u);
  EXPECT_EQ(a.ptr_to_handle(static_cast<char*>(p) + 16), 0u);
  EXPECT_NE(a.ptr_to_handle(p), 0u);
  EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_EQ(a.ptr_to_handle(p), 0u);
}

}  // namespace
