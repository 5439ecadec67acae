// The allocator core never calls the system malloc (it will serve as malloc
// itself). This binary interposes malloc/calloc/realloc/free and counts calls
// made by a thread while it is inside a measured region of tslab calls.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "malloc_counter.h"
#include "slab_alloc.h"

TEST(NoSystemMalloc, InterpositionIsActive) {
  if (!MALLOC_COUNTER_ACTIVE) GTEST_SKIP() << "malloc belongs to the sanitizer in this build";
  {
    malloc_counter::MallocCounted m;
    void* volatile p = malloc(10);
    free(p);
  }
  EXPECT_EQ(malloc_counter::g_calls.exchange(0), 2u) << "the counting malloc must be the one in use";
}

TEST(NoSystemMalloc, EveryTslabCallServesItselfFromTheOs) {
  if (!MALLOC_COUNTER_ACTIVE) GTEST_SKIP() << "malloc belongs to the sanitizer in this build";
  std::vector<void*> blocks(20000);  // the test's own memory, outside the region
  std::vector<SlabHandle> handles(20000);
  malloc_counter::g_calls.store(0);
  SlabAllocator* a = nullptr;
  {
    malloc_counter::MallocCounted m;
    a = slab_allocator_create();
    ASSERT_NE(a, nullptr);
    for (std::size_t i = 0; i < blocks.size(); ++i)
      blocks[i] = slab_malloc_epoch(a, 1 + (i * 37) % 40000, i % 4);
    for (std::size_t i = 0; i < handles.size(); ++i)
      ASSERT_NE(alloc_obj_epoch(a, 128, 1, &handles[i]), nullptr);
    ASSERT_NE(slab_malloc_aligned_epoch(a, 100, 4096, 0), nullptr);
    epoch_advance(a);
    epoch_close(a, 2);
    char message[128];
    EXPECT_TRUE(slab_check(a, message, sizeof(message))) << message;
    PerfCounters pc;
    EXPECT_TRUE(get_perf_counters(a, 0, &pc));
    EXPECT_FALSE(slab_free_checked(a, &message[0]));  // error paths too
    EXPECT_FALSE(free_obj(a, 12345));
  }
  // Another thread frees half (remote frees) and exits (heap abandonment).
  std::thread t([&] {
    malloc_counter::MallocCounted m;
    for (std::size_t i = 0; i < blocks.size(); i += 2) EXPECT_TRUE(slab_free_checked(a, blocks[i]));
    for (std::size_t i = 0; i < handles.size(); i += 2) EXPECT_TRUE(free_obj(a, handles[i]));
  });
  t.join();
  {
    malloc_counter::MallocCounted m;
    for (std::size_t i = 1; i < blocks.size(); i += 2) EXPECT_TRUE(slab_free_checked(a, blocks[i]));
    for (std::size_t i = 1; i < handles.size(); i += 2) EXPECT_TRUE(free_obj(a, handles[i]));
    for (int i = 0; i < 1000; ++i) slab_free(a, slab_malloc_epoch(a, 64, 0));  // collects the remote frees
    slab_allocator_free(a);
  }
  EXPECT_EQ(malloc_counter::g_calls.load(), 0u) << "tslab called the system allocator";
}
