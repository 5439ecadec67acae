// This file contains the concurrency test of SpanChunks (platform/span_chunks.h):
// threads carving spans, giving them back and adding chunks at once never hold
// overlapping ranges, and a chunk handed back for unmapping holds no live span.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "platform/span_chunks.h"
#include "test_util.h"

namespace {

using tslab::detail::SpanChunks;
using Result = SpanChunks::Result;
constexpr std::uintptr_t G = SpanChunks::GRANULE;
constexpr std::uintptr_t CHUNK = SpanChunks::CHUNK;
constexpr std::uintptr_t BASE = std::uintptr_t{1} << 40;
constexpr std::size_t CHUNKS = 1024;  // addresses the threads may add chunks at

TEST(MtSpanChunks, SpansTakenAtOnceNeverOverlap) {
  auto table = std::make_unique<SpanChunks>();
  // Who holds each granule of the addresses chunks may be at: 0 for no one.
  auto owner = std::make_unique<std::atomic<std::uint8_t>[]>(CHUNKS * SpanChunks::GRANULES);
  std::atomic<std::size_t> next_chunk{0};
  std::atomic<std::size_t> overlaps{0}, live_in_unmapped{0}, failures{0};
  constexpr std::size_t THREADS = 4;
  const std::size_t rounds = tslab_test::scaled(20000);

  const auto granule = [&](std::uintptr_t at) -> std::atomic<std::uint8_t>& {
    return owner[(at - BASE) / G];
  };
  const auto claim = [&](std::uintptr_t at, std::size_t n, std::uint8_t me) {
    for (std::size_t i = 0; i < n; ++i) {
      std::uint8_t seen = 0;
      if (!granule(at + i * G).compare_exchange_strong(seen, me)) overlaps.fetch_add(1);
    }
  };
  const auto chunk_handed_back = [&](std::uintptr_t chunk) {
    for (std::uintptr_t at = chunk; at < chunk + CHUNK; at += G)
      if (granule(at).load() != 0) live_in_unmapped.fetch_add(1);
  };

  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < THREADS; ++t)
    threads.emplace_back([&, t] {
      const auto me = static_cast<std::uint8_t>(t + 1);
      std::mt19937 rng(static_cast<unsigned>(t));
      struct Span {
        std::uintptr_t at;
        std::size_t n;
      };
      std::vector<Span> live;
      for (std::size_t r = 0; r < rounds; ++r) {
        if (live.size() < 48 && rng() % 3 != 0) {
          const std::size_t n = 1 + rng() % SpanChunks::MAX_SPAN_GRANULES;
          const std::size_t alignment = rng() % 8 == 0 ? std::size_t{1} << (16 + rng() % 7) : G;
          std::uintptr_t at = 0;
          Result got = table->take(n * G, alignment, &at);
          if (got == Result::no_room) {
            const std::size_t c = next_chunk.fetch_add(1);
            if (c >= CHUNKS) {
              failures.fetch_add(1);
              return;
            }
            got = table->add_and_take(BASE + c * CHUNK, n * G, alignment, &at);
          }
          if (got != Result::done || at % alignment != 0) {
            failures.fetch_add(1);
            continue;
          }
          claim(at, n, me);
          live.push_back({at, n});
        } else if (!live.empty()) {
          const std::size_t k = rng() % live.size();
          const Span s = live[k];
          live[k] = live.back();
          live.pop_back();
          for (std::size_t i = 0; i < s.n; ++i) granule(s.at + i * G).store(0);
          std::uintptr_t unmap = 0;
          if (table->give_back(s.at, s.n * G, &unmap) != Result::done) failures.fetch_add(1);
          if (unmap != 0) chunk_handed_back(unmap);
        }
      }
      for (const Span& s : live) {
        for (std::size_t i = 0; i < s.n; ++i) granule(s.at + i * G).store(0);
        std::uintptr_t unmap = 0;
        if (table->give_back(s.at, s.n * G, &unmap) != Result::done) failures.fetch_add(1);
        if (unmap != 0) chunk_handed_back(unmap);
      }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0u) << "granules carved for two live spans";
  EXPECT_EQ(live_in_unmapped.load(), 0u) << "chunks handed back with live spans in them";
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_LE(table->chunk_count(), 1u) << "every span went back: one wholly free chunk is kept at most";
  EXPECT_LT(next_chunk.load(), 256u)
      << "chunks added: 4 threads x 48 spans of at most 1 MiB need 48 MiB at most";
}

}  // namespace
