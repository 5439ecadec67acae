// This file contains the metrics endpoint: an HTTP/1.1 server on 127.0.0.1,
// on its own thread, answering GET /metrics with the Prometheus text of every
// live allocator, one request per connection.
//
// One thread serves every connection at once with poll(): each connection
// keeps its own state (the head received so far, the response still to send)
// and deadlines, so a client that sends nothing, trickles its request or reads
// the answer slowly holds only its own connection, never the next scrape.
//
// It never allocates from an allocator it reports on, nor from the system
// malloc: the server's state and each response's text live in pages taken
// from the OS, and the thread is a plain pthread.
#include "stats/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/allocator_core.h"
#include "core/threads.h"
#include "options/options.h"
#include "platform/clock_rss.h"
#include "platform/fd_identity.h"
#include "platform/fork_hooks.h"
#include "platform/mutex.h"
#include "platform/no_cancel.h"
#include "platform/thread_entry.h"
#include "stats/http_request.h"
#include "stats/os_pages.h"
#include "stats/pin_report.h"
#include "stats/render.h"
#include "stats/snapshot_buffer.h"
#include "stats/stats_output.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

namespace {

// After its response a connection is half-closed and what the client still
// sends is read and dropped for this long: closing a socket with unread bytes
// sends a reset, which can destroy the response before the client reads it.
constexpr int DRAIN_DEADLINE_MS = 1000;
// The head, drain and write deadlines in force: the constants, unless a test
// that must hold connections open longer than a loaded machine guarantees set them.
std::atomic<int> g_head_deadline_ms{METRICS_HEAD_DEADLINE_MS};
std::atomic<int> g_drain_deadline_ms{DRAIN_DEADLINE_MS};
std::atomic<int> g_write_deadline_ms{METRICS_WRITE_DEADLINE_MS};
// How long accepting pauses when the process is out of descriptors or memory
// (the connection stays queued, so polling the listener again at once would spin).
constexpr int ACCEPT_BACKOFF_MS = 100;
// Connections the kernel may queue before the thread accepts them. The cap on
// served connections is enforced after accept; a full queue would instead make
// a scrape's connect wait for a SYN retry, a second or more.
constexpr int LISTEN_BACKLOG = SOMAXCONN;
// The first guess at a response's size; a larger one is rendered again at
// the size the first render asked for.
constexpr std::size_t FIRST_RESPONSE_BYTES = 64 * 1024;

enum class Phase : std::uint8_t {
  unused,
  reading_head,      // accepted, waiting for "\r\n\r\n": evicted at the cap
  writing_response,  // sending status, headers and body as the client takes them
  draining,  // response sent and write side shut: dropping the client's leftovers; evicted first at the cap
};

struct Connection {
  int fd = -1;
  FdIdentity fd_id;
  Phase phase = Phase::unused;
  std::uint64_t accept_order = 0;  // smaller is older: picks the connection evicted at the cap
  std::uint64_t deadline_ms = 0;   // of the current phase
  char* head = nullptr;            // MAX_HTTP_HEAD_BYTES of the server's head buffers
  std::size_t head_size = 0;
  char response_head[256];
  std::size_t response_head_size = 0;
  const char* body = nullptr;
  std::size_t body_size = 0;
  OsPages body_pages;    // the metrics text; fixed texts need none
  std::size_t sent = 0;  // bytes of response_head, then of body, sent so far
};

// Everything the server thread owns. Mapped from the OS by metrics_start and
// unmapped by metrics_stop; the head buffers come last so that only those of
// connections that received bytes ever take memory.
struct MetricsServer {
  MetricsServer() noexcept {
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; ++i) connections[i].head = heads[i];
  }

  int listen_fd = -1;
  int wake_pipe[2] = {-1, -1};  // metrics_stop writes a byte to end the thread
  FdIdentity listen_id;
  FdIdentity wake_id[2];
  std::atomic<bool> stopping{false};  // set by metrics_stop before it wakes the thread
  pthread_t thread{};
  std::uint64_t accepted = 0;  // connections accepted so far: the next accept_order
  std::uint64_t accept_paused_until_ms = 0;
  Connection connections[METRICS_MAX_CONNECTIONS];
  // Scratch of one poll round: [0] the wake pipe, [1] the listener, then the
  // connections, with poll_connection[i] the index of poll_fds[i]'s connection.
  pollfd poll_fds[METRICS_MAX_CONNECTIONS + 2];
  int poll_connection[METRICS_MAX_CONNECTIONS + 2];
  char heads[METRICS_MAX_CONNECTIONS][MAX_HTTP_HEAD_BYTES];
};

