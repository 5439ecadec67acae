// This file contains the tests of large spans in the core: a zeroed allocation
// clears only the bytes an earlier block may have written; a large block is
// resized in place within its reservation (keeping its address, handle and the
// statistics exact) and moves into a reservation twice as large when it
// outgrows its own; the cache of free spans is kept in size bins whose lookup
// looks at a bounded number of spans. Checked by page residency, contents,
// counters and the cache's own invariants, never by time.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "core/allocator_core.h"
#include "core/large_span_cache.h"
#include "handle/handle.h"
#include "handle/registry.h"
#include "platform/clock_rss.h"
#include "segment/segment_map.h"
#include "slab_stats.h"
#include "stats/stats_api.h"
#include "test_util.h"
#include "tslab/platform.hpp"
#include "tslab/tslab.hpp"

namespace {

namespace td = tslab::detail;
using tslab::Error;
using tslab_test::first_nonzero;
constexpr std::size_t MiB = std::size_t{1} << 20;
constexpr std::size_t KiB = std::size_t{1} << 10;
constexpr std::size_t PAGE = 4096;

// Forwards to the OS, counts decommits and can keep the pages it is asked to
// hand back (as a platform without madvise would).
class CountingPlatform final : public tslab::Platform {
 public:
  void* reserve(std::size_t size, std::size_t alignment) noexcept override {
    ++reserves;
    if (refuse_reserves > 0 && (size > td::SEGMENT_SIZE || refuse_any_size)) {
      --refuse_reserves;
      return nullptr;
    }
    void* p = nullptr;
    if (void* at = place_next_reserve.exchange(nullptr)) {
      // Exactly there, as the OS may choose a range just given up.
      p = ::mmap(at, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (p == MAP_FAILED) p = nullptr;
      if (p != nullptr && p != at) {
        ::munmap(p, size);
        p = nullptr;
      }
    } else {
      p = os().reserve(size, alignment);
    }
    if (p != nullptr) reserved_bytes += size;
    return p;
  }
  void release(void* p, std::size_t size) noexcept override {
    ++releases;
    if (void (*hook)() = on_next_release.exchange(nullptr)) hook();
    reserved_bytes -= size;
    os().release(p, size);
  }
  bool commit(void* p, std::size_t size) noexcept override {
    ++commits;
    if (void (*hook)() = on_next_commit.exchange(nullptr)) hook();
    return !refuse_commits.load() && os().commit(p, size);
  }
  bool decommit(void* p, std::size_t size) noexcept override {
    ++decommits;
    if (void (*hook)() = on_next_decommit.exchange(nullptr)) hook();
    return !keep_pages.load() && os().decommit(p, size);
  }
  bool prefault(void* p, std::size_t size) noexcept override { return os().prefault(p, size); }
  std::size_t page_size() const noexcept override { return os().page_size(); }
  std::size_t resident_bytes(const void* p, std::size_t size) const noexcept override {
    ++page_table_reads;
    return os().resident_bytes(p, size);
  }
  bool resident_pages(const void* p, std::size_t size, unsigned char* pages) const noexcept override {
    ++page_table_reads;
    return os().resident_pages(p, size, pages);
  }
  bool can_grow() const noexcept override {
    ++grow_asks;
    return allow_grows.load();
  }
  bool grow_into(void* from, std::size_t size, void* to, std::size_t to_size) noexcept override {
    if (std::atomic<std::uint32_t>* pin = pin_during_grow.exchange(nullptr)) {
      pin->fetch_add(1);  // a validation finds the header now, before the map forgets it
      grow_pinned = true;
    }
    if (!os().grow_into(from, size, to, to_size)) {
      reserved_bytes -= to_size;
      return false;
    }
    ++grows;
    reserved_bytes -= size;
    if (in_child_after_grow != nullptr) fork_here();
    if (void (*hook)(void*, std::size_t) = after_move.exchange(nullptr)) hook(from, size);
    return true;
  }

  // Forks once, right after the next move: the child runs in_child_after_grow
  // and exits with its result; the parent records the child's exit status.
  void fork_here() noexcept {
    int (*child)() = in_child_after_grow.exchange(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(child());
    int status = -1;
    if (pid > 0) ::waitpid(pid, &status, 0);
    child_status = status;
  }

  std::atomic<std::uint64_t> reserves{0}, releases{0}, decommits{0}, grows{0};
  std::atomic<std::uint64_t> reserved_bytes{0};  // reserved and not released, as asked
  std::atomic<bool> keep_pages{false};
  std::atomic<bool> refuse_any_size{false};  // refuse_reserves counts reserves of any size
  std::atomic<bool> refuse_commits{false};
  std::atomic<std::uint64_t> commits{0};
  std::atomic<bool> allow_grows{true};
  mutable std::atomic<std::uint64_t> grow_asks{0};         // can_grow() calls (a system call on Linux)
  mutable std::atomic<std::uint64_t> page_table_reads{0};  // resident_bytes() and resident_pages() calls
  std::atomic<std::atomic<std::uint32_t>*> pin_during_grow{nullptr};  // pinned in the next grow
  std::atomic<bool> grow_pinned{false};
  std::atomic<int (*)()> in_child_after_grow{nullptr};
  std::atomic<int> child_status{-1};
  std::atomic<int> refuse_reserves{0};             // the next reserves above one segment to refuse
  std::atomic<void*> place_next_reserve{nullptr};  // where the next reserve maps, exactly
  std::atomic<void (*)(void* from, std::size_t size)> after_move{nullptr};  // run once after the next move
  std::atomic<void (*)()> on_next_commit{nullptr};                          // run once in the next commit
  std::atomic<void (*)()> on_next_decommit{nullptr};                        // run once in the next decommit
  std::atomic<void (*)()> on_next_release{nullptr};                         // run once in the next release

 private:
  static tslab::Platform& os() { return tslab::OsPlatform::instance(); }
};

tslab::Options on(CountingPlatform& platform) {
  tslab::Options options;
  options.platform = &platform;
  return options;
}

// The invariant checker's verdict, its message on failure.
::testing::AssertionResult checked(const tslab::Allocator& a) {
  const tslab::CheckReport report = a.check();
  if (report.ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << report.message;
}

unsigned char byte_at(std::size_t i) { return static_cast<unsigned char>((i * 131) ^ (i >> 12)); }

void fill(void* p, std::size_t from, std::size_t to) {
  auto* b = static_cast<unsigned char*>(p);
  for (std::size_t i = from; i < to; ++i) b[i] = byte_at(i);
}

// A new block of `size` bytes of `a`, filled (fill); null if refused.
unsigned char* filled_block(tslab::Allocator& a, std::size_t size) {
  auto* p = static_cast<unsigned char*>(a.allocate(size));
  if (p != nullptr) fill(p, 0, size);
  return p;
}

// No warm reserve, and `bound` bytes of freed spans retained beyond it.
bool retention_only(tslab::Allocator& a, std::size_t bound) {
  return a.set_warm_reserve(0) == Error::ok && a.set_large_retain(bound) == Error::ok;
}

// Index of the first byte of [0, size) that is not byte_at(i), or size.
std::size_t first_changed(const void* p, std::size_t size) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < size; ++i)
    if (b[i] != byte_at(i)) return i;
  return size;
}

using tslab_test::global_stats;

// --- reservations in granules ---------------------------------------------------

// Blocks of 64 KiB to 4 MiB reserve whole 64 KiB granules, not a 4 MiB segment
// each: a thousand 80 KiB buffers take 125 MiB of address space, where they took
// 4 GiB (and a page table apiece). Their pointers, interior pointers and
// handles resolve exactly though neighbours share a segment of the map.
TEST(LargeSpanGranules, BuffersBelowASegmentLieSideBySide) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  td::AllocatorCore& core = *a.core();
  constexpr std::size_t N = 1000, SIZE = 80 * KiB;
  const std::uint64_t before = platform.reserved_bytes.load();
  std::vector<void*> blocks(N);
  std::vector<std::uint64_t> handles(N);
  std::set<std::uintptr_t> segments;
  for (std::size_t i = 0; i < N; ++i) {
    blocks[i] = a.allocate(SIZE);
    ASSERT_NE(blocks[i], nullptr) << i;
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(blocks[i]) % td::MAP_GRANULE, 0u);
    segments.insert(reinterpret_cast<std::uintptr_t>(blocks[i]) >> td::SEGMENT_SHIFT);
    handles[i] = core.ptr_to_handle(blocks[i]);
    fill(blocks[i], 0, SIZE);
  }
  // Two granules per block, and the metadata arena's chunks (under 2 KiB a span).
  EXPECT_LE(platform.reserved_bytes.load() - before, N * 2 * td::MAP_GRANULE + 4 * MiB);
  EXPECT_LE(global_stats(a).reserved_bytes, N * 2 * td::MAP_GRANULE);
  EXPECT_LT(segments.size(), N / 10) << "blocks share segments of the address space";
  // Every other block goes: its range is released or cached, its neighbours stay.
  for (std::size_t i = 0; i < N; i += 2) ASSERT_EQ(a.deallocate(blocks[i]), Error::ok) << i;
  for (std::size_t i = 0; i < N; ++i) {
    auto* p = static_cast<char*>(blocks[i]);
    if (i % 2 == 0) {
      EXPECT_NE(a.deallocate(p), Error::ok) << "a freed block, its range released or cached: " << i;
      EXPECT_EQ(core.handle_to_ptr(handles[i]), nullptr) << i;
      continue;
    }
    EXPECT_EQ(first_changed(p, SIZE), SIZE) << "a neighbour's free left the block alone: " << i;
    EXPECT_EQ(core.handle_to_ptr(handles[i]), p) << i;
    // Inside the block, in its second granule, and past its end in the same granule.
    EXPECT_EQ(a.deallocate(p + 64), Error::interior_pointer) << i;
    EXPECT_EQ(a.deallocate(p + td::MAP_GRANULE + 16), Error::interior_pointer) << i;
    EXPECT_NE(a.deallocate(p + SIZE + 4096), Error::ok) << i;
  }
  EXPECT_TRUE(checked(a));
  for (std::size_t i = 1; i < N; i += 2) ASSERT_EQ(a.free_handle(handles[i]), Error::ok) << i;
  EXPECT_EQ(global_stats(a).large_spans_live, 0u);
  EXPECT_TRUE(checked(a));
}

// --- zeroed allocation ------------------------------------------------------

TEST(LargeZeroed, AFreshSpanIsHandedOutWithoutTouchingAPage) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  constexpr std::size_t SIZE = 256 * MiB;
  auto* p = static_cast<unsigned char*>(a.core()->alloc_zeroed(SIZE, 0));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(platform.resident_bytes(p, SIZE), 0u);
  for (std::size_t i = 0; i < SIZE; i += 61 * PAGE + 8) ASSERT_EQ(p[i], 0) << i;  // a page fault apiece
  EXPECT_EQ(a.deallocate(p), Error::ok);
}

TEST(LargeZeroed, AWarmSpanIsClearedOnlyAsFarAsItsLastBlockWrote) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_warm_reserve(64 * MiB), Error::ok);
  // 5 MiB: a span of two segments, 8 MiB.
  void* p = a.allocate(5 * MiB);
  std::memset(p, 0xff, 5 * MiB);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  // A smaller block in the span: cleared whole.
  auto* q = static_cast<unsigned char*>(a.core()->alloc_zeroed(2 * MiB, 0));
  ASSERT_EQ(q, p) << "the warm span is reused";
  EXPECT_EQ(first_nonzero(q, 2 * MiB), 2 * MiB);
  ASSERT_EQ(a.deallocate(q), Error::ok);
  // A larger one: its first 5 MiB were written, the rest never was.
  auto* r = static_cast<unsigned char*>(a.core()->alloc_zeroed(7 * MiB, 0));
  ASSERT_EQ(r, p);
  EXPECT_EQ(platform.resident_bytes(r + 5 * MiB, 2 * MiB), 0u) << "pages never written were cleared";
  EXPECT_EQ(first_nonzero(r, 7 * MiB), 7 * MiB);
  ASSERT_EQ(a.deallocate(r), Error::ok);
}

// A small block does not take a warm span whose written pages are far more
// than it: they would stay committed under it, counted by no bound (a 100 KB
// block took a 25 MiB buffer's span; a loop keeping 60 buffers of 100 KB to
// 25 MiB had 5x glibc's peak RSS). The span stays warm for a larger block.
TEST(LargeSpanCache, ASmallBlockLeavesAMuchLargerWarmSpanToALargerBlock) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_warm_reserve(64 * MiB), Error::ok);
  void* p = a.allocate(8 * MiB);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x5a, 8 * MiB);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  void* q = a.allocate(100000);
  ASSERT_NE(q, nullptr);
  EXPECT_NE(q, p) << "the small block took the large warm span";
  EXPECT_EQ(platform.resident_bytes(p, 8 * MiB), 8 * MiB) << "the span stays warm";
  void* r = a.allocate(7 * MiB);
  EXPECT_EQ(r, p) << "a larger block takes it";
  EXPECT_TRUE(checked(a));
  ASSERT_EQ(a.deallocate(q), Error::ok);
  ASSERT_EQ(a.deallocate(r), Error::ok);
  EXPECT_TRUE(checked(a));
}

