// This file contains the unit tests of bump arenas on one thread (slab_arena.h,
// tslab::Arena): the overflow-safe bump arithmetic against a 128-bit model,
// offsets near the top of the address space, sizes up to SIZE_MAX, zero,
// non-power-of-two and large alignments, padding that exceeds the room left,
// padding and usage accounting, zeroing on and off, the three overflow policies,
// reset, creation checks and the C++ wrappers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <vector>

#include "arena/bump.h"
#include "core/allocator_core.h"
#include "handle/handle.h"
#include "slab_arena.h"
#include "test_util.h"
#include "tslab/arena.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab_test::is_aligned;
using tslab_test::Rng;

SlabArenaOptions make_options(std::size_t chunk, TslabArenaOverflow overflow, bool zero = true) {
  SlabArenaOptions o{};
  o.chunk_size = chunk;
  o.overflow = overflow;
  o.zero_on_reset = zero;
  o.epoch = SLAB_ARENA_CURRENT_EPOCH;
  return o;
}

SlabArenaOptions buffer_options(void* buffer, std::size_t size, bool zero) {
  SlabArenaOptions o = make_options(0, TSLAB_ARENA_OVERFLOW_ERROR, zero);
  o.buffer = buffer;
  o.buffer_size = size;
  return o;
}

SlabArenaStats stats_of(SlabArena* a) {
  SlabArenaStats s{};
  EXPECT_TRUE(slab_arena_stats(a, &s));
  return s;
}

std::uint64_t live_blocks(tslab::Allocator& alloc, tslab::EpochId e) {
  return alloc.epoch_info(e).live_count;
}

bool all_bytes(const void* p, std::size_t n, unsigned char value) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (b[i] != value) return false;
  return true;
}

// The 128-bit model of bump_fit: align the address up, then compare with the end.
bool model_fit(std::uintptr_t base, std::size_t offset, std::size_t capacity, std::size_t size,
               std::size_t alignment, std::size_t* start) {
  using u128 = unsigned __int128;
  if (offset > capacity) return false;
  const u128 at = static_cast<u128>(base) + offset;
  const u128 aligned = (at + alignment - 1) / alignment * alignment;
  if (aligned + size > static_cast<u128>(base) + capacity) return false;
  *start = static_cast<std::size_t>(aligned - base);
  return true;
}

struct Block {
  std::uintptr_t at;
  std::size_t size;
};

// No two blocks share a byte.
bool disjoint(std::vector<Block> blocks) {
  std::sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) { return a.at < b.at; });
  for (std::size_t i = 1; i < blocks.size(); ++i)
    if (blocks[i - 1].at + blocks[i - 1].size > blocks[i].at) return false;
  return true;
}

}  // namespace

// --- the arithmetic -----------------------------------------------------------

TEST(ArenaBump, OffsetNearMaximumNeverWraps) {
  using tslab::detail::bump_fit;
  using tslab::detail::BumpFit;
  BumpFit fit;
  // Ten bytes left at the very top of the offset range.
  const std::size_t offset = SIZE_MAX - 10;
  EXPECT_FALSE(bump_fit(0, offset, SIZE_MAX, 16, 1, &fit));
  EXPECT_FALSE(bump_fit(0, offset, SIZE_MAX, 11, 1, &fit));
  ASSERT_TRUE(bump_fit(0, offset, SIZE_MAX, 10, 1, &fit));
  EXPECT_EQ(fit.start, offset);
  EXPECT_EQ(fit.end, SIZE_MAX);
  // Aligning up would need 11 bytes of padding (a naive round-up wraps to 0).
  EXPECT_FALSE(bump_fit(0, offset, SIZE_MAX, 1, 4096, &fit));
  EXPECT_FALSE(bump_fit(0, offset, SIZE_MAX, 0, 4096, &fit));
  ASSERT_TRUE(bump_fit(0, offset, SIZE_MAX, 2, 8, &fit));  // offset ≡ 5 (mod 8): 3 bytes of padding
  EXPECT_EQ(fit.start, offset + 3);
  EXPECT_EQ(fit.end, offset + 5);
  // A chunk whose end is the last address: the aligned address would wrap.
  const std::uintptr_t base = UINTPTR_MAX - 100;
  EXPECT_FALSE(bump_fit(base, 50, 100, 1, 4096, &fit));
  EXPECT_FALSE(bump_fit(base, 50, 100, 1, std::size_t{1} << 30, &fit));
  ASSERT_TRUE(bump_fit(base, 50, 100, 50, 1, &fit));
  EXPECT_EQ(fit.end, 100u);
  // An offset beyond the capacity never fits.
  EXPECT_FALSE(bump_fit(0, 101, 100, 0, 1, &fit));
}

TEST(ArenaBump, SizeMaxNeverFitsWhereItCannot) {
  using tslab::detail::bump_fit;
  using tslab::detail::BumpFit;
  BumpFit fit{7, 7};
  EXPECT_FALSE(bump_fit(4096, 0, 1 << 20, SIZE_MAX, 1, &fit));
  EXPECT_FALSE(bump_fit(4096, 1, 1 << 20, SIZE_MAX, 16, &fit));
  EXPECT_FALSE(bump_fit(1, 0, SIZE_MAX, SIZE_MAX, 2, &fit));  // one byte of padding, then SIZE_MAX
  EXPECT_FALSE(bump_fit(0, 1, SIZE_MAX, SIZE_MAX, 1, &fit));
  EXPECT_EQ(fit.start, 7u);  // unchanged on failure
  EXPECT_EQ(fit.end, 7u);
  ASSERT_TRUE(bump_fit(0, 0, SIZE_MAX, SIZE_MAX, 1, &fit));  // exactly the whole range
  EXPECT_EQ(fit.end, SIZE_MAX);
}