// Serialises start, stop and the after-fork reset; guards g_server. A tslab
// lock (not a std::mutex) so that a forked child can re-create it in place;
// uncounted (an OuterMutex): pthread_create and stdio allocate under it.
OuterMutex g_server_mutex;
MetricsServer* g_server = nullptr;
std::atomic<std::uint16_t> g_port{0};  // non-zero while running
// Set by the server thread when the program closed its descriptors (keep_own_descriptors).
std::atomic<bool> g_server_lost{false};
std::atomic<bool> g_autostart_done{false};
std::atomic<bool> g_report_at_exit{false};  // TSLAB_SHOW_STATS: print_live_at_exit

bool verbose() noexcept {
  const OptionValue v = option(OptionId::verbose);
  return v.ok && v.value != 0;
}

// One line on stderr without stdio or the locale (start_requested_services may
// run inside a call of the C library that holds their locks).
[[gnu::format(printf, 1, 2)]] void report(const char* format, ...) noexcept {
  char line[256];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (n > 0)
    write_stderr(line,
                 static_cast<std::size_t>(n) < sizeof line ? static_cast<std::size_t>(n) : sizeof line - 1);
}

// The system's reason for `error`, in English, read without the locale.
const char* reason_of(int error) noexcept {
  const char* reason = ::strerrordesc_np(error);
  return reason != nullptr ? reason : "unknown error";
}

std::uint64_t now_ms() noexcept { return monotonic_ns() / 1000000; }

// Forgets the descriptor before closing it, and closes it only if it is
// still the server's (fd_ours). A fork taken meanwhile then leaves the child
// either an open descriptor to close or nothing, never a number the process
// may already have reused for something else.
void close_and_forget(int& fd, const FdIdentity& id) noexcept {
  const int closing = fd;
  fd = -1;
  if (fd_ours(closing, id)) ::close(closing);
}

// --- the server's memory ----------------------------------------------------

std::size_t server_bytes() noexcept {
  const std::size_t page = OsPlatform::instance().page_size();
  return (sizeof(MetricsServer) + page - 1) / page * page;
}

MetricsServer* map_server() noexcept {
  void* pages = OsPlatform::instance().reserve(server_bytes(), OsPlatform::instance().page_size());
  return pages == nullptr ? nullptr : new (pages) MetricsServer();
}

void unmap_server(MetricsServer* server) noexcept { OsPlatform::instance().release(server, server_bytes()); }

// --- one connection ---------------------------------------------------------

void release_connection(Connection& c) noexcept {
  close_and_forget(c.fd, c.fd_id);
  c.body_pages.reset(0);
  c.body = nullptr;
  c.body_size = 0;
  c.head_size = 0;
  c.response_head_size = 0;
  c.sent = 0;
  c.phase = Phase::unused;
}

void start_reading_head(Connection& c, int fd, std::uint64_t order, std::uint64_t now) noexcept {
  c.fd = fd;
  c.fd_id = identity_of(fd);
  c.phase = Phase::reading_head;
  c.accept_order = order;
  c.deadline_ms = now + static_cast<std::uint64_t>(g_head_deadline_ms.load(std::memory_order_relaxed));
  c.head_size = 0;
  c.sent = 0;
}

// The response is out: shut the write side so the client sees its end, then
// drop what it still sends until it closes or the drain deadline passes.
void finish_response(Connection& c, std::uint64_t now) noexcept {
  ::shutdown(c.fd, SHUT_WR);
  c.body_pages.reset(0);
  c.body = nullptr;
  c.phase = Phase::draining;
  c.deadline_ms = now + static_cast<std::uint64_t>(g_drain_deadline_ms.load(std::memory_order_relaxed));
}

