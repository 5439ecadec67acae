// This file contains the tests of cheap closes: the warm reserve of committed
// empty slabs kept across closes, one madvise per contiguous run of slabs and
// never two for one slab, closes that make no system call while rotation stays
// within the reserve, and collect() returning the reserve. Checked by the
// allocator's counters and by a platform that counts its calls, never by time.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "forwarding_platform.h"
#include "slab_arena.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/options.h"
#include "tslab/platform.hpp"
#include "tslab/stats.hpp"

namespace {

using tslab::Error;
constexpr std::size_t SLAB = SLAB_PAGE_SIZE;
constexpr std::size_t MiB = std::size_t{1} << 20;

// Forwards to the OS and counts the calls that reach it.
class CountingPlatform final : public tslab_test::ForwardingPlatform {
 public:
  void* reserve(std::size_t size, std::size_t alignment) noexcept override {
    ++reserves;
    return os().reserve(size, alignment);
  }
  bool decommit(void* p, std::size_t size) noexcept override {
    ++decommits;
    return !refuse_decommit.load() && os().decommit(p, size);
  }
  bool prefault(void* p, std::size_t size) noexcept override {
    ++prefaults;
    return os().prefault(p, size);
  }
  std::uint64_t calls() const { return reserves + decommits + prefaults; }

  std::atomic<std::uint64_t> reserves{0}, decommits{0}, prefaults{0};
  std::atomic<bool> refuse_decommit{false};
};

// A batch: `objects` blocks of mixed sizes in the current epoch, written, freed.
void run_batch(tslab::Allocator& a, std::size_t objects) {
  const tslab::EpochId e = a.epoch_current();
  std::vector<void*> blocks(objects);
  for (std::size_t i = 0; i < objects; ++i) {
    const std::size_t size = 16 + 48 * (i % 20);
    blocks[i] = a.allocate(size, e);
    ASSERT_NE(blocks[i], nullptr);
    std::memset(blocks[i], static_cast<int>(i), size);
  }
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
}

// Rotating batch epochs whose slabs fit the reserve: once warm, a close and the
// next batch make no system call at all: no madvise, no prefault, no new
// reservation, no process-wide fence; every slab comes from the reserve.
TEST(WarmReserve, RotationWithinTheReserveMakesNoSystemCall) {
  CountingPlatform platform;
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator a(options);
  ASSERT_EQ(a.set_warm_reserve(64 * SLAB), Error::ok);
  for (int i = 0; i < 4; ++i) {  // warm-up: the bins' slabs exist and the reserve fills
    run_batch(a, 2000);
    a.epoch_advance();
  }
  const std::uint64_t calls = platform.calls();
  const tslab::GlobalStats before = tslab::stats(a);
  const int batches = 50;
  for (int i = 0; i < batches; ++i) {
    run_batch(a, 2000);
    a.epoch_advance();
  }
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(platform.calls(), calls) << "madvise " << platform.decommits << ", prefault "
                                     << platform.prefaults;
  EXPECT_EQ(after.decommit_calls_total, before.decommit_calls_total);
  EXPECT_EQ(after.quiescence_waits_total, before.quiescence_waits_total);
  EXPECT_EQ(after.new_slabs_total, before.new_slabs_total) << "every slab came from the reserve";
  EXPECT_GT(after.slabs_reused_total, before.slabs_reused_total);
  EXPECT_EQ(after.epoch_close_calls_total, before.epoch_close_calls_total + batches);
  EXPECT_GT(after.warm_reserve_bytes, 0u);
  EXPECT_LE(after.warm_reserve_bytes, a.warm_reserve());
  EXPECT_ALLOCATOR_OK(a);
}

// Without a reserve, a close hands back contiguous empty slabs in one madvise,
// and the owner's recycling does not hand the same slabs back a second time.
TEST(WarmReserve, OneMadvisePerContiguousRunAndNeverTwicePerSlab) {
  CountingPlatform platform;
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator a(options);
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  const tslab::EpochId e = 5;
  const std::size_t per_slab = SLAB / 1024;
  const std::size_t slabs = 10;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < slabs * per_slab; ++i) {  // 10 slabs of one class, one segment
    blocks.push_back(a.allocate(1024, e));
    ASSERT_NE(blocks.back(), nullptr);
  }
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  // Another thread closes, so the slabs stay on this thread's lists until it
  // next needs a slab: the close returns them, the recycling must not again.
  const std::uint64_t before = platform.decommits;
  std::thread closer([&] { EXPECT_EQ(a.epoch_close(e), Error::ok); });
  closer.join();
  const std::uint64_t at_close = platform.decommits - before;
  EXPECT_EQ(at_close, 1u) << "10 contiguous slabs, one call";
  const tslab::GlobalStats closed = tslab::stats(a);
  EXPECT_EQ(closed.close_slabs_returned_total, slabs);
  // This thread's next slab: it catches up with the close and recycles them.
  void* p = a.allocate(1024, a.epoch_current());
  ASSERT_NE(p, nullptr);
  const tslab::GlobalStats recycled = tslab::stats(a);
  EXPECT_GE(recycled.slabs_recycled_total, closed.slabs_recycled_total + slabs);
  EXPECT_EQ(platform.decommits - before, at_close) << "a slab's pages went back twice";
  EXPECT_EQ(recycled.decommit_bytes_total, closed.decommit_bytes_total);
  EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// The reserve is bounded: a phase three times its size leaves at most the
// reserve committed, and collect() returns the reserve too.
TEST(WarmReserve, BoundedAndReturnedByCollect) {
  tslab::Allocator a;
  const std::size_t reserve = 16 * SLAB;
  ASSERT_EQ(a.set_warm_reserve(reserve), Error::ok);
  EXPECT_EQ(a.warm_reserve(), reserve);
  const tslab::EpochId e = a.epoch_current();
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 3 * reserve / 256; ++i) {
    blocks.push_back(a.allocate(256, e));
    ASSERT_NE(blocks.back(), nullptr);
    std::memset(blocks.back(), 1, 256);
  }
  const std::uint64_t full = a.resident_bytes();
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);
  a.epoch_advance();
  const tslab::GlobalStats closed = tslab::stats(a);
  EXPECT_EQ(closed.warm_reserve_bytes, reserve);
  EXPECT_LE(a.resident_bytes(), full - 2 * reserve + reserve / 4) << "beyond the reserve, pages went back";
  EXPECT_GT(a.collect(), 0u);
  const tslab::GlobalStats collected = tslab::stats(a);
  EXPECT_EQ(collected.warm_reserve_bytes, 0u);
  EXPECT_LE(a.resident_bytes(), reserve / 4) << "collect returned the reserve";
  // And the slabs serve again from the ordinary pool.
  void* p = a.allocate(256, a.epoch_current());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// An OS that refuses to take pages back: the reserve keeps them (committed, and
