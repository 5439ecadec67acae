// This file contains the tests of FreedRanges (platform/freed_ranges.h): the
// record of reservations given back whose addresses the next ones take.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>

#include "platform/freed_ranges.h"

namespace {

using tslab::detail::FreedRanges;
constexpr std::uintptr_t G = FreedRanges::GRANULE;
constexpr std::uintptr_t MiB = std::uintptr_t{1} << 20;
constexpr std::uintptr_t BASE = std::uintptr_t{1} << 40;  // 4 MiB-aligned

TEST(FreedRanges, OnlyWholeGranulesAreRecorded) {
  FreedRanges r;
  r.add(BASE + 4096, 4 * G);  // a stats buffer's page
  r.add(BASE, G + 4096);
  r.add(BASE, 0);
  EXPECT_EQ(r.count(), 0u);
  EXPECT_EQ(r.take(G, G), 0u);
  r.add(BASE, 2 * G);
  EXPECT_EQ(r.count(), 1u);
}

TEST(FreedRanges, AReservationTakesTheTopOfTheSmallestRangeItFits) {
  FreedRanges r;
  r.add(BASE, 8 * MiB);
  r.add(BASE + 64 * MiB, 4 * MiB);
  r.add(BASE + 128 * MiB, G);  // too small for what follows
  EXPECT_EQ(r.take(2 * MiB, G), BASE + 66 * MiB) << "the 4 MiB range, at its top";
  EXPECT_EQ(r.take(2 * MiB, G), BASE + 64 * MiB) << "what was left of it below";
  EXPECT_EQ(r.take(2 * MiB, G), BASE + 6 * MiB);
  EXPECT_EQ(r.take(7 * MiB, G), 0u) << "6 MiB are left at most";
  EXPECT_EQ(r.take(G, G), BASE + 128 * MiB);
  EXPECT_EQ(r.count(), 1u);
}

TEST(FreedRanges, AlignmentIsKeptAndASliverAboveIsDropped) {
  FreedRanges r;
  r.add(BASE + G, 8 * MiB);  // from one granule past 4 MiB alignment
  const std::uintptr_t at = r.take(4 * MiB, 4 * MiB);
  EXPECT_EQ(at % (4 * MiB), 0u);
  EXPECT_EQ(at, BASE + 4 * MiB);
  // Below it: [BASE + G, BASE + 4 MiB) stays; the granule above is dropped.
  EXPECT_EQ(r.take(4 * MiB - G, G), BASE + G);
  EXPECT_EQ(r.take(G, G), 0u);
  EXPECT_EQ(r.count(), 0u);
  // A range with no aligned place for the size is not taken.
  r.add(BASE + G, 4 * MiB);
  EXPECT_EQ(r.take(4 * MiB, 4 * MiB), 0u);
  EXPECT_EQ(r.count(), 1u);
}

TEST(FreedRanges, NeighboursMergeWhicheverWentBackFirst) {
  FreedRanges r;
  r.add(BASE + 2 * G, G);
  r.add(BASE, G);
  r.add(BASE + G, G);  // joins both
  EXPECT_EQ(r.count(), 1u);
  EXPECT_EQ(r.take(3 * G, G), BASE);
  EXPECT_EQ(r.count(), 0u);
}

TEST(FreedRanges, WhenFullTheSmallestRangeIsForgotten) {
  FreedRanges r;
  for (std::size_t i = 0; i < FreedRanges::CAPACITY; ++i) r.add(BASE + i * 16 * MiB, 2 * G);
  EXPECT_EQ(r.count(), FreedRanges::CAPACITY);
  r.add(BASE + 4096 * MiB, G);        // smaller than all: not kept
  r.add(BASE + 8192 * MiB, 4 * MiB);  // larger: takes a smallest one's place
  EXPECT_EQ(r.count(), FreedRanges::CAPACITY);
  EXPECT_EQ(r.take(4 * MiB, G), BASE + 8192 * MiB);
  EXPECT_EQ(r.take(G, G) % G, 0u);
}

TEST(FreedRanges, ARangeAnotherMappingTookIsForgotten) {
  FreedRanges r;
  r.add(BASE, 4 * MiB);
  r.add(BASE + 64 * MiB, 4 * MiB);
  r.forget(BASE + 2 * MiB, G);
  EXPECT_EQ(r.count(), 1u);
  EXPECT_EQ(r.take(4 * MiB, G), BASE + 64 * MiB);
}

TEST(FreedRanges, ATableHeldElsewhereIsLeftAloneUnlessItsHolderIsInAnotherProcess) {
  FreedRanges r;
  r.add(BASE, 4 * MiB);
  r.hold_for_testing(static_cast<int>(::getpid()));  // another thread of this process
  r.add(BASE + 64 * MiB, 4 * MiB);
  EXPECT_EQ(r.take(G, G), 0u) << "busy: nothing done";
  EXPECT_EQ(r.count(), 1u);
  // Held by a thread of the parent when this process was forked: taken over, emptied.
  r.hold_for_testing(static_cast<int>(::getpid()) + 1);
  EXPECT_EQ(r.take(G, G), 0u);
  EXPECT_EQ(r.count(), 0u);
  r.add(BASE, 4 * MiB);
  EXPECT_EQ(r.take(4 * MiB, G), BASE) << "free again";
}

}  // namespace
