// This file contains the tests of DESIGN.md law 9: a destroyed allocator, epoch
// domain or arena is never reachable under its old identity. A second destroy,
// or any later call, is refused with TSLAB_ERR_INVALID_ARGUMENT and changes
// nothing; later objects never share the destroyed one's memory twice. (Before:
// a double destroy of a domain or arena put its record in the pool twice, so two
// later creations got the same record, and any call on a freed allocator crashed.)
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <vector>

#include "epoch_domain.h"
#include "slab_alloc.h"
#include "slab_arena.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

void expect_refused() { EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT); }

// Every call but destroy on a dead arena is refused.
void expect_arena_calls_refused(SlabArena* arena) {
  EXPECT_EQ(slab_arena_alloc(arena, 100, 8), nullptr);
  expect_refused();
  EXPECT_EQ(slab_arena_alloc(arena, 1 << 20, 64), nullptr);
  expect_refused();
  EXPECT_FALSE(slab_arena_reset(arena));
  expect_refused();
  SlabArenaStats st;
  EXPECT_FALSE(slab_arena_stats(arena, &st));
  expect_refused();
}

TEST(DestroyedObjects, ArenaDestroyedTwiceIsRefusedAndLaterArenasShareNoMemory) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  SlabArenaOptions o;
  ASSERT_TRUE(slab_arena_options_init(&o));
  o.chunk_size = 64 * 1024;
  SlabArena* gone = slab_arena_create(a, &o);
  ASSERT_NE(gone, nullptr);
  ASSERT_NE(slab_arena_alloc(gone, 100, 8), nullptr);
  EXPECT_TRUE(slab_arena_destroy(gone));
  EXPECT_FALSE(slab_arena_destroy(gone));
  expect_refused();
  expect_arena_calls_refused(gone);
  // Two later arenas: each fills its block with its own byte; neither sees the other's.
  SlabArena* x = slab_arena_create(a, &o);
  SlabArena* y = slab_arena_create(a, &o);
  ASSERT_NE(x, nullptr);
  ASSERT_NE(y, nullptr);
  EXPECT_NE(x, y);
  EXPECT_NE(x, gone);
  EXPECT_NE(y, gone);
  std::vector<unsigned char*> bx, by;
  for (int i = 0; i < 100; ++i) {
    bx.push_back(static_cast<unsigned char*>(slab_arena_alloc(x, 256, 16)));
    by.push_back(static_cast<unsigned char*>(slab_arena_alloc(y, 256, 16)));
    ASSERT_NE(bx.back(), nullptr);
    ASSERT_NE(by.back(), nullptr);
    std::memset(bx.back(), 0xAA, 256);
    std::memset(by.back(), 0x55, 256);
  }
  for (int i = 0; i < 100; ++i)
    for (int k = 0; k < 256; ++k) {
      ASSERT_EQ(bx[i][k], 0xAA);
      ASSERT_EQ(by[i][k], 0x55);
    }
  EXPECT_TRUE(slab_arena_destroy(x));
  EXPECT_TRUE(slab_arena_destroy(y));
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

