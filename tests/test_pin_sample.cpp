// This file contains the tests of TSLAB_PIN_SAMPLE (core/pin_sample.h): the
// call sites whose sampled allocations still pin an epoch at its close, the
// report's text (slab_drain_report, tslab::drain_report) named with dladdr, the
// sampling rate, the untouched fast path when off, and closes racing sampling
// threads. The program exports its symbols (tests/CMakeLists.txt) so that
// dladdr names its functions.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "core/allocator_core.h"
#include "options/options.h"
#include "slab_alloc.h"
#include "slab_stats.h"
#include "tslab/options.h"
#include "tslab/stats.hpp"

// External linkage, so that the exported symbol table names them.
void keep_session_objects_alive(SlabAllocator* a, EpochId epoch, std::vector<void*>* kept);
void allocate_and_release_scratch(SlabAllocator* a, EpochId epoch);

constexpr std::size_t OBJ = 64;
constexpr int KEPT = 400;

// Allocates 1,000 blocks, frees all but KEPT of them.
[[gnu::noinline]] void keep_session_objects_alive(SlabAllocator* a, EpochId epoch, std::vector<void*>* kept) {
  std::vector<void*> all;
  for (int i = 0; i < 1000; ++i) all.push_back(slab_malloc_epoch(a, OBJ, epoch));
  for (int i = 0; i < 1000; ++i) {
    if (i % 5 < 2)
      kept->push_back(all[i]);
    else
      slab_free(a, all[i]);
  }
}

// Allocates 500 blocks and frees every one.
[[gnu::noinline]] void allocate_and_release_scratch(SlabAllocator* a, EpochId epoch) {
  std::vector<void*> all;
  for (int i = 0; i < 500; ++i) all.push_back(slab_malloc_epoch(a, OBJ, epoch));
  for (void* p : all) slab_free(a, p);
}

