// With TSLAB_PIN_SAMPLE on, the record path (the unwinder included) and the
// grouping at a close never call the system malloc: in the malloc override they
// run inside malloc. This binary interposes malloc and counts calls made while a
// thread is inside the measured region (tests/malloc_counter.h).
#include <gtest/gtest.h>

#include <vector>

#include "core/allocator_core.h"
#include "malloc_counter.h"
#include "options/options.h"
#include "slab_alloc.h"
#include "tslab/options.h"

TEST(PinSampleNoSystemMalloc, SamplingAndClosingServeThemselvesFromTheOs) {
  if (!MALLOC_COUNTER_ACTIVE) GTEST_SKIP() << "malloc belongs to the sanitizer in this build";
  std::vector<void*> blocks(20000);  // the test's own memory, outside the region
  tslab::detail::options_reset_for_testing();
  ASSERT_TRUE(tslab_option_set("TSLAB_PIN_SAMPLE", "3"));
  malloc_counter::g_calls.store(0);
  SlabAllocator* a = nullptr;
  {
    malloc_counter::MallocCounted m;
    a = slab_allocator_create();
    ASSERT_NE(a, nullptr);
    const EpochId e = slab_epoch_open(a);
    for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i] = slab_malloc_epoch(a, 1 + (i * 37) % 4000, e);
    for (std::size_t i = 0; i < blocks.size(); i += 2) slab_free(a, blocks[i]);
    EXPECT_TRUE(epoch_close(a, e));
    for (std::size_t i = 1; i < blocks.size(); i += 2) slab_free(a, blocks[i]);
  }
  tslab::detail::options_reset_for_testing();
  EXPECT_EQ(malloc_counter::g_calls.load(), 0u);
  EXPECT_GT(reinterpret_cast<const tslab::detail::AllocatorCore*>(a)->pin_samples_recorded(), 0u);
  slab_allocator_free(a);
}
