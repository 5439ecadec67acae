// This file contains the operations behind the statistics API shells: a
// snapshot, filled into a public struct or rendered as text.
#ifndef TSLAB_STATS_STATS_API_H
#define TSLAB_STATS_STATS_API_H

#include <cstddef>
#include <cstdint>

#include "slab_stats.h"

namespace tslab::detail {

class AllocatorCore;

// TSLAB_OK or the reason the call was refused.
// Without `measure_resident`, resident_bytes is 0 and no page table is read.
TslabError stats_global(const AllocatorCore& core, SlabGlobalStats* out,
                        bool measure_resident = true) noexcept;
TslabError stats_class(const AllocatorCore& core, std::uint32_t cls, SlabClassStats* out) noexcept;
TslabError stats_epoch(const AllocatorCore& core, std::uint32_t cls, std::uint32_t epoch,
                       SlabEpochStats* out) noexcept;

enum class StatsFormat { json, prometheus, summary };
// Length needed, like snprintf; 0 (and empty text) with the reason in *error if
// the allocator is dead or the OS refused snapshot memory.
std::size_t stats_render(const AllocatorCore& core, StatsFormat format, char* out, std::size_t out_size,
                         TslabError* error) noexcept;

// The text of `epoch`'s last-close pin report (stats/pin_report.h); length
// needed, like snprintf; 0 with the reason in *error if refused.
std::size_t drain_report_render(const AllocatorCore& core, std::uint32_t epoch, char* out,
                                std::size_t out_size, TslabError* error) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_STATS_API_H
