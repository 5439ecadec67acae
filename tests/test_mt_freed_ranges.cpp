// This file contains the concurrency test of FreedRanges (platform/freed_ranges.h):
// threads recording and taking ranges at once never get overlapping ranges,
// and never one that was not recorded as free.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "platform/freed_ranges.h"
#include "test_util.h"

namespace {

using tslab::detail::FreedRanges;
constexpr std::uintptr_t G = FreedRanges::GRANULE;
constexpr std::uintptr_t BASE = std::uintptr_t{1} << 40;

TEST(MtFreedRanges, RangesTakenAtOnceNeverOverlap) {
  FreedRanges table;
  constexpr std::size_t THREADS = 4;
  const std::size_t rounds = tslab_test::scaled(20000);
  // Each thread gives back ranges of its own quarter of an address space and
  // takes ranges of 1-3 granules; what it takes it keeps.
  std::vector<std::vector<std::pair<std::uintptr_t, std::uintptr_t>>> taken(THREADS);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < THREADS; ++t)
    threads.emplace_back([&, t] {
      const std::uintptr_t own = BASE + t * (std::uintptr_t{1} << 36);
      for (std::size_t i = 0; i < rounds; ++i) {
        table.add(own + i * 8 * G, 4 * G);  // never adjacent: each added once
        const std::size_t size = (1 + i % 3) * G;
        if (const std::uintptr_t at = table.take(size, G)) taken[t].push_back({at, at + size});
      }
    });
  for (std::thread& t : threads) t.join();
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> all;
  for (const auto& mine : taken) all.insert(all.end(), mine.begin(), mine.end());
  ASSERT_FALSE(all.empty());
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto [begin, end] = all[i];
    // Inside one recorded range: [own + k * 8G, own + k * 8G + 4G).
    const std::uintptr_t offset = (begin - BASE) % (std::uintptr_t{1} << 36);
    EXPECT_LE(offset % (8 * G) + (end - begin), 4 * G) << std::hex << begin;
    if (i == 0) continue;
    EXPECT_LE(all[i - 1].second, begin) << "two takers got overlapping ranges at " << std::hex << begin;
  }
}

}  // namespace
