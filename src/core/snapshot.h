// This file contains CoreSnapshot, the raw figures of one allocator at one
// moment, from which the statistics layer (src/stats) fills the public structs.
#ifndef TSLAB_CORE_SNAPSHOT_H
#define TSLAB_CORE_SNAPSHOT_H

#include <cstdint>

#include "core/counters.h"
#include "size_class/size_classes.h"
#include "slab_alloc.h"
#include "slab_stats.h"

namespace tslab::detail {

// Occupancy of a set of slabs: the SLAB_OCCUPANCY_FIELDS of slab_stats.h.
struct Occupancy {
  SLAB_OCCUPANCY_FIELDS(SLAB_STATS_MEMBER_)
  void add(const Occupancy& o) noexcept {
#define TSLAB_ADD_(name, type, unit, help) name += o.name;
    SLAB_OCCUPANCY_FIELDS(TSLAB_ADD_)
#undef TSLAB_ADD_
  }
};

struct ClassCounts {
  std::uint64_t new_slabs;
  std::uint64_t slabs_reused;
  std::uint64_t slabs_recycled;
  std::uint64_t slow_path;
  std::uint64_t remote_frees_collected;
};

struct EpochSnapshot {
  Occupancy occupancy;
  std::uint64_t state;  // EpochLifecycleState
  std::uint64_t era;
  std::uint64_t open_since_ns;
  std::uint64_t refcount;
  std::uint64_t closes;
  std::uint64_t closing_rejections;
  std::uint64_t last_close_ns;
  std::uint64_t last_close_slabs_returned;
  std::uint64_t rss_before_last_close;
  std::uint64_t rss_after_last_close;
  std::uint64_t closes_drained;
  std::uint64_t last_close_live_blocks;
  std::uint64_t last_close_pinned_slabs;
  std::uint64_t last_close_pinned_bytes;
  std::uint64_t last_close_drained;
  char label[32];
};

struct CoreSnapshot {
  std::uint64_t uid;
  char name[SLAB_ALLOCATOR_NAME_SIZE];  // "" when never named
  std::uint32_t epoch_count;
  Occupancy total;  // every slab and large span
  Occupancy per_class[NUM_CLASSES];
  ClassCounts class_counts[NUM_CLASSES];
  EpochSnapshot epochs[SLAB_MAX_EPOCH_COUNT];
  std::uint64_t resident_bytes;
  std::uint64_t reserved_bytes;
  std::uint64_t metadata_bytes;
  std::uint64_t large_spans_live;
  std::uint64_t large_live_bytes;
  std::uint64_t epochs_active;
  std::uint64_t current_epoch;
  std::uint64_t threads_attached;
  std::uint64_t heaps_abandoned;
  std::uint64_t decommit_calls;
  std::uint64_t decommit_bytes;
  std::uint64_t decommit_failures;
  std::uint64_t epoch_closes;
  std::uint64_t close_slabs_scanned;
  std::uint64_t close_slabs_returned;
  std::uint64_t close_ns;
  std::uint64_t collect_calls;
  std::uint64_t closing_rejections;
  std::uint64_t invalid_frees;
  std::uint64_t destroyed_blocks;
  std::uint64_t thread_adoptions;
  std::uint64_t lock_acquisitions;
  std::uint64_t lock_waits;
  std::uint64_t warm_reserve_bytes;
  std::uint64_t quiescence_waits;
  std::uint64_t closes_drained;
  std::uint64_t spans_unmapped;
  std::uint64_t spans_grown;
  // Closes by duration, bucket b for durations up to CLOSE_LATENCY_BOUNDS_NS[b]
  // (the last: longer); one count per bucket, not cumulative.
  std::uint64_t close_latency[CLOSE_LATENCY_BUCKETS];
};

}  // namespace tslab::detail

#endif  // TSLAB_CORE_SNAPSHOT_H
