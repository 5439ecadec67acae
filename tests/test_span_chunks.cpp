// This file contains the tests of SpanChunks (platform/span_chunks.h): the
// bookkeeping of the chunks large spans are carved out of, which maps nothing,
// so its chunks here are addresses only; and of the OS platform's ranges carved
// out of chunks.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "platform/span_chunks.h"
#include "tslab/platform.hpp"

namespace {

using tslab::detail::SpanChunks;
using Result = SpanChunks::Result;
constexpr std::uintptr_t G = SpanChunks::GRANULE;
constexpr std::uintptr_t MiB = std::uintptr_t{1} << 20;
constexpr std::uintptr_t CHUNK = SpanChunks::CHUNK;
constexpr std::uintptr_t A = std::uintptr_t{1} << 40;  // chunk-aligned
constexpr std::uintptr_t B = A + 8 * CHUNK;

std::unique_ptr<SpanChunks> table() { return std::make_unique<SpanChunks>(); }

std::uintptr_t take(SpanChunks& t, std::size_t size, std::size_t alignment = G) {
  std::uintptr_t at = 0;
  return t.take(size, alignment, &at) == Result::done ? at : 0;
}

std::uintptr_t give_back(SpanChunks& t, std::uintptr_t base, std::size_t size) {
  std::uintptr_t unmap = 0;
  EXPECT_EQ(t.give_back(base, size, &unmap), Result::done);
  return unmap;
}

TEST(SpanChunks, OnlySpansOfWholeGranulesUpToOneMiBAreCarved) {
  EXPECT_TRUE(SpanChunks::carves(G, G));
  EXPECT_TRUE(SpanChunks::carves(MiB, 4 * MiB));
  EXPECT_FALSE(SpanChunks::carves(MiB + G, G)) << "beyond 1 MiB: a mapping of its own";
  EXPECT_FALSE(SpanChunks::carves(G + 4096, G));
  EXPECT_FALSE(SpanChunks::carves(G, 4096)) << "below a granule: not a span";
  EXPECT_FALSE(SpanChunks::carves(G, 2 * CHUNK)) << "an alignment no chunk has";
  EXPECT_FALSE(SpanChunks::carves(G, 3 * G));
  EXPECT_FALSE(SpanChunks::carves(0, G));
}

TEST(SpanChunks, ATableWithoutChunksHasNoRoom) {
  auto t = table();
  std::uintptr_t at = 0;
  EXPECT_EQ(t->take(G, G, &at), Result::no_room);
  EXPECT_FALSE(t->holds(A));
}

TEST(SpanChunks, SpansTakeTheLowestFreeRunAndFreedOnesAreTakenAgain) {
  auto t = table();
  std::uintptr_t at = 0;
  ASSERT_EQ(t->add_and_take(A, G, G, &at), Result::done);
  EXPECT_EQ(at, A);
  EXPECT_EQ(take(*t, G), A + G);
  EXPECT_EQ(take(*t, G), A + 2 * G);
  EXPECT_TRUE(t->holds(A + G));
  EXPECT_EQ(give_back(*t, A + G, G), 0u);
  EXPECT_EQ(take(*t, 2 * G), A + 3 * G) << "the hole is one granule";
  EXPECT_EQ(take(*t, G), A + G) << "the hole, taken again";
  EXPECT_EQ(t->chunk_count(), 1u);
}

TEST(SpanChunks, AlignmentIsKept) {
  auto t = table();
  std::uintptr_t at = 0;
  ASSERT_EQ(t->add_and_take(A, G, G, &at), Result::done);
  EXPECT_EQ(take(*t, 2 * G, MiB), A + MiB);
  EXPECT_EQ(take(*t, G, 2 * MiB), A + 2 * MiB);
  EXPECT_EQ(take(*t, 3 * G), A + G) << "below the aligned ones";
  EXPECT_EQ(take(*t, G, CHUNK), 0u) << "the one place at that alignment is taken";
}

TEST(SpanChunks, TheChunkWhoseLongestRunIsTheShortestThatFitsIsTaken) {
  auto t = table();
  std::uintptr_t at = 0;
  ASSERT_EQ(t->add_and_take(A, MiB, G, &at), Result::done);
  ASSERT_EQ(t->add_and_take(B, 2 * G, G, &at), Result::done);
  // B: a hole of two granules, then a taken one, then free to its end.
  ASSERT_EQ(take(*t, G), B + 2 * G);
  ASSERT_EQ(give_back(*t, B, 2 * G), 0u);
  // Fill B's tail so that its longest run is the hole.
  std::vector<std::uintptr_t> tail;
  for (std::uintptr_t at_b = B + 3 * G; at_b < B + CHUNK; at_b += MiB) {
    const std::uintptr_t size = at_b + MiB <= B + CHUNK ? MiB : B + CHUNK - at_b;
    tail.push_back(take(*t, size));
  }
  EXPECT_EQ(take(*t, 2 * G), B) << "B's hole fits exactly; A has longer runs";
  EXPECT_EQ(take(*t, G), A + MiB) << "then A";
}

TEST(SpanChunks, AFullChunkHasNoRoom) {
  auto t = table();
  std::uintptr_t at = 0;
  ASSERT_EQ(t->add_and_take(A, MiB, G, &at), Result::done);
  for (std::size_t i = 1; i < CHUNK / MiB; ++i) ASSERT_EQ(take(*t, MiB), A + i * MiB);
  EXPECT_EQ(t->take(G, G, &at), Result::no_room);
  EXPECT_EQ(give_back(*t, A + 2 * MiB, G), 0u);
  EXPECT_EQ(take(*t, G), A + 2 * MiB);
}

TEST(SpanChunks, OneWhollyFreeChunkIsKeptAndASecondHandedBackForUnmapping) {
  auto t = table();
  std::uintptr_t at = 0;
  ASSERT_EQ(t->add_and_take(A, G, G, &at), Result::done);
  ASSERT_EQ(t->add_and_take(B, G, G, &at), Result::done);
  EXPECT_EQ(give_back(*t, A, G), 0u) << "the first wholly free chunk is kept";
  EXPECT_EQ(give_back(*t, B, G), B) << "a second goes";
  EXPECT_FALSE(t->holds(B));
  EXPECT_EQ(t->chunk_count(), 1u);
  std::uintptr_t unmap = 0;
  EXPECT_EQ(t->give_back(B, G, &unmap), Result::no_room) << "no chunk holds it any more";
  // A range given back twice frees nothing twice: the chunk is not handed back again.
  EXPECT_EQ(give_back(*t, A, G), 0u);
  EXPECT_EQ(t->chunk_count(), 1u);
  EXPECT_EQ(take(*t, G), A) << "the kept chunk serves the next span";
  ASSERT_EQ(t->drop_free_chunk(&unmap), Result::done);
  EXPECT_EQ(unmap, 0u) << "A is in use";
  EXPECT_EQ(give_back(*t, A, G), 0u);
  ASSERT_EQ(t->drop_free_chunk(&unmap), Result::done);
  EXPECT_EQ(unmap, A);
  EXPECT_EQ(t->chunk_count(), 0u);
}

TEST(SpanChunks, ChunksOutsideTheTablesAddressesAreRefused) {
  auto t = table();
  std::uintptr_t at = 0;
  EXPECT_EQ(t->add_and_take(A + G, G, G, &at), Result::no_room) << "not aligned to a chunk";
  EXPECT_EQ(t->add_and_take(SpanChunks::ADDRESS_LIMIT, G, G, &at), Result::no_room);
  EXPECT_EQ(t->add_and_take(0, G, G, &at), Result::no_room);
  EXPECT_FALSE(t->holds(SpanChunks::ADDRESS_LIMIT + G));
  EXPECT_EQ(t->chunk_count(), 0u);
}

TEST(SpanChunks, AFullTableHasNoRoomForAnotherChunk) {
  auto t = table();
  std::uintptr_t at = 0;
  for (std::size_t i = 0; i < SpanChunks::MAX_CHUNKS; ++i)
    ASSERT_EQ(t->add_and_take(A + i * CHUNK, MiB, G, &at), Result::done) << i;
  EXPECT_EQ(t->add_and_take(A + SpanChunks::MAX_CHUNKS * CHUNK, G, G, &at), Result::full);
  // A chunk handed back makes room for another.
  EXPECT_EQ(give_back(*t, A, MiB), 0u);
  EXPECT_EQ(give_back(*t, A + CHUNK, MiB), A + CHUNK);
  EXPECT_EQ(t->add_and_take(A + SpanChunks::MAX_CHUNKS * CHUNK, G, G, &at), Result::done);
  EXPECT_TRUE(t->holds(at));
}

TEST(SpanChunks, AChunkAddedWhollyFreeServesSpans) {
  auto t = table();
  ASSERT_EQ(t->add(A), Result::done);
  EXPECT_TRUE(t->holds(A + 3 * MiB));
  EXPECT_EQ(take(*t, MiB), A);
  EXPECT_EQ(t->add(A + G), Result::no_room) << "not a chunk's address";
}

// The OS platform's carved ranges (platform/os_platform.cpp).
constexpr std::size_t SPAN = 256 * 1024;

char* reserve_span() {
  return static_cast<char*>(tslab::OsPlatform::instance().reserve(SPAN, SpanChunks::GRANULE));
}

// A range given back comes again as a new one would: zero, whatever the block
// before it did to its pages (a locked page cannot be decommitted in place).
TEST(CarvedRanges, ARangeComesBackZeroedEvenFromLockedPages) {
  tslab::OsPlatform& os = tslab::OsPlatform::instance();
  char* p = reserve_span();
  ASSERT_NE(p, nullptr);
  if (::mlock(p, SPAN) != 0) GTEST_SKIP() << "mlock refused here (RLIMIT_MEMLOCK)";
  std::memset(p, 0xab, SPAN);
  os.release(p, SPAN);
  std::vector<char*> again;
  bool reused = false;
  for (int i = 0; i < 64 && !reused; ++i) {
    again.push_back(reserve_span());
    ASSERT_NE(again.back(), nullptr);
    reused = again.back() == p;
  }
  ASSERT_TRUE(reused) << "the range was not carved again";
  for (std::size_t i = 0; i < SPAN; ++i) ASSERT_EQ(p[i], 0) << "byte " << i << " kept the old block's data";
  EXPECT_EQ(::munlock(p, SPAN), 0);
  for (char* q : again) os.release(q, SPAN);
}

}  // namespace