namespace {

// An allocator created with TSLAB_PIN_SAMPLE=`every` (read once, at creation);
// the options table is then forgotten again for the other tests.
SlabAllocator* create_sampling(const char* every) {
  tslab::detail::options_reset_for_testing();
  EXPECT_TRUE(tslab_option_set("TSLAB_PIN_SAMPLE", every));
  SlabAllocator* a = slab_allocator_create();
  tslab::detail::options_reset_for_testing();
  return a;
}

std::string drain_report(SlabAllocator* a, EpochId epoch) {
  const size_t needed = slab_drain_report(a, epoch, nullptr, 0);
  std::string text(needed, '\0');
  EXPECT_EQ(slab_drain_report(a, epoch, text.data(), needed + 1), needed);
  return text;
}

std::uint64_t slow_path_hits(SlabAllocator* a) {
  PerfCounters pc{};
  EXPECT_TRUE(get_perf_counters(a, slab_size_class_of(OBJ), &pc));
  return pc.slow_path_hits;
}

std::uint64_t recorded(SlabAllocator* a) {
  return reinterpret_cast<const tslab::detail::AllocatorCore*>(a)->pin_samples_recorded();
}

TEST(PinSample, TheSiteThatKeepsBlocksLiveIsNamedWithExactCountsAtOne) {
  SlabAllocator* a = create_sampling("1");
  ASSERT_NE(a, nullptr);
  const EpochId e = slab_epoch_open(a);
  ASSERT_NE(e, SLAB_NO_EPOCH);
  std::vector<void*> kept;
  allocate_and_release_scratch(a, e);  // its blocks are allocated again below
  keep_session_objects_alive(a, e, &kept);
  ASSERT_TRUE(epoch_close(a, e));

  const std::string text = drain_report(a, e);
  std::fputs(text.c_str(), stdout);
  EXPECT_NE(text.find("keep_session_objects_alive"), std::string::npos) << text;
  EXPECT_EQ(text.find("allocate_and_release_scratch"), std::string::npos) << text;
  EXPECT_NE(text.find("pin sampling 1 in 1 allocations: 400 live sampled blocks"), std::string::npos) << text;
  EXPECT_NE(text.find("site 1: 400 live sampled blocks, 25600 bytes"), std::string::npos) << text;
  EXPECT_EQ(text.find("site 2:"), std::string::npos) << text;
  // The first frame shown is the caller's, not tslab's own.
  const std::size_t first = text.find("#0 ");
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_NE(text.substr(first, text.find('\n', first) - first).find("keep_session_objects_alive"),
            std::string::npos)
      << text;
  EXPECT_EQ(recorded(a), 1500u);

  for (void* p : kept) slab_free(a, p);
  // Reopened and closed again with nothing live: drained, no site.
  const EpochId again = slab_epoch_open(a);
  ASSERT_EQ(again, e);
  ASSERT_TRUE(epoch_close(a, e));
  const std::string drained = drain_report(a, e);
  EXPECT_NE(drained.find("0 live sampled blocks"), std::string::npos) << drained;
  EXPECT_NE(drained.find("no sampled block pins it"), std::string::npos) << drained;
  EXPECT_EQ(drained.find("site 1"), std::string::npos) << drained;
  char message[256];
  EXPECT_TRUE(slab_check(a, message, sizeof message)) << message;
  slab_allocator_free(a);
}

TEST(PinSample, OffSaysSoAndLeavesTheFastPathAlone) {
  SlabAllocator* a = create_sampling("0");
  ASSERT_NE(a, nullptr);
  const EpochId e = epoch_current(a);
  slab_free(a, slab_malloc_epoch(a, OBJ, e));  // the bin is warm from here
  const std::uint64_t before = slow_path_hits(a);
  for (int i = 0; i < 10000; ++i) slab_free(a, slab_malloc_epoch(a, OBJ, e));
  EXPECT_EQ(slow_path_hits(a), before);
  EXPECT_EQ(recorded(a), 0u);
  std::vector<void*> kept;
  keep_session_objects_alive(a, e, &kept);
  epoch_advance(a);
  const std::string text = drain_report(a, e);
  EXPECT_NE(text.find("pin sampling is off"), std::string::npos) << text;
  EXPECT_EQ(text.find("keep_session_objects_alive"), std::string::npos) << text;
  for (void* p : kept) slab_free(a, p);
  slab_allocator_free(a);
}

TEST(PinSample, OnEveryAllocationTakesTheSlowPath) {
  SlabAllocator* a = create_sampling("1000");
  ASSERT_NE(a, nullptr);
  const EpochId e = epoch_current(a);
  slab_free(a, slab_malloc_epoch(a, OBJ, e));
  const std::uint64_t before = slow_path_hits(a);
  for (int i = 0; i < 1000; ++i) slab_free(a, slab_malloc_epoch(a, OBJ, e));
  EXPECT_EQ(slow_path_hits(a), before + 1000);
  slab_allocator_free(a);
}

TEST(PinSample, AboutOneInNIsRecorded) {
  SlabAllocator* a = create_sampling("100");
  ASSERT_NE(a, nullptr);
  const EpochId e = epoch_current(a);
  constexpr int N = 100000;
  for (int i = 0; i < N; ++i) slab_free(a, slab_malloc_epoch(a, OBJ, e));
  const std::uint64_t n = recorded(a);
  EXPECT_GE(n, N / 200u);  // 0.5 %
  EXPECT_LE(n, N / 50u);   // 2 %
  slab_allocator_free(a);
}

TEST(PinSample, ShowStatsPrintsTheReportsAfterTheSummary) {
  tslab::detail::options_reset_for_testing();
  ASSERT_TRUE(tslab_option_set("TSLAB_SHOW_STATS", "1"));
  ASSERT_TRUE(tslab_option_set("TSLAB_PIN_SAMPLE", "1"));
  testing::internal::CaptureStderr();
  {
    SlabAllocator* a = slab_allocator_create();
    const EpochId e = slab_epoch_open(a);
    std::vector<void*> kept;
    keep_session_objects_alive(a, e, &kept);
    epoch_close(a, e);
    for (void* p : kept) slab_free(a, p);
    slab_allocator_free(a);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  tslab::detail::options_reset_for_testing();
  const std::size_t summary = err.find("tslab allocator");
  const std::size_t pins = err.find("keep_session_objects_alive");
  EXPECT_NE(summary, std::string::npos) << err;
  EXPECT_NE(pins, std::string::npos) << err;
  EXPECT_LT(summary, pins) << err;
}

TEST(PinSample, NoCloseYetAndOutOfRange) {
  SlabAllocator* a = create_sampling("10");
  ASSERT_NE(a, nullptr);
  const std::string text = drain_report(a, 3);
  EXPECT_NE(text.find("pin sampling 1 in 10 allocations: no close sampled yet"), std::string::npos) << text;
  char buf[64] = "x";
  EXPECT_EQ(slab_drain_report(a, SLAB_MAX_EPOCH_COUNT, buf, sizeof buf), 0u);
  EXPECT_EQ(buf[0], '\0');
  EXPECT_EQ(slab_drain_report(nullptr, 0, buf, sizeof buf), 0u);
  slab_allocator_free(a);
}

TEST(PinSample, TheCppApiReadsTheReport) {
  tslab::detail::options_reset_for_testing();
  ASSERT_TRUE(tslab_option_set("TSLAB_PIN_SAMPLE", "1"));
  tslab::Allocator a;
  tslab::detail::options_reset_for_testing();
  const tslab::EpochId e = a.epoch_open();
  void* p = a.allocate(OBJ, e);
  ASSERT_EQ(a.epoch_close(e), tslab::Error::ok);
  const std::string text = tslab::drain_report(a, e);
  EXPECT_NE(text.find("1 live sampled blocks"), std::string::npos) << text;
  a.deallocate(p);
}

// A close's walk over the records never reads the slab metadata of a dormant
// segment: that would fault its pages back in.
TEST(PinSample, TheWalkLeavesDormantSegmentsAsleep) {
  tslab::detail::options_reset_for_testing();
  ASSERT_TRUE(tslab_option_set("TSLAB_PIN_SAMPLE", "1"));
  tslab::Allocator a;
  tslab::detail::options_reset_for_testing();
  ASSERT_EQ(a.set_warm_reserve(0), tslab::Error::ok);  // warm slabs keep their segment awake
  const std::size_t n = 4 * 64 * (65536 / 256);        // four segments' worth of 256 B blocks
  std::vector<void*> blocks(n);
  for (void*& p : blocks) ASSERT_NE(p = a.allocate(256, 1), nullptr);
  const std::uint64_t resident_full = a.resident_bytes();
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
  ASSERT_EQ(a.epoch_close(1), tslab::Error::ok);
  EXPECT_LE(a.resident_bytes(), resident_full / 100) << "data and metadata pages both went back";
  EXPECT_NE(tslab::drain_report(a, 1).find("0 live sampled blocks"), std::string::npos);
}

TEST(PinSample, ThreadsSamplingWhileEpochsClose) {
  SlabAllocator* a = create_sampling("7");
  ASSERT_NE(a, nullptr);
  constexpr std::uint64_t PER_THREAD = 20000;  // allocations each thread makes at least
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> allocations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<void*> ring(256, nullptr);
      std::uint64_t i = 0;
      while (i < PER_THREAD || !stop.load(std::memory_order_relaxed)) {
        void*& slot = ring[i++ % ring.size()];
        if (slot != nullptr) slab_free(a, slot);
        slot = slab_malloc_epoch(a, OBJ + 16 * static_cast<std::size_t>(t), epoch_current(a));
        allocations.fetch_add(1, std::memory_order_relaxed);
      }
      for (void* p : ring)
        if (p != nullptr) slab_free(a, p);
    });
  // Closes keep coming while the threads allocate: 200 of them at least, and
  // until every thread has made its share.
  std::string last;
  for (int round = 0; round < 200 || allocations.load(std::memory_order_relaxed) < 4 * PER_THREAD; ++round) {
    const EpochId closing = epoch_current(a);
    epoch_advance(a);
    last = drain_report(a, closing);
    EXPECT_NE(last.find("pin sampling 1 in 7"), std::string::npos) << last;
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();
  // About one in 7 of at least 80,000 allocations.
  EXPECT_GE(recorded(a), 4 * PER_THREAD / 14);
  EXPECT_LE(recorded(a), allocations.load() / 3);
  char message[256];
  EXPECT_TRUE(slab_check(a, message, sizeof message)) << message;
  slab_allocator_free(a);
}

}  // namespace
