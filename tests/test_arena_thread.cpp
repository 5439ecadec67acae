// This file contains the tests of thread-local arenas (slab_thread_arena,
// tslab::ThreadArena) and of the arena configuration: lazy creation, one arena
// per thread, explicit destruction and re-creation, destruction at thread exit,
// re-entrant initialisation refused loudly without a second arena, and the
// TSLAB_ARENA_* options (valid values applied, invalid ones refused with a
// message naming the variable, a 512 MiB chunk taken without touching its pages).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "arena/thread_arena.h"
#include "options/options.h"
#include "slab_arena.h"
#include "test_util.h"
#include "tslab/arena.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab::detail::thread_arenas_live_for_testing;

constexpr const char* ARENA_VARIABLES[] = {"TSLAB_ARENA_SIZE", "TSLAB_ARENA_ZERO", "TSLAB_ARENA_OVERFLOW"};

// Every test starts and ends with no thread arena on this thread, the TSLAB_ARENA_*
// variables unset and the options table unloaded (single-threaded here).
class ThreadArena : public ::testing::Test {
 protected:
  void SetUp() override { clean(); }
  void TearDown() override {
    tslab::detail::set_thread_arena_init_hook_for_testing(nullptr, nullptr);
    clean();
  }
  static void clean() {
    slab_thread_arena_destroy();
    for (const char* name : ARENA_VARIABLES) ::unsetenv(name);
    tslab::detail::options_reset_for_testing();
  }
};

SlabArenaStats thread_stats() {
  SlabArenaStats s{};
  SlabArena* a = slab_thread_arena();
  EXPECT_NE(a, nullptr);
  if (a != nullptr) {
    EXPECT_TRUE(slab_arena_stats(a, &s));
  }
  return s;
}

}  // namespace

TEST_F(ThreadArena, CreatedLazilyOncePerThread) {
  const std::uint64_t live = thread_arenas_live_for_testing();
  SlabArena* a = slab_thread_arena();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(thread_arenas_live_for_testing(), live + 1);
  EXPECT_EQ(slab_thread_arena(), a);
  void* p = slab_thread_arena_alloc(100, 16);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(tslab_test::is_aligned(p, 16));
  EXPECT_EQ(thread_arenas_live_for_testing(), live + 1);
  SlabArena* other = nullptr;
  std::thread t([&] { other = slab_thread_arena(); });
  t.join();
  EXPECT_NE(other, nullptr);
  EXPECT_NE(other, a);
  EXPECT_EQ(thread_arenas_live_for_testing(), live + 1);  // the other thread's went with it
  // The defaults: 1 MiB chunks, zeroing, growth.
  const SlabArenaStats s = thread_stats();
  EXPECT_EQ(s.capacity, (1u << 20) - 64u);
  EXPECT_EQ(s.bytes_used, 100u);
}

TEST_F(ThreadArena, DestroyThenUseCreatesANewOne) {
  const std::uint64_t live = thread_arenas_live_for_testing();
  ASSERT_NE(slab_thread_arena_alloc(64, 8), nullptr);
  EXPECT_EQ(thread_arenas_live_for_testing(), live + 1);
  EXPECT_TRUE(slab_thread_arena_destroy());
  EXPECT_EQ(thread_arenas_live_for_testing(), live);
  EXPECT_TRUE(slab_thread_arena_destroy());  // none: nothing to do
  EXPECT_TRUE(slab_thread_arena_reset());    // none: nothing to do, nothing created
  EXPECT_EQ(thread_arenas_live_for_testing(), live);
  for (int round = 0; round < 5; ++round) {
    void* p = slab_thread_arena_alloc(64, 8);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(thread_stats().bytes_used, 64u);  // a fresh arena
    EXPECT_EQ(thread_arenas_live_for_testing(), live + 1);
    tslab::ThreadArena::destroy();
    EXPECT_EQ(thread_arenas_live_for_testing(), live);
  }
}

TEST_F(ThreadArena, ResetAndTheCppInterface) {
  struct Pair {
    int a, b;
  };
  Pair* p = tslab::ThreadArena::make<Pair>(Pair{1, 2});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->b, 2);
  EXPECT_GE(tslab::ThreadArena::stats().bytes_used, sizeof(Pair));
  tslab::ThreadArena::reset();
  EXPECT_EQ(tslab::ThreadArena::stats().bytes_used, 0u);
  EXPECT_EQ(tslab::ThreadArena::stats().resets, 1u);
  auto* again = static_cast<Pair*>(tslab::ThreadArena::allocate(sizeof(Pair), alignof(Pair)));
  EXPECT_EQ(static_cast<void*>(again), static_cast<void*>(p));
  EXPECT_EQ(again->a, 0);  // zeroed by the reset
  // A thread arena is not destroyed through slab_arena_destroy.
  EXPECT_FALSE(slab_arena_destroy(slab_thread_arena()));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_NE(tslab::ThreadArena::allocate(8), nullptr);
}