// counted), the allocator stays consistent, and a later collect returns them.
TEST(WarmReserve, RefusedReturnsStayInTheReserve) {
  CountingPlatform platform;
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator a(options);
  run_batch(a, 3000);
  a.epoch_advance();
  const std::uint64_t warm = tslab::stats(a).warm_reserve_bytes;
  ASSERT_GT(warm, 0u);
  platform.refuse_decommit = true;
  a.collect();
  const tslab::GlobalStats refused = tslab::stats(a);
  EXPECT_EQ(refused.warm_reserve_bytes, warm) << "slabs whose pages the OS kept stay in the reserve";
  EXPECT_GT(refused.decommit_failures_total, 0u);
  EXPECT_ALLOCATOR_OK(a);
  run_batch(a, 3000);  // the reserve serves as before
  a.epoch_advance();
  EXPECT_ALLOCATOR_OK(a);
  platform.refuse_decommit = false;
  a.collect();
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

// Lowering the bound returns what is held beyond it at once.
TEST(WarmReserve, LoweringTheBoundReturnsTheReserve) {
  tslab::Allocator a;
  run_batch(a, 3000);
  a.epoch_advance();
  EXPECT_GT(tslab::stats(a).warm_reserve_bytes, 0u);
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  run_batch(a, 3000);
  a.epoch_advance();
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(WarmReserve, BadArgumentsAreRefused) {
  tslab::Allocator a;
  EXPECT_EQ(a.set_warm_reserve((std::size_t{1} << 30) + 1), Error::invalid_argument);
  EXPECT_TRUE(slab_set_warm_reserve(reinterpret_cast<SlabAllocator*>(a.core()), std::size_t{1} << 30));
  EXPECT_FALSE(slab_set_warm_reserve(nullptr, 0));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(slab_warm_reserve(nullptr), 0u);
  std::uint64_t option = 0;
  ASSERT_TRUE(tslab_option_get("TSLAB_WARM_RESERVE", &option));
  tslab::Allocator b;
  EXPECT_EQ(b.warm_reserve(), option / SLAB * SLAB) << "a new allocator starts with the option's bound";
}

}  // namespace

namespace {

// A freed large span stays committed while the cached spans so kept fit the
// warm reserve: the next large request of a size it fits takes it with no
// system call, collect() and a lower bound return it, and without a reserve
// every free hands its pages back.
TEST(WarmReserve, FreedLargeSpansStayWarmWithinTheReserve) {
  CountingPlatform platform;
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator a(options);
  ASSERT_EQ(a.set_warm_reserve(4 * MiB), Error::ok);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);  // the reserve alone (retention: below)
  constexpr std::size_t SPAN = 100 * 1024;
  void* first = a.allocate(SPAN);
  ASSERT_NE(first, nullptr);
  std::memset(first, 0x5a, SPAN);
  ASSERT_EQ(a.deallocate(first), Error::ok);
  const std::uint64_t calls = platform.calls();
  EXPECT_GE(tslab::stats(a).warm_reserve_bytes, SPAN);
  for (int i = 0; i < 100; ++i) {
    void* again = a.allocate(SPAN);
    ASSERT_EQ(again, first) << "the warm span is reused";
    std::memset(again, i, SPAN);
    ASSERT_EQ(a.deallocate(again), Error::ok);
  }
  EXPECT_EQ(platform.calls(), calls) << "madvise " << platform.decommits;
  // A stale free of the cached span is still refused.
  EXPECT_EQ(a.deallocate(first), Error::double_free);
  // collect() hands the kept pages back.
  const std::uint64_t decommits = platform.decommits;
  a.collect();
  EXPECT_GT(platform.decommits, decommits);
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  // More than the reserve: only what fits stays warm.
  std::vector<void*> spans;
  for (int i = 0; i < 10; ++i) spans.push_back(a.allocate(MiB));
  for (void* p : spans) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_LE(tslab::stats(a).warm_reserve_bytes, 4 * MiB);
  EXPECT_GE(tslab::stats(a).warm_reserve_bytes, 3 * MiB);
  // Lowering the bound returns the excess; without a reserve frees go back at once.
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  const std::uint64_t before_cold = platform.decommits;
  void* cold = a.allocate(SPAN);
  ASSERT_EQ(a.deallocate(cold), Error::ok);
  EXPECT_EQ(platform.decommits, before_cold + 1);
  EXPECT_ALLOCATOR_OK(a);
}

// An arena's chunk taken from a span that was kept warm (its pages hold the old
// block's bytes) still reads as zero when the arena promises zeroed memory.
TEST(WarmReserve, AnArenaChunkFromAWarmSpanReadsAsZero) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(8 * MiB), Error::ok);
  void* big = a.allocate(MiB);
  ASSERT_NE(big, nullptr);
  std::memset(big, 0xff, MiB);
  ASSERT_EQ(a.deallocate(big), Error::ok);
  ASSERT_GE(tslab::stats(a).warm_reserve_bytes, MiB);
  SlabArenaOptions o;
  ASSERT_TRUE(slab_arena_options_init(&o));
  o.chunk_size = MiB;
  o.zero_on_reset = true;
  SlabArena* arena = slab_arena_create(a.c_allocator(), &o);
  ASSERT_NE(arena, nullptr);
  for (int i = 0; i < 200; ++i) {
    auto* p = static_cast<unsigned char*>(slab_arena_alloc(arena, 4096, 16));
    ASSERT_NE(p, nullptr);
    for (std::size_t k = 0; k < 4096; ++k) ASSERT_EQ(p[k], 0) << "block " << i << " byte " << k;
  }
  ASSERT_TRUE(slab_arena_destroy(arena));
  EXPECT_ALLOCATOR_OK(a);
}

