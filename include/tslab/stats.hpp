// This file contains the C++ side of tslab's statistics (slab_stats.h):
// snapshots as the same versioned structs, JSON, Prometheus text and a summary
// as std::string, and the metrics endpoint.
#ifndef TSLAB_STATS_HPP
#define TSLAB_STATS_HPP

#include <cstdint>
#include <string>

#include "slab_stats.h"
#include "tslab/tslab.hpp"

namespace tslab {

using GlobalStats = SlabGlobalStats;
using ClassStats = SlabClassStats;
using EpochStats = SlabEpochStats;
inline constexpr std::uint32_t all_classes = SLAB_STATS_ALL_CLASSES;

// Snapshots. A zeroed struct (version 0) if the call was refused; last_error() says why.
inline GlobalStats stats(const Allocator& a) noexcept {
  GlobalStats s{};
  if (!slab_stats_global(a.c_allocator(), &s)) s = GlobalStats{};
  return s;
}
inline ClassStats class_stats(const Allocator& a, std::uint32_t size_class) noexcept {
  ClassStats s{};
  if (!slab_stats_class(a.c_allocator(), size_class, &s)) s = ClassStats{};
  return s;
}
inline EpochStats epoch_stats(const Allocator& a, EpochId epoch,
                              std::uint32_t size_class = all_classes) noexcept {
  EpochStats s{};
  if (!slab_stats_epoch(a.c_allocator(), size_class, epoch, &s)) s = EpochStats{};
  return s;
}

namespace detail {
template <class Render>
std::string render_text(const Allocator& a, Render render) {
  std::string text(4096, '\0');
  for (;;) {
    const std::size_t needed = render(a.c_allocator(), text.data(), text.size() + 1);
    if (needed <= text.size()) {
      text.resize(needed);
      return text;
    }
    text.resize(needed + needed / 4);  // it may grow between two snapshots
  }
}
}  // namespace detail

// Renderings of a full snapshot; see slab_stats.h for the formats.
inline std::string to_json(const Allocator& a) { return detail::render_text(a, slab_stats_json); }
inline std::string to_prometheus(const Allocator& a) { return detail::render_text(a, slab_stats_prometheus); }
inline std::string summary(const Allocator& a) { return detail::render_text(a, slab_stats_summary); }
// The last-close pin report of `epoch` (TSLAB_PIN_SAMPLE; slab_drain_report).
inline std::string drain_report(const Allocator& a, EpochId epoch) {
  return detail::render_text(a, [epoch](SlabAllocator* c, char* out, std::size_t size) {
    return slab_drain_report(c, epoch, out, size);
  });
}

// The metrics endpoint on 127.0.0.1 (port 0: any free port). Returns the port,
// or 0 with last_error() set.
inline std::uint16_t metrics_start(std::uint16_t port = 0) noexcept { return slab_metrics_start(port); }
inline void metrics_stop() noexcept { slab_metrics_stop(); }
inline std::uint16_t metrics_port() noexcept { return slab_metrics_port(); }

}  // namespace tslab

#endif  // TSLAB_STATS_HPP