// Sends as much of the response as the socket takes without blocking; the rest
// waits for POLLOUT. Releases the connection on an error.
void write_some(Connection& c, std::uint64_t now) noexcept {
  const std::size_t total = c.response_head_size + c.body_size;
  while (c.sent < total) {
    iovec parts[2];
    int count = 0;
    if (c.sent < c.response_head_size)
      parts[count++] = {c.response_head + c.sent, c.response_head_size - c.sent};
    const std::size_t body_sent = c.sent > c.response_head_size ? c.sent - c.response_head_size : 0;
    if (body_sent < c.body_size)
      parts[count++] = {const_cast<char*>(c.body) + body_sent, c.body_size - body_sent};
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = static_cast<std::size_t>(count);
    const ssize_t n = ::sendmsg(c.fd, &message, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) return release_connection(c);
    c.sent += static_cast<std::size_t>(n);
  }
  finish_response(c, now);
}

// Starts the response; `body` must outlive it (a fixed text or c.body_pages).
void respond(Connection& c, const char* status, const char* type, const char* body, std::size_t length,
             std::uint64_t now) noexcept {
  const int n =
      std::snprintf(c.response_head, sizeof c.response_head,
                    "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                    status, type, length);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof c.response_head) return release_connection(c);
  c.response_head_size = static_cast<std::size_t>(n);
  c.body = body;
  c.body_size = is_head_request(c.head, c.head_size) ? 0 : length;  // its head says what GET would get
  c.sent = 0;
  c.phase = Phase::writing_response;
  c.deadline_ms = now + static_cast<std::uint64_t>(g_write_deadline_ms.load(std::memory_order_relaxed));
  write_some(c, now);
}

void respond_text(Connection& c, const char* status, const char* text, std::uint64_t now) noexcept {
  respond(c, status, "text/plain", text, std::strlen(text), now);
}

void respond_metrics(Connection& c, std::uint64_t now) noexcept {
  std::size_t want = FIRST_RESPONSE_BYTES;
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (!c.body_pages.reset(want)) break;
    const std::size_t needed = render_all_prometheus(c.body_pages.data(), c.body_pages.size());
    if (needed == 0) break;
    if (needed < c.body_pages.size())
      return respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", c.body_pages.data(), needed,
                     now);
    want = needed * 2;  // grew between passes: room to spare
  }
  c.body_pages.reset(0);
  respond_text(c, "503 Service Unavailable", "tslab: no memory for a snapshot\n", now);
}

void answer(Connection& c, HttpHeadResult request, std::uint64_t now) noexcept {
  switch (request) {
    case HttpHeadResult::incomplete:
      return;
    case HttpHeadResult::too_large:
      return respond_text(c, "431 Request Header Fields Too Large", "tslab: request head too large\n", now);
    case HttpHeadResult::bad_method:
      return respond_text(c, "405 Method Not Allowed", "only GET is served\n", now);
    case HttpHeadResult::not_found:
      return respond_text(c, "404 Not Found", "tslab metrics are at /metrics\n", now);
    case HttpHeadResult::metrics:
      return respond_metrics(c, now);
  }
}

// Reads what the client sent; answers once the head is complete or too large.
void read_head(Connection& c, std::uint64_t now) noexcept {
  const std::size_t before = c.head_size;
  const ssize_t n = ::recv(c.fd, c.head + before, MAX_HTTP_HEAD_BYTES - before, 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) return release_connection(c);  // gone before its request was complete
  c.head_size += static_cast<std::size_t>(n);
  // Only the new bytes (and three before, for a terminator split across reads)
  // are searched, so a head trickled a byte at a time costs linear time.
  const std::size_t from = before >= 3 ? before - 3 : 0;
  if (find_http_head_end(c.head, c.head_size, from) != 0 || c.head_size == MAX_HTTP_HEAD_BYTES)
    answer(c, parse_http_head(c.head, c.head_size), now);
}

void drain(Connection& c) noexcept {
  char discarded[4096];
  const ssize_t n = ::recv(c.fd, discarded, sizeof discarded, 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) release_connection(c);  // the client closed too: done
}

void serve_ready(Connection& c, std::uint64_t now) noexcept {
  switch (c.phase) {
    case Phase::unused:
      return;
    case Phase::reading_head:
      return read_head(c, now);
    case Phase::writing_response:
      return write_some(c, now);
    case Phase::draining:
      return drain(c);
  }
}

