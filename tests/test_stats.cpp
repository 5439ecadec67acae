// This file contains the tests of the statistics snapshots (slab_stats.h,
// tslab/stats.hpp): the meaning of every group of fields on constructed
// workloads, versioning, errors, and the JSON, Prometheus and summary texts.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/allocator_core.h"
#include "options/options.h"
#include "size_class/size_classes.h"
#include "slab_stats.h"
#include "stats/metrics_server.h"
#include "tslab/options.h"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

// The closes here record the process RSS around them: on for the whole binary,
// before any allocator reads the options.
const bool g_close_rss = tslab_option_set("TSLAB_CLOSE_RSS", "1");

using tslab::detail::SLAB_SIZE;

constexpr std::size_t OBJ = 100;  // one size class, below
const std::uint32_t CLS = slab_size_class_of(OBJ);

std::uintptr_t slab_of(const void* p) { return reinterpret_cast<std::uintptr_t>(p) & ~(SLAB_SIZE - 1); }

// Allocates exactly two slabs' worth of OBJ blocks in `epoch` and groups them by slab.
std::map<std::uintptr_t, std::vector<void*>> fill_two_slabs(tslab::Allocator& a, tslab::EpochId epoch) {
  const std::uint32_t capacity = tslab::detail::class_capacity(CLS);
  std::map<std::uintptr_t, std::vector<void*>> by_slab;
  for (std::uint32_t i = 0; i < 2 * capacity; ++i) {
    void* p = a.allocate(OBJ, epoch);
    EXPECT_NE(p, nullptr);
    by_slab[slab_of(p)].push_back(p);
  }
  return by_slab;
}

TEST(Stats, FreshAllocatorIsEmptyAndVersioned) {
  tslab::Allocator a;
  const tslab::GlobalStats g = tslab::stats(a);
  EXPECT_EQ(g.version, SLAB_STATS_VERSION);
  EXPECT_EQ(g.size, sizeof(SlabGlobalStats));
  EXPECT_EQ(g.epoch_count, a.epoch_count());
  EXPECT_EQ(g.size_class_count, slab_size_class_count());
  EXPECT_EQ(g.live_blocks, 0u);
  EXPECT_EQ(g.live_bytes, 0u);
  EXPECT_EQ(g.committed_bytes, 0u);
  EXPECT_EQ(g.slabs_partial + g.slabs_full + g.slabs_empty, 0u);
  EXPECT_EQ(g.epochs_active, a.epoch_count());
  EXPECT_EQ(g.new_slabs_total, 0u);
}

TEST(Stats, TheCurrentEpochFollowsAdvances) {
  tslab::Allocator a;
  EXPECT_EQ(tslab::stats(a).current_epoch, a.epoch_current());
  for (int i = 0; i < 3; ++i) {
    const tslab::EpochId next = a.epoch_advance();
    const tslab::GlobalStats g = tslab::stats(a);
    EXPECT_EQ(g.current_epoch, next);
    EXPECT_EQ(g.current_epoch, a.epoch_current());
  }
  const std::string fresh = tslab::to_json(a);
  const std::string uid = std::to_string(std::stoull(fresh.substr(fresh.find("\"allocator\":") + 12)));
  EXPECT_NE(tslab::to_prometheus(a).find("tslab_current_epoch{allocator=\"" + uid + "\"} " +
                                         std::to_string(a.epoch_current()) + "\n"),
            std::string::npos);
}

