// This file contains the tests of epoch arenas (tslab::EpochArena, close_epoch):
// the chunks live in the bound epoch, closing the arena frees them and closes the
// epoch so that its pages go back to the OS (resident bytes measured before and
// after, with chunks that are spans of their own and with chunks that share
// slabs), the era check against a re-activated slot, and growth into an epoch
// that was closed under the arena.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/allocator_core.h"
#include "slab_alloc.h"
#include "slab_arena.h"
#include "test_util.h"
#include "tslab/arena.hpp"
#include "tslab/tslab.hpp"

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

tslab::ArenaOptions epoch_options(std::size_t chunk) {
  tslab::ArenaOptions o{};
  o.chunk_size = chunk;
  o.overflow = TSLAB_ARENA_OVERFLOW_GROW;
  o.zero_on_reset = false;
  o.epoch = SLAB_ARENA_CURRENT_EPOCH;
  return o;
}

// Fills the arena with `bytes` of touched blocks of `block` bytes each.
void fill(tslab::BasicArena& arena, std::uint64_t bytes, std::size_t block) {
  for (std::uint64_t done = 0; done < bytes; done += block) {
    void* p = arena.allocate(block, 16);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x6B, block);
  }
}

// Resident bytes return to (nearly) the baseline when the arena closes.
void expect_pages_return(std::size_t chunk, std::size_t block) {
  tslab::Allocator alloc;
  const tslab::EpochId e = alloc.epoch_current();
  const std::uint64_t baseline = alloc.resident_bytes();
  tslab::EpochArena arena(alloc, e, epoch_options(chunk));
  ASSERT_TRUE(arena.ok());
  const std::uint64_t payload = 24 * MiB;
  fill(arena, payload, block);
  const std::uint64_t peak = alloc.resident_bytes();
  EXPECT_GE(peak, baseline + payload) << "the arena's pages are resident while it lives";
  EXPECT_EQ(alloc.epoch_info(e).live_count, arena.stats().chunks);
  ASSERT_EQ(arena.close(), tslab::Error::ok);
  const std::uint64_t after = alloc.resident_bytes();
  EXPECT_EQ(alloc.epoch_state(e), tslab::EpochState::closing);
  EXPECT_EQ(alloc.epoch_info(e).live_count, 0u);
  // Metadata and the warm reserve may stay; the payload's pages must be gone.
  EXPECT_LT(after, baseline + payload / 16 + alloc.warm_reserve())
      << "baseline " << baseline << " peak " << peak << " after " << after;
  EXPECT_ALLOCATOR_OK(alloc);
}

}  // namespace

TEST(EpochArena, PagesReturnOnCloseWithSpanChunks) { expect_pages_return(1 << 20, 4096); }

TEST(EpochArena, PagesReturnOnCloseWithSlabChunks) { expect_pages_return(8 * 1024, 1000); }

TEST(EpochArena, PagesReturnOnCloseThroughTheCApi) {
  SlabAllocator* alloc = slab_allocator_create();
  ASSERT_NE(alloc, nullptr);
  const std::uint64_t baseline = slab_resident_bytes(alloc);
  SlabArenaOptions o = epoch_options(256 * 1024);
  o.epoch = 2;
  o.close_epoch = true;
  SlabArena* arena = slab_arena_create(alloc, &o);
  ASSERT_NE(arena, nullptr);
  for (int i = 0; i < 4096; ++i) {
    void* p = slab_arena_alloc(arena, 4000, 64);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x21, 4000);
  }
  EXPECT_GE(slab_resident_bytes(alloc), baseline + 4096 * 4000);
  EXPECT_EQ(slab_epoch_state(alloc, 2), EPOCH_ACTIVE);
  ASSERT_TRUE(slab_arena_destroy(arena));
  EXPECT_EQ(slab_epoch_state(alloc, 2), EPOCH_CLOSING);
  EXPECT_LT(slab_resident_bytes(alloc), baseline + MiB);
  EXPECT_SLAB_CHECK_OK(alloc);
  slab_allocator_free(alloc);
}