TEST_F(ThreadArena, DestroyedAtThreadExit) {
  const std::uint64_t live = thread_arenas_live_for_testing();
  for (int i = 0; i < 20; ++i) {
    std::thread t([&] {
      ASSERT_NE(slab_thread_arena_alloc(1000, 8), nullptr);
      EXPECT_EQ(thread_arenas_live_for_testing(), live + 1);
    });
    t.join();
    ASSERT_EQ(thread_arenas_live_for_testing(), live) << "thread " << i;
  }
  // A thread that destroys its arena and makes another one still leaves none behind.
  std::thread t([&] {
    ASSERT_NE(slab_thread_arena(), nullptr);
    slab_thread_arena_destroy();
    ASSERT_NE(slab_thread_arena(), nullptr);
  });
  t.join();
  EXPECT_EQ(thread_arenas_live_for_testing(), live);
}

namespace {

struct ReentryProbe {
  int calls = 0;
  SlabArena* inner = reinterpret_cast<SlabArena*>(1);
  TslabError inner_error = TSLAB_OK;
  void* inner_alloc = reinterpret_cast<void*>(1);
};

void reenter(void* arg) {
  auto* probe = static_cast<ReentryProbe*>(arg);
  ++probe->calls;
  probe->inner = slab_thread_arena();
  probe->inner_error = slab_last_error();
  probe->inner_alloc = slab_thread_arena_alloc(16, 8);
}

}  // namespace

TEST_F(ThreadArena, ReentrantInitialisationIsRefusedLoudlyAndCreatesOneArena) {
  const std::uint64_t live = thread_arenas_live_for_testing();
  ReentryProbe probe;
  tslab::detail::set_thread_arena_init_hook_for_testing(reenter, &probe);
  ::testing::internal::CaptureStderr();
  SlabArena* outer = slab_thread_arena();
  const std::string err = ::testing::internal::GetCapturedStderr();
  tslab::detail::set_thread_arena_init_hook_for_testing(nullptr, nullptr);
  ASSERT_NE(outer, nullptr);
  EXPECT_EQ(probe.calls, 1);  // the inner call did not run a creation of its own
  EXPECT_EQ(probe.inner, nullptr);
  EXPECT_EQ(probe.inner_error, TSLAB_ERR_REENTRANT);
  EXPECT_EQ(probe.inner_alloc, nullptr);
  EXPECT_NE(err.find("re-entrant"), std::string::npos) << err;
  EXPECT_NE(err.find("TSLAB_ERR_REENTRANT"), std::string::npos) << err;
  EXPECT_EQ(thread_arenas_live_for_testing(), live + 1);  // exactly one arena
  EXPECT_EQ(slab_thread_arena(), outer);
  EXPECT_EQ(thread_stats().bytes_used, 0u);  // the refused inner allocation took nothing
}

// --- configuration ----------------------------------------------------------------

TEST_F(ThreadArena, OptionsFromTheEnvironmentAreApplied) {
  ::setenv("TSLAB_ARENA_SIZE", "64k", 1);
  ::setenv("TSLAB_ARENA_ZERO", "off", 1);
  ::setenv("TSLAB_ARENA_OVERFLOW", "error", 1);
  tslab::detail::options_reset_for_testing();
  SlabArenaOptions o{};
  ASSERT_TRUE(slab_arena_options_init(&o));
  EXPECT_EQ(o.chunk_size, 64u * 1024u);
  EXPECT_FALSE(o.zero_on_reset);
  EXPECT_EQ(o.overflow, TSLAB_ARENA_OVERFLOW_ERROR);
  EXPECT_EQ(o.epoch, SLAB_ARENA_CURRENT_EPOCH);
  EXPECT_FALSE(o.shared);
  EXPECT_FALSE(o.close_epoch);
  EXPECT_EQ(o.buffer, nullptr);
  EXPECT_EQ(slab_arena_config_error(), nullptr);
  const SlabArenaStats s = thread_stats();
  EXPECT_EQ(s.capacity, 64u * 1024u - 64u);
  // Error policy: the arena fills up instead of growing.
  while (slab_thread_arena_alloc(1024, 8) != nullptr) {
  }
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_ARENA_FULL);
  EXPECT_EQ(thread_stats().chunks, 1u);
  // Zeroing off: the bytes survive a reset.
  slab_thread_arena_reset();
  auto* p = static_cast<unsigned char*>(slab_thread_arena_alloc(64, 8));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x99, 64);
  slab_thread_arena_reset();
  auto* q = static_cast<unsigned char*>(slab_thread_arena_alloc(64, 8));
  ASSERT_EQ(q, p);
  EXPECT_EQ(q[63], 0x99);
  // A new arena with NULL options gets the same values.
  tslab::Allocator alloc;
  SlabArena* arena = slab_arena_create(reinterpret_cast<SlabAllocator*>(alloc.core()), nullptr);
  ASSERT_NE(arena, nullptr);
  SlabArenaStats as{};
  ASSERT_TRUE(slab_arena_stats(arena, &as));
  EXPECT_EQ(as.capacity, 64u * 1024u - 64u);
  EXPECT_TRUE(slab_arena_destroy(arena));
}