TEST(ArenaBump, MatchesWideModelOnRandomAndExtremeInputs) {
  using tslab::detail::bump_fit;
  using tslab::detail::BumpFit;
  Rng rng(0xA11CE);
  const std::size_t extremes[] = {
      0, 1, 2, 7, 8, 4095, 4096, SIZE_MAX / 2, SIZE_MAX - 4096, SIZE_MAX - 1, SIZE_MAX};
  auto pick = [&](std::size_t limit) -> std::size_t {
    const std::size_t v = rng.coin() ? extremes[rng.range(0, std::size(extremes) - 1)] : rng.next();
    return limit == SIZE_MAX ? v : v % (limit + 1);
  };
  const std::size_t rounds = tslab_test::scaled(200000);
  for (std::size_t i = 0; i < rounds; ++i) {
    const std::uintptr_t base = pick(SIZE_MAX);
    const std::size_t capacity = pick(UINTPTR_MAX - base);  // a chunk never wraps
    const std::size_t offset = rng.coin() ? pick(capacity) : pick(SIZE_MAX);
    const std::size_t size = pick(SIZE_MAX);
    const std::size_t alignment = std::size_t{1} << rng.range(0, 63);
    std::size_t expected_start = 0;
    const bool expected = model_fit(base, offset, capacity, size, alignment, &expected_start);
    BumpFit fit;
    ASSERT_EQ(bump_fit(base, offset, capacity, size, alignment, &fit), expected)
        << "base=" << base << " offset=" << offset << " capacity=" << capacity << " size=" << size
        << " alignment=" << alignment;
    if (expected) {
      ASSERT_EQ(fit.start, expected_start);
      ASSERT_EQ(fit.end, expected_start + size);
      ASSERT_LE(fit.end, capacity);
    }
  }
}

// --- requests -------------------------------------------------------------------

TEST(Arena, ZeroAndNonPowerOfTwoAlignmentsAreRefused) {
  tslab::Allocator alloc;
  tslab::Arena arena(alloc);
  ASSERT_TRUE(arena.ok());
  const std::size_t bad[] = {0,  3,   5,    6,    7,        12,       24,
                             48, 100, 4095, 4097, 3u << 10, SIZE_MAX, SLAB_ARENA_MAX_ALIGNMENT * 2};
  for (std::size_t alignment : bad) {
    EXPECT_EQ(arena.allocate(16, alignment), nullptr) << alignment;
    EXPECT_EQ(tslab::last_error(), tslab::Error::bad_alignment) << alignment;
  }
  EXPECT_EQ(arena.stats().bytes_used, 0u);
  EXPECT_EQ(arena.stats().overflows, 0u);
  EXPECT_NE(arena.allocate(16, 16), nullptr);
}

TEST(Arena, LargeAlignmentsAreHonouredInChunksAndInABuffer) {
  tslab::Allocator alloc;
  SlabArenaOptions o = make_options(64 * 1024, TSLAB_ARENA_OVERFLOW_GROW, false);
  tslab::Arena grown(alloc, o);
  ASSERT_TRUE(grown.ok());
  alignas(64) static unsigned char buffer[64 * 1024];
  tslab::Arena buffered(buffer, sizeof buffer, false);
  ASSERT_TRUE(buffered.ok());
  for (tslab::BasicArena* arena :
       {static_cast<tslab::BasicArena*>(&grown), static_cast<tslab::BasicArena*>(&buffered)}) {
    std::vector<Block> blocks;
    for (std::size_t alignment : {1, 2, 8, 16, 64, 128, 256, 4096}) {
      for (int i = 0; i < 3; ++i) {
        const std::size_t size = 1 + static_cast<std::size_t>(i) * 13;
        void* p = arena->allocate(size, alignment);
        ASSERT_NE(p, nullptr) << alignment;
        EXPECT_TRUE(is_aligned(p, alignment)) << alignment;
        std::memset(p, 0x5A, size);
        blocks.push_back({reinterpret_cast<std::uintptr_t>(p), size});
      }
    }
    EXPECT_TRUE(disjoint(blocks));
  }
  // The buffer's blocks are inside the buffer.
  tslab::Arena again(buffer, sizeof buffer, false);
  for (int i = 0; i < 8; ++i) {
    auto* p = static_cast<unsigned char*>(again.allocate(100, 4096));
    if (p == nullptr) {
      EXPECT_EQ(tslab::last_error(), tslab::Error::arena_full);
      break;
    }
    EXPECT_GE(p, buffer);
    EXPECT_LE(p + 100, buffer + sizeof buffer);
  }
}

