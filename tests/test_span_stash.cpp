// This file contains the tests of the span stash (core/span_stash.cpp): a thread
// that frees a large block of up to 1 MiB keeps its span for its own next large
// block, without the allocator lock; the stashes count in the warm reserve and
// go back with it; stale pointers and handles of a stashed span stay refused.
// Counted by the allocator's lock acquisitions and statistics, never by time.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include "core/allocator_core.h"
#include "segment/segment_map.h"
#include "test_util.h"
#include "tslab/platform.hpp"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;
constexpr std::size_t KiB = 1024;
constexpr std::size_t BUFFER = 128 * KiB;  // a large block: above the largest class

// The stash is the thread's heap's: a thread has one once it allocated a small
// block in the allocator (every thread of a real program has).
void attach(tslab::Allocator& a) {
  void* small = a.allocate(64);
  ASSERT_NE(small, nullptr);
  ASSERT_EQ(a.deallocate(small), Error::ok);
}

// A large block allocated here and freed by another thread, which then exits:
// the span goes to that thread's stash, then with its heap's abandon to the cache.
void* free_on_an_exiting_thread(tslab::Allocator& a) {
  void* p = a.allocate(BUFFER);
  EXPECT_NE(p, nullptr);
  std::thread([&] {
    attach(a);
    EXPECT_EQ(a.deallocate(p), Error::ok);
  }).join();
  return p;
}

// Lock acquisitions between two snapshots (which take the lock uncounted).
struct LockCount {
  explicit LockCount(tslab::Allocator& a) : a_(a), start_(tslab::stats(a).lock_acquisitions_total) {}
  std::uint64_t since() const { return tslab::stats(a_).lock_acquisitions_total - start_; }

 private:
  tslab::Allocator& a_;
  std::uint64_t start_;
};

// A server's buffer loop: the thread's freed buffer is its next one, and neither
// the free nor the allocation takes the allocator lock.
TEST(SpanStash, AThreadsFreedBufferIsItsNextWithoutTheLock) {
  tslab::Allocator a;
  attach(a);
  void* first = a.allocate(BUFFER);
  ASSERT_NE(first, nullptr);
  std::memset(first, 1, BUFFER);
  const LockCount locks(a);
  void* p = first;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(a.deallocate(p), Error::ok);
    p = a.allocate(BUFFER - static_cast<std::size_t>(i) * 64);  // any size the span serves
    ASSERT_EQ(p, first) << "the stashed span, round " << i;
  }
  EXPECT_EQ(locks.since(), 0u) << "200 calls, no lock";
  ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_GE(tslab::stats(a).warm_reserve_bytes, BUFFER) << "stashed: counted in the reserve";
  EXPECT_ALLOCATOR_OK(a);
}