TEST_F(ThreadArena, OptionsSetByTheProgramBeforeFirstUseAreApplied) {
  ::setenv("TSLAB_ARENA_SIZE", "64k", 1);
  tslab::detail::options_reset_for_testing();
  ASSERT_TRUE(tslab_option_set("TSLAB_ARENA_SIZE", "128k"));
  ASSERT_TRUE(tslab_option_set("TSLAB_ARENA_OVERFLOW", "fallback"));
  EXPECT_EQ(thread_stats().capacity, 128u * 1024u - 64u);
  SlabArenaOptions o{};
  ASSERT_TRUE(slab_arena_options_init(&o));
  EXPECT_EQ(o.overflow, TSLAB_ARENA_OVERFLOW_FALLBACK);
  EXPECT_FALSE(tslab_option_set("TSLAB_ARENA_SIZE", "256k"));  // read already
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_OPTIONS_FROZEN);
}

TEST_F(ThreadArena, ALargeArenaSizeTouchesNoPagesUntilUsed) {
  constexpr std::uint64_t MiB = 1024 * 1024;
  ::setenv("TSLAB_ARENA_SIZE", "512m", 1);
  tslab::detail::options_reset_for_testing();
  const std::uint64_t rss_before = read_rss_bytes_linux();
  const SlabArenaStats s = thread_stats();
  EXPECT_EQ(s.capacity, 512 * MiB - 64);
  EXPECT_LT(read_rss_bytes_linux(), rss_before + 32 * MiB) << "creating the arena touched its chunk";
  auto* p = static_cast<unsigned char*>(slab_thread_arena_alloc(MiB, 64));
  ASSERT_NE(p, nullptr);
  for (std::size_t i = 0; i < MiB; ++i) ASSERT_EQ(p[i], 0) << i;
}

namespace {

// With `name` set to `value`, thread-arena creation and default options fail, and
// the message names the variable.
void expect_refused(const char* name, const char* value) {
  ::setenv(name, value, 1);
  tslab::detail::options_reset_for_testing();
  const std::uint64_t live = thread_arenas_live_for_testing();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(slab_thread_arena(), nullptr) << name << "=" << value;
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  EXPECT_EQ(thread_arenas_live_for_testing(), live);
  EXPECT_EQ(slab_thread_arena_alloc(8, 8), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  const char* message = slab_arena_config_error();
  ASSERT_NE(message, nullptr);
  EXPECT_NE(std::string(message).find(name), std::string::npos) << message;
  EXPECT_NE(err.find(name), std::string::npos) << "printed on stderr at load: " << err;
  SlabArenaOptions o{};
  EXPECT_FALSE(slab_arena_options_init(&o));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  tslab::Allocator alloc;
  EXPECT_EQ(slab_arena_create(reinterpret_cast<SlabAllocator*>(alloc.core()), nullptr), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  tslab::Arena arena(alloc);
  EXPECT_FALSE(arena.ok());
  ::unsetenv(name);
  tslab::detail::options_reset_for_testing();
  EXPECT_NE(slab_thread_arena(), nullptr) << "valid again once the variable is gone";
  slab_thread_arena_destroy();
}

}  // namespace

TEST_F(ThreadArena, InvalidOptionsAreRefusedNamingTheVariable) {
  expect_refused("TSLAB_ARENA_SIZE", "12q");
  expect_refused("TSLAB_ARENA_SIZE", "99999999999999999999g");
  expect_refused("TSLAB_ARENA_SIZE", "1k");     // below the smallest chunk the table allows
  expect_refused("TSLAB_ARENA_SIZE", "1025m");  // above the largest (1 GiB)
  expect_refused("TSLAB_ARENA_ZERO", "maybe");
  expect_refused("TSLAB_ARENA_OVERFLOW", "sometimes");
  expect_refused("TSLAB_ARENA_OVERFLOW", "grow ");
}