TEST(Arena, SizeMaxAndOversizedRequestsFailClearly) {
  tslab::Allocator alloc;
  for (TslabArenaOverflow policy :
       {TSLAB_ARENA_OVERFLOW_ERROR, TSLAB_ARENA_OVERFLOW_GROW, TSLAB_ARENA_OVERFLOW_FALLBACK}) {
    tslab::Arena arena(alloc, make_options(4096, policy));
    ASSERT_TRUE(arena.ok());
    for (std::size_t alignment : {1, 16, 4096}) {
      EXPECT_EQ(arena.allocate(SIZE_MAX, alignment), nullptr);
      EXPECT_EQ(tslab::last_error(), tslab::Error::size_too_large);
      EXPECT_EQ(arena.allocate(SIZE_MAX - alignment + 1, alignment), nullptr);
      EXPECT_EQ(tslab::last_error(), tslab::Error::size_too_large);
      EXPECT_EQ(arena.allocate(SLAB_ARENA_MAX_REQUEST + 1, alignment), nullptr);
      EXPECT_EQ(tslab::last_error(), tslab::Error::size_too_large);
    }
    // The largest request is one the allocator can be asked for, with the
    // chunk's header and the largest alignment: it fails only as memory runs
    // out (no machine backs 64 TiB), or with a full arena under the error policy.
    for (std::size_t alignment : {std::size_t{16}, std::size_t{SLAB_ARENA_MAX_ALIGNMENT}}) {
      void* p = arena.allocate(SLAB_ARENA_MAX_REQUEST, alignment);
      if (p == nullptr) {
        EXPECT_EQ(tslab::last_error(), policy == TSLAB_ARENA_OVERFLOW_ERROR ? tslab::Error::arena_full
                                                                            : tslab::Error::out_of_memory)
            << "alignment " << alignment;
      }
    }
    const SlabArenaStats s = arena.stats();
    EXPECT_EQ(s.bytes_used, 0u);
    EXPECT_EQ(s.chunks, 1u);
    EXPECT_NE(arena.allocate(64, 16), nullptr);
  }
  // allocate_array's n * sizeof(T) cannot wrap either.
  tslab::Arena arena(alloc);
  EXPECT_EQ(arena.allocate_array<std::uint64_t>(SIZE_MAX / 4), nullptr);
  EXPECT_EQ(tslab::last_error(), tslab::Error::size_too_large);
}

TEST(Arena, BufferAtTheTopOfTheAddressSpaceNeverWraps) {
  // Never dereferenced: zeroing is off and only addresses are compared.
  const std::uintptr_t top = UINTPTR_MAX & ~std::uintptr_t{4095};
  const std::size_t size = 4095;  // ends at the last address
  SlabArenaOptions o = buffer_options(reinterpret_cast<void*>(top), size, false);
  SlabArena* a = slab_arena_create(nullptr, &o);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(slab_arena_alloc(a, 4000, 1)), top);
  // Offset 4000: aligning to 4096 would need 96 bytes of padding and only 95 are left.
  EXPECT_EQ(slab_arena_alloc(a, 16, 4096), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_ARENA_FULL);
  EXPECT_EQ(slab_arena_alloc(a, 1, 128), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_ARENA_FULL);
  EXPECT_EQ(slab_arena_alloc(a, SIZE_MAX, 1), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_SIZE_TOO_LARGE);
  EXPECT_EQ(slab_arena_alloc(a, 96, 1), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_ARENA_FULL);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(slab_arena_alloc(a, 95, 1)), top + 4000);
  EXPECT_EQ(slab_arena_alloc(a, 0, 1), nullptr);  // a size of 0 still takes one byte
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_ARENA_FULL);
  const SlabArenaStats s = stats_of(a);
  EXPECT_EQ(s.bytes_used, 4095u);
  EXPECT_EQ(s.padding_bytes, 0u);
  EXPECT_EQ(s.capacity, 4095u);
  EXPECT_TRUE(slab_arena_destroy(a));
  // A buffer that would wrap the address space is refused.
  o = buffer_options(reinterpret_cast<void*>(UINTPTR_MAX - 10), 100, false);
  EXPECT_EQ(slab_arena_create(nullptr, &o), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
}

TEST(Arena, PaddingBeyondTheRemainingSpaceFailsWithoutSideEffects) {
  alignas(256) static unsigned char buffer[256];
  tslab::Arena arena(buffer, sizeof buffer, false);
  ASSERT_TRUE(arena.ok());
  ASSERT_EQ(arena.allocate(200, 1), buffer);
  // 56 bytes left; the next 64-byte boundary is at 256.
  EXPECT_EQ(arena.allocate(1, 64), nullptr);
  EXPECT_EQ(tslab::last_error(), tslab::Error::arena_full);
  EXPECT_EQ(arena.allocate(1, 128), nullptr);
  EXPECT_EQ(arena.allocate(0, 256), nullptr);
  tslab::ArenaStats s = arena.stats();
  EXPECT_EQ(s.bytes_used, 200u);
  EXPECT_EQ(s.padding_bytes, 0u);
  EXPECT_EQ(s.overflows, 3u);
  // The failures consumed nothing: the 56 bytes are all still there.
  EXPECT_EQ(arena.allocate(8, 8), buffer + 200);
  EXPECT_EQ(arena.allocate(40, 16), buffer + 208);
  EXPECT_EQ(arena.allocate(8, 8), buffer + 248);
  EXPECT_EQ(arena.allocate(1, 1), nullptr);
  s = arena.stats();
  EXPECT_EQ(s.bytes_used, 256u);
  EXPECT_EQ(s.padding_bytes, 0u);
}

