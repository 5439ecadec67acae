// This file contains the concurrency tests of SpanChunks (platform/span_chunks.h):
// threads carving spans, giving them back and adding chunks at once never hold
// overlapping ranges, and a chunk handed back for unmapping holds no live span;
// and a fork while another thread carves leaves the child a table it can use.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "platform/span_chunks.h"
#include "test_util.h"
#include "tslab/platform.hpp"

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

// The table's lock is held across fork(): a child forked while another thread
// was carving finds it free and whole, and carves and gives back in its turn.
TEST(MtSpanChunks, AChildForkedWhileAnotherThreadCarvesCarvesToo) {
  tslab::OsPlatform& os = tslab::OsPlatform::instance();
  constexpr std::size_t G = SpanChunks::GRANULE;
  std::atomic<bool> stop{false};
  std::thread carver([&] {
    while (!stop.load(std::memory_order_relaxed))
      for (std::size_t n = 1; n <= SpanChunks::MAX_SPAN_GRANULES; ++n) {
        auto* p = static_cast<char*>(os.reserve(n * G, G));
        if (p == nullptr) continue;
        p[0] = 1;
        os.release(p, n * G);
      }
  });
  const int forks = static_cast<int>(tslab_test::scaled(100));
  int hung = 0, failed = 0;
  for (int f = 0; f < forks; ++f) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(60);  // a table left locked would hang here
      for (int i = 0; i < 200; ++i) {
        auto* p = static_cast<char*>(os.reserve(((i % 16) + 1) * G, G));
        if (p == nullptr) ::_exit(2);
        p[0] = 1;
        os.release(p, ((i % 16) + 1) * G);
      }
      ::_exit(0);
    }
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
      ++hung;
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      ++failed;
  }
  stop = true;
  carver.join();
  EXPECT_EQ(hung, 0) << "children found the table locked by a thread they do not have";
  EXPECT_EQ(failed, 0);
}

}  // namespace
