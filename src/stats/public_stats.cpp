// This file contains the translation from CoreSnapshot to the public structs.
#include "stats/public_stats.h"

#include <cstring>

#include "size_class/size_classes.h"

namespace tslab::detail {

namespace {

template <class Stats>
void copy_occupancy(const Occupancy& occ, Stats& out) noexcept {
#define TSLAB_COPY_(name, type, unit, help) out.name = occ.name;
  SLAB_OCCUPANCY_FIELDS(TSLAB_COPY_)
#undef TSLAB_COPY_
}

}  // namespace

bool class_in_use(const CoreSnapshot& snap, std::uint32_t cls) noexcept {
  const ClassCounts& c = snap.class_counts[cls];
  return c.new_slabs + c.slabs_reused != 0 || snap.per_class[cls].slabs_empty +
                                                      snap.per_class[cls].slabs_full +
                                                      snap.per_class[cls].slabs_partial !=
                                                  0;
}

void fill_global(const CoreSnapshot& snap, SlabGlobalStats& out) noexcept {
  out = SlabGlobalStats{};
  out.version = SLAB_STATS_VERSION;
  out.size = sizeof out;
  out.epoch_count = snap.epoch_count;
  out.size_class_count = NUM_CLASSES;
  copy_occupancy(snap.total, out);
  out.resident_bytes = snap.resident_bytes;
  out.reserved_bytes = snap.reserved_bytes;
  out.metadata_bytes = snap.metadata_bytes;
  out.large_spans_live = snap.large_spans_live;
  out.large_live_bytes = snap.large_live_bytes;
  out.epochs_active = snap.epochs_active;
  out.current_epoch = snap.current_epoch;
  out.threads_attached = snap.threads_attached;
  out.heaps_abandoned = snap.heaps_abandoned;
  out.decommit_calls_total = snap.decommit_calls;
  out.decommit_bytes_total = snap.decommit_bytes;
  out.decommit_failures_total = snap.decommit_failures;
  out.epoch_close_calls_total = snap.epoch_closes;
  out.close_slabs_scanned_total = snap.close_slabs_scanned;
  out.close_slabs_returned_total = snap.close_slabs_returned;
  out.close_ns_total = snap.close_ns;
  out.collect_calls_total = snap.collect_calls;
  for (std::uint32_t c = 0; c < NUM_CLASSES; ++c) {
    const ClassCounts& cc = snap.class_counts[c];
    out.slow_path_total += cc.slow_path;
    out.new_slabs_total += cc.new_slabs;
    out.slabs_reused_total += cc.slabs_reused;
    out.slabs_recycled_total += cc.slabs_recycled;
    out.remote_frees_collected_total += cc.remote_frees_collected;
  }
  out.closing_rejections_total = snap.closing_rejections;
  out.invalid_frees_total = snap.invalid_frees;
  out.destroyed_blocks_total = snap.destroyed_blocks;
  out.thread_adoptions_total = snap.thread_adoptions;
  out.lock_acquisitions_total = snap.lock_acquisitions;
  out.lock_waits_total = snap.lock_waits;
  out.warm_reserve_bytes = snap.warm_reserve_bytes;
  out.quiescence_waits_total = snap.quiescence_waits;
  out.closes_drained_total = snap.closes_drained;
  out.spans_unmapped_total = snap.spans_unmapped;
  out.spans_grown_total = snap.spans_grown;
}

void fill_class(const CoreSnapshot& snap, std::uint32_t cls, SlabClassStats& out) noexcept {
  out = SlabClassStats{};
  out.version = SLAB_STATS_VERSION;
  out.size = sizeof out;
  out.size_class = cls;
  out.block_size_bytes = class_block_size(cls);
  out.blocks_per_slab = class_capacity(cls);
  copy_occupancy(snap.per_class[cls], out);
  const ClassCounts& cc = snap.class_counts[cls];
  out.slow_path_total = cc.slow_path;
  out.new_slabs_total = cc.new_slabs;
  out.slabs_reused_total = cc.slabs_reused;
  out.slabs_recycled_total = cc.slabs_recycled;
  out.remote_frees_collected_total = cc.remote_frees_collected;
}

void fill_epoch(const CoreSnapshot& snap, std::uint32_t epoch, std::uint32_t cls,
                SlabEpochStats& out) noexcept {
  const EpochSnapshot& es = snap.epochs[epoch];
  out = SlabEpochStats{};
  out.version = SLAB_STATS_VERSION;
  out.size = sizeof out;
  out.epoch = epoch;
  out.size_class = cls;
  std::memcpy(out.label, es.label, sizeof out.label);
  out.label[sizeof out.label - 1] = '\0';
  out.state = es.state;
  out.era = es.era;
  out.open_since_ns = es.open_since_ns;
  out.refcount = es.refcount;
  copy_occupancy(es.occupancy, out);
  out.closes_total = es.closes;
  out.closing_rejections_total = es.closing_rejections;
  out.last_close_ns = es.last_close_ns;
  out.last_close_slabs_returned = es.last_close_slabs_returned;
  out.rss_before_last_close_bytes = es.rss_before_last_close;
  out.rss_after_last_close_bytes = es.rss_after_last_close;
  out.closes_drained_total = es.closes_drained;
  out.last_close_live_blocks = es.last_close_live_blocks;
  out.last_close_pinned_slabs = es.last_close_pinned_slabs;
  out.last_close_pinned_bytes = es.last_close_pinned_bytes;
  out.last_close_drained = es.last_close_drained;
}

double close_drain_rate(const SlabGlobalStats& g) noexcept {
  if (g.epoch_close_calls_total == 0) return 1.0;  // no close left anything behind
  return static_cast<double>(g.closes_drained_total) / static_cast<double>(g.epoch_close_calls_total);
}

template <class Stats>
bool copy_versioned(const Stats& full, Stats* out) noexcept {
  // Version 1 is the oldest layout, so every caller's struct is at least its
  // size; a larger one (built against a newer header) gets what this version has.
  const std::size_t want = out->size == 0 ? sizeof(Stats) : out->size;
  if (want < sizeof(Stats)) return false;
  std::memcpy(static_cast<void*>(out), &full, sizeof(Stats));
  return true;
}

template bool copy_versioned(const SlabGlobalStats&, SlabGlobalStats*) noexcept;
template bool copy_versioned(const SlabClassStats&, SlabClassStats*) noexcept;
template bool copy_versioned(const SlabEpochStats&, SlabEpochStats*) noexcept;

}  // namespace tslab::detail