TEST(DestroyedObjects, EveryCallOnAFreedAllocatorIsRefused) {
  SlabAllocator* live = slab_allocator_create();
  ASSERT_NE(live, nullptr);
  SlabHandle live_handle = 0;
  void* live_block = alloc_obj_epoch(live, 64, 0, &live_handle);
  ASSERT_NE(live_block, nullptr);

  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  SlabHandle h = 0;
  void* p = alloc_obj_epoch(a, 64, 0, &h);
  ASSERT_NE(p, nullptr);
  slab_allocator_free(a);
  slab_allocator_free(a);  // a second free: refused, not a crash
  expect_refused();

  EXPECT_EQ(slab_malloc_epoch(a, 64, 0), nullptr);
  expect_refused();
  EXPECT_EQ(slab_malloc_epoch(a, 1 << 20, 0), nullptr);
  expect_refused();
  EXPECT_EQ(slab_malloc_aligned_epoch(a, 64, 64, 0), nullptr);
  expect_refused();
  EXPECT_EQ(alloc_obj_epoch(a, 64, 0, &h), nullptr);
  expect_refused();
  EXPECT_FALSE(free_obj(a, h));
  expect_refused();
  EXPECT_FALSE(free_obj(a, live_handle));
  EXPECT_FALSE(slab_free_checked(a, live_block)) << "another allocator's block, through a freed one";
  expect_refused();
  slab_free(a, live_block);
  expect_refused();
  EXPECT_EQ(slab_handle_to_ptr(a, live_handle), nullptr);
  EXPECT_EQ(slab_ptr_to_handle(a, live_block), 0u);
  EXPECT_EQ(slab_usable_size(a, live_block), 0u);
  EXPECT_EQ(epoch_current(a), 0u);
  expect_refused();
  EXPECT_EQ(epoch_advance(a), 0u);
  expect_refused();
  EXPECT_FALSE(epoch_close(a, 0));
  expect_refused();
  EXPECT_FALSE(epoch_close_era(a, 0, 1));
  expect_refused();
  EXPECT_EQ(slab_epoch_state(a, 0), EPOCH_CLOSING);
  expect_refused();
  EXPECT_EQ(slab_epoch_era(a, 0), 0u);
  EXPECT_EQ(slab_epoch_count(a), 0u);
  EXPECT_FALSE(slab_epoch_set_label(a, 0, "x"));
  EXPECT_EQ(slab_epoch_inc_refcount(a, 0), 0u);
  EXPECT_EQ(slab_epoch_dec_refcount(a, 0), 0u);
  EXPECT_EQ(slab_epoch_get_refcount(a, 0), 0u);
  SlabEpochInfo info;
  EXPECT_FALSE(slab_epoch_info(a, 0, &info));
  EXPECT_EQ(slab_collect(a), 0u);
  EXPECT_EQ(slab_resident_bytes(a), 0u);
  PerfCounters pc;
  EXPECT_FALSE(get_perf_counters(a, 0, &pc));
  char message[128];
  EXPECT_FALSE(slab_check(a, message, sizeof message));
  SlabGlobalStats g = {};
  g.size = sizeof g;
  EXPECT_FALSE(slab_stats_global(a, &g));
  expect_refused();
  char text[256];
  EXPECT_EQ(slab_stats_json(a, text, sizeof text), 0u);
  expect_refused();
  EXPECT_EQ(epoch_domain_create(a), nullptr);
  expect_refused();
  EXPECT_EQ(epoch_domain_wrap(a, 0, true), nullptr);
  expect_refused();
  SlabArenaOptions o;
  ASSERT_TRUE(slab_arena_options_init(&o));
  EXPECT_EQ(slab_arena_create(a, &o), nullptr);
  expect_refused();

  // The other allocator's block went through all of that untouched.
  EXPECT_EQ(slab_handle_to_ptr(live, live_handle), live_block);
  EXPECT_TRUE(free_obj(live, live_handle));
  EXPECT_SLAB_CHECK_OK(live);
  slab_allocator_free(live);
}

TEST(DestroyedObjects, AFreedAllocatorsRecordIsNotReusedAtOnce) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  slab_allocator_free(a);
  std::vector<SlabAllocator*> later;
  for (int i = 0; i < 32; ++i) {
    later.push_back(slab_allocator_create());
    ASSERT_NE(later.back(), nullptr);
    EXPECT_NE(later.back(), a);
  }
  // Calls through the stale pointer still meet a dead allocator.
  EXPECT_EQ(slab_malloc_epoch(a, 64, 0), nullptr);
  expect_refused();
  for (SlabAllocator* b : later) slab_allocator_free(b);
}

TEST(DestroyedObjects, DomainOverAFreedAllocatorIsRefused) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  EpochDomain* d = epoch_domain_create(a);
  ASSERT_NE(d, nullptr);
  slab_allocator_free(a);
  // Each call's own reason, not a stale epoch: the allocator is gone.
  EXPECT_FALSE(epoch_domain_enter(d));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_FALSE(epoch_domain_force_close(d));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(epoch_domain_destroy(d));  // the domain itself is still live: destroy frees it
}

// Once a freed allocator's record goes to a new allocator (same address), what
// was kept from the old one (an era, a domain never entered, a domain entered
// and exited) names nothing of the new one: its eras are its own. Before, the
// new allocator's eras started at 1 as the old one's had, so the stale domain's
// destroy closed the new allocator's current epoch, and its enter held it.
TEST(DestroyedObjects, WhatWasKeptOfAFreedAllocatorLeavesTheOneAtItsAddressAlone) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  EpochDomain* never_entered = epoch_domain_create(a);
  ASSERT_NE(never_entered, nullptr);
  EpochDomain* entered = epoch_domain_wrap(a, 0, true);
  ASSERT_NE(entered, nullptr);
  ASSERT_TRUE(epoch_domain_enter(entered));
  ASSERT_TRUE(epoch_domain_exit(entered));
  const EpochId epoch = never_entered->epoch_id;
  const std::uint64_t era = never_entered->era;
  slab_allocator_free(a);
  SlabAllocator* b = nullptr;
  for (int i = 0; i < 1000 && b == nullptr; ++i) {
    SlabAllocator* c = slab_allocator_create();
    ASSERT_NE(c, nullptr);
    if (c == a)
      b = c;
    else
      slab_allocator_free(c);
  }
  ASSERT_EQ(b, a) << "the freed allocator's record was never reused";
  const std::uint64_t b_era = slab_epoch_era(b, epoch);
  EXPECT_NE(b_era, era);
  EXPECT_FALSE(epoch_close_era(b, epoch, era));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_EPOCH);
  EXPECT_FALSE(epoch_domain_enter(entered));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_EPOCH);
  EXPECT_EQ(slab_epoch_get_refcount(b, 0), 0u);
  EXPECT_TRUE(epoch_domain_destroy(never_entered));
  EXPECT_TRUE(epoch_domain_destroy(entered));
  EXPECT_EQ(slab_epoch_state(b, epoch), EPOCH_ACTIVE);
  EXPECT_EQ(slab_epoch_state(b, 0), EPOCH_ACTIVE);
  EXPECT_EQ(slab_epoch_era(b, epoch), b_era);
  void* p = slab_malloc_epoch(b, 64, epoch);
  EXPECT_NE(p, nullptr);
  EXPECT_TRUE(slab_free_checked(b, p));
  EXPECT_SLAB_CHECK_OK(b);
  slab_allocator_free(b);
}

