// This file contains the renderings of snapshots: JSON, Prometheus text and a
// summary for people. Keys and metric names come from the field lists of
// slab_stats.h.
#ifndef TSLAB_STATS_RENDER_H
#define TSLAB_STATS_RENDER_H

#include <cstddef>

#include "core/snapshot.h"
#include "stats/text_writer.h"

namespace tslab::detail {

void render_json(const CoreSnapshot& snap, TextWriter& w) noexcept;
// Every metric family once (HELP, TYPE), with one sample per allocator.
void render_prometheus(const CoreSnapshot* snaps, std::size_t count, TextWriter& w) noexcept;
void render_summary(const CoreSnapshot& snap, TextWriter& w) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_RENDER_H