// A stashed span is free like a cached one: its pointer is a double free, its
// old handle is refused once the span holds a new block.
TEST(SpanStash, AStashedSpansPointerAndHandlesStayRefused) {
  tslab::Allocator a;
  attach(a);
  const tslab::Allocation first = a.allocate_with_handle(BUFFER, a.epoch_current());
  ASSERT_NE(first.ptr, nullptr);
  ASSERT_EQ(a.free_handle(first.handle), Error::ok);
  EXPECT_EQ(a.deallocate(first.ptr), Error::double_free);
  EXPECT_EQ(a.free_handle(first.handle), Error::double_free);
  const tslab::Allocation second = a.allocate_with_handle(BUFFER, a.epoch_current());
  ASSERT_EQ(second.ptr, first.ptr) << "from the stash";
  EXPECT_NE(second.handle, first.handle) << "a new generation";
  EXPECT_EQ(a.free_handle(first.handle), Error::stale_handle);
  EXPECT_EQ(a.handle_to_ptr(first.handle), nullptr);
  ASSERT_EQ(a.free_handle(second.handle), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// With no warm reserve nothing is stashed: each free and allocation takes the
// lock, and the pages of a freed span go back.
TEST(SpanStash, NoWarmReserveNoStash) {
  tslab::Allocator a;
  attach(a);
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  void* p = a.allocate(BUFFER);
  ASSERT_NE(p, nullptr);
  const LockCount locks(a);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_GE(locks.since(), 1u);
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

// The stashes of all heaps stay within the warm reserve, SPAN_STASH_SLOTS spans
// per heap, and a lower reserve or a collect empties them into the cache, which
// gives back what the bound leaves out.
TEST(SpanStash, StashesStayWithinTheWarmReserveAndGoBackWithIt) {
  constexpr std::size_t SLOTS = tslab::detail::Heap::SPAN_STASH_SLOTS;
  tslab::Allocator a;
  attach(a);
  ASSERT_EQ(a.set_warm_reserve((SLOTS + 2) * BUFFER), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < SLOTS + 2; ++i) blocks.push_back(a.allocate(BUFFER));
  for (void* p : blocks) ASSERT_NE(p, nullptr);
  LockCount locks(a);
  for (std::size_t i = 0; i < SLOTS; ++i) ASSERT_EQ(a.deallocate(blocks[i]), Error::ok);
  EXPECT_EQ(locks.since(), 0u) << SLOTS << " slots";
  ASSERT_EQ(a.deallocate(blocks[SLOTS]), Error::ok);
  EXPECT_GE(locks.since(), 1u) << "the next one goes to the cache";
  EXPECT_LE(tslab::stats(a).warm_reserve_bytes, (SLOTS + 2) * BUFFER)
      << "stashed and cached share the reserve";
  EXPECT_ALLOCATOR_OK(a);
  ASSERT_EQ(a.set_warm_reserve(BUFFER), Error::ok);  // the stash is held to the new bound
  EXPECT_LE(tslab::stats(a).warm_reserve_bytes, BUFFER);
  EXPECT_ALLOCATOR_OK(a);
  ASSERT_EQ(a.set_warm_reserve((SLOTS + 2) * BUFFER), Error::ok);
  ASSERT_EQ(a.deallocate(blocks[SLOTS + 1]), Error::ok);  // stashed again
  EXPECT_GE(tslab::stats(a).warm_reserve_bytes, BUFFER);
  a.collect();
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u) << "collect empties the stashes too";
  EXPECT_ALLOCATOR_OK(a);
  void* again = a.allocate(BUFFER);  // from the cache now, its pages given back
  ASSERT_NE(again, nullptr);
  for (std::size_t i = 0; i < BUFFER; i += 4096) ASSERT_EQ(static_cast<unsigned char*>(again)[i], 0u);
  ASSERT_EQ(a.deallocate(again), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// A span freed by another thread goes to that thread's stash; the thread's exit
// hands it to the cache, where any thread finds it.
TEST(SpanStash, AnExitingThreadsStashGoesToTheCache) {
  tslab::Allocator a;
  attach(a);
  void* p = free_on_an_exiting_thread(a);
  EXPECT_ALLOCATOR_OK(a);
  void* q = a.allocate(BUFFER);
  EXPECT_EQ(q, p) << "the exited thread's stashed span, from the cache";
  ASSERT_EQ(a.deallocate(q), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// A zeroed block from a stashed span reads as zero, however the span was used.
TEST(SpanStash, AZeroedBlockFromTheStashReadsZero) {
  tslab::Allocator a;
  attach(a);
  auto* p = static_cast<unsigned char*>(a.allocate(BUFFER));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xab, BUFFER);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  auto* z = static_cast<unsigned char*>(a.core()->alloc_zeroed(BUFFER, a.epoch_current()));
  ASSERT_EQ(z, p) << "from the stash";
  for (std::size_t i = 0; i < BUFFER; ++i) ASSERT_EQ(z[i], 0u) << i;
  ASSERT_EQ(a.deallocate(z), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// In a fork's child the stashes of the parent's threads are forgotten and their
// spans cached: the child finds a consistent allocator and can use them.
TEST(SpanStash, AForksChildCachesTheStashedSpans) {
  tslab::Allocator a;
  attach(a);
  free_on_an_exiting_thread(a);  // its heap, abandoned, keeps nothing stashed
  void* mine = a.allocate(BUFFER);
  ASSERT_NE(mine, nullptr);
  ASSERT_EQ(a.deallocate(mine), Error::ok);  // in this thread's stash
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    bool ok = a.check().ok;
    std::vector<void*> blocks;
    for (int i = 0; i < 4 && ok; ++i) {
      void* b = a.allocate(BUFFER);
      ok = b != nullptr;
      if (ok) std::memset(b, i, BUFFER);
      blocks.push_back(b);
    }
    for (void* b : blocks) ok = ok && a.deallocate(b) == Error::ok;
    ok = ok && a.check().ok;
    std::_Exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_ALLOCATOR_OK(a);
}

// Stashed spans share the retention with the slabs an exiting thread leaves:
// stashed first, the slabs keep only what the spans leave of it. Slabs first,
// the spans freed beyond it stay committed for the next large blocks, and go
// back as pages fault in for a block none of them fits.
TEST(SpanStash, StashedSpansAndRetainedSlabsShareTheRetention) {
  constexpr std::size_t RETAIN = 2 * 1024 * KiB, BLOCK = 1000 * KiB;
  auto leave_empty_slabs = [](tslab::Allocator& a) {
    std::thread([&] {
      std::vector<void*> blocks;
      for (int i = 0; i < 100; ++i) blocks.push_back(a.allocate(64 * KiB));  // a slab each
      for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
    }).join();  // its heap's empty slabs go back, within the retention
  };
  for (const bool stash_first : {true, false}) {
    tslab::Allocator a;
    ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
    ASSERT_EQ(a.set_large_retain(RETAIN), Error::ok);
    attach(a);
    void* x = a.allocate(BLOCK);
    void* y = a.allocate(BLOCK);
    ASSERT_NE(x, nullptr);
    ASSERT_NE(y, nullptr);
    std::memset(x, 1, BLOCK);
    std::memset(y, 1, BLOCK);
    if (!stash_first) leave_empty_slabs(a);
    ASSERT_EQ(a.deallocate(x), Error::ok);
    ASSERT_EQ(a.deallocate(y), Error::ok);
    if (stash_first) leave_empty_slabs(a);
    if (stash_first) {
      EXPECT_LE(tslab::stats(a).warm_reserve_bytes, RETAIN) << "stashed first";
    } else {
      EXPECT_LE(tslab::stats(a).warm_reserve_bytes, RETAIN + 2 * BLOCK) << "slabs first";
      void* z = a.allocate(4 * BLOCK);  // no free span fits: its pages fault in
      ASSERT_NE(z, nullptr);
      std::memset(z, 1, 4 * BLOCK);
      EXPECT_LE(tslab::stats(a).warm_reserve_bytes, RETAIN) << "slabs first, then a larger block";
      ASSERT_EQ(a.deallocate(z), Error::ok);
    }
    EXPECT_ALLOCATOR_OK(a);
  }
}

// A close gives back what the retention keeps beyond the warm reserve, the
// stashes of every thread included.
TEST(SpanStash, ACloseGivesTheStashesBack) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  attach(a);
  void* p = a.allocate(BUFFER);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, BUFFER);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  ASSERT_EQ(tslab::stats(a).warm_reserve_bytes, BUFFER) << "stashed, within the retention";
  a.epoch_advance();
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

// A small block served from a large cached range is not stashed with it: the
// range stays where an address-space cap or the cache's bound can reach it.
TEST(SpanStash, ARangeLargerThanASegmentIsNeverStashed) {
  tslab::Allocator a;
  attach(a);
  void* big = a.allocate(64 * 1024 * KiB);
  ASSERT_NE(big, nullptr);
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  ASSERT_EQ(a.deallocate(big), Error::ok);  // cached with its 64 MiB range, its pages gone back
  ASSERT_EQ(a.set_warm_reserve(6 * 1024 * KiB), Error::ok);
  ASSERT_EQ(a.set_large_retain(64 * 1024 * KiB), Error::ok);
  void* p = a.allocate(BUFFER);
  ASSERT_EQ(p, big) << "the cached range serves it";
  const LockCount locks(a);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_GE(locks.since(), 1u) << "to the cache, not the stash";
  EXPECT_ALLOCATOR_OK(a);
}

// A buffer that outgrew its thread's stashed spans (a vector or a string that
// A buffer that outgrew its thread's stashed spans (a vector or a string that
// doubles, each step freeing the one before) takes a new span: the stashed ones,
// carved out of chunks, stay stashed and warm for the sizes they fit. Growing
// one out of its chunk into the new reservation (mremap) made a mapping that
// merges with no neighbour: 200,000 blocks of 1.1 MB, each in place of a freed
// 70 KB one, reached vm.max_map_count.
constexpr std::size_t GROWN = 512 * KiB;

TEST(SpanStash, ALargerBufferLeavesTheStashedSpansInTheirChunks) {
  tslab::Allocator a;
  attach(a);
  auto* p = static_cast<unsigned char*>(a.allocate(2 * GROWN));
  ASSERT_NE(p, nullptr);
  std::memset(p, 7, 2 * GROWN);
  void* small = a.allocate(GROWN);
  ASSERT_NE(small, nullptr);
  std::memset(small, 1, GROWN / 2);
  ASSERT_EQ(a.deallocate(small), Error::ok);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  const tslab::GlobalStats before = tslab::stats(a);
  ASSERT_EQ(before.warm_reserve_bytes, 3 * GROWN) << "both stashed, each counted whole";

  auto* q = static_cast<unsigned char*>(a.allocate(4 * GROWN));
  ASSERT_NE(q, nullptr);
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.spans_grown_total, before.spans_grown_total) << "no stashed span grew";
  EXPECT_EQ(after.warm_reserve_bytes, 3 * GROWN) << "both stay stashed";
  EXPECT_EQ(tslab::OsPlatform::instance().resident_bytes(q, 4 * GROWN), 0u)
      << "the new block's pages are new";
  EXPECT_EQ(a.allocate(2 * GROWN), p) << "the stashed spans still serve their sizes";
  EXPECT_EQ(a.allocate(GROWN), small);
  EXPECT_ALLOCATOR_OK(a);
  ASSERT_EQ(a.deallocate(small), Error::ok);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  ASSERT_EQ(a.deallocate(q), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
