// This file contains step-by-step tests of the queues that carry remote frees
// to a slab's owner (Heap::notify_remote, Heap::drain_remote). A remote free is
// three steps (the block's bit, the slab's queued flag, the push); the tests
// stop a free between them, through the same internal calls the free makes, so
// an interleaving that a stress test would meet once in millions of runs is
// taken every time.
#include <gtest/gtest.h>

#include <cstddef>
#include <set>
#include <thread>
#include <vector>

#include "core/allocator_core.h"
#include "heap/heap.h"
#include "segment/segment_map.h"
#include "size_class/size_classes.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

namespace td = tslab::detail;
using tslab::Error;

std::uint64_t collected_remote_frees(const tslab::Allocator& a, std::size_t size) {
  return tslab::class_stats(a, td::class_of_size(size)).remote_frees_collected_total;
}

// Runs `fn` on a thread of its own, to its end.
template <class Fn>
void on_another_thread(Fn fn) {
  std::thread t(fn);
  t.join();
}

// `slabs` slabs' worth of 256 B blocks in epoch 0, and x, a block in the middle
// of the second, with its segment and slab.
struct SlabUnderTest {
  std::vector<void*> blocks;
  void* x = nullptr;
  td::SegmentHeader* seg = nullptr;
  td::Slab* s = nullptr;
};
SlabUnderTest blocks_of_256(tslab::Allocator& a, std::size_t slabs) {
  const std::size_t per_slab = td::SLAB_SIZE / 256;
  SlabUnderTest t;
  t.blocks.resize(slabs * per_slab);
  for (auto& p : t.blocks) {
    p = a.allocate(256, 0);
    if (p == nullptr) ADD_FAILURE() << "out of memory";
  }
  t.x = t.blocks[per_slab + per_slab / 2];
  t.seg = td::segment_map_lookup(t.x);
  t.s = t.seg->slab_for(t.x);
  return t;
}

// A remote free that has set its block's bit but not yet queued the slab is
// overtaken by the owner, which finds the slab empty and not queued and
// recycles it (deferred while the free's pin is held). The free then queues
// the slab on the owner's queue in front of another slab's entry, and lets go;
// the recycling finishes, and the slab was the last one its segment held, so
// the segment goes dormant and its metadata pages go back to the OS. The
// owner's next drain must still reach the entry behind it, and the slab the
// entry names must keep taking remote frees.
TEST(RemoteQueue, AnEntryBehindASlabRecycledWhileQueuedIsStillDrained) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);  // warm slabs keep their segment awake
  void* t1 = a.allocate(64, 0);                 // slab T, epoch 0 stays open
  void* t2 = a.allocate(64, 0);
  ASSERT_NE(t1, nullptr);
  ASSERT_NE(t2, nullptr);
  // Four segments of 256 B blocks in epoch 1; one block in the middle survives.
  const std::size_t n = 4 * 64 * (td::SLAB_SIZE / 256);
  std::vector<void*> blocks(n);
  for (auto& p : blocks) {
    p = a.allocate(256, 1);
    ASSERT_NE(p, nullptr);
  }
  // x: in the middle slab of a segment that handed out all its slabs, all to
  // epoch 1, so that its metadata lies on pages of their own.
  void* x = nullptr;
  for (void* p : blocks) {
    const td::SegmentHeader* seg = td::segment_map_lookup(p);
    const std::uintptr_t index = (reinterpret_cast<std::uintptr_t>(p) - seg->base) >> td::SLAB_SHIFT;
    if (index == td::SLABS_PER_SEGMENT / 2 && seg->slabs_taken == seg->slab_count &&
        td::segment_map_lookup(t1) != seg) {
      x = p;
      break;
    }
  }
  ASSERT_NE(x, nullptr);
  td::SegmentHeader* const seg = td::segment_map_lookup(x);
  for (void* p : blocks)
    if (p != x) {
      ASSERT_EQ(a.deallocate(p), Error::ok);
    }
  ASSERT_EQ(a.epoch_close(1), Error::ok);
  a.collect();  // the owner retires the closed bin and recycles the empty slabs
  td::Slab* const s = seg->slab_for(x);
  ASSERT_EQ(s->state.load(), td::SLAB_IN_USE);
  td::Heap* const owner = s->heap.load();
  ASSERT_NE(owner, nullptr);
  // The close settled the slab (core/settled_slabs.cpp); its owner looks at a
  // settled slab only after a free unsettled it. Here an earlier free did so,
  // and no close walked it since.
  s->unsettle();

  {
    // A remote free of x, first step: the pin, then the bit.
    td::SlabPin pin;
    pin.pin(seg->pins_of(s));
    const auto slot = static_cast<std::uint32_t>((static_cast<char*>(x) - s->start) / s->obj_size);
    ASSERT_EQ(s->free_remote(slot), TSLAB_OK);
    // The owner looks now: x's slab is empty and not queued.
    a.collect();
    // Another thread frees into T: T is queued on the owner's queue.
    on_another_thread([&] { ASSERT_EQ(a.deallocate(t1), Error::ok); });
    // The free of x goes on: its slab is queued in front of T.
    owner->notify_remote(s);
  }  // and lets go of its pin
  // Another thread's collect() retries the recycling that waited for the pin:
  // the slab is still queued, so it still waits, and its segment stays awake.
  on_another_thread([&] { a.collect(); });
  EXPECT_NE(s->state.load(), td::SLAB_IN_USE);
  EXPECT_FALSE(seg->dormant) << "a queued slab's metadata went back to the OS";
  EXPECT_ALLOCATOR_OK(a);

  // The owner drains (T's free is collected), and the recycling finishes.
  a.collect();
  EXPECT_EQ(collected_remote_frees(a, 64), 1u);
  EXPECT_ALLOCATOR_OK(a);
  // T still takes remote frees: the next one is collected too.
  on_another_thread([&] { ASSERT_EQ(a.deallocate(t2), Error::ok); });
  a.collect();
  EXPECT_EQ(collected_remote_frees(a, 64), 2u);
  // Nothing is held back: x's segment ends up dormant, and the checker agrees.
  a.collect();
  EXPECT_TRUE(seg->dormant);
  EXPECT_ALLOCATOR_OK(a);
}

