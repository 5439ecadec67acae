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

// Every call on a dead arena is refused, its destroy included.
void expect_arena_refused(SlabArena* arena) {
  EXPECT_FALSE(slab_arena_destroy(arena));
  expect_refused();
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

TEST(DestroyedObjects, DomainDestroyedTwiceIsRefusedAndNeverHandedOutTwice) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  EpochDomain* d = epoch_domain_wrap(a, 0, false);  // no auto-close: destroy leaves epoch 0 open
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(epoch_domain_destroy(d));
  EXPECT_FALSE(epoch_domain_destroy(d));
  expect_refused();
  EXPECT_FALSE(epoch_domain_enter(d));
  expect_refused();
  EXPECT_FALSE(epoch_domain_exit(d));
  expect_refused();
  EXPECT_FALSE(epoch_domain_force_close(d));
  expect_refused();
  EXPECT_EQ(slab_epoch_state(a, 0), EPOCH_ACTIVE) << "a refused call changed the epoch";
  // The next creations are all distinct records, and none is the destroyed one.
  std::set<EpochDomain*> seen;
  std::vector<EpochDomain*> made;
  for (int i = 0; i < 16; ++i) {
    EpochDomain* e = epoch_domain_wrap(a, 0, false);
    ASSERT_NE(e, nullptr);
    EXPECT_NE(e, d);
    EXPECT_TRUE(seen.insert(e).second) << "two live domains share a record";
    made.push_back(e);
  }
  for (EpochDomain* e : made) EXPECT_TRUE(epoch_domain_destroy(e));
  slab_allocator_free(a);
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
  expect_arena_refused(gone);
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
  EXPECT_FALSE(epoch_domain_enter(d));
  EXPECT_FALSE(epoch_domain_force_close(d));
  // The close's own reason, not a stale epoch: the allocator is gone.
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(epoch_domain_destroy(d));  // the domain itself is still live: destroy frees it
}

// An allocator's end ends the arenas built on it: their chunks were its memory.
// Every later call on such an arena, its destroy included, is refused; the
// allocator's other arenas destroyed before it are unaffected.
TEST(DestroyedObjects, ArenasOverAFreedAllocatorAreRefused) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  SlabArenaOptions o;
  ASSERT_TRUE(slab_arena_options_init(&o));
  o.chunk_size = 64 * 1024;
  SlabArena* early = slab_arena_create(a, &o);
  SlabArena* plain = slab_arena_create(a, &o);
  o.shared = true;
  SlabArena* shared = slab_arena_create(a, &o);
  ASSERT_NE(early, nullptr);
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(shared, nullptr);
  for (SlabArena* arena : {plain, shared}) {
    ASSERT_NE(slab_arena_alloc(arena, 100, 8), nullptr);
    ASSERT_NE(slab_arena_alloc(arena, 1 << 20, 64), nullptr);  // a chunk of its own
  }
  EXPECT_TRUE(slab_arena_destroy(early));
  slab_allocator_free(a);
  for (SlabArena* arena : {plain, shared}) expect_arena_refused(arena);
  // Later arenas on a later allocator work, and never get a dead one's record twice.
  SlabAllocator* b = slab_allocator_create();
  ASSERT_NE(b, nullptr);
  std::set<SlabArena*> seen;
  for (int i = 0; i < 8; ++i) {
    SlabArena* arena = slab_arena_create(b, nullptr);
    ASSERT_NE(arena, nullptr);
    EXPECT_TRUE(seen.insert(arena).second);
    ASSERT_NE(slab_arena_alloc(arena, 100, 8), nullptr);
  }
  for (SlabArena* arena : seen) EXPECT_TRUE(slab_arena_destroy(arena));
  EXPECT_SLAB_CHECK_OK(b);
  slab_allocator_free(b);
}

}  // namespace