TEST(Arena, PaddingAndUsageAreAccountedExactly) {
  alignas(4096) static unsigned char buffer[8192];
  tslab::Arena arena(buffer, sizeof buffer, false);
  ASSERT_TRUE(arena.ok());
  Rng rng(42);
  std::size_t offset = 0, used = 0, padding = 0;
  for (int i = 0; i < 200; ++i) {
    const std::size_t size = rng.range(0, 40);
    const std::size_t alignment = std::size_t{1} << rng.range(0, 7);
    const std::size_t start = (offset + alignment - 1) / alignment * alignment;
    const std::size_t taken = size == 0 ? 1 : size;
    void* p = arena.allocate(size, alignment);
    if (start + taken > sizeof buffer) {
      EXPECT_EQ(p, nullptr);
      break;
    }
    ASSERT_EQ(p, buffer + start) << i;
    padding += start - offset;
    used += taken;
    offset = start + taken;
    const tslab::ArenaStats s = arena.stats();
    ASSERT_EQ(s.padding_bytes, padding);
    ASSERT_EQ(s.bytes_used, used);
    ASSERT_EQ(s.high_water, used + padding);
  }
  EXPECT_GT(padding, 0u);
  arena.reset();
  const tslab::ArenaStats s = arena.stats();
  EXPECT_EQ(s.bytes_used, 0u);
  EXPECT_EQ(s.padding_bytes, 0u);
  EXPECT_EQ(s.high_water, used + padding);
  EXPECT_EQ(s.resets, 1u);
}

TEST(Arena, SizeZeroGetsUniqueBlocks) {
  tslab::Allocator alloc;
  tslab::Arena arena(alloc);
  void* a = arena.allocate(0, 1);
  void* b = arena.allocate(0, 1);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
}

// --- zeroing --------------------------------------------------------------------

TEST(Arena, ZeroingOnHandsOutZeroedMemoryAfterEveryReset) {
  static unsigned char buffer[4096];
  std::memset(buffer, 0xAB, sizeof buffer);
  tslab::Arena arena(buffer, sizeof buffer, true);
  ASSERT_TRUE(arena.ok());
  for (int round = 0; round < 3; ++round) {
    auto* p = static_cast<unsigned char*>(arena.allocate(3000, 1));
    ASSERT_EQ(p, buffer);
    EXPECT_TRUE(all_bytes(p, 3000, 0)) << round;
    std::memset(p, 0xCD, 3000);
    arena.reset();
  }
  EXPECT_TRUE(all_bytes(buffer, sizeof buffer, 0));
}

TEST(Arena, ZeroingOffLeavesOldBytesInPlace) {
  static unsigned char buffer[4096];
  std::memset(buffer, 0xAB, sizeof buffer);
  tslab::Arena arena(buffer, sizeof buffer, false);
  auto* p = static_cast<unsigned char*>(arena.allocate(100, 1));
  ASSERT_EQ(p, buffer);
  EXPECT_TRUE(all_bytes(p, 100, 0xAB));  // the buffer is not zeroed at creation
  std::memset(p, 0xCD, 100);
  arena.reset();
  p = static_cast<unsigned char*>(arena.allocate(100, 1));
  ASSERT_EQ(p, buffer);
  EXPECT_TRUE(all_bytes(p, 100, 0xCD));  // nor at reset
}

TEST(Arena, ZeroingOnCoversRecycledChunksDedicatedChunksAndFallbackBlocks) {
  tslab::Allocator alloc;
  const tslab::EpochId e = alloc.epoch_current();
  // Dirty memory of the sizes the arena will take, freed back to the allocator.
  std::vector<void*> dirty;
  for (std::size_t size : {4096, 8192, 100, 3000})
    for (int i = 0; i < 64; ++i) {
      void* p = alloc.allocate(size, e);
      ASSERT_NE(p, nullptr);
      std::memset(p, 0xEE, size);
      dirty.push_back(p);
    }
  for (void* p : dirty) ASSERT_EQ(alloc.deallocate(p), tslab::Error::ok);
  for (TslabArenaOverflow policy : {TSLAB_ARENA_OVERFLOW_GROW, TSLAB_ARENA_OVERFLOW_FALLBACK}) {
    tslab::Arena arena(alloc, make_options(4096, policy, true));
    ASSERT_TRUE(arena.ok());
    for (int i = 0; i < 200; ++i) {
      const std::size_t size = (i % 7 == 0) ? 3000 : 100;  // 3000 > a quarter chunk: dedicated or fallback
      auto* p = static_cast<unsigned char*>(arena.allocate(size, 8));
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(all_bytes(p, size, 0)) << "block " << i << " policy " << policy;
      std::memset(p, 0x77, size);
    }
    arena.reset();
    for (int i = 0; i < 30; ++i) {
      auto* p = static_cast<unsigned char*>(arena.allocate(100, 8));
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(all_bytes(p, 100, 0)) << "after reset, block " << i;
    }
  }
}

// --- overflow policies ------------------------------------------------------------

