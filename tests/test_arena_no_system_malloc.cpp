// This file contains the test that arenas never call the system malloc: this
// binary interposes malloc/calloc/realloc/free (malloc_counter.h) and counts the
// calls a thread makes while it creates, fills, grows, resets and destroys
// arenas of every kind, thread-local ones included.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <thread>

#include "malloc_counter.h"
#include "slab_alloc.h"
#include "slab_arena.h"

namespace {

SlabArenaOptions options_for(std::size_t chunk, TslabArenaOverflow overflow, bool shared) {
  SlabArenaOptions o{};
  o.chunk_size = chunk;
  o.overflow = overflow;
  o.zero_on_reset = true;
  o.shared = shared;
  o.epoch = SLAB_ARENA_CURRENT_EPOCH;
  return o;
}

void exercise(SlabArena* a) {
  for (int i = 0; i < 5000; ++i)
    ASSERT_NE(slab_arena_alloc(a, 1 + (i * 37) % 3000, std::size_t{1} << (i % 9)), nullptr);
  EXPECT_EQ(slab_arena_alloc(a, 8, 3), nullptr);  // error paths too
  EXPECT_EQ(slab_arena_alloc(a, SIZE_MAX, 8), nullptr);
  SlabArenaStats s;
  EXPECT_TRUE(slab_arena_stats(a, &s));
  EXPECT_TRUE(slab_arena_reset(a));
  ASSERT_NE(slab_arena_alloc(a, 100, 16), nullptr);
}

}  // namespace

TEST(ArenaNoSystemMalloc, EveryArenaServesItselfFromTslabOrTheOs) {
  if (!MALLOC_COUNTER_ACTIVE) GTEST_SKIP() << "malloc belongs to the sanitizer in this build";
  static unsigned char buffer[8192];
  malloc_counter::g_calls.store(0);
  {
    malloc_counter::MallocCounted m;
    SlabAllocator* alloc = slab_allocator_create();
    ASSERT_NE(alloc, nullptr);
    for (TslabArenaOverflow policy : {TSLAB_ARENA_OVERFLOW_GROW, TSLAB_ARENA_OVERFLOW_FALLBACK}) {
      for (bool shared : {false, true}) {
        SlabArenaOptions o = options_for(16 * 1024, policy, shared);
        SlabArena* a = slab_arena_create(alloc, &o);
        ASSERT_NE(a, nullptr);
        exercise(a);
        EXPECT_TRUE(slab_arena_destroy(a));
      }
    }
    SlabArenaOptions epoch_arena = options_for(64 * 1024, TSLAB_ARENA_OVERFLOW_GROW, false);
    epoch_arena.epoch = 3;
    epoch_arena.close_epoch = true;
    SlabArena* a = slab_arena_create(alloc, &epoch_arena);
    ASSERT_NE(a, nullptr);
    exercise(a);
    EXPECT_TRUE(slab_arena_destroy(a));
    SlabArenaOptions buffered = options_for(0, TSLAB_ARENA_OVERFLOW_ERROR, false);
    buffered.buffer = buffer;
    buffered.buffer_size = sizeof buffer;
    a = slab_arena_create(nullptr, &buffered);
    ASSERT_NE(a, nullptr);
    EXPECT_NE(slab_arena_alloc(a, 100, 64), nullptr);
    EXPECT_TRUE(slab_arena_destroy(a));
    SlabArenaOptions defaults;
    EXPECT_TRUE(slab_arena_options_init(&defaults));
    for (int round = 0; round < 3; ++round) {
      ASSERT_NE(slab_thread_arena_alloc(200, 8), nullptr);
      EXPECT_TRUE(slab_thread_arena_reset());
      EXPECT_TRUE(slab_thread_arena_destroy());
    }
    slab_allocator_free(alloc);
  }
  // A thread's arena, created and dropped on another thread.
  std::thread t([] {
    malloc_counter::MallocCounted m;
    ASSERT_NE(slab_thread_arena_alloc(64, 8), nullptr);
    EXPECT_TRUE(slab_thread_arena_destroy());
  });
  t.join();
  EXPECT_EQ(malloc_counter::g_calls.load(), 0u) << "the arena code called the system allocator";
}