// Under one bound on what freed spans keep committed, a large span cached
// first does not push out every smaller span freed after it: a freed span that
// does not fit takes the room from warm spans larger than itself (their
// tails' pages go back), so the blocks a program frees and allocates again
// together, a library's working buffers beside one large, barely written table,
// stay warm. Before, the two buffers' pages went back at every free and
// faulted in at every allocation.
void larger_spans_make_way(std::size_t bound) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_TRUE(retention_only(a, bound));
  for (int round = 0; round < 3; ++round) {
    auto* table = static_cast<unsigned char*>(a.allocate(28 * MiB));
    auto* first = static_cast<unsigned char*>(a.allocate(6 * MiB));
    auto* second = static_cast<unsigned char*>(a.allocate(5 * MiB));
    ASSERT_NE(table, nullptr);
    ASSERT_NE(first, nullptr);
    ASSERT_NE(second, nullptr);
    table[0] = 1;  // barely written
    std::memset(first, 0x5a, 6 * MiB);
    std::memset(second, 0x5a, 5 * MiB);
    const std::uint64_t decommits = platform.decommits.load();
    ASSERT_EQ(a.deallocate(table), Error::ok);
    ASSERT_EQ(a.deallocate(first), Error::ok);
    ASSERT_EQ(a.deallocate(second), Error::ok);
    EXPECT_EQ(platform.resident_bytes(first, 6 * MiB), 6 * MiB) << "round " << round;
    EXPECT_EQ(platform.resident_bytes(second, 5 * MiB), 5 * MiB) << "round " << round;
    // The room came from the table's span: its tail, once for each buffer.
    EXPECT_EQ(platform.decommits.load() - decommits, 2u) << "round " << round;
    EXPECT_LE(global_stats(a).warm_reserve_bytes, bound);
    EXPECT_EQ(global_stats(a).decommit_failures_total, 0u);
    EXPECT_TRUE(checked(a));
  }
}

// The bound need not be whole pages (TSLAB_LARGE_RETAIN=100000000 is not); the
// tails taken are.
TEST(LargeSpanCache, LargerWarmSpansMakeWayForASmallerOneJustFreed) {
  for (const std::size_t bound : {32 * MiB, 32 * MiB + 100}) {
    SCOPED_TRACE(bound);
    larger_spans_make_way(bound);
  }
}

// A warm span whose last block was large but barely written: a zeroed block
// there leaves the pages untouched (handed back, they read as zero) rather than
// clear, and so fault in, all of them.
TEST(LargeZeroed, AWarmSpansUntouchedPagesStayUntouchedUnderAZeroedBlock) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_warm_reserve(64 * MiB), Error::ok);
  constexpr std::size_t SIZE = 16 * MiB;
  auto* p = static_cast<unsigned char*>(a.allocate(SIZE));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xee, 8 * PAGE);
  p[SIZE - 1] = 0xee;
  ASSERT_EQ(a.deallocate(p), Error::ok);
  auto* z = static_cast<unsigned char*>(a.core()->alloc_zeroed(SIZE, 0));
  ASSERT_EQ(z, p) << "the warm span is reused";
  EXPECT_LE(platform.resident_bytes(z, SIZE), 1 * MiB) << "the zeroed block's pages were written";
  EXPECT_EQ(first_nonzero(z, SIZE), SIZE);
  EXPECT_GT(platform.commits.load(), 0u) << "pages handed back are made usable again (the platform contract)";
  ASSERT_EQ(a.deallocate(z), Error::ok);
  // A platform that refuses to make them usable again: the allocation fails, and
  // nothing stays allocated.
  platform.refuse_commits = true;
  EXPECT_EQ(a.core()->alloc_zeroed(SIZE, 0), nullptr);
  EXPECT_EQ(tslab::last_error(), Error::out_of_memory);
  platform.refuse_commits = false;
  EXPECT_EQ(global_stats(a).large_spans_live, 0u);
  EXPECT_TRUE(checked(a));
  // A platform that keeps the pages it is asked to hand back: the block is cleared.
  platform.keep_pages = true;
  auto* y = static_cast<unsigned char*>(a.allocate(SIZE));
  std::memset(y, 0xee, SIZE);
  ASSERT_EQ(a.deallocate(y), Error::ok);
  auto* x = static_cast<unsigned char*>(a.core()->alloc_zeroed(SIZE, 0));
  ASSERT_EQ(x, y);
  EXPECT_EQ(first_nonzero(x, SIZE), SIZE);
  ASSERT_EQ(a.deallocate(x), Error::ok);
}

TEST(LargeZeroed, SpansWhosePagesWentBackOrWereKeptReadAsZero) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);  // every freed span returns its pages
  for (const bool keep : {false, true}) {
    platform.keep_pages = keep;  // kept: the allocator clears them itself
    void* p = a.allocate(3 * MiB);
    std::memset(p, 0xab, 3 * MiB);
    ASSERT_EQ(a.deallocate(p), Error::ok);
    void* z = a.core()->alloc_zeroed(3 * MiB, 0);
    ASSERT_EQ(z, p);
    EXPECT_EQ(first_nonzero(z, 3 * MiB), 3 * MiB) << keep;
    ASSERT_EQ(a.deallocate(z), Error::ok);
  }
}

TEST(LargeZeroed, SmallBlocksAreCleared) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  for (std::size_t size : {1ul, 100ul, 16384ul}) {
    void* p = a.allocate(size);
    std::memset(p, 0xcd, size);
    ASSERT_EQ(a.deallocate(p), Error::ok);
    void* z = a.core()->alloc_zeroed(size, 0);
    ASSERT_NE(z, nullptr);
    EXPECT_EQ(first_nonzero(z, size), size) << size;
    ASSERT_EQ(a.deallocate(z), Error::ok);
  }
}

// --- resizing ---------------------------------------------------------------

TEST(LargeResize, GrowsInPlaceWithinTheReservationKeepingItsHandle) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  void* p = a.allocate(100000);
  fill(p, 0, 100000);
  const std::uint64_t handle = core.ptr_to_handle(p);
  ASSERT_NE(handle, 0u);
  // Below a segment a span's reservation is whole 64 KiB granules: 128 KiB here.
  for (std::size_t size : {120000ul, 128 * KiB - 1, 128 * KiB}) {
    ASSERT_EQ(core.realloc_large(p, size, 0), p) << size;
    EXPECT_EQ(core.usable_size(p), (size + PAGE - 1) / PAGE * PAGE);
    EXPECT_EQ(core.ptr_to_handle(p), handle);
    EXPECT_EQ(core.handle_to_ptr(handle), p);
  }
  EXPECT_EQ(first_changed(p, 100000), 100000u);
  void* q = core.realloc_large(p, 128 * KiB + 1, 0);
  ASSERT_NE(q, nullptr);
  EXPECT_NE(q, p) << "beyond the reservation the block moves";
  EXPECT_EQ(first_changed(q, 100000), 100000u);
  EXPECT_EQ(core.usable_size(q), 128 * KiB + PAGE);
  EXPECT_EQ(core.handle_to_ptr(handle), nullptr) << "the old block's handle is refused";
  EXPECT_EQ(a.deallocate(q), Error::ok);
  EXPECT_TRUE(checked(a));
}

TEST(LargeResize, ShrinkingInPlaceReturnsTheTailsPages) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_warm_reserve(64 * MiB), Error::ok);
  td::AllocatorCore& core = *a.core();
  auto* p = static_cast<unsigned char*>(a.allocate(8 * MiB));
  fill(p, 0, 8 * MiB);
  const std::uint64_t decommits = platform.decommits.load();
  ASSERT_EQ(core.realloc_large(p, 1 * MiB, 0), p);
  EXPECT_EQ(platform.decommits.load(), decommits + 1);
  EXPECT_EQ(platform.resident_bytes(p + 1 * MiB, 7 * MiB), 0u);
  EXPECT_EQ(first_changed(p, 1 * MiB), 1 * MiB);
  // Grown back: the tail reads as zero, the head kept.
  ASSERT_EQ(core.realloc_large(p, 6 * MiB, 0), p);
  EXPECT_EQ(first_changed(p, 1 * MiB), 1 * MiB);
  EXPECT_EQ(first_nonzero(p + 1 * MiB, 5 * MiB), 5 * MiB);
  // Freed warm and taken zeroed: what the block wrote last is cleared.
  std::memset(p, 0x77, 6 * MiB);
  ASSERT_EQ(core.realloc_large(p, 2 * MiB, 0), p);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  void* z = core.alloc_zeroed(8 * MiB, 0);
  ASSERT_EQ(z, p);
  EXPECT_EQ(first_nonzero(z, 8 * MiB), 8 * MiB);
  EXPECT_EQ(a.deallocate(z), Error::ok);
}

TEST(LargeResize, TailsThePlatformKeepsStayDirty) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_warm_reserve(64 * MiB), Error::ok);
  td::AllocatorCore& core = *a.core();
  void* p = a.allocate(8 * MiB);
  std::memset(p, 0x55, 8 * MiB);
  platform.keep_pages = true;
  ASSERT_EQ(core.realloc_large(p, 1 * MiB, 0), p);
  platform.keep_pages = false;
  ASSERT_EQ(a.deallocate(p), Error::ok);
  void* z = core.alloc_zeroed(8 * MiB, 0);
  ASSERT_EQ(z, p);
  EXPECT_EQ(first_nonzero(z, 8 * MiB), 8 * MiB);
  EXPECT_EQ(a.deallocate(z), Error::ok);
}

TEST(LargeResize, GrowingStepByStepMovesLogarithmicallyOften) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  constexpr std::size_t STEP = 64 * 1024, TOTAL = 64 * MiB;
  void* p = a.allocate(2 * STEP);  // a large span from the start
  fill(p, 0, 2 * STEP);
  std::size_t moves = 0;
  for (std::size_t n = 2 * STEP; n < TOTAL; n += STEP) {
    void* q = core.realloc_large(p, n + STEP, 0);
    ASSERT_NE(q, nullptr) << n;
    moves += q != p;
    p = q;
    fill(p, n, n + STEP);
  }
  // 128 KiB, then 256 KiB, 512 KiB and so on up to 64 MiB: one move per doubling.
  EXPECT_LE(moves, 9u);
  EXPECT_EQ(first_changed(p, TOTAL), TOTAL);
  EXPECT_EQ(a.deallocate(p), Error::ok);
}

// mallinfo2's snapshot (counters only) reads no page table, metadata included:
// a mincore call per metadata chunk under the allocator's lock, and the stack
// of the C library's lazy binding of it, which a thread with the minimum stack
// does not have.
TEST(LargeSpanStats, ASnapshotWithoutResidentBytesReadsNoPageTable) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(a.allocate(static_cast<std::size_t>(100 + i) * 1024));
  SlabGlobalStats stats{};
  stats.size = sizeof stats;
  const std::uint64_t before = platform.page_table_reads.load();
  ASSERT_EQ(td::stats_global(*a.core(), &stats, false), TSLAB_OK);
  EXPECT_EQ(platform.page_table_reads.load(), before);
  EXPECT_GT(stats.metadata_bytes, 0u);
  ASSERT_EQ(td::stats_global(*a.core(), &stats, true), TSLAB_OK);
  EXPECT_GT(platform.page_table_reads.load(), before);  // the counter sees the measured kind
  for (void* p : blocks) EXPECT_EQ(a.deallocate(p), Error::ok);
}

// A block that grows when the OS refuses the room a grow asks for (twice the
// reservation: a buffer of half the memory it lets the process reserve) still
// moves its pages, in a range for the block alone; a copy would need the old
// and the new pages at once (a 16 GiB buffer grown to 17 GiB took 16 GiB more).
TEST(LargeResize, AGrowRefusedItsRoomMovesTheBlockAlone) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  void* p = a.allocate(16 * MiB);
  ASSERT_NE(p, nullptr);
  fill(p, 0, 16 * MiB);
  platform.refuse_reserves = 2;  // the room, asked for twice (the second after the cache's trim)
  const std::uint64_t grows = platform.grows.load();
  void* q = core.realloc_large(p, 20 * MiB, 0);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(platform.refuse_reserves.load(), 0) << "the room was not asked for";
  EXPECT_EQ(platform.grows.load(), grows + 1) << "copied instead of moved";
  EXPECT_EQ(first_changed(q, 16 * MiB), 16 * MiB);
  EXPECT_EQ(a.deallocate(q), Error::ok);
}

