// This file contains the translation from a CoreSnapshot to the public,
// versioned structs of slab_stats.h.
#ifndef TSLAB_STATS_PUBLIC_STATS_H
#define TSLAB_STATS_PUBLIC_STATS_H

#include <cstdint>

#include "core/snapshot.h"
#include "slab_stats.h"

namespace tslab::detail {

void fill_global(const CoreSnapshot& snap, SlabGlobalStats& out) noexcept;
void fill_class(const CoreSnapshot& snap, std::uint32_t cls, SlabClassStats& out) noexcept;
// `cls` is the class the snapshot was restricted to, or SLAB_STATS_ALL_CLASSES.
void fill_epoch(const CoreSnapshot& snap, std::uint32_t epoch, std::uint32_t cls,
                SlabEpochStats& out) noexcept;
// True if the class ever had a slab: the classes the renderings list.
bool class_in_use(const CoreSnapshot& snap, std::uint32_t cls) noexcept;
// The drain rate the renderings show: closes_drained_total / epoch_close_calls_total,
// in [0, 1]; 1 when there was no close (no close left anything behind).
double close_drain_rate(const SlabGlobalStats& g) noexcept;

// Copies a filled struct into a caller's, honouring its `size` (0: ours) and
// writing back the version and size filled. False if the caller's is too small
// to hold even the version 1 header.
template <class Stats>
bool copy_versioned(const Stats& full, Stats* out) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_PUBLIC_STATS_H
