// This file contains the tests of arenas whose chunks are spans of their own
// (above 16 KiB): creating one with a 256 MiB chunk leaves the chunk's pages
// untouched (resident bytes of the allocator and of the process), reset zeroes
// only the bytes used, and every block handed out still reads as zero when its
// chunk, dedicated chunk or fallback block reuses a span some earlier block
// wrote, including one whose pages the platform refused to take back.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "forwarding_platform.h"
#include "slab_arena.h"
#include "test_util.h"
#include "tslab/arena.hpp"
#include "tslab/platform.hpp"
#include "tslab/tslab.hpp"

namespace {

constexpr std::size_t KiB = 1024, MiB = KiB * KiB;
constexpr std::size_t CHUNK_HEADER = 64;

tslab::ArenaOptions large_chunk_options(std::size_t chunk, TslabArenaOverflow overflow) {
  tslab::ArenaOptions o{};
  o.chunk_size = chunk;
  o.overflow = overflow;
  o.zero_on_reset = true;
  o.epoch = SLAB_ARENA_CURRENT_EPOCH;
  return o;
}

bool all_zero(const void* p, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (b[i] != 0) return false;
  return true;
}

// A span of `size` bytes that held 0xEE in every byte, freed back to `alloc`.
void* dirty_freed_span(tslab::Allocator& alloc, std::size_t size) {
  void* p = alloc.allocate(size, alloc.epoch_current());
  if (p == nullptr) return nullptr;
  std::memset(p, 0xEE, size);
  if (alloc.deallocate(p) != tslab::Error::ok) return nullptr;
  return p;
}

// The OS, except that decommit is refused while `refusing` is set: a freed
// span then keeps its bytes.
class DecommitRefusingPlatform final : public tslab_test::ForwardingPlatform {
 public:
  bool refusing = false;

  bool decommit(void* p, std::size_t size) noexcept override { return !refusing && os().decommit(p, size); }
};

}  // namespace

TEST(ArenaLargeChunks, CreationLeavesTheChunkUntouched) {
  constexpr std::size_t CHUNK = 256 * MiB;
  tslab::Allocator alloc;
  const std::uint64_t resident_before = alloc.resident_bytes();
  const std::uint64_t rss_before = read_rss_bytes_linux();
  tslab::Arena arena(alloc, large_chunk_options(CHUNK, TSLAB_ARENA_OVERFLOW_ERROR));
  ASSERT_TRUE(arena.ok()) << tslab::to_string(tslab::last_error());
  ASSERT_EQ(arena.stats().capacity, CHUNK - CHUNK_HEADER);
  // The chunk header's page and a little metadata, not the chunk.
  EXPECT_LT(alloc.resident_bytes(), resident_before + MiB);
  EXPECT_LT(read_rss_bytes_linux(), rss_before + 16 * MiB);

  // The blocks read as zero, and only the pages written become resident.
  auto* block = static_cast<unsigned char*>(arena.allocate(4 * MiB, 64));
  ASSERT_NE(block, nullptr);
  ASSERT_TRUE(all_zero(block, 4 * MiB));
  std::memset(block, 0x5A, 4 * MiB);
  auto* last = static_cast<unsigned char*>(arena.allocate(64, 64));
  ASSERT_NE(last, nullptr);
  EXPECT_TRUE(all_zero(last, 64));
  last[0] = 0x5A;
  const std::uint64_t resident_used = alloc.resident_bytes();
  EXPECT_GE(resident_used, resident_before + 4 * MiB);
  EXPECT_LT(resident_used, resident_before + 6 * MiB);

  // Reset zeroes the used bytes only: nothing beyond them becomes resident.
  ASSERT_EQ(arena.reset(), tslab::Error::ok);
  EXPECT_LT(alloc.resident_bytes(), resident_before + 6 * MiB);
  auto* again = static_cast<unsigned char*>(arena.allocate(4 * MiB + 64, 64));
  ASSERT_EQ(again, block);
  EXPECT_TRUE(all_zero(again, 4 * MiB + 64));
}

TEST(ArenaLargeChunks, AChunkReusingADirtySpanReadsAsZero) {
  constexpr std::size_t CHUNK = 8 * MiB;
  tslab::Allocator alloc;
  void* span = dirty_freed_span(alloc, CHUNK);
  ASSERT_NE(span, nullptr);
  tslab::Arena arena(alloc, large_chunk_options(CHUNK, TSLAB_ARENA_OVERFLOW_ERROR));
  ASSERT_TRUE(arena.ok());
  void* block = arena.allocate(CHUNK - CHUNK_HEADER, 64);
  ASSERT_EQ(block, static_cast<char*>(span) + CHUNK_HEADER) << "the arena did not reuse the freed span";
  EXPECT_TRUE(all_zero(block, CHUNK - CHUNK_HEADER));
  EXPECT_ALLOCATOR_OK(alloc);
}

TEST(ArenaLargeChunks, DedicatedChunksAndFallbackBlocksReusingDirtySpansReadAsZero) {
  constexpr std::size_t BLOCK = MiB - 2 * CHUNK_HEADER;  // with its chunk header, within a 1 MiB span
  for (TslabArenaOverflow policy : {TSLAB_ARENA_OVERFLOW_GROW, TSLAB_ARENA_OVERFLOW_FALLBACK}) {
    tslab::Allocator alloc;
    void* span = dirty_freed_span(alloc, MiB);
    ASSERT_NE(span, nullptr);
    // Chunks of 16 KiB are slab blocks: only the large block can take the span.
    tslab::Arena arena(alloc, large_chunk_options(16 * KiB, policy));
    ASSERT_TRUE(arena.ok());
    auto* block = static_cast<char*>(arena.allocate(BLOCK, 64));
    ASSERT_NE(block, nullptr) << "policy " << policy;
    ASSERT_GE(block, static_cast<char*>(span))
        << "the block does not reuse the freed span, policy " << policy;
    ASSERT_LT(block, static_cast<char*>(span) + MiB) << "policy " << policy;
    EXPECT_TRUE(all_zero(block, BLOCK)) << "policy " << policy;
    EXPECT_ALLOCATOR_OK(alloc);
  }
}

TEST(ArenaLargeChunks, ASpanWhosePagesTheOsKeptReadsAsZeroWhenReused) {
  constexpr std::size_t CHUNK = 8 * MiB;
  DecommitRefusingPlatform platform;
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator alloc(options);
  platform.refusing = true;
  void* span = dirty_freed_span(alloc, CHUNK);
  platform.refusing = false;
  ASSERT_NE(span, nullptr);
  tslab::Arena arena(alloc, large_chunk_options(CHUNK, TSLAB_ARENA_OVERFLOW_ERROR));
  ASSERT_TRUE(arena.ok());
  void* block = arena.allocate(CHUNK - CHUNK_HEADER, 64);
  ASSERT_EQ(block, static_cast<char*>(span) + CHUNK_HEADER) << "the arena did not reuse the freed span";
  EXPECT_TRUE(all_zero(block, CHUNK - CHUNK_HEADER));
  EXPECT_ALLOCATOR_OK(alloc);
}
