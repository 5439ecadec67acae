// This file contains the built-in metrics endpoint (slab_metrics_start), its
// limits, the hooks that start it from TSLAB_METRICS_PORT and print
// TSLAB_SHOW_STATS summaries, and its reset in a forked child.
#ifndef TSLAB_STATS_METRICS_SERVER_H
#define TSLAB_STATS_METRICS_SERVER_H

#include <cstddef>
#include <cstdint>

#include "tslab/error.h"

namespace tslab::detail {

class AllocatorCore;

// How long a connection may take to send its request head, counted from its
// accept. Trickling bytes does not extend it.
inline constexpr int METRICS_HEAD_DEADLINE_MS = 1000;
// How long writing a response may take, counted from the end of the head. A
// slow reader only holds its own connection, never the others.
inline constexpr int METRICS_WRITE_DEADLINE_MS = 5000;
// Connections served at once. At the cap a new connection evicts the oldest one
// already answered, else the oldest one still waiting for its head, or is
// refused if every connection is being answered.
inline constexpr int METRICS_MAX_CONNECTIONS = 128;

// The port listened on, or 0 with the reason in *error (and, for
// TSLAB_ERR_SYSTEM, the system call's in errno).
std::uint16_t metrics_start(std::uint16_t port, TslabError* error) noexcept;
void metrics_stop() noexcept;
std::uint16_t metrics_port() noexcept;
// Test hook: the head, drain and write deadlines for connections accepted from
// now on (the defaults are METRICS_HEAD_DEADLINE_MS, 1000 ms and
// METRICS_WRITE_DEADLINE_MS).
void metrics_set_deadlines_for_testing(int head_ms, int drain_ms, int write_ms) noexcept;

// For the child of a fork, where the server thread does not exist: closes the
// child's copies of the listening socket, the wake pipe and every connection,
// marks the endpoint as not running (metrics_port() returns 0) and makes
// metrics_start usable again. Takes no lock (the server lock is re-created in
// place, since a thread that no longer exists may have held it), so it can run
// in a pthread_atfork child handler. Response buffers of connections in flight
// are left mapped, not unmapped: the parent's thread may have been changing
// them at the fork.
void metrics_after_fork_child() noexcept;

// Renders every live allocator as Prometheus text (what GET /metrics returns).
// Returns the length needed, like snprintf; 0 if the OS refused snapshot memory.
std::size_t render_all_prometheus(char* out, std::size_t out_size) noexcept;

// Starts, once per process, what the options ask for at start: the report at
// exit (TSLAB_SHOW_STATS) and the metrics endpoint (TSLAB_METRICS_PORT). Called
// by the API shells when an allocator was created, and by the malloc override
// at the process's first allocation, which the C library may make holding a
// lock of its own (atexit's exit handlers', setlocale's): so it takes none of
// them. The report at exit is a library destructor, not an atexit handler, and
// failures are reported without stdio or the locale (strerrordesc_np, write).
void start_requested_services() noexcept;
// Called by the API shells when an allocator is about to be freed.
void on_allocator_destroying(const AllocatorCore& core) noexcept;

// Test hook: the next allocator created looks at TSLAB_METRICS_PORT again.
void metrics_autostart_reset_for_testing() noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_METRICS_SERVER_H
