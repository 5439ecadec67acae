// This file contains the tests of what closes report: the drain report
// (slab_stats.h, "Drain report": what a close found still live in its epoch,
// the slabs and bytes those blocks pin, the drained closes and the drain rate)
// in the structs and in the JSON, Prometheus and summary texts; the
// close-latency histogram and the build information of the Prometheus text.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "size_class/size_classes.h"
#include "slab_stats.h"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"
#include "tslab/version.h"

namespace {

using tslab::detail::SLAB_SIZE;

constexpr std::size_t OBJ = 100;
const std::uint32_t CLS = slab_size_class_of(OBJ);

std::uintptr_t slab_of(const void* p) { return reinterpret_cast<std::uintptr_t>(p) & ~(SLAB_SIZE - 1); }

// Three slabs' worth of OBJ blocks in `epoch`, grouped by slab.
std::map<std::uintptr_t, std::vector<void*>> fill_three_slabs(tslab::Allocator& a, tslab::EpochId epoch) {
  const std::uint32_t capacity = tslab::detail::class_capacity(CLS);
  std::map<std::uintptr_t, std::vector<void*>> by_slab;
  for (std::uint32_t i = 0; i < 3 * capacity; ++i) {
    void* p = a.allocate(OBJ, epoch);
    EXPECT_NE(p, nullptr);
    by_slab[slab_of(p)].push_back(p);
  }
  return by_slab;
}

// Frees every block of `by_slab` but the first `keep_first` of the first slab
// and the first `keep_second` of the second; returns the blocks kept.
std::vector<void*> free_all_but(tslab::Allocator& a, std::map<std::uintptr_t, std::vector<void*>>& by_slab,
                                std::size_t keep_first, std::size_t keep_second) {
  std::vector<void*> kept;
  std::size_t slab = 0;
  for (auto& [start, blocks] : by_slab) {
    const std::size_t keep = slab == 0 ? keep_first : slab == 1 ? keep_second : 0;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (i < keep) {
        kept.push_back(blocks[i]);
      } else {
        a.deallocate(blocks[i]);
      }
    }
    ++slab;
  }
  return kept;
}

std::string allocator_id(const tslab::Allocator& a) {
  const std::string json = tslab::to_json(a);
  return std::to_string(std::stoull(json.substr(json.find("\"allocator\":") + 12)));
}

TEST(DrainReport, FreshAllocatorHasNoCloseAndARateOfOne) {
  tslab::Allocator a;
  const tslab::GlobalStats g = tslab::stats(a);
  EXPECT_EQ(g.epoch_close_calls_total, 0u);
  EXPECT_EQ(g.closes_drained_total, 0u);
  const tslab::EpochStats s = tslab::epoch_stats(a, a.epoch_current());
  EXPECT_EQ(s.last_close_drained, 0u);  // no close yet
  EXPECT_EQ(s.last_close_live_blocks, 0u);
  EXPECT_NE(tslab::to_json(a).find("\"close_drain_rate\":1,"), std::string::npos);
  EXPECT_NE(tslab::to_prometheus(a).find("tslab_close_drain_rate{allocator=\"" + allocator_id(a) + "\"} 1\n"),
            std::string::npos);
}