TEST(EpochArena, ResetReturnsTheExtraChunksPages) {
  tslab::Allocator alloc;
  tslab::EpochArena arena(alloc, alloc.epoch_current(), epoch_options(1 << 20));
  ASSERT_TRUE(arena.ok());
  const std::uint64_t baseline = alloc.resident_bytes();
  fill(arena, 16 * MiB, 8192);
  const std::uint64_t peak = alloc.resident_bytes();
  EXPECT_GE(peak, baseline + 15 * MiB);
  arena.reset();
  EXPECT_EQ(arena.stats().chunks, 1u);
  EXPECT_LT(alloc.resident_bytes(), baseline + 2 * MiB);  // one chunk kept
  EXPECT_EQ(alloc.epoch_state(alloc.epoch_current()), tslab::EpochState::active);
}

TEST(EpochArena, ClosingAReactivatedSlotIsRefused) {
  tslab::Options ao;
  ao.epoch_count = 2;
  tslab::Allocator alloc(ao);
  const tslab::EpochId e = alloc.epoch_current();
  tslab::EpochArena arena(alloc, e, epoch_options(4096));
  ASSERT_TRUE(arena.ok());
  ASSERT_NE(arena.allocate(100, 8), nullptr);
  // The ring wraps: e closes, then opens again with a new era.
  alloc.epoch_advance();
  alloc.epoch_advance();
  ASSERT_EQ(alloc.epoch_current(), e);
  ASSERT_EQ(alloc.epoch_state(e), tslab::EpochState::active);
  // The arena still has room in its chunk...
  EXPECT_NE(arena.allocate(100, 8), nullptr);
  // ...but takes no chunk from the new activation.
  EXPECT_EQ(arena.allocate(4000, 8), nullptr);
  EXPECT_EQ(tslab::last_error(), tslab::Error::stale_epoch);
  // Closing frees the chunk but leaves the new activation open.
  EXPECT_EQ(arena.close(), tslab::Error::stale_epoch);
  EXPECT_FALSE(arena.ok());
  EXPECT_EQ(alloc.epoch_state(e), tslab::EpochState::active);
  EXPECT_EQ(alloc.epoch_info(e).live_count, 0u);
}

TEST(EpochArena, GrowthIntoAnEpochClosedUnderTheArenaFails) {
  tslab::Allocator alloc;
  const tslab::EpochId e = 4;
  tslab::EpochArena arena(alloc, e, epoch_options(4096));
  ASSERT_TRUE(arena.ok());
  ASSERT_EQ(alloc.epoch_close(e), tslab::Error::ok);
  EXPECT_NE(arena.allocate(64, 8), nullptr);  // room left in the first chunk
  EXPECT_EQ(arena.allocate(8000, 8), nullptr);
  EXPECT_EQ(tslab::last_error(), tslab::Error::epoch_closing);
  EXPECT_EQ(arena.close(), tslab::Error::ok);  // same era: closing again is fine
  EXPECT_EQ(alloc.epoch_info(e).live_count, 0u);
  // No epoch arena on a closing epoch.
  tslab::EpochArena late(alloc, e, epoch_options(4096));
  EXPECT_FALSE(late.ok());
  EXPECT_EQ(tslab::last_error(), tslab::Error::epoch_closing);
}

TEST(EpochArena, DestructorClosesTheEpoch) {
  tslab::Allocator alloc;
  const tslab::EpochId e = 7;
  {
    tslab::EpochArena arena(alloc, e, epoch_options(64 * 1024));
    ASSERT_TRUE(arena.ok());
    fill(arena, MiB, 512);
    EXPECT_GT(alloc.epoch_info(e).live_count, 0u);
  }
  EXPECT_EQ(alloc.epoch_state(e), tslab::EpochState::closing);
  EXPECT_EQ(alloc.epoch_info(e).live_count, 0u);
  // A plain arena on an epoch leaves it open.
  {
    tslab::ArenaOptions o = epoch_options(64 * 1024);
    o.epoch = 8;
    tslab::Arena arena(alloc, o);
    ASSERT_TRUE(arena.ok());
  }
  EXPECT_EQ(alloc.epoch_state(8), tslab::EpochState::active);
}