TEST(Stats, LiveCountsAreExactInEveryScope) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  const std::uint32_t block = tslab::detail::class_block_size(CLS);
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(a.allocate(OBJ, e));
  void* large = a.allocate(100 * 1024, e);
  ASSERT_NE(large, nullptr);

  const tslab::GlobalStats g = tslab::stats(a);
  EXPECT_EQ(g.live_blocks, 1001u);
  EXPECT_EQ(g.large_spans_live, 1u);
  EXPECT_GE(g.large_live_bytes, 100u * 1024);
  EXPECT_EQ(g.live_bytes, 1000u * block + g.large_live_bytes);
  EXPECT_EQ(g.new_slabs_total, 2u);  // 585 blocks of 112 bytes fill a 64 KiB slab

  const tslab::ClassStats c = tslab::class_stats(a, CLS);
  EXPECT_EQ(c.block_size_bytes, block);
  EXPECT_EQ(c.blocks_per_slab, SLAB_SIZE / block);
  EXPECT_EQ(c.live_blocks, 1000u);
  EXPECT_EQ(c.live_bytes, 1000u * block);
  EXPECT_EQ(c.slabs_full, 1u);
  EXPECT_EQ(c.slabs_partial, 1u);
  EXPECT_EQ(c.slabs_empty, 0u);
  EXPECT_EQ(c.committed_bytes, 2 * SLAB_SIZE);
  EXPECT_EQ(c.fragmentation_bytes, 2 * SLAB_SIZE - 1000u * block);
  EXPECT_GE(c.slow_path_total, 1u);

  const tslab::EpochStats whole = tslab::epoch_stats(a, e);
  EXPECT_EQ(whole.live_blocks, 1001u);
  EXPECT_EQ(whole.state, static_cast<std::uint64_t>(EPOCH_ACTIVE));
  EXPECT_EQ(whole.era, a.epoch_era(e));
  const tslab::EpochStats one_class = tslab::epoch_stats(a, e, CLS);
  EXPECT_EQ(one_class.live_blocks, 1000u);
  EXPECT_EQ(one_class.size_class, CLS);
  const tslab::EpochStats other = tslab::epoch_stats(a, (e + 1) % a.epoch_count());
  EXPECT_EQ(other.live_blocks, 0u);

  for (int i = 0; i < 400; ++i) a.deallocate(blocks[static_cast<std::size_t>(i)]);
  a.deallocate(large);
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.live_blocks, 600u);
  EXPECT_EQ(after.live_bytes, 600u * block);
  EXPECT_EQ(after.large_spans_live, 0u);
  for (std::size_t i = 400; i < blocks.size(); ++i) a.deallocate(blocks[i]);
}

// Minor page faults taken by the calling thread so far.
long thread_faults() {
  struct rusage usage {};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

// A snapshot of one allocator borrows the process's spare snapshot: after the
// first, no fresh page (a buffer mapped for each call cost 17 page faults and
// two system calls a call), and each one is exact, the spare's previous
// contents cleared.
TEST(Stats, SnapshotsOfOneAllocatorTakeNoFreshPages) {
  tslab::Allocator a, b;
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) blocks.push_back(a.allocate(OBJ));
  ASSERT_EQ(tslab::stats(a).live_blocks, 100u);  // the spare's pages, touched once
  const long before = thread_faults();
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(tslab::stats(a).live_blocks, 100u);
    ASSERT_EQ(tslab::stats(b).live_blocks, 0u) << "the previous snapshot's counts were cleared";
  }
  EXPECT_LT(thread_faults() - before, 20) << "200 snapshots";
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
}

TEST(Stats, EmptySlabOfAnOpenEpochIsReclaimable) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  auto by_slab = fill_two_slabs(a, e);
  ASSERT_EQ(by_slab.size(), 2u) << "two slabs' worth of blocks should fill exactly two slabs";
  const tslab::ClassStats full = tslab::class_stats(a, CLS);
  EXPECT_EQ(full.slabs_full, 2u);
  EXPECT_EQ(full.reclaimable_bytes, 0u);

  for (void* p : by_slab.begin()->second) a.deallocate(p);
  const std::uint32_t capacity = tslab::detail::class_capacity(CLS);
  const tslab::ClassStats c = tslab::class_stats(a, CLS);
  EXPECT_EQ(c.live_blocks, capacity);
  EXPECT_EQ(c.slabs_full, 1u);
  EXPECT_EQ(c.slabs_empty, 1u);
  EXPECT_EQ(c.reclaimable_slabs, 1u);
  EXPECT_EQ(c.reclaimable_bytes, SLAB_SIZE);
  EXPECT_EQ(c.committed_bytes, 2 * SLAB_SIZE);
  const tslab::GlobalStats g = tslab::stats(a);
  EXPECT_EQ(g.reclaimable_bytes, SLAB_SIZE);

  // collect() returns exactly what was reclaimable.
  EXPECT_EQ(a.collect(), SLAB_SIZE);
  const tslab::ClassStats after = tslab::class_stats(a, CLS);
  EXPECT_EQ(after.reclaimable_bytes, 0u);
  EXPECT_EQ(after.committed_bytes, SLAB_SIZE);
  EXPECT_EQ(tslab::stats(a).collect_calls_total, 1u);
  for (void* p : std::next(by_slab.begin())->second) a.deallocate(p);
}