// The same race in an open epoch: the owner takes the slab it finds empty off
// its bin (Heap::take_empty_of_open_bin) while the free that emptied it has not
// queued it yet. When the owner later drains the entry, the block must not go
// on its free list: the slab is being recycled, and whoever takes it next
// hands the block out again.
TEST(RemoteQueue, ABlockOfASlabRecycledWhileQueuedIsNotHandedOutTwice) {
  tslab::Allocator a;
  const std::size_t per_slab = td::SLAB_SIZE / 256;
  const SlabUnderTest t = blocks_of_256(a, 3);
  const std::vector<void*>& blocks = t.blocks;
  void* const x = t.x;
  td::SegmentHeader* const seg = t.seg;
  td::Slab* const s = t.s;
  td::Heap* const owner = s->heap.load();
  for (void* p : blocks) {
    if (p != x) {
      ASSERT_EQ(a.deallocate(p), Error::ok);
    }
  }
  {
    td::SlabPin pin;  // a remote free of x: the pin, then the bit
    pin.pin(seg->pins_of(s));
    const auto slot = static_cast<std::uint32_t>((static_cast<char*>(x) - s->start) / s->obj_size);
    ASSERT_EQ(s->free_remote(slot), TSLAB_OK);
    a.collect();  // the owner takes the empty slab off its bin
    ASSERT_NE(s->state.load(), td::SLAB_IN_USE);
    owner->notify_remote(s);  // the free goes on
  }
  a.collect();  // the owner drains the entry; the recycling finishes
  EXPECT_ALLOCATOR_OK(a);
  const std::set<void*> handed_out =
      tslab_test::distinct_blocks(4 * per_slab, [&](std::size_t) { return a.allocate(256, 0); });
  EXPECT_ALLOCATOR_OK(a);
  for (void* p : handed_out) EXPECT_EQ(a.deallocate(p), Error::ok);
}