// A grow moves the range (mremap) and the OS may at once give its old addresses to
// another reservation, here the next span's. That span's
// map entries must survive: the old range left the map before the move, not after.
namespace moved {
tslab::Allocator* alloc = nullptr;
CountingPlatform* platform = nullptr;
void* placed = nullptr;
void allocate_where_the_range_was(void* from, std::size_t size) {
  platform->place_next_reserve = from;
  placed = alloc->allocate(size);  // as another thread's could, at this moment
}
}  // namespace moved

TEST(LargeResize, TheRangeAGrowLeftMayBeAnotherSpansAtOnce) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  moved::alloc = &a;
  moved::platform = &platform;
  void* p = a.allocate(128 * KiB);
  ASSERT_NE(p, nullptr);
  fill(p, 0, 128 * KiB);
  platform.after_move = moved::allocate_where_the_range_was;
  void* q = core.realloc_large(p, 8 * MiB, 0);
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(platform.grows.load(), 1u) << "the live span grew";
  ASSERT_EQ(moved::placed, p) << "the new span took the old range";
  EXPECT_EQ(first_changed(q, 128 * KiB), 128 * KiB);
  EXPECT_EQ(core.usable_size(moved::placed), 128 * KiB) << "the new span is recognised";
  EXPECT_TRUE(checked(a));
  EXPECT_EQ(a.deallocate(moved::placed), Error::ok);
  EXPECT_EQ(a.deallocate(q), Error::ok);
  EXPECT_TRUE(checked(a));
}

TEST(LargeResize, StatisticsFollowTheBlockExactly) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  const SlabGlobalStats base = global_stats(a);
  void* p = a.allocate(70000);
  for (std::size_t size : {80000ul, 3 * MiB, 150000ul, 9 * MiB + 1, 66000ul, 40 * MiB}) {
    p = core.realloc_large(p, size, 0);
    ASSERT_NE(p, nullptr);
    const std::size_t usable = (size + PAGE - 1) / PAGE * PAGE;
    EXPECT_EQ(core.usable_size(p), usable);
    const SlabGlobalStats now = global_stats(a);
    EXPECT_EQ(now.large_spans_live, base.large_spans_live + 1) << size;
    EXPECT_EQ(now.large_live_bytes, base.large_live_bytes + usable) << size;
    EXPECT_EQ(now.live_bytes, base.live_bytes + usable) << size;
    EXPECT_EQ(now.live_blocks, base.live_blocks + 1) << size;
  }
  EXPECT_EQ(a.deallocate(p), Error::ok);
  const SlabGlobalStats after = global_stats(a);
  EXPECT_EQ(after.large_live_bytes, base.large_live_bytes);
  EXPECT_EQ(after.live_bytes, base.live_bytes);
  EXPECT_TRUE(checked(a));
}

TEST(LargeResize, RefusesWhatIsNotALiveLargeBlock) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  void* small = a.allocate(100);
  EXPECT_EQ(core.realloc_large(small, 100000, 0), nullptr);
  auto* big = static_cast<char*>(a.allocate(100000));
  EXPECT_EQ(core.realloc_large(big + 64, 200000, 0), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INTERIOR_POINTER);
  EXPECT_EQ(core.usable_size(big), 25 * PAGE);  // untouched
  int on_stack = 0;
  EXPECT_EQ(core.realloc_large(&on_stack, 200000, 0), nullptr);
  EXPECT_EQ(a.deallocate(big), Error::ok);
  EXPECT_EQ(core.realloc_large(big, 200000, 0), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOUBLE_FREE);
  EXPECT_EQ(a.deallocate(small), Error::ok);
  EXPECT_TRUE(checked(a));
}

// --- the cache of free spans ------------------------------------------------

// Many cached spans: every allocation that reuses one looks at a few of them,
// not at all of them.
TEST(LargeSpanCache, AllocationsLookAtABoundedNumberOfCachedSpans) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  // A thousand spans (each reserves 5 granules, 320 KiB), each large enough for
  // any of the blocks below; the cache keeps them all.
  const std::size_t n = 1000;
  static_assert(n <= td::AllocatorCore::MAX_CACHED_SPANS &&
                n * 5 * td::MAP_GRANULE <= td::AllocatorCore::MAX_CACHED_RESERVATION);
  std::vector<void*> blocks(n);
  for (std::size_t i = 0; i < n; ++i) ASSERT_NE(blocks[i] = a.allocate(270000), nullptr);
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  const std::uint64_t reserves = platform.reserves.load();
  const std::uint64_t visits = core.large_cache_visits();
  for (std::size_t i = 0; i < n; ++i) ASSERT_NE(blocks[i] = a.allocate(70000 + (i % 3) * 100000), nullptr);
  EXPECT_EQ(platform.reserves.load(), reserves) << "every span came from the cache";
  EXPECT_LE(core.large_cache_visits() - visits, 2 * n);
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_TRUE(checked(a));
}

// A bin's warm spans are looked at before its cold ones: spans whose pages went
// back, freed after the warm ones, do not hide them from the next blocks. (A
// thread's exit once left hundreds of buffers cached warm behind newer cold
// ones, and every allocation faulted pages in while the warm ones waited.)
TEST(LargeSpanCache, WarmSpansAreTakenBeforeColdOnesFreedAfterThem) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  // Room for ten spans of 100 KB (100 KiB committed each) to stay warm; no
  // retention beyond it, so none goes back with time either.
  ASSERT_EQ(a.set_warm_reserve(MiB), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  constexpr std::size_t size = 100000, committed = 25 * PAGE, warm = MiB / committed;
  std::vector<unsigned char*> blocks(24);
  for (auto& p : blocks) ASSERT_NE(p = filled_block(a, size), nullptr);
  for (unsigned char* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  for (std::size_t i = 0; i < blocks.size(); ++i)
    ASSERT_EQ(platform.resident_bytes(blocks[i], committed), i < warm ? committed : 0) << i;
  std::set<unsigned char*> warm_spans(blocks.begin(), blocks.begin() + warm);
  std::vector<void*> again(warm);
  for (auto& p : again) {
    ASSERT_NE(p = a.allocate(size), nullptr);
    EXPECT_EQ(warm_spans.count(static_cast<unsigned char*>(p)), 1u) << "a cold span was taken first";
  }
  for (void* p : again) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_TRUE(checked(a));
}

// A block takes a free span whose committed pages already cover it before the
// span freed last, whose pages fall short: faulting the rest in would have sent
// as many bytes of other spans back (a flow of buffers of many sizes faulted in
// about a fifth more pages, docs/BENCHMARKS.md).
TEST(LargeSpanCache, ABlockTakesAFreeSpanWhosePagesCoverItFirst) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_warm_reserve(MiB), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  // Both in 256 KiB reservations: 250,000 bytes committed in one, 200,000 in the other.
  unsigned char* covering = filled_block(a, 250000);
  unsigned char* short_of_it = filled_block(a, 200000);
  ASSERT_NE(covering, nullptr);
  ASSERT_NE(short_of_it, nullptr);
  // Freed by a thread with no heap here: to the cache, not to a thread's stash.
  std::thread([&] {
    EXPECT_EQ(a.deallocate(covering), Error::ok);
    EXPECT_EQ(a.deallocate(short_of_it), Error::ok);  // freed last: first in its bin
  }).join();
  void* p = a.allocate(240000);
  EXPECT_EQ(p, covering) << "the span whose pages fall short was taken";
  void* q = a.allocate(200000);
  EXPECT_EQ(q, short_of_it);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  ASSERT_EQ(a.deallocate(q), Error::ok);
  EXPECT_TRUE(checked(a));
}

// Hundreds of buffers freed together and allocated again all come back from
// the cache: no reservation is given up and made again (600 buffers of 64 KiB
// and 8 bytes: 344 reservations a round went back and were made again, with
// the faults of their pages, when the cache kept at most 256 spans).
TEST(LargeSpanCache, HundredsOfBuffersFreedTogetherKeepTheirReservations) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  // Kept committed within the reserve: none goes back with time either.
  ASSERT_EQ(a.set_warm_reserve(64 * MiB), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  std::vector<void*> blocks(600);
  for (int round = 0; round < 3; ++round) {
    for (auto& p : blocks) ASSERT_NE(p = filled_block(a, 64 * KiB + 8), nullptr);
    const std::uint64_t reserves = platform.reserves.load(), releases = platform.releases.load();
    const std::uint64_t decommits = platform.decommits.load();
    for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
    for (auto& p : blocks) ASSERT_NE(p = a.allocate(64 * KiB + 8), nullptr);
    EXPECT_EQ(platform.reserves.load(), reserves) << "round " << round;
    EXPECT_EQ(platform.releases.load(), releases) << "round " << round;
    EXPECT_EQ(platform.decommits.load(), decommits)
        << "round " << round << ": 41 MiB stay within the reserve";
    for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
    EXPECT_TRUE(checked(a));
  }
}

// Allocates `blocks` of `size` bytes each in `a`, filled, then frees them all:
// a wave of buffers freed together.
void free_a_wave(tslab::Allocator& a, std::vector<void*>& blocks, std::size_t size) {
  for (auto& p : blocks) ASSERT_NE(p = filled_block(a, size), nullptr);
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
}

// A wave of buffers beyond the retention's bound, freed together and allocated
// again: the spans beyond the bound stay committed for the next wave, which
// takes them, instead of going back at each free and faulting in again (2,000
// buffers of 65,544 bytes freed and allocated together took 4.4x tcmalloc's
// time, with 16,000 faults a round). Pages faulting in for a block no kept span
// fits send as many bytes of them back, so what the program holds never grows
// by more than the bound for it.
TEST(LargeSpanCache, AWaveBeyondTheRetentionKeepsItsPagesAndPagesFaultingInSendThemBack) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  constexpr std::size_t bound = 6 * MiB, size = 256 * KiB;
  ASSERT_TRUE(retention_only(a, bound));
  std::vector<void*> blocks(64);  // 16 MiB
  free_a_wave(a, blocks, size);
  EXPECT_GT(global_stats(a).warm_reserve_bytes, 2 * bound) << "the wave's spans kept committed";
  for (int round = 0; round < 3; ++round) {
    const std::uint64_t reserves = platform.reserves.load(), decommits = platform.decommits.load();
    free_a_wave(a, blocks, size);
    EXPECT_EQ(platform.reserves.load(), reserves) << "round " << round;
    EXPECT_EQ(platform.decommits.load(), decommits) << "round " << round << ": no page went back";
    EXPECT_TRUE(checked(a));
  }
  // Blocks no kept span fits: 16 MiB fault in, and the excess goes back.
  std::vector<void*> larger(4);
  for (auto& p : larger) ASSERT_NE(p = filled_block(a, 4 * MiB), nullptr);
  EXPECT_LE(global_stats(a).warm_reserve_bytes, bound);
  for (void* p : larger) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_TRUE(checked(a));
}

// What stays beyond the bound is at most LARGE_EXCESS_PER_BOUND times the bound,
// however large the wave: a program that frees a GiB of buffers and goes idle
// keeps four times the bound, not the GiB.
TEST(LargeSpanCache, AWaveKeepsAtMostThreeTimesTheBoundBeyondIt) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  constexpr std::size_t bound = 2 * MiB;
  static_assert(td::AllocatorCore::LARGE_EXCESS_PER_BOUND == 3);
  ASSERT_TRUE(retention_only(a, bound));
  std::vector<void*> blocks(64);  // 16 MiB
  free_a_wave(a, blocks, 256 * KiB);
  const std::uint64_t kept = global_stats(a).warm_reserve_bytes;
  EXPECT_LE(kept, 4 * bound);
  EXPECT_GT(kept, 3 * bound);
  EXPECT_TRUE(checked(a));
}

// A smaller span freed after a wave of larger ones keeps the wave: the larger
// spans give their tails for it only while the bound holds no excess (the
// first span that crosses it). Before, freeing four 128 KiB buffers after
// 200 of 2 MiB trimmed the whole wave.
TEST(LargeSpanCache, SmallerSpansFreedAfterAWaveLeaveItWhole) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  constexpr std::size_t bound = 4 * MiB;
  ASSERT_TRUE(retention_only(a, bound));
  std::vector<void*> wave(6), small(4);
  for (int round = 0; round < 4; ++round) {
    const std::uint64_t reserves = platform.reserves.load(), decommits = platform.decommits.load();
    // 12 MiB, in spans too large for the thread's stash.
    for (auto& p : wave) ASSERT_NE(p = filled_block(a, 2 * MiB), nullptr);
    for (auto& p : small) ASSERT_NE(p = filled_block(a, 128 * KiB), nullptr);
    for (void* p : wave) ASSERT_EQ(a.deallocate(p), Error::ok);
    for (void* p : small) ASSERT_EQ(a.deallocate(p), Error::ok);
    if (round > 0) {
      EXPECT_EQ(platform.reserves.load(), reserves) << "round " << round;
      EXPECT_EQ(platform.decommits.load(), decommits) << "round " << round << ": no page went back";
    }
    EXPECT_TRUE(checked(a));
  }
}

