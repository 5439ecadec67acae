// This file contains the edges of burying an ended allocator's metadata chunks
// (segment/meta_arena.h), in a process of their own: the slots these tests fill
// would keep other tests' allocators from taking buried chunks.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>

#include "segment/meta_arena.h"
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

// Every slot full: a chunk buried then stays mapped (and zero) all the same. A
// thread that read a segment-map entry of the ended allocator may still read it;
// before, it was unmapped under that reader, which then faulted.
TEST(MetaBurial, AChunkBuriedWithEverySlotFullStaysReadable) {
  tslab::Platform& os = tslab::OsPlatform::instance();
  volatile unsigned char* last = nullptr;
  for (int i = 0; i < 1100; ++i) {  // more chunks than there are slots (1024)
    td::MetaArena ended(os, 0);
    auto* p = static_cast<unsigned char*>(ended.allocate(64));
    ASSERT_NE(p, nullptr);
    p[0] = 1;
    ended.bury(LATER);
    last = p;
  }
  EXPECT_EQ(td::MetaArena::buried_chunks(), 1024u) << "every slot taken";
  EXPECT_EQ(last[0], 0) << "mapped, and zero";
}

}  // namespace