// --- admission --------------------------------------------------------------

Connection* unused_connection(MetricsServer& s) noexcept {
  for (Connection& c : s.connections)
    if (c.phase == Phase::unused) return &c;
  return nullptr;
}

// The connection a new one may take the place of at the cap, or null if there
// is none: the one answered first of those whose client holds the socket open
// after the whole response was sent, else the one that has waited longest
// without sending its whole head. A response still being written is never cut
// short.
Connection* evictable_connection(MetricsServer& s) noexcept {
  Connection* answered = nullptr;  // the one answered first (its drain deadline is the earliest)
  Connection* idle = nullptr;      // the one accepted first
  for (Connection& c : s.connections) {
    if (c.phase == Phase::draining && (answered == nullptr || c.deadline_ms < answered->deadline_ms))
      answered = &c;
    if (c.phase == Phase::reading_head && (idle == nullptr || c.accept_order < idle->accept_order)) idle = &c;
  }
  return answered != nullptr ? answered : idle;
}

// Gives a new connection a slot. At the cap, connections already answered and
// idle ones make room for it (evictable_connection): a scrape always gets in
// past clients that send nothing, and past clients that sent a request and then
// hold the socket. If every connection is being answered, the new one is
// refused.
void admit(MetricsServer& s, int fd, std::uint64_t now) noexcept {
  Connection* slot = unused_connection(s);
  // A connection still reading its head is read once more before it goes: a
  // scrape whose request came in since the last poll round is answered rather
  // than evicted by a burst of connections accepted in the same round. Each
  // pass either frees the slot or moves a connection past its head, so the
  // loop ends.
  while (slot == nullptr) {
    Connection* victim = evictable_connection(s);
    if (victim == nullptr) break;
    if (victim->phase == Phase::reading_head) {
      read_head(*victim, now);
      if (victim->phase == Phase::unused) slot = victim;  // the client was gone
      if (victim->phase != Phase::reading_head) continue;
    }
    // What an answered client sent since is read first: closing a socket with
    // unread bytes resets it, which can destroy the response it has not read.
    if (victim->phase == Phase::draining) drain(*victim);
    if (victim->phase != Phase::unused) release_connection(*victim);
    slot = victim;
  }
  if (slot == nullptr) {
    ::close(fd);
    return;
  }
  start_reading_head(*slot, fd, s.accepted++, now);
}

// Accepts what is queued, up to one cap's worth per round so that the
// connections already open are served in between.
void accept_queued(MetricsServer& s, std::uint64_t now) noexcept {
  for (int i = 0; i < METRICS_MAX_CONNECTIONS; ++i) {
    const int fd = ::accept4(s.listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      admit(s, fd, now);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) s.accept_paused_until_ms = now + ACCEPT_BACKOFF_MS;
    return;
  }
}

// --- the poll loop ----------------------------------------------------------

// Closes the connections whose phase ran out of time.
void expire_overdue(MetricsServer& s, std::uint64_t now) noexcept {
  for (Connection& c : s.connections)
    if (c.phase != Phase::unused && now >= c.deadline_ms) release_connection(c);
}

// Fills s.poll_fds for one round; returns how many entries it used.
nfds_t fill_poll_set(MetricsServer& s, std::uint64_t now) noexcept {
  s.poll_fds[0] = {s.wake_pipe[0], POLLIN, 0};
  // A negative descriptor is skipped by poll: accepting pauses without
  // renumbering the entries.
  const bool accepting = now >= s.accept_paused_until_ms;
  s.poll_fds[1] = {accepting ? s.listen_fd : -1, POLLIN, 0};
  nfds_t n = 2;
  for (int i = 0; i < METRICS_MAX_CONNECTIONS; ++i) {
    const Connection& c = s.connections[i];
    if (c.phase == Phase::unused) continue;
    const short events = c.phase == Phase::writing_response ? POLLOUT : POLLIN;
    s.poll_fds[n] = {c.fd, events, 0};
    s.poll_connection[n] = i;
    ++n;
  }
  return n;
}