TEST(WarmReserve, FreedLargeSpansBeyondTheReserveAreRetainedUntilACloseOrASecondUnused) {
  CountingPlatform platform;
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator a(options);
  if (std::getenv("TSLAB_LARGE_RETAIN") == nullptr) {
    EXPECT_EQ(a.large_retain(), 64 * MiB) << "the default";
  }
  ASSERT_EQ(a.set_warm_reserve(0), Error::ok);
  ASSERT_EQ(a.set_large_retain(64 * MiB), Error::ok);
  EXPECT_EQ(a.large_retain(), 64 * MiB);
  EXPECT_EQ(a.set_large_retain(std::size_t{2} << 30), Error::invalid_argument);
  // A loop over 5-25 MiB buffers: after the first round no buffer is decommitted.
  constexpr std::size_t SIZES[] = {5 * MiB, 25 * MiB, 12 * MiB, 20 * MiB};
  std::uint64_t calls = 0;
  for (int round = 0; round < 3; ++round) {
    if (round == 1) calls = platform.calls();
    for (std::size_t size : SIZES) {
      void* p = a.allocate(size);
      ASSERT_NE(p, nullptr);
      std::memset(p, round, size);
      ASSERT_EQ(a.deallocate(p), Error::ok);
    }
  }
  EXPECT_EQ(platform.calls(), calls) << "retained buffers were reused without a madvise";
  EXPECT_GE(tslab::stats(a).warm_reserve_bytes, 25 * MiB);
  EXPECT_LE(tslab::stats(a).warm_reserve_bytes, 64 * MiB);
  // An epoch close hands them back at once.
  const std::uint64_t decommits = platform.decommits;
  a.epoch_advance();
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  EXPECT_GT(platform.decommits, decommits);
  // Unused for more than a second, they go back at the next large allocation or free.
  void* p = a.allocate(20 * MiB);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, 20 * MiB);
  ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_GE(tslab::stats(a).warm_reserve_bytes, 20 * MiB);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // at least a second passes
  void* q = a.allocate(100 * 1024);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u) << "the span kept more than a second went back";
  ASSERT_EQ(a.deallocate(q), Error::ok);
  // Lowering the bound returns the excess at once.
  void* r = a.allocate(8 * MiB);
  std::memset(r, 2, 8 * MiB);
  ASSERT_EQ(a.deallocate(r), Error::ok);
  EXPECT_GE(tslab::stats(a).warm_reserve_bytes, 8 * MiB);
  ASSERT_EQ(a.set_large_retain(0), Error::ok);
  EXPECT_EQ(tslab::stats(a).warm_reserve_bytes, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