// A block grown in place faults its new pages in: as many bytes of the spans
// kept beyond the bound go back, as for a new block.
TEST(LargeSpanCache, ABlockGrownInPlaceSendsTheExcessBack) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  constexpr std::size_t bound = 4 * MiB;
  ASSERT_TRUE(retention_only(a, bound));
  void* grown = a.allocate(5 * MiB);  // a reservation of 8 MiB
  ASSERT_NE(grown, nullptr);
  std::vector<void*> blocks(48);  // 12 MiB
  free_a_wave(a, blocks, 256 * KiB);
  ASSERT_GT(global_stats(a).warm_reserve_bytes, 2 * bound);
  ASSERT_EQ(core.realloc_large(grown, 8 * MiB, 0), grown);  // in place: 3 MiB of fresh pages
  std::memset(grown, 1, 8 * MiB);
  EXPECT_LE(global_stats(a).warm_reserve_bytes, 9 * MiB);
  ASSERT_EQ(a.deallocate(grown), Error::ok);
  EXPECT_TRUE(checked(a));
}

// With TSLAB_LARGE_RETAIN=0 every freed span beyond the warm reserve goes back
// at its free, waves or not.
TEST(LargeSpanCache, NoRetentionKeepsNoWave) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_warm_reserve(MiB), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  std::vector<void*> blocks(64);
  for (int round = 0; round < 2; ++round) {
    free_a_wave(a, blocks, 256 * KiB);
    EXPECT_LE(global_stats(a).warm_reserve_bytes, MiB) << "round " << round;
  }
  EXPECT_TRUE(checked(a));
}

// Only blocks allocated in the last second or two let freed spans stay beyond
// the bound: blocks allocated long before and freed now go back beyond it at
// their free, also when a few large blocks were allocated meanwhile. (The
// window of recent allocations moved on only at frees beyond the bound, so 800
// MiB allocated 10 s before their free counted as recent: 263 MiB kept where
// about 72 were due.)
TEST(LargeSpanCache, BlocksAllocatedLongBeforeTheirFreeKeepNoWave) {
  tslab::Allocator a;
  constexpr std::size_t bound = 4 * MiB, size = 2 * MiB, small_block = 256 * KiB;
  ASSERT_TRUE(retention_only(a, bound));
  std::vector<void*> blocks(12);  // 24 MiB: the wave's cap, 3 x 4 MiB, would keep 12 beyond the bound
  for (auto& p : blocks) ASSERT_NE(p = filled_block(a, size), nullptr);
  // Two and a half windows with a small large block now and then.
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(td::AllocatorCore::LARGE_RETAIN_NS / 2));
    void* p = filled_block(a, small_block);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(a.deallocate(p), Error::ok);
  }
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  // The bound and the small blocks of the last two windows at most.
  EXPECT_LE(global_stats(a).warm_reserve_bytes, bound + 4 * small_block);
  EXPECT_TRUE(checked(a));
}

// A thread that read the clock before another thread turned the window, and
// tries to turn it only then, leaves it alone: a reading older than the window's
// start once underflowed into "two windows old" and wiped the wave's count.
TEST(LargeSpanCache, AWindowTurnWithAnOlderClockReadingLeavesTheCount) {
  tslab::Allocator a;
  td::AllocatorCore& core = *a.core();
  constexpr std::uint64_t window = td::AllocatorCore::LARGE_RETAIN_NS;
  const std::uint64_t t = td::monotonic_ns();
  core.note_large_taken(8 * MiB);                   // the window begins at about t
  core.turn_large_window(t + window + window / 2);  // a window later: the 8 MiB are the previous one's
  ASSERT_EQ(core.large_recently_taken(), 8 * MiB);
  core.turn_large_window(t + window + window / 4);  // read before that turn, late to act
  EXPECT_EQ(core.large_recently_taken(), 8 * MiB);
  core.turn_large_window(t + 3 * window + window / 2);  // two windows with none: nothing recent
  EXPECT_EQ(core.large_recently_taken(), 0u);
}

// The spans beyond the bound go back once unused for a second (LARGE_RETAIN_NS)
// also in a program that frees no more large blocks: any thread's next
// allocation slow path returns them.
TEST(LargeSpanCache, AWaveKeptBeyondTheRetentionGoesBackAfterASecondUnused) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  constexpr std::size_t bound = 6 * MiB, size = 256 * KiB;
  ASSERT_TRUE(retention_only(a, bound));
  std::vector<void*> blocks(64);
  free_a_wave(a, blocks, size);
  const std::uint64_t kept = global_stats(a).warm_reserve_bytes;
  ASSERT_GT(kept, 2 * bound);
  std::this_thread::sleep_for(std::chrono::nanoseconds(td::AllocatorCore::LARGE_RETAIN_NS + 100'000'000));
  // Small blocks of several classes new to this thread: slow paths.
  std::vector<void*> small;
  for (std::size_t bytes = 16; bytes <= 4096; bytes *= 2) small.push_back(a.allocate(bytes));
  // Left: at most the thread's own stash (eight spans of at most 1 MiB, kept
  // for its next blocks).
  EXPECT_LE(global_stats(a).warm_reserve_bytes, 8 * size) << "of " << kept;
  for (void* p : small) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_TRUE(checked(a));
}

// A thread's exit does not end a wave: the spans other threads freed beyond the
// bound stay while the thread's own stash joins the cache.
TEST(LargeSpanCache, AThreadsExitKeepsTheWave) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  constexpr std::size_t bound = 6 * MiB;
  ASSERT_TRUE(retention_only(a, bound));
  std::vector<void*> blocks(64);
  free_a_wave(a, blocks, 256 * KiB);
  const std::uint64_t kept = global_stats(a).warm_reserve_bytes;
  ASSERT_GT(kept, 2 * bound);
  std::thread([&] { a.deallocate(a.allocate(300 * KiB)); }).join();
  EXPECT_GE(global_stats(a).warm_reserve_bytes, kept - MiB);
  EXPECT_TRUE(checked(a));
}

struct FakeSpans {
  std::vector<std::unique_ptr<td::SegmentHeader>> spans;
  td::SegmentHeader* add(std::size_t bytes, std::uintptr_t base) {
    spans.push_back(std::make_unique<td::SegmentHeader>());
    td::SegmentHeader* seg = spans.back().get();
    seg->size = bytes;
    seg->base = base;
    return seg;
  }
};

TEST(LargeSpanCache, BinsCoverEverySizeInOrder) {
  using Cache = td::LargeSpanCache;
  std::uint32_t last = 0;
  for (std::size_t granules = 1; granules < (std::size_t{1} << 22); granules += 1 + granules / 64) {
    const std::uint32_t bin = Cache::bin_of(granules);
    ASSERT_LT(bin, Cache::BIN_COUNT);
    ASSERT_GE(bin, last) << granules;
    ASSERT_LE(Cache::bin_floor(bin), granules) << granules;
    ASSERT_GT(Cache::bin_floor(bin + 1), granules) << granules;
    last = bin;
  }
  for (std::size_t granules = 1; granules <= Cache::EXACT_BINS; ++granules)
    EXPECT_EQ(Cache::bin_floor(Cache::bin_of(granules)), granules);
  EXPECT_EQ(Cache::bin_of(std::size_t{1} << 25), 8 + 22 * Cache::BINS_PER_DOUBLING);
}

TEST(LargeSpanCache, TakesTheSmallestFittingSpanAndKeepsItsInvariants) {
  td::LargeSpanCache cache;
  FakeSpans fake;
  tslab_test::Rng rng(7);
  std::size_t pushed = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::size_t granules = 1 + rng.next() % (300 * td::SLABS_PER_SEGMENT);
    cache.push(
        fake.add(granules * td::MAP_GRANULE, td::SEGMENT_SIZE * (1 + 2 * static_cast<std::uintptr_t>(i))));
    ++pushed;
  }
  ASSERT_TRUE(cache.consistent());
  EXPECT_EQ(cache.size(), pushed);
  std::size_t seen = 0;
  cache.for_each([&](td::SegmentHeader* seg) {
    EXPECT_TRUE(cache.contains(seg));
    ++seen;
    return true;
  });
  EXPECT_EQ(seen, pushed);
  // Requests below the largest sizes cached: a bin above theirs always has spans.
  for (int i = 0; i < 5000; ++i) {
    const std::size_t bytes =
        (1 + rng.next() % (200 * td::SLABS_PER_SEGMENT)) * td::MAP_GRANULE - rng.next() % td::MAP_GRANULE;
    const std::uint64_t before = cache.spans_visited();
    td::SegmentHeader* seg = cache.take(bytes, td::MAP_GRANULE);
    ASSERT_NE(seg, nullptr) << bytes;
    EXPECT_GE(seg->size, bytes);
    // From the bin of its size or the first one above it with spans.
    EXPECT_LE(td::LargeSpanCache::bin_floor(td::LargeSpanCache::bin_of(seg->size / td::MAP_GRANULE)),
              (bytes + td::MAP_GRANULE - 1) / td::MAP_GRANULE * 2);
    EXPECT_LE(cache.spans_visited() - before, td::LargeSpanCache::PROBES + 1);
    EXPECT_FALSE(cache.contains(seg));
    --pushed;
  }
  EXPECT_TRUE(cache.consistent());
  EXPECT_EQ(cache.size(), pushed);
  // An alignment no cached span has: found nowhere, still within the bound.
  const std::uint64_t before = cache.spans_visited();
  EXPECT_EQ(cache.take(td::SEGMENT_SIZE, td::SEGMENT_SIZE * 2), nullptr);
  EXPECT_LE(cache.spans_visited() - before,
            std::uint64_t{td::LargeSpanCache::PROBES} * td::LargeSpanCache::BIN_COUNT);
  // Emptied completely.
  while (cache.take(1, td::SEGMENT_SIZE) != nullptr) {
  }
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(cache.consistent());
}

// Spans of one bin taken out in any order (the oldest, for a release; one from
// the middle): the bin stays linked both ways, and a take finds every span left.
TEST(LargeSpanCache, SpansLeaveTheirBinFromAnywhere) {
  td::LargeSpanCache cache;
  FakeSpans fake;
  std::vector<td::SegmentHeader*> spans;
  for (int i = 0; i < 1000; ++i) {
    spans.push_back(fake.add(td::SEGMENT_SIZE, td::SEGMENT_SIZE * (1 + 2 * static_cast<std::uintptr_t>(i))));
    cache.push(spans.back());
  }
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(cache.take_oldest(), spans[i]) << "cached longest first";
    ASSERT_TRUE(cache.consistent()) << i;
  }
  EXPECT_EQ(cache.size(), 700u);
  std::size_t taken = 0;
  while (td::SegmentHeader* seg = cache.take(1, td::MAP_GRANULE)) {
    EXPECT_EQ(seg, spans[999 - taken]) << "the newest first";
    ++taken;
    ASSERT_TRUE(cache.consistent());
  }
  EXPECT_EQ(taken, 700u);
}

TEST(LargeSpanCache, TheSpanFreedLastComesBackFirst) {
  td::LargeSpanCache cache;
  FakeSpans fake;
  td::SegmentHeader* older = fake.add(2 * td::SEGMENT_SIZE, td::SEGMENT_SIZE);
  td::SegmentHeader* newer = fake.add(2 * td::SEGMENT_SIZE, 3 * td::SEGMENT_SIZE);
  cache.push(older);
  cache.push(newer);
  EXPECT_EQ(cache.take(td::SEGMENT_SIZE + 1, td::SEGMENT_SIZE), newer);
  EXPECT_EQ(cache.take(td::SEGMENT_SIZE + 1, td::SEGMENT_SIZE), older);
  EXPECT_EQ(cache.take(1, td::SEGMENT_SIZE), nullptr);
}

