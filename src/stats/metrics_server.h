// This file contains the built-in metrics endpoint (slab_metrics_start) and the
// hooks that start it from TSLAB_METRICS_PORT and print TSLAB_SHOW_STATS
// summaries.
#ifndef TSLAB_STATS_METRICS_SERVER_H
#define TSLAB_STATS_METRICS_SERVER_H

#include <cstddef>
#include <cstdint>

#include "tslab/error.h"

namespace tslab::detail {

class AllocatorCore;

// The port listened on, or 0 with the reason in *error.
std::uint16_t metrics_start(std::uint16_t port, TslabError* error) noexcept;
void metrics_stop() noexcept;
std::uint16_t metrics_port() noexcept;

// Renders every live allocator as Prometheus text (what GET /metrics returns).
// Returns the length needed, like snprintf; 0 if the OS refused snapshot memory.
std::size_t render_all_prometheus(char* out, std::size_t out_size) noexcept;

// Called by the API shells when an allocator was created / is about to be freed.
void on_allocator_created() noexcept;
void on_allocator_destroying(const AllocatorCore& core) noexcept;

// Test hook: the next allocator created looks at TSLAB_METRICS_PORT again.
void metrics_autostart_reset_for_testing() noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_METRICS_SERVER_H