TEST(Arena, ErrorPolicyFailsWithArenaFullAndKeepsOneChunk) {
  tslab::Allocator alloc;
  tslab::Arena arena(alloc, make_options(4096, TSLAB_ARENA_OVERFLOW_ERROR));
  ASSERT_TRUE(arena.ok());
  const std::size_t capacity = arena.stats().capacity;
  EXPECT_EQ(capacity, 4096u - 64u);  // the chunk header takes one cache line
  std::size_t got = 0;
  while (arena.allocate(64, 64) != nullptr) ++got;
  EXPECT_EQ(tslab::last_error(), tslab::Error::arena_full);
  EXPECT_EQ(got, capacity / 64);
  const tslab::ArenaStats s = arena.stats();
  EXPECT_EQ(s.chunks, 1u);
  EXPECT_EQ(s.overflows, 1u);
  EXPECT_EQ(s.fallback_blocks, 0u);
  EXPECT_EQ(arena.allocate(1, 1), nullptr);
  EXPECT_EQ(arena.stats().overflows, 2u);
  // A request larger than the whole chunk is "full" too, not an error of its own.
  arena.reset();
  EXPECT_EQ(arena.allocate(8192, 8), nullptr);
  EXPECT_EQ(tslab::last_error(), tslab::Error::arena_full);
}

TEST(Arena, GrowPolicyAddsChunksAndGivesLargeBlocksTheirOwn) {
  tslab::Allocator alloc;
  const tslab::EpochId e = alloc.epoch_current();
  const std::uint64_t live_before = live_blocks(alloc, e);
  tslab::Arena arena(alloc, make_options(4096, TSLAB_ARENA_OVERFLOW_GROW));
  ASSERT_TRUE(arena.ok());
  void* first = arena.allocate(16, 16);
  ASSERT_NE(first, nullptr);
  // A block above a quarter chunk that does not fit the current chunk gets a
  // chunk of its own, and the current chunk goes on where it was.
  void* before = arena.allocate(8, 8);
  void* big = arena.allocate(4020, 8);
  void* after = arena.allocate(8, 8);
  ASSERT_NE(before, nullptr);
  ASSERT_NE(big, nullptr);
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(before, static_cast<char*>(first) + 16);
  EXPECT_EQ(after, static_cast<char*>(before) + 8);
  EXPECT_EQ(arena.stats().chunks, 2u);
  std::memset(big, 0x11, 4020);
  std::vector<Block> blocks{{reinterpret_cast<std::uintptr_t>(first), 16},
                            {reinterpret_cast<std::uintptr_t>(before), 8},
                            {reinterpret_cast<std::uintptr_t>(big), 4020},
                            {reinterpret_cast<std::uintptr_t>(after), 8}};
  std::uint64_t expected_used = 16 + 8 + 4020 + 8;
  for (int i = 0; i < 500; ++i) {
    const std::size_t size = 24 + static_cast<std::size_t>(i % 9) * 40;
    void* p = arena.allocate(size, 8);
    ASSERT_NE(p, nullptr);
    std::memset(p, i & 0xFF, size);
    blocks.push_back({reinterpret_cast<std::uintptr_t>(p), size});
    expected_used += size;
  }
  EXPECT_TRUE(disjoint(blocks));
  tslab::ArenaStats s = arena.stats();
  EXPECT_GT(s.chunks, 10u);
  EXPECT_EQ(s.overflows, s.chunks - 1);  // one per chunk after the first, the dedicated one included
  EXPECT_EQ(s.bytes_used, expected_used);
  EXPECT_EQ(live_blocks(alloc, e), live_before + s.chunks);  // every chunk is accounted for
  // Much larger than a chunk, with a large alignment.
  void* huge = arena.allocate(1 << 20, 4096);
  ASSERT_NE(huge, nullptr);
  EXPECT_TRUE(is_aligned(huge, 4096));
  std::memset(huge, 1, 1 << 20);
  // Reset keeps the first chunk only, and starts it over.
  arena.reset();
  s = arena.stats();
  EXPECT_EQ(s.chunks, 1u);
  EXPECT_EQ(s.capacity, 4096u - 64u);
  EXPECT_EQ(live_blocks(alloc, e), live_before + 1);
  EXPECT_EQ(arena.allocate(16, 16), first);
  EXPECT_GE(s.high_water, expected_used + (1 << 20));
  arena.close();
  EXPECT_EQ(live_blocks(alloc, e), live_before);
  EXPECT_ALLOCATOR_OK(alloc);
}

TEST(Arena, FallbackPolicyTakesBlocksFromTheAllocatorAndFreesThemOnReset) {
  tslab::Allocator alloc;
  const tslab::EpochId e = alloc.epoch_current();
  const std::uint64_t live_before = live_blocks(alloc, e);
  tslab::Arena arena(alloc, make_options(4096, TSLAB_ARENA_OVERFLOW_FALLBACK));
  ASSERT_TRUE(arena.ok());
  std::vector<Block> blocks;
  std::uint64_t fallbacks = 0;
  for (int i = 0; i < 300; ++i) {
    const std::size_t size = 16 + static_cast<std::size_t>(i % 5) * 48;
    const std::size_t alignment = std::size_t{8} << (i % 4);
    const std::uint64_t before = arena.stats().fallback_blocks;
    void* p = arena.allocate(size, alignment);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(is_aligned(p, alignment));
    std::memset(p, 0x3C, size);
    blocks.push_back({reinterpret_cast<std::uintptr_t>(p), size});
    if (arena.stats().fallback_blocks != before) ++fallbacks;
  }
  EXPECT_TRUE(disjoint(blocks));
  tslab::ArenaStats s = arena.stats();
  EXPECT_EQ(s.chunks, 1u);
  EXPECT_EQ(s.fallback_blocks, fallbacks);
  EXPECT_EQ(s.overflows, fallbacks);
  EXPECT_GT(fallbacks, 200u);
  EXPECT_EQ(live_blocks(alloc, e), live_before + 1 + fallbacks);
  arena.reset();
  EXPECT_EQ(arena.stats().fallback_blocks, 0u);
  EXPECT_EQ(live_blocks(alloc, e), live_before + 1);
  // Destroy frees fallback blocks too.
  for (int i = 0; i < 100; ++i) ASSERT_NE(arena.allocate(200, 8), nullptr);
  EXPECT_GT(live_blocks(alloc, e), live_before + 1);
  arena.close();
  EXPECT_EQ(live_blocks(alloc, e), live_before);
  EXPECT_ALLOCATOR_OK(alloc);
}