// A bin's warm spans come out before its cold ones, whatever the order they
// came in; a span that went cold moves among the cold ones; the reservation
// given back first is the oldest cold span's, then the oldest warm one's.
TEST(LargeSpanCache, WarmSpansComeFirstAndColdRangesGoFirst) {
  td::LargeSpanCache cache;
  FakeSpans fake;
  auto span = [&](std::uintptr_t i, std::size_t dirty) {
    td::SegmentHeader* seg = fake.add(td::SEGMENT_SIZE, td::SEGMENT_SIZE * (1 + 2 * i));
    seg->dirty_bytes = dirty;
    cache.push(seg);
    return seg;
  };
  td::SegmentHeader* warm_old = span(0, td::MAP_GRANULE);
  td::SegmentHeader* cold_old = span(1, 0);
  td::SegmentHeader* warm_new = span(2, td::MAP_GRANULE);
  std::vector<td::SegmentHeader*> cold_new;
  for (std::uintptr_t i = 3; i < 3 + 2 * td::LargeSpanCache::PROBES; ++i) cold_new.push_back(span(i, 0));
  ASSERT_TRUE(cache.consistent());
  EXPECT_EQ(cache.warm_count(), 2u);
  EXPECT_EQ(cache.take(1, td::MAP_GRANULE), warm_new) << "behind more cold spans than a lookup probes";
  warm_old->dirty_bytes = 0;
  cache.cooled(warm_old);
  ASSERT_TRUE(cache.consistent());
  EXPECT_EQ(cache.warm_count(), 0u);
  EXPECT_EQ(cache.take(1, td::MAP_GRANULE), warm_old) << "the last in among the cold";
  td::SegmentHeader* warm_last = span(40, td::MAP_GRANULE);
  EXPECT_EQ(cache.take_oldest(), cold_old);
  for (td::SegmentHeader* seg : cold_new) EXPECT_EQ(cache.take_oldest(), seg);
  EXPECT_EQ(cache.take_oldest(), warm_last) << "no cold span left";
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(cache.consistent());
}

// A bin's spans differ by up to a quarter: more warm spans too small for a
// request than a lookup probes do not hide a cold span of the bin that fits
// (each list has its own probes). A lookup for committed bytes takes no cold span.
TEST(LargeSpanCache, WarmSpansTooSmallDoNotHideAColdOneThatFits) {
  td::LargeSpanCache cache;
  FakeSpans fake;
  ASSERT_EQ(td::LargeSpanCache::bin_of(10), td::LargeSpanCache::bin_of(11));
  for (std::uintptr_t i = 0; i < td::LargeSpanCache::PROBES + 2; ++i) {
    td::SegmentHeader* seg = fake.add(10 * td::MAP_GRANULE, td::SEGMENT_SIZE * (1 + 2 * i));
    seg->dirty_bytes = td::MAP_GRANULE;
    cache.push(seg);
  }
  td::SegmentHeader* cold = fake.add(11 * td::MAP_GRANULE, td::SEGMENT_SIZE * 99);
  cache.push(cold);
  ASSERT_TRUE(cache.consistent());
  EXPECT_EQ(cache.take(11 * td::MAP_GRANULE, td::MAP_GRANULE, td::MAP_GRANULE), nullptr)
      << "it keeps no byte";
  EXPECT_EQ(cache.take(11 * td::MAP_GRANULE, td::MAP_GRANULE), cold);
  EXPECT_TRUE(cache.consistent());
}

// --- reservations going back -------------------------------------------------

// A request no machine could back is refused by the OS's overcommit policy, as
// glibc's mmap of it is, and costs nothing: before, the reservation succeeded
// and covering its range took 2 MiB of segment map per TiB, for the process's life.
TEST(LargeSpanRelease, ARequestNoMachineCouldBackIsRefusedAndCostsTheMapNothing) {
  std::FILE* f = std::fopen("/proc/sys/vm/overcommit_memory", "r");
  int mode = -1;
  if (f != nullptr) {
    if (std::fscanf(f, "%d", &mode) != 1) mode = -1;
    std::fclose(f);
  }
  if (mode != 0 && mode != 2)
    GTEST_SKIP() << "the kernel always overcommits (vm.overcommit_memory " << mode << ")";
  tslab::Allocator a;
  const std::size_t map_before = td::segment_map_reserved_bytes();
  for (std::size_t size : {std::size_t{1} << 45, std::size_t{1} << 46}) {
    EXPECT_EQ(a.allocate(size), nullptr) << size;
    EXPECT_EQ(tslab::last_error(), Error::out_of_memory) << size;
  }
  EXPECT_EQ(td::segment_map_reserved_bytes(), map_before);
  void* p = a.allocate(8 * MiB);  // a large block the machine can back still works
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, 8 * MiB);
  EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_TRUE(checked(a));
}

TEST(LargeSpanRelease, BlocksOfEverGrowingSizesKeepTheReservedAddressSpaceBounded) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  const std::uint64_t before = platform.reserved_bytes.load();
  // The live block's range and the cache's bound (1 GiB), whatever came before.
  constexpr std::uint64_t bound = 1024 * MiB + 1200 * MiB;

  // 4, 8, ... 1200 MiB: 176 GiB in all, each block larger than every span freed before.
  for (std::size_t k = 1; k <= 300; ++k) {
    auto* p = static_cast<unsigned char*>(a.allocate(k * 4 * MiB));
    ASSERT_NE(p, nullptr) << k;
    p[0] = p[k * 4 * MiB - 1] = 1;
    ASSERT_EQ(a.deallocate(p), Error::ok) << k;
    ASSERT_LE(platform.reserved_bytes.load() - before, bound) << "after the block of " << k * 4 << " MiB";
  }
  const SlabGlobalStats stats = global_stats(a);
  EXPECT_LE(stats.reserved_bytes, bound);
  EXPECT_GT(stats.spans_unmapped_total, 200u);
  EXPECT_TRUE(checked(a));
  a.collect();
  EXPECT_EQ(global_stats(a).reserved_bytes, 0u) << "collect gives back every free span's range";
  EXPECT_TRUE(checked(a));
}

TEST(LargeSpanRelease, PointersAndHandlesOfAReleasedSpanAreRefusedAndItsHeaderIsReused) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  void* p = a.allocate(100000);
  ASSERT_NE(p, nullptr);
  const std::uint64_t handle = core.ptr_to_handle(p);
  ASSERT_NE(handle, 0u);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  const std::uint64_t releases = platform.releases.load();
  a.collect();
  EXPECT_EQ(platform.releases.load(), releases + 1) << "the cached span's range went back";
  // The range is gone: the pointer is not tslab's; the handle names the header,
  // whose block was freed.
  EXPECT_EQ(a.deallocate(p), Error::not_allocated);
  EXPECT_EQ(a.free_handle(handle), Error::double_free);
  EXPECT_EQ(core.handle_to_ptr(handle), nullptr);
  EXPECT_TRUE(checked(a));
  // The next span binds the bare header to a new range: same id, next generation.
  const std::uint64_t metadata = global_stats(a).metadata_bytes;
  void* q = a.allocate(300000);
  ASSERT_NE(q, nullptr);
  const std::uint64_t q_handle = core.ptr_to_handle(q);
  EXPECT_EQ(tslab::detail::handle_decode(q_handle).slab_id, tslab::detail::handle_decode(handle).slab_id);
  EXPECT_EQ(global_stats(a).metadata_bytes, metadata) << "no new header";
  EXPECT_EQ(a.free_handle(handle), Error::stale_handle);
  EXPECT_EQ(core.handle_to_ptr(handle), nullptr);
  EXPECT_EQ(core.handle_to_ptr(q_handle), q);
  // The new range may be the old one, lie elsewhere, or cover it from below
  // (spans are granules apart, not segments).
  const auto old_at = reinterpret_cast<std::uintptr_t>(p), new_at = reinterpret_cast<std::uintptr_t>(q);
  if (old_at > new_at && old_at < new_at + 300000) {
    EXPECT_EQ(a.deallocate(p), Error::interior_pointer);
  } else if (q != p) {
    EXPECT_EQ(a.deallocate(p), Error::not_allocated);
  }
  std::memset(q, 0x5a, 300000);
  EXPECT_TRUE(checked(a));
  EXPECT_EQ(a.free_handle(q_handle), Error::ok);
  EXPECT_EQ(a.free_handle(q_handle), Error::double_free);
  EXPECT_TRUE(checked(a));
}

// Eight blocks of 70,000 bytes allocated and freed: eight spans in the cache,
// each holding its reservation. The statistics then.
SlabGlobalStats cache_eight_spans(tslab::Allocator& a) {
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(a.allocate(70000));
  for (void* p : blocks) EXPECT_EQ(a.deallocate(p), Error::ok);
  const SlabGlobalStats cached = global_stats(a);
  EXPECT_GE(cached.reserved_bytes, 8 * 2 * td::MAP_GRANULE);  // 2 granules each
  return cached;
}

// With the next reservation refused, `size` bytes are allocated all the same,
// once the eight cached spans' ranges went back.
void expect_retried_once_the_cache_went(tslab::Allocator& a, const SlabGlobalStats& cached,
                                        std::size_t size) {
  void* p = a.allocate(size);
  ASSERT_NE(p, nullptr) << "retried after the cached ranges went back";
  EXPECT_EQ(global_stats(a).spans_unmapped_total, cached.spans_unmapped_total + 8);
  EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_TRUE(checked(a));
}

TEST(LargeSpanRelease, ARefusedReservationIsRetriedOnceFreeSpansGaveTheirsBack) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  // Spans cached cold: none is warm enough to be grown into the larger block.
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  const SlabGlobalStats cached = cache_eight_spans(a);
  platform.refuse_reserves = 1;
  expect_retried_once_the_cache_went(a, cached, 9 * td::SEGMENT_SIZE);  // larger than every cached span
}

// A small segment refused for want of address space (RLIMIT_AS) is retried once
// the free spans' ranges went back, as a large span is: frees of large blocks
// make room for small ones too.
TEST(LargeSpanRelease, ARefusedSmallSegmentIsRetriedOnceFreeSpansGaveTheirsBack) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  const SlabGlobalStats cached = cache_eight_spans(a);
  platform.refuse_any_size = true;
  platform.refuse_reserves = 1;
  expect_retried_once_the_cache_went(a, cached, 48);  // the allocator's first small block: a new segment
  EXPECT_EQ(platform.refuse_reserves.load(), 0) << "the first reservation was refused";
}

// collect() reports what it handed back, the pages of free large spans kept
// committed included.
TEST(LargeSpanRelease, CollectCountsTheWarmPagesOfFreeSpansItHandsBack) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) {
    void* p = a.allocate(MiB);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x5a, MiB);
    blocks.push_back(p);
  }
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  const std::uint64_t decommits = platform.decommits.load();
  EXPECT_GE(a.collect(), 8 * MiB) << "the 8 spans' pages went back";
  EXPECT_GT(platform.decommits.load(), decommits);
  EXPECT_TRUE(checked(a));
}

// A validation in progress (its pin held, as resolve_pointer holds it) may have
// seen the span's previous block live: the span is not handed out again, nor
// bound to a new range, until the pin is dropped.
// Whether the OS has [p, p + size) mapped (mincore refuses an unmapped range).
bool mapped(void* p, std::size_t size) {
  std::vector<unsigned char> pages(size / PAGE);
  return ::mincore(p, size, pages.data()) == 0;
}

// A pinned free span is not handed out, and its range is not unmapped: the pin
// may be a realloc copying out of the range, whose block a racing free put in
// the cache. Once its range went back, a pinned bare header is not bound.
TEST(LargeSpanRelease, APinnedSpanIsNeitherReusedNorReleasedNorRebound) {
  // Above 1 MiB: a reservation of its own, unmapped when it goes back (smaller
  // ones are carved out of chunks, platform/span_chunks.h).
  constexpr std::size_t SPAN = 2 * MiB;
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  void* p = a.allocate(SPAN);
  ASSERT_NE(p, nullptr);
  td::SegmentHeader* seg = td::segment_map_lookup(p);
  ASSERT_NE(seg, nullptr);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  seg->pins[0].fetch_add(1);
  void* q = a.allocate(SPAN);
  ASSERT_NE(q, nullptr);
  EXPECT_NE(td::segment_map_lookup(q), seg) << "a pinned cached span was handed out";
  ASSERT_EQ(a.deallocate(q), Error::ok);
  a.collect();  // q's range goes back; the pinned span keeps its own
  EXPECT_TRUE(mapped(p, SPAN)) << "a pinned span's range was unmapped";
  EXPECT_FALSE(mapped(q, SPAN));
  seg->pins[0].fetch_sub(1);
  a.collect();  // now its range goes back too: the header is bare
  EXPECT_FALSE(mapped(p, SPAN));
  seg->pins[0].fetch_add(1);  // a validation that found the header before the release
  void* r = a.allocate(SPAN);
  ASSERT_NE(r, nullptr);
  EXPECT_NE(td::segment_map_lookup(r), seg) << "a pinned bare header was bound";
  seg->pins[0].fetch_sub(1);
  void* t = a.allocate(SPAN);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(td::segment_map_lookup(t), seg) << "unpinned, the header serves again";
  ASSERT_EQ(a.deallocate(r), Error::ok);
  ASSERT_EQ(a.deallocate(t), Error::ok);
  EXPECT_TRUE(checked(a));
}