// epoch_destroy of the epoch an arena takes its chunks from: the chunks and
// fallback blocks are blocks of that epoch, released with the rest, so the arena
// ends with them. Every later call is refused (stale_epoch) but destroy, which
// frees only the record, and nothing reaches the released memory: the blocks
// allocated after it, written whole, are never the arena's to hand out again.
TEST(EpochArena, AnEpochDestroyedUnderTheArenaEndsIt) {
  for (const TslabArenaOverflow overflow : {TSLAB_ARENA_OVERFLOW_GROW, TSLAB_ARENA_OVERFLOW_FALLBACK}) {
    for (const bool close_epoch : {false, true}) {
      tslab::Allocator alloc;
      const tslab::EpochId e = alloc.epoch_current();
      tslab::ArenaOptions o = epoch_options(8 * 1024);
      o.overflow = overflow;
      o.close_epoch = close_epoch;
      tslab::Arena arena(alloc, o);
      ASSERT_TRUE(arena.ok());
      fill(arena, 64 * 1024, 1000);
      void* big = arena.allocate(64 * 1024, 64);  // a dedicated chunk, or a fallback block
      ASSERT_NE(big, nullptr);
      const std::uint64_t held = alloc.epoch_info(e).live_count;
      ASSERT_GT(held, 1u);

      std::uint64_t released = 0;
      ASSERT_EQ(alloc.epoch_destroy(e, &released), tslab::Error::ok);
      EXPECT_EQ(released, held) << "the arena's chunks and fallback blocks are the epoch's blocks";
      EXPECT_ALLOCATOR_OK(alloc);
      alloc.collect();  // the released slabs' pages go back

      EXPECT_EQ(arena.allocate(64, 8), nullptr);
      EXPECT_EQ(tslab::last_error(), tslab::Error::stale_epoch);
      EXPECT_EQ(arena.allocate(100000, 8), nullptr);
      EXPECT_EQ(tslab::last_error(), tslab::Error::stale_epoch);
      EXPECT_EQ(arena.reset(), tslab::Error::stale_epoch);
      EXPECT_EQ(tslab::last_error(), tslab::Error::stale_epoch);

      // The released memory serves other blocks; the arena touches none of it.
      alloc.epoch_advance();
      std::vector<void*> blocks;
      for (int i = 0; i < 2000; ++i) {
        void* p = alloc.allocate(1000);
        ASSERT_NE(p, nullptr);
        std::memset(p, 0x5a, 1000);
        blocks.push_back(p);
      }
      EXPECT_EQ(arena.allocate(64, 8), nullptr);
      EXPECT_EQ(arena.close(), tslab::Error::ok) << "the record goes";
      EXPECT_FALSE(arena.ok());
      for (void* p : blocks) {
        EXPECT_EQ(static_cast<unsigned char*>(p)[999], 0x5a);
        EXPECT_EQ(alloc.deallocate(p), tslab::Error::ok);
      }
      EXPECT_ALLOCATOR_OK(alloc);
    }
  }
}