// An arena's blocks are freed with the arena, never one by one: a fallback
// block freed through the allocator is refused like any other arena block (a
// pointer into the allocator's block, past its node). Before, its pointer was the
// start of an allocator block, so the free succeeded; the next allocation got
// the same memory, and the arena's end freed that new block under its owner,
// whose memory then went to a third allocation as well.
TEST(Arena, AFallbackBlockFreedByItselfIsRefusedAndStaysTheArenas) {
  tslab::Allocator alloc;
  const tslab::EpochId e = alloc.epoch_current();
  const std::uint64_t live_before = live_blocks(alloc, e);
  tslab::Arena arena(alloc, make_options(4096, TSLAB_ARENA_OVERFLOW_FALLBACK));
  ASSERT_TRUE(arena.ok());
  for (const std::size_t size :
       {std::size_t{10000}, std::size_t{200000}}) {  // a small slab's, a large span's
    for (const std::size_t alignment : {std::size_t{8}, std::size_t{64}, std::size_t{4096}}) {
      SCOPED_TRACE(testing::Message() << size << " B aligned to " << alignment);
      auto* p = static_cast<unsigned char*>(arena.allocate(size, alignment));
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(is_aligned(p, alignment));
      std::memset(p, 0x5A, size);
      ASSERT_EQ(alloc.deallocate(p), tslab::Error::interior_pointer);  // if ok, the arena frees it again
      EXPECT_EQ(alloc.usable_size(p), 0u);
      auto* q = static_cast<unsigned char*>(alloc.allocate(size, e));
      ASSERT_NE(q, nullptr);
      EXPECT_TRUE(q + size <= p || p + size <= q) << "the arena's block was handed out again";
      EXPECT_TRUE(all_bytes(p, size, 0x5A));
      EXPECT_EQ(alloc.deallocate(q), tslab::Error::ok);
    }
  }
  EXPECT_EQ(arena.stats().fallback_blocks, 6u);
  arena.close();
  EXPECT_EQ(live_blocks(alloc, e), live_before) << "the arena freed each of its blocks once";
  EXPECT_ALLOCATOR_OK(alloc);
}

// What an arena takes from the allocator above 64 KiB (a chunk, a block of its
// own, a fallback block) holds the arena's blocks from some way into it, so the
// allocator's span starts below the pointers the program has: a free of any
// address there, a stray pointer rounded down for one, is refused, and the
// arena's memory is never freed under it. (At or below 64 KiB it is a block of a
// size class, whose start is not marked: README, "Arenas".)
TEST(Arena, NoAddressBelowItsBlocksFreesTheArenasMemory) {
  constexpr std::size_t MAX_SMALL = 65536;  // the largest block of a size class
  for (const TslabArenaOverflow overflow : {TSLAB_ARENA_OVERFLOW_GROW, TSLAB_ARENA_OVERFLOW_FALLBACK}) {
    for (const std::size_t chunk : {std::size_t{4096}, std::size_t{1} << 20}) {
      SCOPED_TRACE(testing::Message() << "chunks of " << chunk << " B, overflow " << overflow);
      tslab::Allocator alloc;
      SlabAllocator* a = reinterpret_cast<SlabAllocator*>(alloc.core());
      const SlabArenaOptions o = make_options(chunk, overflow);
      SlabArena* arena = slab_arena_create(a, &o);
      ASSERT_NE(arena, nullptr);
      // The first chunk's first block; a block of its own (grow) or a fallback
      // block, of a size class and of a span; at two alignments.
      std::vector<std::pair<unsigned char*, std::size_t>> blocks;
      for (const std::size_t size : {std::size_t{100}, chunk / 2 + 1, std::size_t{3000}, std::size_t{200000}})
        for (const std::size_t alignment : {std::size_t{8}, std::size_t{256}}) {
          auto* p = static_cast<unsigned char*>(slab_arena_alloc(arena, size, alignment));
          ASSERT_NE(p, nullptr) << size;
          std::memset(p, 0x6B, size);
          blocks.emplace_back(p, size);
        }
      std::size_t accepted = 0;
      for (const auto& [p, size] : blocks) {
        if (chunk <= MAX_SMALL && size <= MAX_SMALL) continue;  // in a block of a size class
        // 128 KiB below each block where the arena holds only spans; else its
        // own span only, as the arena's blocks of a size class may lie below it.
        const std::size_t look = chunk > MAX_SMALL ? 2 * MAX_SMALL : 4096;
        const auto top = reinterpret_cast<std::uintptr_t>(p);
        for (std::uintptr_t q = top - 16; q + look >= top && q != 0; q -= 16)
          if (slab_free_checked(a, reinterpret_cast<void*>(q))) ++accepted;
      }
      // Had one been accepted, the arena's end would free that memory again.
      ASSERT_EQ(accepted, 0u) << "a free below an arena block was accepted";
      for (const auto& [p, size] : blocks) EXPECT_TRUE(all_bytes(p, size, 0x6B));
      // Nor does any other call take a span's start for a block.
      unsigned char* const span = chunk > MAX_SMALL ? blocks[0].first - 64 : blocks.back().first - 256;
      EXPECT_EQ(slab_usable_size(a, span), 0u);
      EXPECT_EQ(slab_ptr_to_handle(a, span), 0u);
      EXPECT_EQ(alloc.core()->realloc_large(span, 100000, 0), nullptr);
      EXPECT_TRUE(slab_arena_destroy(arena));
      EXPECT_ALLOCATOR_OK(alloc);
    }
  }
}

