// This file contains the metrics endpoint: an HTTP/1.1 server on 127.0.0.1,
// on its own thread, answering GET /metrics with the Prometheus text of every
// live allocator, one request per connection.
//
// It never allocates from an allocator it reports on: snapshots and response
// text live in pages taken from the OS for the request, and the thread is a
// plain pthread.
#include "stats/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/allocator_core.h"
#include "core/threads.h"
#include "options/options.h"
#include "platform/clock_rss.h"
#include "stats/os_pages.h"
#include "stats/render.h"
#include "stats/snapshot_buffer.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

namespace {

std::mutex g_server_mutex;  // serialises start and stop; guards the fields below
int g_listen_fd = -1;
int g_wake_pipe[2] = {-1, -1};
pthread_t g_thread;
std::atomic<std::uint16_t> g_port{0};  // non-zero while running
std::atomic<bool> g_autostart_done{false};
std::atomic<bool> g_exit_hook_registered{false};

bool verbose() noexcept {
  const OptionValue v = option(OptionId::verbose);
  return v.ok && v.value != 0;
}

struct SnapshotFill {
  SnapshotBuffer* buffer;
  std::size_t filled;
};

void snapshot_one(const AllocatorCore& core, void* context) {
  auto* fill = static_cast<SnapshotFill*>(context);
  if (fill->filled < fill->buffer->capacity())
    take_snapshot(core, (*fill->buffer)[fill->filled++], SLAB_STATS_ALL_CLASSES);
}

// Every connection gets this long in all (a client that trickles its request or
// reads the answer slowly cannot hold the thread), and metrics_stop ends it early.
constexpr int CONNECTION_BUDGET_MS = 5000;

std::uint64_t now_ms() noexcept { return monotonic_ns() / 1000000; }

// Waits until `fd` is ready for `events`. False at the deadline, on an error, or
// when metrics_stop asked the thread to end (the wake byte stays for the main loop).
bool wait_ready(int fd, short events, std::uint64_t deadline_ms) noexcept {
  for (;;) {
    const std::uint64_t now = now_ms();
    if (now >= deadline_ms) return false;
    pollfd fds[2] = {{fd, events, 0}, {g_wake_pipe[0], POLLIN, 0}};
    const int n = ::poll(fds, 2, static_cast<int>(deadline_ms - now));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || fds[1].revents != 0) return false;
    return (fds[0].revents & events) != 0;
  }
}

bool send_all(int fd, const char* data, std::size_t n, std::uint64_t deadline_ms) noexcept {
  while (n != 0) {
    const ssize_t sent = ::send(fd, data, n, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_ready(fd, POLLOUT, deadline_ms)) return false;
      continue;
    }
    if (sent <= 0) return false;
    data += sent;
    n -= static_cast<std::size_t>(sent);
  }
  return true;
}

void respond(int fd, const char* status, const char* type, const char* body, std::size_t length,
             std::uint64_t deadline_ms) noexcept {
  char head[256];
  const int n =
      std::snprintf(head, sizeof head,
                    "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                    status, type, length);
  if (send_all(fd, head, static_cast<std::size_t>(n), deadline_ms)) send_all(fd, body, length, deadline_ms);
}

void serve_metrics(int fd, std::uint64_t deadline_ms) noexcept {
  OsPages text;
  std::size_t want = 64 * 1024;
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (!text.reset(want)) break;
    const std::size_t needed = render_all_prometheus(text.data(), text.size());
    if (needed == 0) break;
    if (needed < text.size()) {
      respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text.data(), needed, deadline_ms);
      return;
    }
    want = needed * 2;  // grew between passes: room to spare
  }
  static const char error[] = "tslab: no memory for a snapshot\n";
  respond(fd, "503 Service Unavailable", "text/plain", error, sizeof error - 1, deadline_ms);
}

void handle_connection(int fd) noexcept {
  const std::uint64_t deadline = now_ms() + CONNECTION_BUDGET_MS;
  char request[4096];
  std::size_t got = 0;
  while (got < sizeof request - 1) {
    const ssize_t n = ::recv(fd, request + got, sizeof request - 1 - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_ready(fd, POLLIN, deadline)) return;  // too slow, or stopping: drop it
      continue;
    }
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
    request[got] = '\0';
    if (std::strstr(request, "\r\n\r\n") != nullptr) break;
  }
  request[got] = '\0';
  if (std::strncmp(request, "GET ", 4) != 0) {
    static const char body[] = "only GET is served\n";
    respond(fd, "405 Method Not Allowed", "text/plain", body, sizeof body - 1, deadline);
  } else if (std::strncmp(request + 4, "/metrics ", 9) == 0 ||
             std::strncmp(request + 4, "/metrics?", 9) == 0) {
    serve_metrics(fd, deadline);
  } else {
    static const char body[] = "tslab metrics are at /metrics\n";
    respond(fd, "404 Not Found", "text/plain", body, sizeof body - 1, deadline);
  }
}

// Sleeps up to `ms`, or less if metrics_stop wakes the thread.
void back_off(int ms) noexcept {
  pollfd wake{g_wake_pipe[0], POLLIN, 0};
  ::poll(&wake, 1, ms);
}