TEST(Stats, ReclaimableFollowsEachSlabsEmptyStep) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  auto by_slab = fill_two_slabs(a, e);
  ASSERT_EQ(by_slab.size(), 2u);
  std::vector<void*>& first = by_slab.begin()->second;

  // Freed by another thread: the slab is empty, but reclaimable only once its
  // owner has collected the frees.
  std::thread other([&] {
    for (void* p : first) EXPECT_EQ(a.deallocate(p), tslab::Error::ok);
  });
  other.join();
  EXPECT_EQ(tslab::class_stats(a, CLS).slabs_empty, 1u);
  EXPECT_EQ(tslab::class_stats(a, CLS).reclaimable_slabs, 0u);
  void* p = a.allocate(OBJ, e);  // the bin is dry: the owner collects, then reuses one block
  ASSERT_NE(p, nullptr);
  tslab::ClassStats c = tslab::class_stats(a, CLS);
  EXPECT_EQ(c.reclaimable_slabs, 0u) << "the collected slab gave a block out again at once";
  EXPECT_EQ(c.live_blocks, tslab::detail::class_capacity(CLS) + 1);
  a.deallocate(p);
  c = tslab::class_stats(a, CLS);
  EXPECT_EQ(c.reclaimable_slabs, 1u);
  EXPECT_EQ(c.reclaimable_bytes, SLAB_SIZE);
  EXPECT_EQ(tslab::epoch_stats(a, e, CLS).reclaimable_bytes, SLAB_SIZE);
  EXPECT_EQ(tslab::epoch_stats(a, e).reclaimable_bytes, SLAB_SIZE);
  EXPECT_EQ(tslab::stats(a).reclaimable_bytes, SLAB_SIZE);
  EXPECT_TRUE(a.check().ok) << a.check().message;

  // Closing the epoch returns the empty slab: nothing is left to reclaim.
  for (void* q : std::next(by_slab.begin())->second) a.deallocate(q);
  EXPECT_EQ(tslab::class_stats(a, CLS).reclaimable_slabs, 2u);
  ASSERT_EQ(a.epoch_close(e), tslab::Error::ok);
  EXPECT_EQ(tslab::stats(a).reclaimable_bytes, 0u);
  EXPECT_EQ(tslab::epoch_stats(a, e).committed_bytes, 0u);
  EXPECT_TRUE(a.check().ok) << a.check().message;
}