// The longest the thread waits in one round: a stop whose wake-up byte could not
// be written (the program closed the pipe's write end: fd_ours) is seen by then.
constexpr std::uint64_t MAX_POLL_MS = 1000;

// Milliseconds until the next deadline or the end of an accept pause, at most MAX_POLL_MS.
int poll_timeout_ms(const MetricsServer& s, std::uint64_t now) noexcept {
  std::uint64_t next = now < s.accept_paused_until_ms ? s.accept_paused_until_ms : UINT64_MAX;
  for (const Connection& c : s.connections)
    if (c.phase != Phase::unused && c.deadline_ms < next) next = c.deadline_ms;
  if (next <= now) return 0;
  return static_cast<int>(next - now < MAX_POLL_MS ? next - now : MAX_POLL_MS);
}

// The program took the server's descriptors: it closes what is still its own
// but the wake-up pipe (metrics_stop's to close) and reports none running.
void lose_server(MetricsServer& s) noexcept {
  for (Connection& c : s.connections)
    if (c.phase != Phase::unused) release_connection(c);
  close_and_forget(s.listen_fd, s.listen_id);
  g_server_lost.store(true, std::memory_order_release);
}

// True while the server's own descriptors are still its own. A connection the
// program took is forgotten (not closed); without its listener or wake-up
// pipe the server stops serving: it closes the connections that are its own and
// its thread ends (metrics_port then reports none; metrics_stop still joins it).
bool keep_own_descriptors(MetricsServer& s) noexcept {
  for (Connection& c : s.connections)
    if (c.phase != Phase::unused && !fd_ours(c.fd, c.fd_id)) release_connection(c);  // closes only its own
  if (fd_ours(s.listen_fd, s.listen_id) && fd_ours(s.wake_pipe[0], s.wake_id[0])) return true;
  lose_server(s);
  return false;
}

// Waits up to `ms`, or less if metrics_stop wakes the thread.
void back_off(const MetricsServer& s, int ms) noexcept {
  pollfd wake{s.wake_pipe[0], POLLIN, 0};
  ::poll(&wake, 1, ms);
}

void* server_main(void* argument) {
  MetricsServer& s = *static_cast<MetricsServer*>(argument);
  while (!s.stopping.load(std::memory_order_acquire) && keep_own_descriptors(s)) {
    std::uint64_t now = now_ms();
    expire_overdue(s, now);
    const nfds_t polled = fill_poll_set(s, now);
    const int ready = ::poll(s.poll_fds, polled, poll_timeout_ms(s, now));
    if (ready < 0) {
      if (errno != EINTR) back_off(s, ACCEPT_BACKOFF_MS);  // e.g. ENOMEM: try again, never spin
      continue;
    }
    if (s.poll_fds[0].revents != 0) {
      // metrics_stop (the loop's test ends it), or the pipe's write end closed
      // under us (POLLHUP): no stop could wake the thread any more.
      if (!s.stopping.load(std::memory_order_acquire)) lose_server(s);
      break;
    }
    now = now_ms();
    // Open connections first: accepting may evict one and reuse its slot.
    for (nfds_t i = 2; i < polled; ++i)
      if (s.poll_fds[i].revents != 0) serve_ready(s.connections[s.poll_connection[i]], now);
    const short listener = s.poll_fds[1].revents;
    if ((listener & POLLIN) != 0)
      accept_queued(s, now);
    else if (listener != 0)
      s.accept_paused_until_ms = now + ACCEPT_BACKOFF_MS;  // POLLERR or POLLNVAL alone: never spin
  }
  return nullptr;
}

// --- start and stop ---------------------------------------------------------