// --- growing a warm span into a larger reservation --------------------------

std::uint64_t vm_size_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  std::uint64_t kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "VmSize: %lu kB", &kib) == 1) break;
  std::fclose(f);
  return kib * 1024;
}

// A request larger than every cached span grows the warmest one into its new
// reservation: its committed pages are resident before the block is written,
// the old range is gone, and the old block's pointer and handle are refused.
TEST(LargeSpanGrow, ALargerBlockTakesTheWarmPagesOfACachedSpan) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  ASSERT_EQ(a.set_large_retain(64 * MiB), Error::ok);
  auto* p = static_cast<unsigned char*>(a.allocate(8 * MiB));
  ASSERT_NE(p, nullptr);
  fill(p, 0, 8 * MiB);
  const std::uint64_t handle = core.ptr_to_handle(p);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  const SlabGlobalStats before = global_stats(a);
  const std::uint64_t platform_before = platform.reserved_bytes.load();

  auto* q = static_cast<unsigned char*>(a.allocate(20 * MiB));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(platform.grows.load(), 1u);
  EXPECT_EQ(platform.resident_bytes(q, 8 * MiB), 8 * MiB) << "the warm pages came along";
  EXPECT_EQ(platform.resident_bytes(q + 8 * MiB, 12 * MiB), 0u) << "the rest is new";
  EXPECT_EQ(first_changed(q, 8 * MiB), 8 * MiB) << "pages move with their contents";
  const SlabGlobalStats after = global_stats(a);
  EXPECT_EQ(after.spans_grown_total, before.spans_grown_total + 1);
  EXPECT_EQ(after.spans_unmapped_total, before.spans_unmapped_total + 1) << "the old range went back";
  EXPECT_EQ(after.reserved_bytes, td::SEGMENT_SIZE * 5) << "one reservation: the new block's";
  EXPECT_EQ(platform.reserved_bytes.load() - platform_before, td::SEGMENT_SIZE * 3) << "8 MiB grown to 20";
  // The old block's pointer and handle are refused, never resolved into the new block.
  EXPECT_EQ(a.deallocate(p), Error::not_allocated);
  EXPECT_EQ(a.free_handle(handle), Error::stale_handle);
  EXPECT_EQ(core.handle_to_ptr(handle), nullptr);
  EXPECT_TRUE(checked(a));
  ASSERT_EQ(a.deallocate(q), Error::ok);

  // A zeroed block on grown pages is cleared as far as they held data.
  auto* z = static_cast<unsigned char*>(core.alloc_zeroed(20 * MiB, 0));
  ASSERT_EQ(z, q) << "the span is reused";
  EXPECT_EQ(first_nonzero(z, 20 * MiB), 20 * MiB);
  fill(z, 0, 20 * MiB);
  ASSERT_EQ(a.deallocate(z), Error::ok);
  auto* big = static_cast<unsigned char*>(core.alloc_zeroed(48 * MiB, 0));  // larger again: grows once more
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(platform.grows.load(), 2u);
  EXPECT_EQ(platform.resident_bytes(big, 20 * MiB), 20 * MiB);
  EXPECT_EQ(first_nonzero(big, 48 * MiB), 48 * MiB);
  ASSERT_EQ(a.deallocate(big), Error::ok);
  EXPECT_TRUE(checked(a));
}

// Whether a range may grow costs the OS platform a system call (the address
// space limit): it is asked only when a cached span could grow.
TEST(LargeSpanGrow, AnEmptyCacheAsksNothingOfThePlatform) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) {
    blocks.push_back(a.allocate(80 * 1024));
    ASSERT_NE(blocks.back(), nullptr);
  }
  EXPECT_EQ(platform.grow_asks.load(), 0u) << "no span was cached";
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_TRUE(checked(a));
}

// A loop over buffers of random sizes faults in about the largest one's pages,
// once: every buffer larger than the ones before grows the warm span instead of
// faulting in a new one beside it, so one span ends up serving every size.
TEST(LargeSpanGrow, ABufferLoopFaultsInTheLargestBufferOnce) {
  for (const bool grows : {true, false}) {
    CountingPlatform platform;
    platform.allow_grows = grows;
    tslab::Allocator a(on(platform));
    ASSERT_EQ(a.set_large_retain(64 * MiB), Error::ok);
    std::uint64_t seed = 42, faulted = 0, largest = 0;
    for (int i = 0; i < 40; ++i) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      const std::size_t n = 5 * MiB + (seed >> 33) % (20 * MiB);
      auto* p = static_cast<unsigned char*>(a.allocate(n));
      ASSERT_NE(p, nullptr);
      faulted += n - platform.resident_bytes(p, n);  // pages this buffer finds not resident
      for (std::size_t off = 0; off < n; off += PAGE) p[off] = 1;
      largest = std::max<std::uint64_t>(largest, n);
      ASSERT_EQ(a.deallocate(p), Error::ok);
    }
    const SlabGlobalStats stats = global_stats(a);
    if (grows) {
      EXPECT_LE(faulted, largest + 2 * PAGE) << "each page faulted in once";
      EXPECT_LE(stats.reserved_bytes, largest + 2 * td::SEGMENT_SIZE) << "one span left";
      EXPECT_GT(stats.spans_grown_total, 0u);
    } else {
      // A platform that cannot grow a range: the spans the loop outgrew stay
      // cached and warm beside the new ones, within the retention.
      EXPECT_GT(faulted, largest + 2 * PAGE);
      EXPECT_GT(stats.reserved_bytes, largest + 2 * td::SEGMENT_SIZE);
      EXPECT_EQ(stats.spans_grown_total, 0u);
    }
    EXPECT_TRUE(checked(a));
  }
}

// A refused grow costs nothing: the span stays cached with its pages, is not
// asked again, and serves the next request it fits. Refused here by the OS
// itself: a page of the freed range left read-only (as a program may leave a
// guard page) splits its mapping, and a mapping cannot grow across a split.
TEST(LargeSpanGrow, ARefusedGrowKeepsTheSpanWarmAndCached) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_large_retain(64 * MiB), Error::ok);
  auto* p = static_cast<unsigned char*>(a.allocate(8 * MiB));
  ASSERT_NE(p, nullptr);
  std::memset(p, 7, 8 * MiB);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  ASSERT_EQ(::mprotect(p + 4 * MiB, PAGE, PROT_READ), 0);
  const SlabGlobalStats before = global_stats(a);
  const std::uint64_t vm_before = vm_size_bytes();

  void* q = a.allocate(20 * MiB);
  ASSERT_NE(q, nullptr);
  EXPECT_NE(q, static_cast<void*>(p));
  EXPECT_EQ(global_stats(a).spans_grown_total, before.spans_grown_total) << "the OS refused";
  // The refused destination went back: the address space grew by the new block's range only.
  EXPECT_LE(vm_size_bytes() - vm_before, 20 * MiB + 2 * td::SEGMENT_SIZE);
  void* r = a.allocate(40 * MiB);  // not asked again: no second attempt
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(global_stats(a).spans_grown_total, before.spans_grown_total);
  ASSERT_EQ(::mprotect(p + 4 * MiB, PAGE, PROT_READ | PROT_WRITE), 0);
  auto* s = static_cast<unsigned char*>(a.allocate(8 * MiB));
  EXPECT_EQ(s, p) << "the span is still cached";
  EXPECT_EQ(tslab::OsPlatform::instance().resident_bytes(s, 8 * MiB), 8 * MiB) << "and warm";
  EXPECT_EQ(s[0], 7);
  std::memset(s, 1, 8 * MiB);
  EXPECT_TRUE(checked(a));
  ASSERT_EQ(a.deallocate(s), Error::ok);
  ASSERT_EQ(a.deallocate(q), Error::ok);
  ASSERT_EQ(a.deallocate(r), Error::ok);
  EXPECT_TRUE(checked(a));
}

// A freed block `r` whose span's range went back to the OS is refused: not
// allocated, or an interior pointer if the OS gave its address to the new block
// `t` of `size` bytes (then also never `t` itself: that would be a live block).
void expect_refused_beside(tslab::Allocator& a, void* r, void* t, std::size_t size) {
  const auto at = reinterpret_cast<std::uintptr_t>(r), from = reinterpret_cast<std::uintptr_t>(t);
  if (at == from) return;  // the same address: a live block's, which no test can tell from a stale one
  const bool inside = at > from && at < from + size;
  EXPECT_EQ(a.deallocate(r), inside ? Error::interior_pointer : Error::not_allocated)
      << "the old block's pointer, " << (inside ? "inside the new block" : "in a range given back");
}

// Allocates `grown` bytes, which grows the warm span of the freed block `r`,
// while a validation pins the span's header from inside the grow, right after
// the move (as resolve_pointer would, for a stale pointer into the span).
// *changed_under_pin counts what the validation saw of the header change
// under its pin. Returns the block allocated.
void* grow_while_a_validation_pins(tslab::Allocator& a, CountingPlatform& platform, void* r,
                                   std::size_t grown, int* changed_under_pin) {
  td::SegmentHeader* seg = td::segment_map_lookup(r);
  const std::uintptr_t old_base = seg->base;
  const std::size_t old_size = seg->size;
  std::atomic<bool> allocated{false};
  platform.pin_during_grow = &seg->pins[0];
  std::thread validator([&] {
    // (An allocation that grows nothing never pins: the caller's checks fail.)
    while (!platform.grow_pinned.load() && !allocated.load()) std::this_thread::yield();
    if (!platform.grow_pinned.load()) return;
    // The grower is past the move. What a validation reads of the header does
    // not change under it.
    for (int i = 0; i < 1000; ++i, std::this_thread::yield())
      if (seg->base != old_base || seg->size != old_size) ++*changed_under_pin;
    // Held until the allocation is over (a warm span's grower never waits for
    // it), so that the grower certainly finds the pin however it is scheduled.
    while (!allocated.load()) std::this_thread::yield();
    seg->pins[0].fetch_sub(1);
  });
  void* t = a.allocate(grown);
  allocated.store(true);
  validator.join();
  platform.pin_during_grow = nullptr;
  return t;
}

// A validation holding the warmest span's header when it is looked at (a free
// of a stale pointer in progress) keeps it where it is: the block comes from
// fresh pages. One that finds the header while the span grows keeps it from
// being bound to the new range: the header goes bare (bound again only once
// unpinned), the grown pages back to the OS, and the block is a new span.
TEST(LargeSpanGrow, AWarmSpanPinnedBeforeOrDuringAGrowIsNotRebound) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  ASSERT_EQ(a.set_large_retain(64 * MiB), Error::ok);
  void* p = a.allocate(8 * MiB);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, 8 * MiB);
  td::SegmentHeader* seg = td::segment_map_lookup(p);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  seg->pins[0].fetch_add(1);  // as resolve_pointer holds it
  void* q = a.allocate(20 * MiB);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(platform.grows.load(), 0u) << "a pinned span was grown";
  EXPECT_NE(td::segment_map_lookup(q), seg);
  EXPECT_EQ(platform.resident_bytes(q, 20 * MiB), 0u);
  seg->pins[0].fetch_sub(1);
  ASSERT_EQ(a.deallocate(q), Error::ok);
  a.collect();

  void* r = a.allocate(8 * MiB);
  ASSERT_NE(r, nullptr);
  std::memset(r, 2, 8 * MiB);
  ASSERT_EQ(a.deallocate(r), Error::ok);
  int changed_under_pin = 0;
  auto* t =
      static_cast<unsigned char*>(grow_while_a_validation_pins(a, platform, r, 20 * MiB, &changed_under_pin));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(changed_under_pin, 0) << "the header was rebound under a validation's pin";
  EXPECT_EQ(platform.grows.load(), 1u);
  EXPECT_EQ(platform.resident_bytes(t, 20 * MiB), 0u) << "the grown pages went back; the block is new";
  expect_refused_beside(a, r, t, 20 * MiB);
  ASSERT_EQ(a.deallocate(t), Error::ok);
  EXPECT_TRUE(checked(a));
}