TEST(Stats, FreesInAClosedEpochReturnPagesAndCountThem) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), tslab::Error::ok);  // each emptied slab goes back at once
  const tslab::EpochId e = a.epoch_current();
  auto by_slab = fill_two_slabs(a, e);
  ASSERT_EQ(by_slab.size(), 2u);
  const std::uint32_t capacity = tslab::detail::class_capacity(CLS);

  ASSERT_EQ(a.epoch_close(e, a.epoch_era(e)), tslab::Error::ok);
  tslab::EpochStats closed = tslab::epoch_stats(a, e);
  EXPECT_EQ(closed.state, static_cast<std::uint64_t>(EPOCH_CLOSING));
  EXPECT_EQ(closed.closes_total, 1u);
  EXPECT_EQ(closed.last_close_slabs_returned, 0u);  // every block was live
  EXPECT_EQ(closed.live_blocks, 2u * capacity);
  ASSERT_TRUE(g_close_rss);
  EXPECT_GT(closed.rss_after_last_close_bytes, 0u);
  const tslab::GlobalStats before = tslab::stats(a);
  EXPECT_EQ(before.epoch_close_calls_total, 1u);
  EXPECT_EQ(before.close_slabs_scanned_total, 2u);
  EXPECT_EQ(before.close_slabs_returned_total, 0u);
  EXPECT_GT(before.close_ns_total, 0u);

  // Freeing N blocks of the closed epoch: the slab they emptied goes back at once.
  for (void* p : by_slab.begin()->second) a.deallocate(p);
  closed = tslab::epoch_stats(a, e);
  EXPECT_EQ(closed.live_blocks, capacity);
  EXPECT_EQ(closed.live_bytes, std::uint64_t{capacity} * tslab::detail::class_block_size(CLS));
  EXPECT_EQ(closed.committed_bytes, SLAB_SIZE);
  EXPECT_EQ(closed.slabs_empty, 1u);
  EXPECT_EQ(closed.reclaimable_bytes, 0u);  // already returned, nothing left to reclaim
  const tslab::GlobalStats after = tslab::stats(a);
  EXPECT_EQ(after.decommit_calls_total, before.decommit_calls_total + 1);
  EXPECT_EQ(after.decommit_bytes_total, before.decommit_bytes_total + SLAB_SIZE);
  EXPECT_EQ(after.decommit_failures_total, 0u);

  for (void* p : std::next(by_slab.begin())->second) a.deallocate(p);
  closed = tslab::epoch_stats(a, e);
  EXPECT_EQ(closed.live_blocks, 0u);
  EXPECT_EQ(closed.committed_bytes, 0u);
}

TEST(Stats, CloseThatFindsEmptySlabsReportsThem) {
  tslab::Allocator a;
  ASSERT_EQ(a.set_warm_reserve(0), tslab::Error::ok);  // the close returns them, not the reserve
  const tslab::EpochId e = a.epoch_current();
  auto by_slab = fill_two_slabs(a, e);
  for (auto& [slab, blocks] : by_slab)
    for (void* p : blocks) a.deallocate(p);
  ASSERT_EQ(a.epoch_close(e), tslab::Error::ok);
  const tslab::EpochStats s = tslab::epoch_stats(a, e);
  EXPECT_EQ(s.last_close_slabs_returned, 2u);
  EXPECT_EQ(s.committed_bytes, 0u);
  EXPECT_GE(tslab::stats(a).decommit_bytes_total, 2 * SLAB_SIZE);
}

TEST(Stats, RejectionsAndInvalidFreesAreCounted) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  ASSERT_EQ(a.epoch_close(e), tslab::Error::ok);
  EXPECT_EQ(a.allocate(64, e), nullptr);
  EXPECT_EQ(a.allocate(64, e), nullptr);
  EXPECT_EQ(a.allocate(1 << 20, e), nullptr);
  EXPECT_EQ(tslab::stats(a).closing_rejections_total, 3u);
  EXPECT_EQ(tslab::epoch_stats(a, e).closing_rejections_total, 3u);

  const tslab::EpochId live = a.epoch_advance();
  void* p = a.allocate(64, live);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(p), tslab::Error::ok);
  EXPECT_EQ(a.deallocate(p), tslab::Error::double_free);
  int on_stack = 0;
  EXPECT_NE(a.deallocate(&on_stack), tslab::Error::ok);
  EXPECT_NE(a.free_handle(12345), tslab::Error::ok);
  EXPECT_EQ(tslab::stats(a).invalid_frees_total, 3u);
}

TEST(Stats, RemoteFreesCollectedByTheOwner) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  const std::uint32_t capacity = tslab::detail::class_capacity(CLS);
  std::vector<void*> blocks;
  for (std::uint32_t i = 0; i < capacity; ++i) blocks.push_back(a.allocate(OBJ, e));
  std::thread other([&] {
    for (void* p : blocks) EXPECT_EQ(a.deallocate(p), tslab::Error::ok);
  });
  other.join();
  EXPECT_EQ(tslab::stats(a).remote_frees_collected_total, 0u);  // not collected yet
  EXPECT_EQ(tslab::stats(a).live_blocks, 0u);                   // but no longer live
  void* p = a.allocate(OBJ, e);                                 // the bin is empty: the slow path collects
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(tslab::stats(a).remote_frees_collected_total, capacity);
  EXPECT_EQ(tslab::class_stats(a, CLS).remote_frees_collected_total, capacity);
  a.deallocate(p);
}