// A slab its owner recycles while a validation holds its pin waits, deferred,
// until the pin goes; another thread finishes the recycling then, and a third
// may take the slab into use. From the recycling on, the slab must no longer
// name its old heap: the owner's free fast path trusts a slab that names the
// caller's heap without pinning it (core/fast_path.h), so a stale pointer freed
// by the old owner in that window would clear the bit of a block the new owner
// just handed out. Here the window is held open: the owner's stale free must be
// refused by the slab's own bits, through the validated path.
TEST(RemoteQueue, ASlabRecycledWhileAValidationHoldsItNamesNoHeap) {
  tslab::Allocator a;
  const std::size_t per_slab = td::SLAB_SIZE / 256;
  const SlabUnderTest t = blocks_of_256(a, 2);
  const std::vector<void*>& blocks = t.blocks;
  void* const x = t.x;
  td::SegmentHeader* const seg = t.seg;
  td::Slab* const s = t.s;
  ASSERT_NE(s->heap.load(), nullptr);
  for (std::size_t i = per_slab; i < blocks.size(); ++i) {
    if (seg->slab_for(blocks[i]) == s) {
      ASSERT_EQ(a.deallocate(blocks[i]), Error::ok);
    }
  }
  {
    td::SlabPin pin;  // a validation of a pointer into x's slab, under way
    pin.pin(seg->pins_of(s));
    a.collect();  // the owner recycles the empty slab: deferred, the pin is held
    ASSERT_NE(s->state.load(), td::SLAB_IN_USE);
    EXPECT_EQ(s->heap.load(), nullptr) << "a recycled slab still names the heap that gave it up";
    // The old owner frees a pointer into it again: refused through the validated
    // path, as a pointer into a slab not in use, and nothing changed.
    EXPECT_EQ(a.deallocate(x), Error::not_allocated);
  }
  a.collect();  // the recycling finishes
  EXPECT_ALLOCATOR_OK(a);
  const std::set<void*> handed_out =
      tslab_test::distinct_blocks(2 * per_slab, [&](std::size_t) { return a.allocate(256, 0); });
  EXPECT_ALLOCATOR_OK(a);
  for (void* p : handed_out) EXPECT_EQ(a.deallocate(p), Error::ok);
  for (std::size_t i = 0; i < per_slab; ++i) {
    if (seg->slab_for(blocks[i]) != s) {
      EXPECT_EQ(a.deallocate(blocks[i]), Error::ok);
    }
  }
}

// The same window for a handle: the slab's generation moves on only when its
// recycling finishes, so while it waits only the slab's cleared heap keeps the
// owner's handle free off its unpinned fast path (core/fast_path.h). The owner's
// free and that of another thread with a heap of its own are refused as stale.
TEST(RemoteQueue, AHandleIntoASlabRecycledWhileAValidationHoldsItIsStale) {
  tslab::Allocator a;
  const std::size_t per_slab = td::SLAB_SIZE / 256;
  std::vector<tslab::Allocation> blocks(2 * per_slab);
  for (auto& b : blocks) {
    b = a.allocate_with_handle(256, 0);
    ASSERT_NE(b.ptr, nullptr);
  }
  const tslab::Allocation x = blocks[per_slab + per_slab / 2];
  td::SegmentHeader* const seg = td::segment_map_lookup(x.ptr);
  td::Slab* const s = seg->slab_for(x.ptr);
  for (const auto& b : blocks) {
    if (seg->slab_for(b.ptr) == s) {
      ASSERT_EQ(a.free_handle(b.handle), Error::ok);
    }
  }
  {
    td::SlabPin pin;  // a validation under way
    pin.pin(seg->pins_of(s));
    a.collect();  // recycled, deferred: the generation has not moved yet
    ASSERT_NE(s->state.load(), td::SLAB_IN_USE);
    EXPECT_EQ(a.free_handle(x.handle), Error::stale_handle);
    on_another_thread([&] {
      void* own = a.allocate(256, 0);  // a heap of its own
      ASSERT_NE(own, nullptr);
      EXPECT_EQ(a.free_handle(x.handle), Error::stale_handle);
      EXPECT_EQ(a.deallocate(own), Error::ok);
    });
  }
  a.collect();
  EXPECT_ALLOCATOR_OK(a);
  for (const auto& b : blocks) {
    if (seg->slab_for(b.ptr) != s) {
      EXPECT_EQ(a.free_handle(b.handle), Error::ok);
    }
  }
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