void* server_main(void*) {
  for (;;) {
    pollfd fds[2] = {{g_listen_fd, POLLIN, 0}, {g_wake_pipe[0], POLLIN, 0}};
    const int ready = ::poll(fds, 2, -1);
    if (ready < 0) {
      if (errno != EINTR) back_off(100);  // e.g. ENOMEM: try again, never spin
      continue;
    }
    if (fds[1].revents != 0) break;  // metrics_stop
    if ((fds[0].revents & POLLIN) == 0) {
      back_off(100);  // POLLERR or POLLNVAL without a connection: never spin
      continue;
    }
    const int fd = ::accept4(g_listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      // Out of descriptors or memory: the connection stays queued, so poll
      // would report it again at once. Wait a little instead of spinning.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) back_off(100);
      continue;
    }
    handle_connection(fd);
    ::close(fd);
  }
  return nullptr;
}

void print_summary(const AllocatorCore& core, void*) {
  SnapshotBuffer buffer(1);
  if (buffer.empty()) return;
  take_snapshot(core, buffer[0], SLAB_STATS_ALL_CLASSES);
  char text[4096];
  TextWriter w(text, sizeof text);
  render_summary(buffer[0], w);
  std::fputs(text, stderr);
}

// TSLAB_SHOW_STATS: allocators still alive when the process exits report too.
void print_live_at_exit() { for_each_live(print_summary, nullptr); }

void close_fds_locked() noexcept {
  if (g_listen_fd >= 0) ::close(g_listen_fd);
  for (int& fd : g_wake_pipe)
    if (fd >= 0) ::close(fd), fd = -1;
  g_listen_fd = -1;
}

}  // namespace

std::size_t render_all_prometheus(char* out, std::size_t out_size) noexcept {
  SnapshotBuffer buffer(live_allocator_count() + 4);  // + room for allocators created meanwhile
  if (buffer.empty()) return 0;
  SnapshotFill fill{&buffer, 0};
  for_each_live(snapshot_one, &fill);
  TextWriter w(out, out_size);
  render_prometheus(&buffer[0], fill.filled, w);
  return w.needed();
}

std::uint16_t metrics_start(std::uint16_t port, TslabError* error) noexcept {
  std::lock_guard<std::mutex> lock(g_server_mutex);
  if (const std::uint16_t running = g_port.load(std::memory_order_relaxed); running != 0) {
    if (port == 0 || port == running) return running;
    *error = TSLAB_ERR_INVALID_ARGUMENT;  // one endpoint per process
    return 0;
  }
  *error = TSLAB_ERR_SYSTEM;
  g_listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (g_listen_fd < 0) return 0;
  const int yes = 1;
  ::setsockopt(g_listen_fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(g_listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(g_listen_fd, 16) != 0 ||
      ::getsockname(g_listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::pipe2(g_wake_pipe, O_CLOEXEC) != 0 ||
      ::pthread_create(&g_thread, nullptr, server_main, nullptr) != 0) {
    if (verbose())
      std::fprintf(stderr, "tslab: metrics endpoint on port %u failed: %s\n", port, std::strerror(errno));
    close_fds_locked();
    return 0;
  }
  const std::uint16_t bound = ntohs(addr.sin_port);
  g_port.store(bound, std::memory_order_release);
  if (verbose()) std::fprintf(stderr, "tslab: metrics at http://127.0.0.1:%u/metrics\n", bound);
  *error = TSLAB_OK;
  return bound;
}

void metrics_stop() noexcept {
  std::lock_guard<std::mutex> lock(g_server_mutex);
  if (g_port.load(std::memory_order_relaxed) == 0) return;
  const char wake = 1;
  while (::write(g_wake_pipe[1], &wake, 1) < 0 && errno == EINTR) {
  }
  ::pthread_join(g_thread, nullptr);
  close_fds_locked();
  g_port.store(0, std::memory_order_release);
}

std::uint16_t metrics_port() noexcept { return g_port.load(std::memory_order_acquire); }

void on_allocator_created() noexcept {
  if (g_autostart_done.load(std::memory_order_acquire)) [[likely]]
    return;
  if (g_autostart_done.exchange(true, std::memory_order_acq_rel)) return;
  const OptionValue show = option(OptionId::show_stats);
  if (show.ok && show.value != 0 && !g_exit_hook_registered.exchange(true)) std::atexit(print_live_at_exit);
  const OptionValue port = option(OptionId::metrics_port);
  if (!port.ok || port.value == 0) return;
  TslabError error = TSLAB_OK;
  if (metrics_start(static_cast<std::uint16_t>(port.value), &error) == 0)
    std::fprintf(stderr, "tslab: TSLAB_METRICS_PORT=%llu: could not serve metrics (%s)\n",
                 static_cast<unsigned long long>(port.value), slab_error_string(error));
}

void metrics_autostart_reset_for_testing() noexcept {
  g_autostart_done.store(false, std::memory_order_release);
}

void on_allocator_destroying(const AllocatorCore& core) noexcept {
  if (!core.alive()) return;  // a second destroy: refused by the core
  const OptionValue show = option(OptionId::show_stats);
  if (show.ok && show.value != 0) print_summary(core, nullptr);
}

}  // namespace tslab::detail