TEST(DrainReport, LiveBlocksPinTheirSlabsUntilTheNextActivationDrains) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  auto by_slab = fill_three_slabs(a, e);
  ASSERT_EQ(by_slab.size(), 3u);
  const std::vector<void*> kept = free_all_but(a, by_slab, 1, 5);  // K = 6 live in two slabs

  a.epoch_advance();  // closes e
  tslab::EpochStats s = tslab::epoch_stats(a, e);
  EXPECT_EQ(s.closes_total, 1u);
  EXPECT_EQ(s.last_close_live_blocks, kept.size());
  EXPECT_EQ(s.last_close_pinned_slabs, 2u);
  EXPECT_EQ(s.last_close_pinned_bytes, 2 * SLAB_SIZE);
  EXPECT_EQ(s.last_close_pinned_bytes, s.committed_bytes);  // the emptied slab is not pinned
  EXPECT_EQ(s.last_close_drained, 0u);
  EXPECT_EQ(s.closes_drained_total, 0u);
  tslab::GlobalStats g = tslab::stats(a);
  EXPECT_EQ(g.epoch_close_calls_total, 1u);
  EXPECT_EQ(g.closes_drained_total, 0u);

  // The report is the close's: freeing afterwards does not rewrite it.
  for (void* p : kept) a.deallocate(p);
  EXPECT_EQ(tslab::epoch_stats(a, e).last_close_live_blocks, kept.size());
  EXPECT_EQ(tslab::epoch_stats(a, e).live_blocks, 0u);

  // Round the ring back to slot e (every slot closed on the way is empty), then
  // close e's next activation, which nothing was allocated in.
  std::uint64_t advances = 0;
  while (a.epoch_current() != e) {
    a.epoch_advance();
    ++advances;
    ASSERT_LE(advances, a.epoch_count());
  }
  void* fresh = a.allocate(OBJ, e);
  ASSERT_NE(fresh, nullptr);
  a.deallocate(fresh);
  a.epoch_advance();
  s = tslab::epoch_stats(a, e);
  EXPECT_EQ(s.closes_total, 2u);
  EXPECT_EQ(s.last_close_live_blocks, 0u);
  EXPECT_EQ(s.last_close_pinned_slabs, 0u);
  EXPECT_EQ(s.last_close_pinned_bytes, 0u);
  EXPECT_EQ(s.last_close_drained, 1u);
  EXPECT_EQ(s.closes_drained_total, 1u);
  g = tslab::stats(a);
  EXPECT_EQ(g.epoch_close_calls_total, advances + 2);
  EXPECT_EQ(g.closes_drained_total, advances + 1);  // every close but the first
  const std::string json = tslab::to_json(a);
  char rate[64];
  std::snprintf(rate, sizeof rate, "\"close_drain_rate\":%.6g,",
                static_cast<double>(advances + 1) / static_cast<double>(advances + 2));
  EXPECT_NE(json.find(rate), std::string::npos) << json;
}

TEST(DrainReport, BlocksFreedByAnotherThreadAreNotLive) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  std::vector<void*> blocks;
  for (int i = 0; i < 200; ++i) blocks.push_back(a.allocate(OBJ, e));
  // Remote frees the owner has not collected yet: their remote bits clear them.
  std::thread([&] {
    for (std::size_t i = 1; i < blocks.size(); ++i) a.deallocate(blocks[i]);
  }).join();
  ASSERT_EQ(a.epoch_close(e), tslab::Error::ok);
  tslab::EpochStats s = tslab::epoch_stats(a, e);
  EXPECT_EQ(s.last_close_live_blocks, 1u);
  EXPECT_EQ(s.last_close_pinned_slabs, 1u);
  EXPECT_EQ(s.last_close_drained, 0u);
  a.deallocate(blocks[0]);
  // A second close of the same activation finds it drained.
  ASSERT_EQ(a.epoch_close(e), tslab::Error::ok);
  s = tslab::epoch_stats(a, e);
  EXPECT_EQ(s.last_close_live_blocks, 0u);
  EXPECT_EQ(s.last_close_drained, 1u);
  EXPECT_EQ(tslab::stats(a).closes_drained_total, 1u);
}