TEST(Stats, ThreadsAttachedAbandonedAndAdopted) {
  tslab::Allocator a;
  std::thread first([&] { a.deallocate(a.allocate(64)); });
  first.join();
  tslab::GlobalStats g = tslab::stats(a);
  EXPECT_EQ(g.threads_attached, 0u);
  EXPECT_EQ(g.heaps_abandoned, 1u);
  EXPECT_EQ(g.thread_adoptions_total, 0u);
  std::thread second([&] {
    a.deallocate(a.allocate(64));
    EXPECT_EQ(tslab::stats(a).threads_attached, 1u);
  });
  second.join();
  g = tslab::stats(a);
  EXPECT_EQ(g.thread_adoptions_total, 1u);
  EXPECT_GE(g.lock_acquisitions_total, 2u);
  EXPECT_GE(g.lock_acquisitions_total, g.lock_waits_total);
}

TEST(Stats, LabelRefcountAndMemoryFigures) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  ASSERT_EQ(a.set_epoch_label(e, "frame"), tslab::Error::ok);
  SlabAllocator* c = a.c_allocator();
  slab_epoch_inc_refcount(c, e);
  void* p = a.allocate(4000, e);
  const tslab::EpochStats s = tslab::epoch_stats(a, e);
  EXPECT_STREQ(s.label, "frame");
  EXPECT_EQ(s.refcount, 1u);
  EXPECT_GT(s.open_since_ns, 0u);
  const tslab::GlobalStats g = tslab::stats(a);
  EXPECT_GE(g.reserved_bytes, g.committed_bytes);
  EXPECT_GT(g.metadata_bytes, 0u);
  EXPECT_GT(g.resident_bytes, 0u);
  a.deallocate(p);
  slab_epoch_dec_refcount(c, e);
}

// The allocator's own record (its state, its per-epoch and per-class tables)
// counts in its metadata and resident bytes: the constructor writes all of it,
// so a fresh allocator costs the process that much before its first block.
TEST(Stats, MetadataCountsTheAllocatorsOwnRecord) {
  tslab::Allocator a;
  const tslab::GlobalStats g = tslab::stats(a);
  EXPECT_GE(g.metadata_bytes, sizeof(tslab::detail::AllocatorCore));
  EXPECT_GE(g.resident_bytes, g.metadata_bytes);
}

TEST(Stats, VersionedSizeAndErrors) {
  tslab::Allocator a;
  SlabAllocator* c = a.c_allocator();
  SlabGlobalStats g{};
  g.size = 8;  // older than any version
  EXPECT_FALSE(slab_stats_global(c, &g));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);

  struct Bigger {
    SlabGlobalStats stats;
    std::uint64_t future[8];
  } big{};
  big.stats.size = sizeof big;
  std::memset(big.future, 0xAB, sizeof big.future);
  EXPECT_TRUE(slab_stats_global(c, &big.stats));
  EXPECT_EQ(big.stats.size, sizeof(SlabGlobalStats));
  EXPECT_EQ(big.future[0], 0xABABABABABABABABull);  // nothing written past what we have

  EXPECT_FALSE(slab_stats_global(nullptr, &g));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_FALSE(slab_stats_global(c, nullptr));
  SlabClassStats cs{};
  EXPECT_FALSE(slab_stats_class(c, slab_size_class_count(), &cs));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  SlabEpochStats es{};
  EXPECT_FALSE(slab_stats_epoch(c, SLAB_STATS_ALL_CLASSES, a.epoch_count(), &es));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  EXPECT_FALSE(slab_stats_epoch(c, slab_size_class_count(), 0, &es));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tslab::epoch_stats(a, a.epoch_count()).version, 0u);
  EXPECT_EQ(slab_stats_json(nullptr, nullptr, 0), 0u);
}

