// This file contains the operations behind the statistics API shells.
#include "stats/stats_api.h"

#include "core/allocator_core.h"
#include "size_class/size_classes.h"
#include "stats/public_stats.h"
#include "stats/render.h"
#include "stats/snapshot_buffer.h"

namespace tslab::detail {

TslabError stats_global(const AllocatorCore& core, SlabGlobalStats* out, bool measure_resident) noexcept {
  if (out == nullptr || !core.alive()) return TSLAB_ERR_INVALID_ARGUMENT;
  SnapshotBuffer buffer(1);
  if (buffer.empty()) return TSLAB_ERR_OUT_OF_MEMORY;
  take_snapshot(core, buffer[0], SLAB_STATS_ALL_CLASSES, measure_resident);
  SlabGlobalStats full;
  fill_global(buffer[0], full);
  return copy_versioned(full, out) ? TSLAB_OK : TSLAB_ERR_INVALID_ARGUMENT;
}

TslabError stats_class(const AllocatorCore& core, std::uint32_t cls, SlabClassStats* out) noexcept {
  if (out == nullptr || !core.alive()) return TSLAB_ERR_INVALID_ARGUMENT;
  if (cls >= NUM_CLASSES) return TSLAB_ERR_INVALID_ARGUMENT;
  SnapshotBuffer buffer(1);
  if (buffer.empty()) return TSLAB_ERR_OUT_OF_MEMORY;
  take_snapshot(core, buffer[0], cls);
  SlabClassStats full;
  fill_class(buffer[0], cls, full);
  return copy_versioned(full, out) ? TSLAB_OK : TSLAB_ERR_INVALID_ARGUMENT;
}

TslabError stats_epoch(const AllocatorCore& core, std::uint32_t cls, std::uint32_t epoch,
                       SlabEpochStats* out) noexcept {
  if (out == nullptr || !core.alive()) return TSLAB_ERR_INVALID_ARGUMENT;
  if (cls >= NUM_CLASSES && cls != SLAB_STATS_ALL_CLASSES) return TSLAB_ERR_INVALID_ARGUMENT;
  if (epoch >= core.epoch_count()) return TSLAB_ERR_EPOCH_OUT_OF_RANGE;
  SnapshotBuffer buffer(1);
  if (buffer.empty()) return TSLAB_ERR_OUT_OF_MEMORY;
  take_snapshot(core, buffer[0], cls);
  SlabEpochStats full;
  fill_epoch(buffer[0], epoch, cls, full);
  return copy_versioned(full, out) ? TSLAB_OK : TSLAB_ERR_INVALID_ARGUMENT;
}

std::size_t stats_render(const AllocatorCore& core, StatsFormat format, char* out, std::size_t out_size,
                         TslabError* error) noexcept {
  TextWriter w(out, out_size);  // the output is a terminated string from here, even if empty
  *error = TSLAB_ERR_INVALID_ARGUMENT;
  if (!core.alive()) return 0;
  *error = TSLAB_ERR_OUT_OF_MEMORY;
  SnapshotBuffer buffer(1);
  if (buffer.empty()) return 0;
  *error = TSLAB_OK;
  take_snapshot(core, buffer[0], SLAB_STATS_ALL_CLASSES);
  switch (format) {
    case StatsFormat::json:
      render_json(buffer[0], w);
      break;
    case StatsFormat::prometheus:
      render_prometheus(&buffer[0], 1, w);
      break;
    case StatsFormat::summary:
      render_summary(buffer[0], w);
      break;
  }
  return w.needed();
}

}  // namespace tslab::detail