// Nor does a handle name such a span: a freed program block's handle, at its
// span's next generations, when an arena's chunk has taken the span.
TEST(Arena, NoHandleNamesASpanTheArenaHolds) {
  tslab::Allocator alloc;
  SlabAllocator* a = reinterpret_cast<SlabAllocator*>(alloc.core());
  const tslab::EpochId e = alloc.epoch_current();
  void* program = slab_malloc_epoch(a, 128 << 10, e);
  ASSERT_NE(program, nullptr);
  const tslab::detail::HandleParts parts = tslab::detail::handle_decode(slab_ptr_to_handle(a, program));
  ASSERT_NE(parts.slab_id, 0u);
  ASSERT_TRUE(slab_free_checked(a, program));
  const SlabArenaOptions o = make_options(128 << 10, TSLAB_ARENA_OVERFLOW_GROW);
  SlabArena* arena = slab_arena_create(a, &o);
  ASSERT_NE(arena, nullptr);
  auto* block = static_cast<unsigned char*>(slab_arena_alloc(arena, 100, 8));
  ASSERT_EQ(block, static_cast<unsigned char*>(program) + 64) << "the arena's chunk took the freed span";
  std::memset(block, 0x6B, 100);
  for (std::uint32_t later = 0; later <= 4; ++later) {
    const std::uint64_t forged = tslab::detail::handle_encode(parts.generation + later, parts.slab_id, 0);
    EXPECT_EQ(slab_handle_to_ptr(a, forged), nullptr) << "generation +" << later;
    EXPECT_FALSE(free_obj(a, forged)) << "generation +" << later;
  }
  EXPECT_TRUE(all_bytes(block, 100, 0x6B));
  EXPECT_TRUE(slab_arena_destroy(arena));
  EXPECT_ALLOCATOR_OK(alloc);
}

TEST(Arena, BufferFirstThenChunksWhenGrowing) {
  tslab::Allocator alloc;
  alignas(16) static unsigned char buffer[1024];
  SlabArenaOptions o = make_options(4096, TSLAB_ARENA_OVERFLOW_GROW, false);
  o.buffer = buffer;
  o.buffer_size = sizeof buffer;
  tslab::Arena arena(alloc, o);
  ASSERT_TRUE(arena.ok());
  EXPECT_EQ(arena.allocate(1000, 8), buffer);
  auto* p = static_cast<unsigned char*>(arena.allocate(100, 8));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p < buffer || p >= buffer + sizeof buffer);
  EXPECT_EQ(arena.stats().chunks, 2u);
  arena.reset();
  const tslab::ArenaStats s = arena.stats();
  EXPECT_EQ(s.chunks, 1u);  // the buffer is what reset keeps
  EXPECT_EQ(s.capacity, sizeof buffer);
  EXPECT_EQ(arena.allocate(8, 8), buffer);
}

// --- creation -------------------------------------------------------------------