// The same through the C API, and for an epoch arena whose scope ends after
// the destroy; an arena of another epoch goes on as before.
TEST(EpochArena, AnEpochDestroyedUnderTheArenaEndsOnlyItsArenas) {
  tslab::Allocator alloc;
  const tslab::EpochId e = 3, other = 4;
  {
    tslab::EpochArena frame(alloc, e, epoch_options(4096));
    ASSERT_TRUE(frame.ok());
    tslab::ArenaOptions o = epoch_options(4096);
    o.epoch = other;
    tslab::Arena kept(alloc, o);
    ASSERT_TRUE(kept.ok());
    fill(frame, 32 * 1024, 100);
    fill(kept, 32 * 1024, 100);
    const std::uint64_t kept_chunks = kept.stats().chunks;
    ASSERT_EQ(alloc.epoch_destroy(e), tslab::Error::ok);
    EXPECT_EQ(frame.stats().chunks, 0u);
    EXPECT_EQ(tslab::last_error(), tslab::Error::stale_epoch);
    EXPECT_NE(kept.allocate(5000, 8), nullptr) << "another epoch's arena grows as before";
    EXPECT_EQ(kept.stats().chunks, kept_chunks + 1);
  }  // frame's destructor: only the record is left to free
  EXPECT_EQ(alloc.epoch_info(e).live_count, 0u);
  EXPECT_EQ(alloc.epoch_info(other).live_count, 0u) << "kept's chunks freed by its destructor";
  EXPECT_ALLOCATOR_OK(alloc);

  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  SlabArenaOptions co;
  ASSERT_TRUE(slab_arena_options_init(&co));
  co.epoch = 2;
  co.chunk_size = 4096;
  co.overflow = TSLAB_ARENA_OVERFLOW_GROW;
  SlabArena* a = slab_arena_create(c, &co);
  ASSERT_NE(a, nullptr);
  for (int i = 0; i < 100; ++i) ASSERT_NE(slab_arena_alloc(a, 200, 8), nullptr);
  uint64_t released = 0;
  ASSERT_TRUE(slab_epoch_destroy(c, 2, &released));
  EXPECT_GE(released, 5u);
  EXPECT_EQ(slab_arena_alloc(a, 8, 8), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_EPOCH);
  SlabArenaStats s;
  EXPECT_FALSE(slab_arena_stats(a, &s));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_EPOCH);
  EXPECT_TRUE(slab_arena_destroy(a));
  EXPECT_FALSE(slab_arena_destroy(a));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  char message[256];
  EXPECT_TRUE(slab_check(c, message, sizeof message)) << message;
  slab_allocator_free(c);
}

// An arena over a caller buffer with the error policy holds no block of its
// epoch: a destroy of the epoch leaves it working.
TEST(EpochArena, ABufferArenaOutlivesItsEpochsDestroy) {
  tslab::Allocator alloc;
  alignas(64) static unsigned char buffer[4096];
  tslab::ArenaOptions o = epoch_options(4096);
  o.buffer = buffer;
  o.buffer_size = sizeof buffer;
  o.overflow = TSLAB_ARENA_OVERFLOW_ERROR;
  tslab::Arena arena(alloc, o);
  ASSERT_TRUE(arena.ok());
  ASSERT_NE(arena.allocate(100, 8), nullptr);
  ASSERT_EQ(alloc.epoch_destroy(alloc.epoch_current()), tslab::Error::ok);
  void* p = arena.allocate(100, 8);
  EXPECT_NE(p, nullptr);
  EXPECT_GE(static_cast<unsigned char*>(p), buffer);
  EXPECT_LT(static_cast<unsigned char*>(p), buffer + sizeof buffer);
  EXPECT_EQ(arena.reset(), tslab::Error::ok);
}

// Once an epoch_destroy ended the dependents of an activation, one of that
// activation added later (an arena whose creation raced the destroy, its first
// chunk released with the epoch's blocks) is refused, and the arena's creation
// fails; one of a later activation is added.
TEST(EpochArena, AnArenaCreatedAsItsEpochIsDestroyedFails) {
  tslab::Allocator alloc;
  tslab::detail::AllocatorCore& core = *alloc.core();
  const tslab::EpochId e = alloc.epoch_current();
  const std::uint64_t era = core.epochs().open_era(e);
  ASSERT_NE(era, 0u);
  ASSERT_EQ(alloc.epoch_destroy(e), tslab::Error::ok);
  tslab::detail::AllocatorDependent late;
  late.end = [](void*, TslabError) noexcept {};
  late.epoch = e;
  late.era = era;
  EXPECT_FALSE(core.add_dependent(&late));
  EXPECT_FALSE(late.linked);
  alloc.epoch_advance();
  alloc.epoch_advance();  // any later activation of e
  while (alloc.epoch_current() != e) alloc.epoch_advance();
  late.era = core.epochs().open_era(e);
  ASSERT_GT(late.era, era);
  EXPECT_TRUE(core.add_dependent(&late));
  core.remove_dependent(&late);
  EXPECT_ALLOCATOR_OK(alloc);
}
