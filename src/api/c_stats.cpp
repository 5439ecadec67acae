// This file contains the C shell of the statistics API (slab_stats.h).
#include "core/thread_cache.h"
#include "slab_stats.h"
#include "stats/metrics_server.h"
#include "stats/stats_api.h"

using tslab::detail::AllocatorCore;
using tslab::detail::StatsFormat;

namespace {

const AllocatorCore* core_of(SlabAllocator* a) { return reinterpret_cast<const AllocatorCore*>(a); }

bool report(TslabError e) {
  if (e != TSLAB_OK) tslab::detail::set_error(e);
  return e == TSLAB_OK;
}

size_t render(SlabAllocator* alloc, StatsFormat format, char* out, size_t out_size) {
  if (out != nullptr && out_size != 0) out[0] = '\0';
  if (alloc == nullptr) return report(TSLAB_ERR_INVALID_ARGUMENT), 0;
  TslabError error = TSLAB_OK;
  const size_t needed = tslab::detail::stats_render(*core_of(alloc), format, out, out_size, &error);
  report(error);
  return needed;
}

}  // namespace

extern "C" {

bool slab_stats_global(SlabAllocator* alloc, SlabGlobalStats* out) {
  return report(alloc == nullptr ? TSLAB_ERR_INVALID_ARGUMENT
                                 : tslab::detail::stats_global(*core_of(alloc), out));
}

bool slab_stats_class(SlabAllocator* alloc, uint32_t size_class, SlabClassStats* out) {
  return report(alloc == nullptr ? TSLAB_ERR_INVALID_ARGUMENT
                                 : tslab::detail::stats_class(*core_of(alloc), size_class, out));
}

bool slab_stats_epoch(SlabAllocator* alloc, uint32_t size_class, EpochId epoch, SlabEpochStats* out) {
  return report(alloc == nullptr ? TSLAB_ERR_INVALID_ARGUMENT
                                 : tslab::detail::stats_epoch(*core_of(alloc), size_class, epoch, out));
}

size_t slab_stats_json(SlabAllocator* alloc, char* out, size_t out_size) {
  return render(alloc, StatsFormat::json, out, out_size);
}

size_t slab_stats_prometheus(SlabAllocator* alloc, char* out, size_t out_size) {
  return render(alloc, StatsFormat::prometheus, out, out_size);
}

size_t slab_stats_summary(SlabAllocator* alloc, char* out, size_t out_size) {
  return render(alloc, StatsFormat::summary, out, out_size);
}

size_t slab_drain_report(SlabAllocator* alloc, EpochId epoch, char* out, size_t out_size) {
  if (out != nullptr && out_size != 0) out[0] = '\0';
  if (alloc == nullptr) return report(TSLAB_ERR_INVALID_ARGUMENT), 0;
  TslabError error = TSLAB_OK;
  const size_t needed = tslab::detail::drain_report_render(*core_of(alloc), epoch, out, out_size, &error);
  report(error);
  return needed;
}

uint16_t slab_metrics_start(uint16_t port) {
  TslabError error = TSLAB_OK;
  const uint16_t bound = tslab::detail::metrics_start(port, &error);
  report(error);
  return bound;
}

void slab_metrics_stop(void) { tslab::detail::metrics_stop(); }

uint16_t slab_metrics_port(void) { return tslab::detail::metrics_port(); }

}  // extern "C"