// --- texts ------------------------------------------------------------------

TEST(StatsText, JsonHasEveryFieldWithItsValue) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  a.set_epoch_label(e, "req \"7\"\\x");
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(a.allocate(OBJ, e));
  const std::string json = tslab::to_json(a);
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
#define TSLAB_EXPECT_KEY_(name, type, unit, help) \
  EXPECT_NE(json.find("\"" #name "\":"), std::string::npos) << #name;
  SLAB_GLOBAL_STATS_FIELDS(TSLAB_EXPECT_KEY_)
  SLAB_CLASS_STATS_FIELDS(TSLAB_EXPECT_KEY_)
  SLAB_EPOCH_STATS_FIELDS(TSLAB_EXPECT_KEY_)
#undef TSLAB_EXPECT_KEY_
  EXPECT_NE(json.find("\"global\":{\"epoch_count\":16,\"size_class_count\":80,\"live_blocks\":1000,"),
            std::string::npos)
      << json.substr(0, 200);
  EXPECT_NE(json.find("\"label\":\"req \\\"7\\\"\\\\x\""), std::string::npos);
  // Balanced, with no stray control characters.
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char ch = json[i];
    ASSERT_GE(static_cast<unsigned char>(ch), 0x20);
    if (in_string) {
      if (ch == '\\')
        ++i;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '{' || ch == '[') {
      ++depth;
    } else if (ch == '}' || ch == ']') {
      ASSERT_GT(depth, 0);
      --depth;
    }
  }
  EXPECT_EQ(depth, 0);
  for (void* p : blocks) a.deallocate(p);
}

// True if `s` is well-formed UTF-8 (RFC 3629).
bool is_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80                   ? 1
                    : (c >= 0xC2 && c <= 0xDF) ? 2
                    : (c >= 0xE0 && c <= 0xEF) ? 3
                    : (c >= 0xF0 && c <= 0xF4) ? 4
                                               : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

TEST(StatsText, LabelsStayUtf8) {
  tslab::Allocator a;
  // 30 ASCII bytes and a two-byte character: the label keeps 31 bytes at most,
  // and must not keep the character's first byte alone.
  const std::string long_label = std::string(30, 'a') + "\xC3\xA9";
  ASSERT_EQ(a.set_epoch_label(0, long_label.c_str()), tslab::Error::ok);
  EXPECT_EQ(std::string(a.epoch_info(0).label), std::string(30, 'a'));
  // Bytes that are not UTF-8 at all are replaced in both texts.
  ASSERT_EQ(a.set_epoch_label(1,
                              "bad\xFF\xFE"
                              "end \xE2\x82\xAC"),
            tslab::Error::ok);
  const std::string json = tslab::to_json(a), prom = tslab::to_prometheus(a);
  EXPECT_TRUE(is_utf8(json));
  EXPECT_TRUE(is_utf8(prom));
  EXPECT_NE(json.find("bad\xEF\xBF\xBD\xEF\xBF\xBD"
                      "end \xE2\x82\xAC"),
            std::string::npos);
  EXPECT_NE(prom.find("label=\"bad\xEF\xBF\xBD\xEF\xBF\xBD"
                      "end \xE2\x82\xAC\""),
            std::string::npos);
}