// A realloc beyond the block's reservation grows the block's own span: the
// contents move with their pages (resident, never copied, never both copies at
// once), the old pointer and handle are refused, and the new block is exact.
TEST(LargeSpanGrow, AReallocBeyondTheReservationMovesTheBlockWithoutACopy) {
  for (const bool grows : {true, false}) {
    CountingPlatform platform;
    platform.allow_grows = grows;
    tslab::Allocator a(on(platform));
    td::AllocatorCore& core = *a.core();
    auto* p = static_cast<unsigned char*>(a.allocate(8 * MiB));
    ASSERT_NE(p, nullptr);
    fill(p, 0, 8 * MiB);
    const std::uint64_t handle = core.ptr_to_handle(p);
    const std::uint64_t platform_before = platform.reserved_bytes.load();

    auto* q = static_cast<unsigned char*>(core.realloc_large(p, 12 * MiB, 0));
    ASSERT_NE(q, nullptr) << grows;
    EXPECT_NE(q, p);
    EXPECT_EQ(first_changed(q, 8 * MiB), 8 * MiB) << grows;
    EXPECT_EQ(core.usable_size(q), 12 * MiB);
    EXPECT_EQ(platform.grows.load(), grows ? 1u : 0u);
    if (grows) {
      EXPECT_EQ(platform.reserved_bytes.load() - platform_before, 8 * MiB) << "8 MiB grown to twice its size";
      EXPECT_EQ(global_stats(a).spans_grown_total, 1u);
    }
    EXPECT_EQ(a.deallocate(p), grows ? Error::not_allocated : Error::double_free);
    EXPECT_EQ(a.free_handle(handle), grows ? Error::stale_handle : Error::double_free);
    const std::uint64_t q_handle = core.ptr_to_handle(q);
    EXPECT_EQ(core.handle_to_ptr(q_handle), q);
    fill(q, 0, 12 * MiB);
    EXPECT_TRUE(checked(a));
    EXPECT_EQ(a.free_handle(q_handle), Error::ok);
    EXPECT_EQ(a.deallocate(q), Error::double_free);
    EXPECT_TRUE(checked(a));
  }
}

// A block that outgrows its reservation moves into a free span whose pages are
// already committed for its new size (a copy), rather than grow its own range
// and fault the new part in: buffers that grow one after another then take
// each other's pages, not fresh ones each (bench/programs/realloc_buffers.c).
// With no such span it grows its own range, as above.
TEST(LargeSpanGrow, ABlockThatOutgrowsItsReservationTakesAFreeSpansResidentPages) {
  CountingPlatform platform;
  platform.allow_grows = true;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  auto* small = static_cast<unsigned char*>(a.allocate(100 * KiB));  // a 128 KiB reservation
  ASSERT_NE(small, nullptr);
  fill(small, 0, 100 * KiB);
  void* warm = a.allocate(1 * MiB);
  ASSERT_NE(warm, nullptr);
  fill(warm, 0, 1 * MiB);
  ASSERT_EQ(a.deallocate(warm), Error::ok);  // cached, its pages kept (warm reserve)
  ASSERT_EQ(platform.resident_bytes(warm, 1 * MiB), 1 * MiB);

  auto* moved = static_cast<unsigned char*>(core.realloc_large(small, 600 * KiB, 0));
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(static_cast<void*>(moved), warm) << "the resident span";
  EXPECT_EQ(platform.grows.load(), 0u);
  EXPECT_EQ(first_changed(moved, 100 * KiB), 100 * KiB) << "its bytes copied";
  EXPECT_EQ(platform.resident_bytes(moved, 600 * KiB), 600 * KiB);
  EXPECT_EQ(a.deallocate(small), Error::double_free);
  fill(moved, 0, 600 * KiB);
  EXPECT_TRUE(checked(a));

  // No free span holds 2 MiB: the block grows its own range.
  auto* grown = static_cast<unsigned char*>(core.realloc_large(moved, 2 * MiB, 0));
  ASSERT_NE(grown, nullptr);
  EXPECT_EQ(platform.grows.load(), 1u);
  EXPECT_EQ(first_changed(grown, 600 * KiB), 600 * KiB);
  EXPECT_EQ(a.deallocate(grown), Error::ok);
  EXPECT_TRUE(checked(a));
}

// The resident span a grown block moves into is at most twice the reservation it
// asks for: a larger one would keep its earlier block's pages beyond the block,
// unused, until the block is freed (a 4 MiB scratch buffer used between the
// steps of small buffers' growth took 4 MiB per buffer). Such a span stays free
// and warm; the block grows its own range, or moves into a new one.
TEST(LargeSpanGrow, AGrownBlockLeavesAMuchLargerFreeSpanAlone) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  constexpr int BUFFERS = 4;
  unsigned char* buffers[BUFFERS];
  for (auto*& b : buffers) {
    b = static_cast<unsigned char*>(a.allocate(100 * KiB));  // 128 KiB reservations
    ASSERT_NE(b, nullptr);
    fill(b, 0, 100 * KiB);
  }
  for (auto*& b : buffers) {
    void* scratch = a.allocate(4 * MiB);
    ASSERT_NE(scratch, nullptr);
    fill(scratch, 0, 4 * MiB);
    ASSERT_EQ(a.deallocate(scratch), Error::ok);  // cached, warm
    auto* grown = static_cast<unsigned char*>(core.realloc_large(b, 200 * KiB, 0));
    ASSERT_NE(grown, nullptr);
    EXPECT_NE(static_cast<void*>(grown), scratch);
    EXPECT_EQ(platform.resident_bytes(scratch, 4 * MiB), 4 * MiB) << "the scratch span stays free and warm";
    EXPECT_EQ(first_changed(grown, 100 * KiB), 100 * KiB);
    fill(grown, 0, 200 * KiB);
    b = grown;
  }
  // Carved ranges (up to 1 MiB, platform/span_chunks.h) move by copy, not by a grow.
  EXPECT_EQ(platform.grows.load(), 0u);
  EXPECT_TRUE(checked(a));
  for (void* b : buffers) EXPECT_EQ(a.deallocate(b), Error::ok);
}

// A free of a block racing a realloc of it that moves the block (misuse, but
// no input may break the allocator): the realloc fails as a second free would,
// and hands out no block copied from freed memory. Here the free runs on
// another thread while the realloc commits the resident span it moves into.
// (The racers, here and below, run on a thread of their own, joined.)
namespace racing_resize {
tslab::Allocator* alloc = nullptr;
void* block = nullptr;
std::size_t resize_to = 0;
Error freed = Error::invalid_argument;
void* moved = nullptr;
void free_on_another_thread() {
  std::thread([] { freed = alloc->deallocate(block); }).join();
}
std::uint64_t live_in_epoch = 0;  // the epoch's live count read right after the free
void free_and_count_on_another_thread() {
  free_on_another_thread();
  live_in_epoch = alloc->epoch_info(0).live_count;
}
void free_by_handle_on_another_thread() {
  std::thread([] { freed = alloc->free_handle(alloc->ptr_to_handle(block)); }).join();
}
void free_held_on_another_thread() {
  std::thread([] { freed = static_cast<Error>(alloc->core()->free_held(block)); }).join();
}
void realloc_on_another_thread() {
  std::thread([] { moved = alloc->core()->realloc_large(block, resize_to, 0); }).join();
}
}  // namespace racing_resize

TEST(LargeSpanGrow, AReallocRacingAFreeOfItsBlockFailsAndHandsNothingOut) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  auto* p = filled_block(a, 100 * KiB);
  ASSERT_NE(p, nullptr);
  void* warm = a.allocate(1 * MiB);
  ASSERT_NE(warm, nullptr);
  fill(warm, 0, 1 * MiB);
  ASSERT_EQ(a.deallocate(warm), Error::ok);
  const std::uint64_t live_before = global_stats(a).large_spans_live;

  racing_resize::alloc = &a;
  racing_resize::block = p;
  racing_resize::freed = Error::invalid_argument;
  platform.on_next_commit = racing_resize::free_on_another_thread;
  void* q = a.core()->realloc_large(p, 600 * KiB, 0);
  EXPECT_EQ(racing_resize::freed, Error::ok) << "the racing free won";
  EXPECT_EQ(q, nullptr);
  EXPECT_EQ(tslab::last_error(), Error::double_free);
  EXPECT_EQ(global_stats(a).large_spans_live, live_before - 1) << "no block left behind";
  EXPECT_TRUE(checked(a));
}

// A free of a block racing a realloc that resizes it in place (misuse, but no
// input may break the allocator): the resize comes first, the free second, and
// the free is ended by the resize once its pages are settled, so the warm
// bytes the free counts are the resized block's. Before, the free counted the
// span's pages while the resize was still handing its tail back, and the
// checker found the counts and the span's extent apart. Here the free runs on
// another thread while the resize commits or hands back pages.

struct RacingResize {
  std::size_t from, to;
  void (*racer)();
  const char* what;
  bool pages_back = false;  // the free asks for the block's pages back
};
void PrintTo(const RacingResize& c, std::ostream* os) { *os << c.what; }

class LargeSpanResizeRace : public ::testing::TestWithParam<RacingResize> {};

TEST_P(LargeSpanResizeRace, AFreeRacingAnInPlaceResizeIsEndedByTheResize) {
  const RacingResize c = GetParam();
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  // A span an earlier block left its bytes in: the resize changes their extent.
  void* earlier = a.allocate(c.from);
  ASSERT_NE(earlier, nullptr);
  fill(earlier, 0, c.from);
  ASSERT_EQ(a.deallocate(earlier), Error::ok);
  auto* p = static_cast<unsigned char*>(a.allocate(c.from));
  ASSERT_EQ(p, earlier) << c.what << ": the warm span";
  fill(p, 0, c.from);
  const std::uint64_t live_before = global_stats(a).large_spans_live;

  racing_resize::alloc = &a;
  racing_resize::block = p;
  racing_resize::live_in_epoch = ~std::uint64_t{0};
  racing_resize::freed = Error::invalid_argument;
  (c.to < c.from ? platform.on_next_decommit : platform.on_next_commit) = c.racer;
  void* q = a.core()->realloc_large(p, c.to, 0);
  EXPECT_EQ(q, p) << c.what << ": resized in place, first";
  EXPECT_EQ(racing_resize::freed, Error::ok) << c.what << ": the free, second, succeeds";
  if (c.racer == racing_resize::free_and_count_on_another_thread) {
    EXPECT_EQ(racing_resize::live_in_epoch, 0u) << c.what << ": not live from the free on";
  }
  EXPECT_EQ(global_stats(a).large_spans_live, live_before - 1) << c.what << ": the block is gone";
  EXPECT_TRUE(checked(a)) << c.what;
  if (c.pages_back) {
    EXPECT_EQ(platform.resident_bytes(p, c.from), 0u) << c.what;
  }
  EXPECT_EQ(a.deallocate(p), Error::double_free) << c.what;
  // The span serves the next block of its size, whole and cleared where asked.
  void* r = a.core()->alloc_zeroed(c.to, 0);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(first_nonzero(r, c.to), c.to) << c.what;
  EXPECT_EQ(a.deallocate(r), Error::ok);
  EXPECT_TRUE(checked(a)) << c.what;
}

INSTANTIATE_TEST_SUITE_P(
    FreeByPointerOrHandle, LargeSpanResizeRace,
    ::testing::Values(RacingResize{1 * MiB, 256 * KiB, racing_resize::free_on_another_thread, "shrink, free"},
                      RacingResize{100 * KiB, 120 * KiB, racing_resize::free_on_another_thread, "grow, free"},
                      RacingResize{1 * MiB, 256 * KiB, racing_resize::free_by_handle_on_another_thread,
                                   "shrink, free_handle"},
                      RacingResize{5 * MiB, 7 * MiB, racing_resize::free_by_handle_on_another_thread,
                                   "grow, free_handle"},
                      RacingResize{1 * MiB, 256 * KiB, racing_resize::free_held_on_another_thread,
                                   "shrink, free_held (pages returned)", true},
                      RacingResize{1 * MiB, 256 * KiB, racing_resize::free_and_count_on_another_thread,
                                   "shrink, free, then the epoch's live count"}));

// Two reallocs of one block at once (misuse again): the one that resizes in
// place comes first, the other moves the block by copy and frees it, a free
// the first one ends. Both succeed, as they would one after the other.
TEST(LargeSpanResizeRace, AReallocRacingAnInPlaceResizeMovesTheBlock) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  auto* p = filled_block(a, 1 * MiB);
  ASSERT_NE(p, nullptr);
  const std::uint64_t live_before = global_stats(a).large_spans_live;

  racing_resize::alloc = &a;
  racing_resize::block = p;
  racing_resize::resize_to = 512 * KiB;
  racing_resize::moved = nullptr;
  platform.on_next_decommit = racing_resize::realloc_on_another_thread;
  void* q = a.core()->realloc_large(p, 256 * KiB, 0);
  EXPECT_EQ(q, p) << "resized in place, first";
  auto* moved = static_cast<unsigned char*>(racing_resize::moved);
  ASSERT_NE(moved, nullptr) << "moved by copy, second";
  EXPECT_NE(moved, p);
  EXPECT_EQ(first_changed(moved, 256 * KiB), 256 * KiB) << "the bytes the first left";
  EXPECT_EQ(global_stats(a).large_spans_live, live_before) << "one block: the moved one";
  EXPECT_EQ(a.deallocate(p), Error::double_free) << "the move freed it";
  EXPECT_TRUE(checked(a));
  EXPECT_EQ(a.deallocate(moved), Error::ok);
  EXPECT_TRUE(checked(a));
}