// Binds and listens on 127.0.0.1:port; *bound gets the port actually used.
bool open_listener(MetricsServer& s, std::uint16_t port, std::uint16_t* bound) noexcept {
  s.listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.listen_fd < 0) return false;
  const int yes = 1;
  ::setsockopt(s.listen_fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(s.listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s.listen_fd, LISTEN_BACKLOG) != 0 ||
      ::getsockname(s.listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return false;
  *bound = ntohs(addr.sin_port);
  return true;
}

void stop_locked() noexcept;  // below metrics_start

// Closes everything the server holds and gives its memory back. The thread
// must be gone (joined, or never started). Caller holds g_server_mutex.
void discard_server_locked() noexcept {
  MetricsServer* server = g_server;
  for (Connection& c : server->connections) release_connection(c);
  close_and_forget(server->listen_fd, server->listen_id);
  for (int i = 0; i < 2; ++i) close_and_forget(server->wake_pipe[i], server->wake_id[i]);
  // Unpublished before the unmap: a fork never sees a pointer to unmapped memory.
  g_server = nullptr;
  server->~MetricsServer();
  unmap_server(server);
}

void print_summary(const AllocatorCore& core, void*) {
  SnapshotBuffer buffer(1);
  if (buffer.empty()) return;
  take_snapshot(core, buffer[0], SLAB_STATS_ALL_CLASSES);
  char text[4096];
  TextWriter w(text, sizeof text);
  render_summary(buffer[0], w);
  write_stats_output(text);
  // With TSLAB_PIN_SAMPLE, the pin report of every slot closed at least once.
  for (std::uint32_t e = 0; e < core.epoch_count(); ++e) {
    PinReport report;
    if (!core.pin_report(e, &report) || report.sample_every == 0 || report.era == 0) continue;
    TextWriter pins(text, sizeof text);
    write_pin_report(report, e, pins);
    write_stats_output(text);
  }
}

// TSLAB_SHOW_STATS: allocators still alive when the process exits report too.
// A library destructor (it runs at exit, after the program's exit handlers),
// not an atexit handler: atexit takes the exit handlers' lock, which the C
// library holds when its own allocation for a 33rd handler is the process's
// first (start_requested_services).
[[gnu::destructor]] void print_live_at_exit() {
  if (!g_report_at_exit.load(std::memory_order_acquire)) return;
  if (thread_inside_tslab()) {
    // exit() from a signal handler that interrupted tslab on this thread: the
    // interrupted frame may hold the locks a snapshot takes, and would wait
    // for them forever.
    write_stats_output(
        "tslab: exit report skipped: the process exited from a signal handler that interrupted tslab\n");
    return;
  }
  for_each_live(print_summary, nullptr);
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
  // The child of a fork has no server thread: it reports none running.
  fork_participate(ForkRank::metrics, {nullptr, nullptr, metrics_after_fork_child});
  // Not cancelled while holding the lock (stdio and pthread_create below are
  // cancellation points): the library has no unwinding to release it.
  const CancellationDisabled no_cancel;
  const std::lock_guard<OuterMutex> lock(g_server_mutex);
  // One the program took the descriptors of ends first: a new one may start.
  if (g_server_lost.load(std::memory_order_acquire)) stop_locked();
  if (const std::uint16_t running = g_port.load(std::memory_order_relaxed); running != 0) {
    if (port == 0 || port == running) return running;
    *error = TSLAB_ERR_INVALID_ARGUMENT;  // one endpoint per process
    return 0;
  }
  *error = TSLAB_ERR_SYSTEM;
  MetricsServer* server = map_server();
  if (server == nullptr) return 0;
  // Published before any descriptor is made, so that a child forked from here
  // on finds each of them to close.
  g_server = server;
  std::uint16_t bound = 0;
  int reason = 0;
  const bool made = open_listener(*server, port, &bound) && ::pipe2(server->wake_pipe, O_CLOEXEC) == 0;
  server->listen_id = identity_of(server->listen_fd);
  for (int i = 0; i < 2; ++i) server->wake_id[i] = identity_of(server->wake_pipe[i]);
  g_server_lost.store(false, std::memory_order_relaxed);
  if (!made || (reason = ::pthread_create(&server->thread, nullptr, server_main, server)) != 0) {
    if (reason == 0) reason = errno;  // pthread_create returns its reason; the calls before set errno
    if (verbose()) report("tslab: metrics endpoint on port %u failed: %s\n", port, reason_of(reason));
    discard_server_locked();
    errno = reason;  // for the caller's report
    return 0;
  }
  g_port.store(bound, std::memory_order_release);
  if (verbose()) report("tslab: metrics at http://127.0.0.1:%u/metrics\n", bound);
  *error = TSLAB_OK;
  return bound;
}

namespace {

// Ends the server thread and frees what it holds. Caller holds g_server_mutex
// with cancellation disabled (write and pthread_join are cancellation points).
void stop_locked() noexcept {
  if (g_port.load(std::memory_order_relaxed) == 0) return;
  g_server->stopping.store(true, std::memory_order_release);
  // Only into the server's own pipe: otherwise the thread sees `stopping`
  // within MAX_POLL_MS (or has ended already, its descriptors gone).
  const char wake = 1;
  while (fd_ours(g_server->wake_pipe[1], g_server->wake_id[1]) &&
         ::write(g_server->wake_pipe[1], &wake, 1) < 0 && errno == EINTR) {
  }
  ::pthread_join(g_server->thread, nullptr);
  discard_server_locked();
  g_port.store(0, std::memory_order_release);
  g_server_lost.store(false, std::memory_order_release);
}

}  // namespace

void metrics_stop() noexcept {
  const CancellationDisabled no_cancel;
  const std::lock_guard<OuterMutex> lock(g_server_mutex);
  stop_locked();
}

void metrics_set_deadlines_for_testing(int head_ms, int drain_ms, int write_ms) noexcept {
  g_head_deadline_ms.store(head_ms, std::memory_order_relaxed);
  g_drain_deadline_ms.store(drain_ms, std::memory_order_relaxed);
  g_write_deadline_ms.store(write_ms, std::memory_order_relaxed);
}

std::uint16_t metrics_port() noexcept {
  return g_server_lost.load(std::memory_order_acquire) ? 0 : g_port.load(std::memory_order_acquire);
}

TSLAB_FORK_STEP void metrics_after_fork_child() noexcept {
  forget_stats_output_after_fork();
  // The lock may have been held by a thread that the child does not have.
  new (&g_server_mutex) OuterMutex();
  g_port.store(0, std::memory_order_release);
  g_server_lost.store(false, std::memory_order_relaxed);
  MetricsServer* server = g_server;
  g_server = nullptr;
  if (server == nullptr) return;
  for (Connection& c : server->connections) close_and_forget(c.fd, c.fd_id);
  close_and_forget(server->listen_fd, server->listen_id);
  for (int i = 0; i < 2; ++i) close_and_forget(server->wake_pipe[i], server->wake_id[i]);
  // The state itself is safe to unmap (only stop unmaps it, after unpublishing
  // it), but the response pages are not: the parent's thread may have been
  // between unmapping one and forgetting it. Those few pages stay with the child.
  unmap_server(server);
}

void start_requested_services() noexcept {
  if (g_autostart_done.load(std::memory_order_acquire)) [[likely]]
    return;
  if (g_autostart_done.exchange(true, std::memory_order_acq_rel)) return;
  const OptionValue show = option(OptionId::show_stats);
  if (show.ok && show.value != 0 && !g_report_at_exit.load(std::memory_order_relaxed)) {
    // The child of a fork drops the copy of stderr (metrics_after_fork_child).
    fork_participate(ForkRank::metrics, {nullptr, nullptr, metrics_after_fork_child});
    keep_stats_output();
    g_report_at_exit.store(true, std::memory_order_release);
  }
  const OptionValue port = option(OptionId::metrics_port);
  if (!port.ok || port.value == 0) return;
  TslabError error = TSLAB_OK;
  if (metrics_start(static_cast<std::uint16_t>(port.value), &error) == 0) {
    // The system's reason too: a port in use is the common case (a child
    // process that inherited the variable from the one serving it).
    const char* reason = error == TSLAB_ERR_SYSTEM ? reason_of(errno) : "";
    report("tslab: TSLAB_METRICS_PORT=%llu: could not serve metrics (%s%s%s)\n",
           static_cast<unsigned long long>(port.value), slab_error_string(error), *reason ? ": " : "",
           reason);
  }
}

void metrics_autostart_reset_for_testing() noexcept {
  g_autostart_done.store(false, std::memory_order_release);
}

void on_allocator_destroying(const AllocatorCore& core) noexcept {
  if (!core.alive() || core.permanent()) return;  // refused by the core
  const OptionValue show = option(OptionId::show_stats);
  if (show.ok && show.value != 0) print_summary(core, nullptr);
}

}  // namespace tslab::detail