SlabArena* new_arena(SlabAllocator* a, bool shared) {
  SlabArenaOptions o;
  if (!slab_arena_options_init(&o)) return nullptr;
  o.chunk_size = 64 * 1024;
  o.shared = shared;
  return slab_arena_create(a, &o);
}

// An allocator's end ends the arenas built on it: their chunks were its memory.
// Every later call on such an arena is refused but destroy, which frees its
// record, once. Many arenas ending at once never hand a record to a new arena
// while a stale pointer still names it (the records wait for their destroy).
TEST(DestroyedObjects, ArenasOverAFreedAllocatorAreRefusedUntilDestroyed) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  std::vector<SlabArena*> ended;
  for (int i = 0; i < 100; ++i) {
    ended.push_back(new_arena(a, i % 2 == 1));
    ASSERT_NE(ended.back(), nullptr);
    ASSERT_NE(slab_arena_alloc(ended.back(), 100, 8), nullptr);
    if (i % 10 == 0) {
      ASSERT_NE(slab_arena_alloc(ended.back(), 1 << 20, 64), nullptr);  // a chunk of its own
    }
  }
  slab_allocator_free(a);
  for (SlabArena* arena : ended) expect_arena_calls_refused(arena);
  SlabAllocator* b = slab_allocator_create();
  ASSERT_NE(b, nullptr);
  const std::set<SlabArena*> stale(ended.begin(), ended.end());
  std::vector<SlabArena*> later;
  for (int i = 0; i < 200; ++i) {
    later.push_back(new_arena(b, false));
    ASSERT_NE(later.back(), nullptr);
    EXPECT_EQ(stale.count(later.back()), 0u) << "a new arena got a record a stale pointer names";
  }
  for (SlabArena* arena : ended) {
    EXPECT_TRUE(slab_arena_destroy(arena));
    EXPECT_FALSE(slab_arena_destroy(arena));
    expect_refused();
  }
  for (SlabArena* arena : later) {
    EXPECT_NE(slab_arena_alloc(arena, 100, 8), nullptr);
    EXPECT_TRUE(slab_arena_destroy(arena));
  }
  EXPECT_SLAB_CHECK_OK(b);
  slab_allocator_free(b);
}

// An arena destroyed before its allocator leaves the allocator's list: the
// allocator's end later touches neither it nor whatever arena reuses its record.
TEST(DestroyedObjects, AnArenaDestroyedBeforeItsAllocatorIsNotEndedByIt) {
  SlabAllocator* c = slab_allocator_create();
  SlabAllocator* b = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  ASSERT_NE(b, nullptr);
  SlabArena* early = new_arena(c, false);
  ASSERT_NE(early, nullptr);
  ASSERT_TRUE(slab_arena_destroy(early));
  // Enough releases after it to pass the record pool's quarantine.
  std::vector<SlabArena*> churn;
  for (int i = 0; i < 70; ++i) {
    churn.push_back(new_arena(b, false));
    ASSERT_NE(churn.back(), nullptr);
  }
  for (SlabArena* arena : churn) ASSERT_TRUE(slab_arena_destroy(arena));
  // The pool hands out its oldest released record: create and destroy until
  // it is early's (older releases of other tests may come first).
  std::vector<SlabArena*> later;
  for (int i = 0; i < 10000 && later.empty(); ++i) {
    SlabArena* x = new_arena(b, false);
    ASSERT_NE(x, nullptr);
    if (x == early)
      later.push_back(x);
    else
      ASSERT_TRUE(slab_arena_destroy(x));
  }
  ASSERT_EQ(later.size(), 1u) << "the case under test: a live arena in the destroyed one's record";
  slab_allocator_free(c);
  for (SlabArena* arena : later) {
    EXPECT_NE(slab_arena_alloc(arena, 100, 8), nullptr) << "the end of c ended an arena of b";
    EXPECT_TRUE(slab_arena_destroy(arena));
  }
  slab_allocator_free(b);
}

}  // namespace