TEST(Arena, CreationRejectsInconsistentOptions) {
  tslab::Allocator alloc;
  SlabAllocator* a = reinterpret_cast<SlabAllocator*>(alloc.core());
  static unsigned char buffer[256];
  auto refused = [&](SlabAllocator* with, SlabArenaOptions o, TslabError why) {
    SlabArena* arena = slab_arena_create(with, &o);
    const bool ok = arena == nullptr && slab_last_error() == why;
    if (arena != nullptr) slab_arena_destroy(arena);
    return ok;
  };
  EXPECT_TRUE(refused(nullptr, make_options(4096, TSLAB_ARENA_OVERFLOW_ERROR), TSLAB_ERR_INVALID_ARGUMENT));
  EXPECT_TRUE(refused(nullptr, buffer_options(buffer, 0, false), TSLAB_ERR_INVALID_ARGUMENT));
  EXPECT_TRUE(refused(nullptr, buffer_options(nullptr, 16, false), TSLAB_ERR_INVALID_ARGUMENT));
  SlabArenaOptions grow_without_allocator = buffer_options(buffer, sizeof buffer, false);
  grow_without_allocator.overflow = TSLAB_ARENA_OVERFLOW_GROW;
  EXPECT_TRUE(refused(nullptr, grow_without_allocator, TSLAB_ERR_INVALID_ARGUMENT));
  grow_without_allocator.overflow = TSLAB_ARENA_OVERFLOW_FALLBACK;
  EXPECT_TRUE(refused(nullptr, grow_without_allocator, TSLAB_ERR_INVALID_ARGUMENT));
  SlabArenaOptions close_without_allocator = buffer_options(buffer, sizeof buffer, false);
  close_without_allocator.close_epoch = true;
  EXPECT_TRUE(refused(nullptr, close_without_allocator, TSLAB_ERR_INVALID_ARGUMENT));
  EXPECT_TRUE(refused(a, make_options(0, TSLAB_ARENA_OVERFLOW_GROW), TSLAB_ERR_INVALID_ARGUMENT));
  EXPECT_TRUE(refused(a, make_options(SLAB_ARENA_MIN_CHUNK - 1, TSLAB_ARENA_OVERFLOW_GROW),
                      TSLAB_ERR_INVALID_ARGUMENT));
  EXPECT_TRUE(refused(a, make_options(SLAB_ARENA_MAX_CHUNK + 1, TSLAB_ARENA_OVERFLOW_GROW),
                      TSLAB_ERR_INVALID_ARGUMENT));
  EXPECT_TRUE(refused(a, make_options(4096, static_cast<TslabArenaOverflow>(3)), TSLAB_ERR_INVALID_ARGUMENT));
  SlabArenaOptions out_of_range = make_options(4096, TSLAB_ARENA_OVERFLOW_GROW);
  out_of_range.epoch = SLAB_DEFAULT_EPOCH_COUNT;
  EXPECT_TRUE(refused(a, out_of_range, TSLAB_ERR_EPOCH_OUT_OF_RANGE));
  SlabArenaOptions closing = make_options(4096, TSLAB_ARENA_OVERFLOW_GROW);
  closing.epoch = 3;
  ASSERT_EQ(alloc.epoch_close(3), tslab::Error::ok);
  EXPECT_TRUE(refused(a, closing, TSLAB_ERR_EPOCH_CLOSING));
  // The smallest chunk, and a buffer with the error policy needs no chunk size.
  SlabArenaOptions smallest = make_options(SLAB_ARENA_MIN_CHUNK, TSLAB_ARENA_OVERFLOW_GROW);
  SlabArena* ok = slab_arena_create(a, &smallest);
  ASSERT_NE(ok, nullptr);
  EXPECT_TRUE(slab_arena_destroy(ok));
  SlabArenaOptions buffered = buffer_options(buffer, sizeof buffer, false);
  ok = slab_arena_create(a, &buffered);
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(stats_of(ok).chunks, 1u);
  EXPECT_TRUE(slab_arena_destroy(ok));
  // NULL arguments.
  EXPECT_FALSE(slab_arena_destroy(nullptr));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(slab_arena_alloc(nullptr, 8, 8), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_FALSE(slab_arena_reset(nullptr));
  EXPECT_FALSE(slab_arena_stats(nullptr, nullptr));
  EXPECT_FALSE(slab_arena_options_init(nullptr));
}

TEST(Arena, ChunksComeFromTheRequestedEpoch) {
  tslab::Allocator alloc;
  SlabArenaOptions o = make_options(8192, TSLAB_ARENA_OVERFLOW_GROW);
  o.epoch = 5;
  tslab::Arena arena(alloc, o);
  ASSERT_TRUE(arena.ok());
  for (int i = 0; i < 100; ++i) ASSERT_NE(arena.allocate(500, 8), nullptr);
  const std::uint64_t chunks = arena.stats().chunks;
  EXPECT_GT(chunks, 1u);
  EXPECT_EQ(live_blocks(alloc, 5), chunks);
  EXPECT_EQ(live_blocks(alloc, alloc.epoch_current()), 0u);
  arena.close();
  EXPECT_EQ(live_blocks(alloc, 5), 0u);
}

// --- C++ wrappers ---------------------------------------------------------------

namespace {
struct Node {
  int key;
  Node* left;
  Node* right;
};
}  // namespace

TEST(Arena, CppMakeArraysMovesAndPmr) {
  tslab::Allocator alloc;
  tslab::Arena arena(alloc);
  ASSERT_TRUE(arena);
  Node* root = arena.make<Node>(Node{1, nullptr, nullptr});
  ASSERT_NE(root, nullptr);
  root->left = arena.make<Node>(Node{2, nullptr, nullptr});
  ASSERT_NE(root->left, nullptr);
  EXPECT_EQ(root->left->key, 2);
  EXPECT_TRUE(is_aligned(root, alignof(Node)));
  double* values = arena.allocate_array<double>(100);
  ASSERT_NE(values, nullptr);
  EXPECT_TRUE(is_aligned(values, alignof(double)));
  tslab::Arena moved(std::move(arena));
  EXPECT_FALSE(arena.ok());
  EXPECT_TRUE(moved.ok());
  EXPECT_EQ(arena.allocate(8, 8), nullptr);
  EXPECT_EQ(tslab::last_error(), tslab::Error::invalid_argument);
  EXPECT_EQ(root->left->key, 2);  // the memory moved with the arena
  tslab::ArenaResource resource(moved);
  std::pmr::vector<int> v(&resource);
  for (int i = 0; i < 1000; ++i) v.push_back(i);
  EXPECT_EQ(v[999], 999);
  EXPECT_GT(moved.stats().bytes_used, 1000 * sizeof(int));
  tslab::Arena tiny(alloc, make_options(4096, TSLAB_ARENA_OVERFLOW_ERROR));
  tslab::ArenaResource tiny_resource(tiny);
  EXPECT_THROW((void)tiny_resource.allocate(1 << 20, 8), std::bad_alloc);
  EXPECT_FALSE(tiny_resource.is_equal(resource));
  EXPECT_EQ(moved.close(), tslab::Error::ok);
  EXPECT_FALSE(moved.ok());
  EXPECT_EQ(moved.close(), tslab::Error::ok);  // closing twice is harmless
}