TEST(StatsText, AllocatorNameInJsonAndPrometheus) {
  tslab::Allocator a;
  const std::string fresh = tslab::to_json(a);
  const std::string uid = std::to_string(std::stoull(fresh.substr(fresh.find("\"allocator\":") + 12)));
  EXPECT_NE(tslab::to_json(a).find("\"name\":\"\""), std::string::npos);
  EXPECT_NE(tslab::to_prometheus(a).find("tslab_allocator_info{allocator=\"" + uid + "\",name=\"\"} 1\n"),
            std::string::npos);
  ASSERT_EQ(a.set_name("db \"pool\" \\ 1"), tslab::Error::ok);
  char name[SLAB_ALLOCATOR_NAME_SIZE];
  EXPECT_EQ(a.name(name, sizeof name), 13u);
  EXPECT_STREQ(name, "db \"pool\" \\ 1");
  EXPECT_NE(tslab::to_json(a).find("\"name\":\"db \\\"pool\\\" \\\\ 1\""), std::string::npos)
      << tslab::to_json(a);
  const std::string prom = tslab::to_prometheus(a);
  EXPECT_NE(prom.find("# TYPE tslab_allocator_info gauge\n"), std::string::npos);
  EXPECT_NE(prom.find("tslab_allocator_info{allocator=\"" + uid + "\",name=\"db \\\"pool\\\" \\\\ 1\"} 1\n"),
            std::string::npos)
      << prom;
  // The other series keep the allocator label alone.
  EXPECT_NE(prom.find("tslab_live_blocks{allocator=\"" + uid + "\"} "), std::string::npos);
  EXPECT_EQ(a.set_name("bad\nname"), tslab::Error::invalid_argument);
  EXPECT_EQ(a.set_name(std::string(32, 'n').c_str()), tslab::Error::invalid_argument);
  EXPECT_EQ(a.name(nullptr, 0), 13u);
}

TEST(StatsText, RefusedRenderingsLeaveAnEmptyString) {
  char text[16];
  std::memset(text, 'x', sizeof text);
  EXPECT_EQ(slab_stats_json(nullptr, text, sizeof text), 0u);
  EXPECT_EQ(text[0], '\0');
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
}

TEST(StatsText, TruncationReportsTheLengthNeeded) {
  tslab::Allocator a;
  const std::size_t needed = slab_stats_json(a.c_allocator(), nullptr, 0);
  ASSERT_GT(needed, 100u);
  std::vector<char> small(50, 'x');
  EXPECT_EQ(slab_stats_json(a.c_allocator(), small.data(), small.size()), needed);
  EXPECT_EQ(std::strlen(small.data()), small.size() - 1);
}

// Reading the statistics changes none of them, so the length a first call
// reports is the length the next one needs (the sizing idiom of snprintf) on an
// allocator nothing else uses.
TEST(StatsText, ReadingTheStatisticsChangesNoneOfThem) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  a.deallocate(a.allocate(OBJ, e));
  SlabAllocator* c = a.c_allocator();
  char message[256];
  const std::uint64_t locks = tslab::stats(a).lock_acquisitions_total;
  for (int i = 0; i < 20; ++i) {
    const std::size_t json = slab_stats_json(c, nullptr, 0);
    std::vector<char> text(json + 1);
    ASSERT_EQ(slab_stats_json(c, text.data(), text.size()), json) << "call " << i;
    EXPECT_EQ(std::strlen(text.data()), json);
    const std::size_t prometheus = slab_stats_prometheus(c, nullptr, 0);
    std::vector<char> families(prometheus + 1);
    ASSERT_EQ(slab_stats_prometheus(c, families.data(), families.size()), prometheus) << "call " << i;
    EXPECT_TRUE(slab_check(c, message, sizeof message)) << message;
    EXPECT_GT(a.resident_bytes(), 0u);
  }
  EXPECT_EQ(tslab::stats(a).lock_acquisitions_total, locks)
      << "a snapshot, check or size counted as a slow path";
}