// A realloc that must grow a block beyond its reservation while another
// resizes it in place: the grow does not end the block (which would let the
// resize end it as a free and the grow then bring it back to life); it copies
// it, and its free of the old block is ended by the resize. Here the grower
// stops where it gives its new range back, and the resize ends meanwhile.
namespace grow_during_resize {
CountingPlatform* platform = nullptr;
std::thread grower;
std::atomic<bool> parked{false}, resized{false};
void park_grower() {  // on the grower's thread, in its release of the range it reserved
  parked.store(true);
  while (!resized.load()) std::this_thread::yield();
}
void start_grower() {  // on the resizer's thread, inside its decommit of the tail
  platform->on_next_release = park_grower;
  grower = std::thread(racing_resize::realloc_on_another_thread);
  while (!parked.load()) std::this_thread::yield();
}
}  // namespace grow_during_resize

TEST(LargeSpanResizeRace, AGrowRacingAnInPlaceResizeCopiesTheBlock) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  auto* p = filled_block(a, 8 * MiB);
  ASSERT_NE(p, nullptr);
  racing_resize::alloc = &a;
  racing_resize::block = p;
  racing_resize::resize_to = 20 * MiB;
  racing_resize::moved = nullptr;
  grow_during_resize::platform = &platform;
  platform.on_next_decommit = grow_during_resize::start_grower;
  void* q = a.core()->realloc_large(p, 6 * MiB, 0);
  grow_during_resize::resized.store(true);
  grow_during_resize::grower.join();
  EXPECT_EQ(q, p) << "resized in place, first";
  auto* moved = static_cast<unsigned char*>(racing_resize::moved);
  ASSERT_NE(moved, nullptr) << "grown by copy, second";
  EXPECT_NE(moved, p);
  EXPECT_EQ(platform.grows.load(), 0u) << "a span under resize is not moved";
  EXPECT_EQ(first_changed(moved, 6 * MiB), 6 * MiB);
  EXPECT_EQ(a.deallocate(p), Error::double_free) << "the grow freed it";
  EXPECT_TRUE(checked(a));
  EXPECT_EQ(a.deallocate(moved), Error::ok);
  EXPECT_TRUE(checked(a));
}

// A resize the platform refuses, of a block freed meanwhile whose id has no
// generation left: the free retires the span (its range goes back for good),
// and the realloc fails as a second free, reading nothing of it again.
TEST(LargeSpanResizeRace, ARefusedResizeOfABlockRetiredMeanwhileFails) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  void* p = a.allocate(100 * KiB);
  ASSERT_NE(p, nullptr);
  td::registry_set_generation_for_testing(td::handle_decode(a.ptr_to_handle(p)).slab_id, td::HANDLE_GEN_MASK);
  racing_resize::alloc = &a;
  racing_resize::block = p;
  racing_resize::freed = Error::invalid_argument;
  platform.refuse_commits = true;
  platform.on_next_commit = racing_resize::free_on_another_thread;
  EXPECT_EQ(a.core()->realloc_large(p, 120 * KiB, 0), nullptr);
  EXPECT_EQ(tslab::last_error(), Error::double_free);
  EXPECT_EQ(racing_resize::freed, Error::ok);
  platform.refuse_commits = false;
  EXPECT_EQ(global_stats(a).large_spans_live, 0u);
  EXPECT_TRUE(checked(a));
}

// A retired span's range stays mapped while a validation holds its header (a
// copy out of it, for a realloc racing the free), and goes back once let go.
TEST(LargeSpanRelease, ARetiredSpanHeldByAValidationIsUnmappedOnceLetGo) {
  constexpr std::size_t SPAN = 2 * MiB;  // not carved: unmapped when it goes back
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  auto* p = filled_block(a, SPAN);
  ASSERT_NE(p, nullptr);
  td::registry_set_generation_for_testing(td::handle_decode(a.ptr_to_handle(p)).slab_id, td::HANDLE_GEN_MASK);
  td::SegmentHeader* seg = td::segment_map_lookup(p);
  seg->pins[0].fetch_add(1);  // as a validation's pin (resolve_pointer)
  ASSERT_EQ(a.deallocate(p), Error::ok);
  unsigned char page = 0;
  EXPECT_EQ(::mincore(p, PAGE, &page), 0) << "still mapped while held";
  EXPECT_EQ(first_nonzero(p, SPAN), SPAN) << "readable, cleared";
  seg->pins[0].fetch_sub(1);
  a.collect();
  EXPECT_EQ(::mincore(p, PAGE, &page), -1) << "unmapped once let go";
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_TRUE(checked(a));

  // Not held: unmapped at once.
  void* r = a.allocate(SPAN);
  ASSERT_NE(r, nullptr);
  td::registry_set_generation_for_testing(td::handle_decode(a.ptr_to_handle(r)).slab_id, td::HANDLE_GEN_MASK);
  const std::uint64_t releases = platform.releases.load();
  ASSERT_EQ(a.deallocate(r), Error::ok);

  EXPECT_EQ(platform.releases.load(), releases + 1);
  EXPECT_EQ(::mincore(r, PAGE, &page), -1);
}

// A fork while another thread resizes a block in place, stopped between the
// block's new extent and the return of its old tail: the child counts the
// whole span as holding data, so a zeroed block there reads zero, whether the
// block was freed in the child or freed during the resize.
namespace fork_during_resize {
std::atomic<int> phase{0};
bool free_first = false;
void park_resizer() {  // on the resizer's thread, before the tail goes back
  if (free_first) racing_resize::free_on_another_thread();
  phase.store(1);
  while (phase.load() != 2) std::this_thread::yield();
}
}  // namespace fork_during_resize

TEST(LargeSpanResizeRace, AForkDuringAnInPlaceShrinkLeavesZeroedBlocksZero) {
  for (const bool free_first : {false, true}) {
    CountingPlatform platform;
    tslab::Allocator a(on(platform));
    auto* p = filled_block(a, 1 * MiB);
    ASSERT_NE(p, nullptr);
    racing_resize::alloc = &a;
    racing_resize::block = p;
    fork_during_resize::free_first = free_first;
    fork_during_resize::phase.store(0);
    platform.on_next_decommit = fork_during_resize::park_resizer;
    std::thread resizer([&] { EXPECT_EQ(a.core()->realloc_large(p, 256 * KiB, 0), p); });
    while (fork_during_resize::phase.load() != 1) std::this_thread::yield();
    const pid_t pid = ::fork();
    if (pid == 0) {
      int rc = 0;
      if (!free_first && a.deallocate(p) != Error::ok) rc |= 1;
      void* r = a.core()->alloc_zeroed(1 * MiB, 0);
      if (r == nullptr) rc |= 2;
      if (r != nullptr && first_nonzero(r, 1 * MiB) != 1 * MiB) rc |= 4;
      if (!a.check().ok) rc |= 8;
      ::_exit(rc);
    }
    int status = -1;
    ::waitpid(pid, &status, 0);
    fork_during_resize::phase.store(2);
    resizer.join();
    ASSERT_TRUE(WIFEXITED(status)) << free_first;
    EXPECT_EQ(WEXITSTATUS(status), 0) << free_first << ": 1 free refused, 2 no block, 4 not zero, 8 check";
    if (!free_first) {
      EXPECT_EQ(a.deallocate(p), Error::ok);
    }
    EXPECT_TRUE(checked(a));
  }
}

// A realloc of a block whose span a validation holds while it grows waits for
// it before binding the header anew; one whose range the OS will not grow is
// copied as before; a realloc of a block already freed is refused without
// touching anything.
TEST(LargeSpanGrow, AReallocThatCannotGrowCopiesAndAFreedBlockIsRefused) {
  CountingPlatform platform;
  tslab::Allocator a(on(platform));
  td::AllocatorCore& core = *a.core();
  auto* p = filled_block(a, 8 * MiB);
  ASSERT_NE(p, nullptr);
  td::SegmentHeader* seg = td::segment_map_lookup(p);
  platform.pin_during_grow = &seg->pins[0];
  std::thread validator([&] {
    while (!platform.grow_pinned.load()) std::this_thread::yield();
    seg->pins[0].fetch_sub(1);
  });
  auto* q = static_cast<unsigned char*>(core.realloc_large(p, 12 * MiB, 0));
  validator.join();
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(platform.grows.load(), 1u);
  EXPECT_EQ(td::segment_map_lookup(q), seg) << "the header, rebound once unpinned";
  EXPECT_EQ(first_changed(q, 8 * MiB), 8 * MiB);
  EXPECT_EQ(a.deallocate(p), Error::not_allocated);
  EXPECT_TRUE(checked(a));

  // The OS refuses: a read-only page left in the block splits its mapping.
  ASSERT_EQ(::mprotect(q + 4 * MiB, PAGE, PROT_READ), 0);
  tslab::Allocator b;
  auto* r = static_cast<unsigned char*>(b.allocate(8 * MiB));
  ASSERT_NE(r, nullptr);
  fill(r, 0, 8 * MiB);
  ASSERT_EQ(::mprotect(r + 4 * MiB, PAGE, PROT_READ), 0);
  const std::uint64_t vm_before = vm_size_bytes();
  auto* t = static_cast<unsigned char*>(b.core()->realloc_large(r, 12 * MiB, 0));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(global_stats(b).spans_grown_total, 0u) << "the OS refused";
  EXPECT_EQ(first_changed(t, 8 * MiB), 8 * MiB) << "copied";
  EXPECT_LE(vm_size_bytes() - vm_before, 16 * MiB + 2 * td::SEGMENT_SIZE)
      << "the refused destination went back";
  ASSERT_EQ(::mprotect(r + 4 * MiB, PAGE, PROT_READ | PROT_WRITE), 0);
  ASSERT_EQ(::mprotect(q + 4 * MiB, PAGE, PROT_READ | PROT_WRITE), 0);
  EXPECT_TRUE(checked(b));
  ASSERT_EQ(b.deallocate(t), Error::ok);
  ASSERT_EQ(a.deallocate(q), Error::ok);

  // Freed: refused, nothing reserved for it.
  const std::uint64_t reserves = platform.reserves.load();
  EXPECT_EQ(core.realloc_large(q, 40 * MiB, 0), nullptr);
  EXPECT_EQ(tslab::last_error(), Error::double_free);
  EXPECT_EQ(platform.reserves.load(), reserves) << "nothing reserved for it";
  EXPECT_TRUE(checked(a));
}

// A fork while a span grows (its pages moved, its header not yet bound to the
// new range): the child gives that header up and goes on allocating large
// blocks, of every size, on a consistent allocator.
tslab::Allocator* g_forked_allocator = nullptr;

int large_blocks_in_child() {
  tslab::Allocator& a = *g_forked_allocator;
  if (!a.check().ok) return 1;
  for (std::size_t size : {8 * MiB, 20 * MiB, 48 * MiB, 100000ul}) {
    auto* p = static_cast<unsigned char*>(a.allocate(size));
    if (p == nullptr) return 2;
    std::memset(p, 3, size);
    if (a.deallocate(p) != Error::ok) return 3;
  }
  return a.check().ok ? 0 : 4;
}

TEST(LargeSpanGrow, AForkWhileASpanGrowsLeavesTheChildConsistent) {
  for (const bool live : {false, true}) {
    CountingPlatform platform;
    tslab::Allocator a(on(platform));
    g_forked_allocator = &a;
    ASSERT_EQ(a.set_large_retain(64 * MiB), Error::ok);
    auto* p = static_cast<unsigned char*>(a.allocate(8 * MiB));
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, 8 * MiB);
    if (!live) {
      ASSERT_EQ(a.deallocate(p), Error::ok);
    }
    platform.in_child_after_grow = large_blocks_in_child;
    auto* q =
        static_cast<unsigned char*>(live ? a.core()->realloc_large(p, 12 * MiB, 0) : a.allocate(20 * MiB));
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(platform.grows.load(), 1u);
    ASSERT_TRUE(WIFEXITED(platform.child_status.load())) << live;
    EXPECT_EQ(WEXITSTATUS(platform.child_status.load()), 0) << live;
    if (live) {
      EXPECT_EQ(q[0], 1) << "the block moved with its contents";
    }
    ASSERT_EQ(a.deallocate(q), Error::ok);
    EXPECT_TRUE(checked(a));
  }
}

}  // namespace
