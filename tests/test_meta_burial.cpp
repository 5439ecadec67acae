// This file contains the edges of burying an ended allocator's metadata chunks
// (segment/meta_arena.h), in a process of their own: the chunks these tests
// bury for arenas "made later" would serve other tests' allocators.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include "platform/sanitizers.h"
#include "segment/meta_arena.h"
#include "slab_alloc.h"
#include "tslab/platform.hpp"

namespace td = tslab::detail;

namespace {

constexpr std::uint64_t LATER = std::uint64_t{1} << 62;  // above every real allocator's id

// Memory the OS will not decommit (locked: MADV_DONTNEED refuses it) is cleared
// by hand: the next arena takes a buried chunk as zero. Before, its old bytes
// stayed, and an allocator made later read its bins from them.
TEST(MetaBurial, AChunkTheOsWillNotDecommitIsClearedAllTheSame) {
  tslab::Platform& os = tslab::OsPlatform::instance();
  td::MetaArena ended(os, 0);
  auto* p = static_cast<unsigned char*>(ended.allocate(4096));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xAB, 4096);
  if (::mlock(p, 4096) != 0) GTEST_SKIP() << "mlock refused (RLIMIT_MEMLOCK)";
  ended.bury(LATER);
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < 4096; ++i) nonzero += p[i] != 0;
  EXPECT_EQ(nonzero, 0u);
  ::munlock(p, 4096);
}

// Chunks buried beyond a thousand are all kept for later arenas. Before, the
// burial had 1024 slots, and a chunk that found them full stayed mapped but
// forgotten: a program that kept more than about 500 allocators alive at once
// mapped new metadata for every such generation (the next test).
TEST(MetaBurial, ChunksBuriedBeyondAThousandAreAllKeptForLaterArenas) {
  if (TSLAB_THREAD_SANITIZER) GTEST_SKIP() << "ThreadSanitizer builds never take a buried chunk";
  tslab::Platform& os = tslab::OsPlatform::instance();
  constexpr int CHUNKS = 1100;
  const std::size_t at_start = td::MetaArena::buried_chunks();
  volatile unsigned char* last = nullptr;
  for (int i = 0; i < CHUNKS; ++i) {
    td::MetaArena ended(os, 0);
    auto* p = static_cast<unsigned char*>(ended.allocate(64));
    ASSERT_NE(p, nullptr);
    p[0] = 1;
    ended.bury(LATER);
    last = p;
  }
  EXPECT_EQ(td::MetaArena::buried_chunks(), at_start + CHUNKS) << "none forgotten";
  EXPECT_EQ(last[0], 0) << "mapped, and zero";
  {
    std::vector<std::unique_ptr<td::MetaArena>> later;
    for (int i = 0; i < CHUNKS; ++i) {
      later.push_back(std::make_unique<td::MetaArena>(os, LATER));
      ASSERT_NE(later.back()->allocate(64), nullptr);
    }
    EXPECT_EQ(td::MetaArena::buried_chunks(), at_start) << "every one taken again";
  }
}

// Generations of 1,100 allocators alive at once, each ended before the next
// generation is made: the later generations find all their metadata buried by
// the earlier ones and reserve no chunk of their own. Before, every chunk
// buried beyond 1,024 was forgotten, and each generation mapped about 220 MiB
// more address space.
TEST(MetaBurial, GenerationsOfAThousandLiveAllocatorsMapNoNewMetadata) {
  if (TSLAB_THREAD_SANITIZER) GTEST_SKIP() << "ThreadSanitizer builds never take a buried chunk";
  constexpr int ALIVE = 1100;
  std::vector<SlabAllocator*> alive(ALIVE);
  auto generation = [&alive] {
    for (SlabAllocator*& a : alive) {
      a = slab_allocator_create();
      ASSERT_NE(a, nullptr);
      void* p = slab_malloc_epoch(a, 64, 0);
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(slab_free_checked(a, p));
    }
    for (SlabAllocator* a : alive) slab_allocator_free(a);
  };
  generation();
  generation();
  const std::size_t settled = td::MetaArena::chunks_reserved();
  for (int i = 0; i < 4; ++i) generation();
  EXPECT_EQ(td::MetaArena::chunks_reserved(), settled) << "chunks reserved by 4 more generations";
}

// Allocators of every age alive together, the oldest ended and replaced: each
// grows its metadata past its first chunk in mid-life, when more than a hundred
// chunks were buried since it was made. It takes the chunks buried before it
// was made (the front of its list), so the chunks reserved stop growing once the
// first generation has ended. Before, takers looked at the top of a stack,
// where the newest burials lie, which such an allocator may not take: every
// allocator made reserved 2 chunks more, without end.
TEST(MetaBurial, AllocatorsOfEveryAgeAliveTogetherReuseTheBuriedMetadata) {
  if (TSLAB_THREAD_SANITIZER) GTEST_SKIP() << "ThreadSanitizer builds never take a buried chunk";
  constexpr std::size_t ALIVE = 200;
  std::deque<SlabAllocator*> alive;
  std::vector<void*> blocks;
  std::size_t settled = 0;
  for (int made = 1; made <= 600; ++made) {
    SlabAllocator* a = slab_allocator_create();
    ASSERT_NE(a, nullptr);
    alive.push_back(a);
    ASSERT_TRUE(slab_free_checked(a, slab_malloc_epoch(a, 64, 0)));
    if (alive.size() > ALIVE / 2) {
      // The middle-aged one grows: a slab per block, about 20 segments' headers.
      SlabAllocator* grown = alive[alive.size() - 1 - ALIVE / 2];
      for (int i = 0; i < 1300; ++i) {
        blocks.push_back(slab_malloc_epoch(grown, 60000, 0));
        ASSERT_NE(blocks.back(), nullptr);
      }
      for (void* p : blocks) ASSERT_TRUE(slab_free_checked(grown, p));
      blocks.clear();
    }
    if (alive.size() > ALIVE) {
      slab_allocator_free(alive.front());
      alive.pop_front();
    }
    if (made == 400) settled = td::MetaArena::chunks_reserved();
  }
  EXPECT_EQ(td::MetaArena::chunks_reserved(), settled) << "chunks reserved by the last 200 allocators made";
  for (SlabAllocator* a : alive) slab_allocator_free(a);
}

}  // namespace