TEST(DrainReport, TextsCarryTheReport) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  auto by_slab = fill_three_slabs(a, e);
  const std::vector<void*> kept = free_all_but(a, by_slab, 3, 0);
  ASSERT_EQ(a.epoch_close(e), tslab::Error::ok);

  const std::string json = tslab::to_json(a);
  EXPECT_NE(json.find("\"closes_drained_total\":0,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"close_drain_rate\":0,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"last_close_live_blocks\":3,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"last_close_pinned_slabs\":1,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"last_close_pinned_bytes\":" + std::to_string(SLAB_SIZE) + ","), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"last_close_drained\":0}"), std::string::npos) << json;

  const std::string prom = tslab::to_prometheus(a), id = allocator_id(a);
  const std::string slot = "{allocator=\"" + id + "\",epoch=\"" + std::to_string(e) + "\"} ";
  EXPECT_NE(prom.find("# TYPE tslab_closes_drained_total counter\n"), std::string::npos);
  EXPECT_NE(prom.find("tslab_closes_drained_total{allocator=\"" + id + "\"} 0\n"), std::string::npos);
  EXPECT_NE(prom.find("# TYPE tslab_close_drain_rate gauge\n"), std::string::npos);
  EXPECT_NE(prom.find("tslab_close_drain_rate{allocator=\"" + id + "\"} 0\n"), std::string::npos);
  EXPECT_NE(prom.find("tslab_epoch_last_close_live_blocks" + slot + "3\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("tslab_epoch_last_close_pinned_slabs" + slot + "1\n"), std::string::npos);
  EXPECT_NE(prom.find("tslab_epoch_last_close_pinned_bytes" + slot + std::to_string(SLAB_SIZE) + "\n"),
            std::string::npos);
  EXPECT_NE(prom.find("tslab_epoch_last_close_drained" + slot + "0\n"), std::string::npos);
  EXPECT_NE(prom.find("tslab_epoch_closes_drained_total" + slot + "0\n"), std::string::npos);

  const std::string text = tslab::summary(a);
  EXPECT_NE(text.find("0 found the epoch drained (rate 0.00)"), std::string::npos) << text;
  EXPECT_NE(text.find("its last close left 3 blocks pinning 1 slabs"), std::string::npos) << text;
  for (void* p : kept) a.deallocate(p);
}

TEST(DrainReport, NewFieldsTakeReservedRoom) {
  // The structs keep the sizes they had before the drain report, so a caller
  // built against the older header is still served (copy_versioned refuses a
  // struct smaller than ours).
  EXPECT_EQ(sizeof(SlabGlobalStats), 448u);
  EXPECT_EQ(sizeof(SlabClassStats), 272u);
  EXPECT_EQ(sizeof(SlabEpochStats), 328u);
}

// The value of the sample whose line starts with `head`, or -1.
double sample(const std::string& text, const std::string& head) {
  const std::size_t at = text.find("\n" + head);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + 1 + head.size()));
}

TEST(CloseMetrics, TheHistogramCountsEveryCloseInCumulativeBuckets) {
  tslab::Allocator a;
  const std::string id = allocator_id(a);
  std::string prom = tslab::to_prometheus(a);
  EXPECT_NE(prom.find("# TYPE tslab_epoch_close_seconds histogram\n"), std::string::npos);
  EXPECT_EQ(sample(prom, "tslab_epoch_close_seconds_count{allocator=\"" + id + "\"} "), 0);

  constexpr int CLOSES = 5;
  for (int i = 0; i < CLOSES; ++i) {
    a.deallocate(a.allocate(OBJ, a.epoch_current()));
    a.epoch_advance();
  }
  prom = tslab::to_prometheus(a);
  const char* bounds[] = {"1e-05", "0.0001", "0.001", "0.01", "0.1", "1", "+Inf"};
  double previous = 0;
  for (const char* le : bounds) {
    const double n =
        sample(prom, "tslab_epoch_close_seconds_bucket{allocator=\"" + id + "\",le=\"" + le + "\"} ");
    EXPECT_GE(n, previous) << "le=" << le << " is cumulative";
    previous = n;
  }
  EXPECT_EQ(previous, CLOSES);  // +Inf holds every close
  EXPECT_EQ(sample(prom, "tslab_epoch_close_seconds_count{allocator=\"" + id + "\"} "), CLOSES);
  const tslab::GlobalStats g = tslab::stats(a);
  EXPECT_EQ(g.epoch_close_calls_total, static_cast<std::uint64_t>(CLOSES));
  const double sum = sample(prom, "tslab_epoch_close_seconds_sum{allocator=\"" + id + "\"} ");
  EXPECT_GT(sum, 0);
  EXPECT_NEAR(sum, static_cast<double>(g.close_ns_total) / 1e9, 1e-9);

  const std::string json = tslab::to_json(a);
  EXPECT_NE(json.find("\"close_seconds\":{\"buckets\":[{\"le\":1e-05,\"count\":"), std::string::npos) << json;
  EXPECT_NE(json.find("{\"le\":\"+Inf\",\"count\":5}],\"sum\":"), std::string::npos) << json;
  EXPECT_NE(json.find(",\"count\":5}},\"classes\":"), std::string::npos) << json;
}

TEST(CloseMetrics, BuildInfoNamesTheVersionOnce) {
  tslab::Allocator a, b;
  const std::string prom = tslab::to_prometheus(a);
  const std::string line = "tslab_build_info{version=\"" TSLAB_VERSION_STRING "\"} 1\n";
  EXPECT_NE(prom.find("# TYPE tslab_build_info gauge\n" + line), std::string::npos) << prom.substr(0, 300);
  EXPECT_EQ(prom.find(line), prom.rfind(line));
}

}  // namespace
