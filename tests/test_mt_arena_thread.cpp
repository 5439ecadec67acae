// This file contains the concurrency tests of thread-local arenas and of the
// arena configuration: many threads started together read the TSLAB_ARENA_*
// configuration for the first time (all see identical values, or all see the
// same invalid one), and many threads create, use and drop their arenas at once
// (one arena each, all destroyed when their threads exit).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "arena/thread_arena.h"
#include "options/options.h"
#include "slab_arena.h"
#include "test_util.h"
#include "tslab/arena.hpp"

namespace {

using tslab::detail::thread_arenas_live_for_testing;
using tslab_test::scaled;
using tslab_test::SpinBarrier;

constexpr unsigned THREADS = 8;

// The environment and the options table are changed only while no other thread runs.
class ThreadArenaConcurrency : public ::testing::Test {
 protected:
  void SetUp() override { clean(); }
  void TearDown() override { clean(); }
  static void clean() {
    slab_thread_arena_destroy();
    for (const char* name : {"TSLAB_ARENA_SIZE", "TSLAB_ARENA_ZERO", "TSLAB_ARENA_OVERFLOW"})
      ::unsetenv(name);
    tslab::detail::options_reset_for_testing();
  }
};

struct Seen {
  bool options_ok = false;
  SlabArenaOptions options{};
  SlabArena* arena = nullptr;
  TslabError error = TSLAB_OK;
  SlabArenaStats stats{};
};

// Releases THREADS threads at once into the configuration's first use.
std::vector<Seen> first_use_together() {
  std::vector<Seen> seen(THREADS);
  SpinBarrier start(THREADS);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < THREADS; ++t) {
    threads.emplace_back([&, t] {
      Seen& mine = seen[t];
      start.arrive_and_wait();
      if (t % 2 == 0) {  // half go through the thread arena first, half through the options
        mine.arena = slab_thread_arena();
        mine.error = slab_last_error();
        mine.options_ok = slab_arena_options_init(&mine.options);
      } else {
        mine.options_ok = slab_arena_options_init(&mine.options);
        mine.arena = slab_thread_arena();
        mine.error = slab_last_error();
      }
      if (mine.arena != nullptr) {
        void* p = slab_thread_arena_alloc(100, 8);
        EXPECT_NE(p, nullptr);
        slab_arena_stats(mine.arena, &mine.stats);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return seen;
}

}  // namespace

TEST_F(ThreadArenaConcurrency, FirstUseOfTheConfigurationIsSeenIdenticallyByAll) {
  const std::size_t rounds = scaled(40);
  const std::uint64_t live = thread_arenas_live_for_testing();
  for (std::size_t round = 0; round < rounds; ++round) {
    // Single-threaded here: a new environment and an unloaded table for each round.
    const std::size_t kib = 64 << (round % 4);
    const std::string size = std::to_string(kib) + "k";
    ::setenv("TSLAB_ARENA_SIZE", size.c_str(), 1);
    ::setenv("TSLAB_ARENA_ZERO", round % 2 == 0 ? "yes" : "no", 1);
    ::setenv("TSLAB_ARENA_OVERFLOW", round % 3 == 0 ? "fallback" : "grow", 1);
    tslab::detail::options_reset_for_testing();
    const std::vector<Seen> seen = first_use_together();
    for (unsigned t = 0; t < THREADS; ++t) {
      const Seen& s = seen[t];
      ASSERT_TRUE(s.options_ok) << "round " << round << " thread " << t;
      ASSERT_NE(s.arena, nullptr) << "round " << round << " thread " << t;
      EXPECT_EQ(s.options.chunk_size, kib * 1024);
      EXPECT_EQ(s.options.zero_on_reset, round % 2 == 0);
      EXPECT_EQ(s.options.overflow,
                round % 3 == 0 ? TSLAB_ARENA_OVERFLOW_FALLBACK : TSLAB_ARENA_OVERFLOW_GROW);
      EXPECT_EQ(s.stats.capacity, kib * 1024 - 64);
      EXPECT_EQ(s.stats.bytes_used, 100u);
      EXPECT_EQ(std::memcmp(&s.options, &seen[0].options, sizeof s.options), 0);
    }
    ASSERT_EQ(thread_arenas_live_for_testing(), live) << "every thread's arena went with it";
  }
}

TEST_F(ThreadArenaConcurrency, FirstUseOfAnInvalidConfigurationFailsForAll) {
  for (const char* bad : {"TSLAB_ARENA_SIZE=lots", "TSLAB_ARENA_OVERFLOW=spill", "TSLAB_ARENA_ZERO=2"}) {
    const std::string assignment = bad;
    const std::string name = assignment.substr(0, assignment.find('='));
    ::setenv(name.c_str(), assignment.substr(assignment.find('=') + 1).c_str(), 1);
    tslab::detail::options_reset_for_testing();
    ::testing::internal::CaptureStderr();
    const std::vector<Seen> seen = first_use_together();
    const std::string err = ::testing::internal::GetCapturedStderr();
    for (const Seen& s : seen) {
      EXPECT_FALSE(s.options_ok) << bad;
      EXPECT_EQ(s.arena, nullptr) << bad;
      EXPECT_EQ(s.error, TSLAB_ERR_BAD_OPTION_VALUE) << bad;
    }
    ASSERT_NE(slab_arena_config_error(), nullptr);
    EXPECT_NE(std::string(slab_arena_config_error()).find(name), std::string::npos);
    // The table was read once: the message is printed once, not per thread.
    const std::size_t first = err.find(name);
    ASSERT_NE(first, std::string::npos) << err;
    EXPECT_EQ(err.find(name, first + name.size()), std::string::npos) << err;
    ::unsetenv(name.c_str());
  }
}

TEST_F(ThreadArenaConcurrency, ManyThreadsEachGetTheirOwnArenaAndDropItAtExit) {
  const std::uint64_t live = thread_arenas_live_for_testing();
  const std::size_t waves = scaled(30);
  for (std::size_t wave = 0; wave < waves; ++wave) {
    std::vector<SlabArena*> arenas(THREADS);
    std::vector<std::uintptr_t> blocks(THREADS);
    SpinBarrier start(THREADS);
    SpinBarrier all_created(THREADS);
    SpinBarrier counted(THREADS);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < THREADS; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        arenas[t] = slab_thread_arena();
        auto* p = static_cast<std::uint64_t*>(slab_thread_arena_alloc(4096, 64));
        if (p != nullptr) {
          for (int i = 0; i < 512; ++i) p[i] = t;
          blocks[t] = reinterpret_cast<std::uintptr_t>(p);
        }
        all_created.arrive_and_wait();  // every arena is alive at once here
        if (t == 0) {
          EXPECT_EQ(thread_arenas_live_for_testing(), live + THREADS);
        }
        counted.arrive_and_wait();
        if (p != nullptr) {
          for (int i = 0; i < 512; ++i) EXPECT_EQ(p[i], t);
        }
        if (wave % 2 == 1) slab_thread_arena_destroy();  // or leave it to the thread's exit
      });
    }
    for (std::thread& t : threads) t.join();
    std::set<SlabArena*> distinct(arenas.begin(), arenas.end());
    EXPECT_EQ(distinct.size(), THREADS);
    EXPECT_EQ(distinct.count(nullptr), 0u);
    EXPECT_EQ(std::set<std::uintptr_t>(blocks.begin(), blocks.end()).size(), THREADS);
    ASSERT_EQ(thread_arenas_live_for_testing(), live);
  }
}