TEST(StatsText, PrometheusFamiliesAreWellFormed) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  a.set_epoch_label(e, "a\"b\\c\nd");
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(a.allocate(OBJ, e));
  const std::string text = tslab::to_prometheus(a);
  std::set<std::string> helped, typed, histograms;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "the text ends with a newline";
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helped.insert(name).second) << "HELP twice for " << name;
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      const std::string type = line.substr(line.rfind(' ') + 1);
      EXPECT_TRUE(typed.insert(name).second) << "TYPE twice for " << name;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      EXPECT_EQ(type == "counter", name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0)
          << line;
      EXPECT_EQ(name.find("_ns"), std::string::npos) << "base units: seconds, not " << name;
      if (type == "histogram") histograms.insert(name);
    } else {
      ASSERT_EQ(line.rfind("tslab_", 0), 0u) << line;
      std::string name = line.substr(0, line.find('{'));
      // A histogram's samples are its name with _bucket, _sum or _count.
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string s = suffix;
        if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
            histograms.count(name.substr(0, name.size() - s.size())))
          name.resize(name.size() - s.size());
      }
      EXPECT_TRUE(typed.count(name) == 1) << "sample before its TYPE: " << line;
    }
  }
  EXPECT_EQ(helped, typed);
  EXPECT_TRUE(typed.count("tslab_live_blocks"));
  EXPECT_TRUE(typed.count("tslab_close_seconds_total"));
  EXPECT_TRUE(typed.count("tslab_class_live_bytes"));
  EXPECT_TRUE(typed.count("tslab_epoch_live_blocks"));
  EXPECT_TRUE(histograms.count("tslab_epoch_close_seconds"));
  EXPECT_TRUE(typed.count("tslab_build_info"));
  const std::string uid = text.substr(text.find("tslab_live_blocks{allocator=\"") + 29);
  const std::string allocator = uid.substr(0, uid.find('"'));
  EXPECT_NE(text.find("tslab_live_blocks{allocator=\"" + allocator + "\"} 1000\n"), std::string::npos);
  EXPECT_NE(text.find("tslab_class_live_blocks{allocator=\"" + allocator + "\",class=\"112\"} 1000\n"),
            std::string::npos);
  EXPECT_NE(text.find("label=\"a\\\"b\\\\c\\nd\""), std::string::npos);
  // Unused classes are not listed: bounded cardinality.
  EXPECT_EQ(text.find("class=\"16\""), std::string::npos);
  for (void* p : blocks) a.deallocate(p);
}

TEST(StatsText, SummaryNamesTheBusiestEpoch) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  a.set_epoch_label(e, "batch");
  void* p = a.allocate(OBJ, e);
  const std::string text = tslab::summary(a);
  EXPECT_NE(text.find("live in 1 blocks"), std::string::npos) << text;
  EXPECT_NE(text.find("\"batch\""), std::string::npos) << text;
  a.deallocate(p);
}

// A label is the application's text: the summary (on stderr through
// malloc_stats and TSLAB_SHOW_STATS) escapes it, so no terminal escape sequence
// or forged line reaches the reader.
TEST(StatsText, SummaryEscapesControlCharactersInLabels) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  ASSERT_EQ(a.set_epoch_label(e, "\x1b[31mred\x1b[0m\nforged line \"q\" \\"), tslab::Error::ok);
  ASSERT_NE(a.allocate(64, e), nullptr);
  const std::string text = tslab::summary(a);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find(R"("\x1b[31mred\x1b[0m\x0aforged line \"q\" \\")"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 6) << "one line per part, none forged:\n" << text;
}

TEST(StatsText, ShowStatsPrintsASummaryWhenTheAllocatorIsFreed) {
  tslab::detail::options_reset_for_testing();  // as in a fresh process
  ASSERT_TRUE(tslab_option_set("TSLAB_SHOW_STATS", "1"));
  testing::internal::CaptureStderr();
  {
    tslab::Allocator a;
    a.deallocate(a.allocate(64));
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("tslab allocator"), std::string::npos) << err;
  tslab::detail::options_reset_for_testing();
}

TEST(StatsText, ShowStatsReportsAllocatorsStillAliveAtExit) {
  EXPECT_EXIT(
      {
        tslab::detail::options_reset_for_testing();
        tslab::detail::metrics_autostart_reset_for_testing();
        tslab_option_set("TSLAB_SHOW_STATS", "yes");
        auto* kept = new tslab::Allocator();  // never freed: reported by the exit hook
        kept->set_epoch_label(0, "kept-to-the-end");
        kept->allocate(64);
        std::exit(0);
      },
      testing::ExitedWithCode(0), "tslab allocator [0-9]+: .*\n(.*\n)*.*kept-to-the-end");
}

}  // namespace
