// This file contains the tests of the built-in metrics endpoint: what it
// serves, its errors, stop and restart, its start from TSLAB_METRICS_PORT, its
// behaviour under abusive clients (idle, trickling, oversized, at the cap), its
// reset in a forked child, and the request-head parser.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http_get.h"
#include "options/options.h"
#include "slab_stats.h"
#include "stats/http_request.h"
#include "stats/metrics_server.h"
#include "tslab/options.h"
#include "tslab/stats.hpp"

namespace {

using tslab::detail::HttpHeadResult;
using tslab::detail::MAX_HTTP_HEAD_BYTES;
using tslab::detail::METRICS_HEAD_DEADLINE_MS;
using tslab::detail::METRICS_MAX_CONNECTIONS;
using tslab::detail::METRICS_WRITE_DEADLINE_MS;
using tslab_test::connect_loopback;
using tslab_test::http_body;
using tslab_test::http_get;
using tslab_test::http_request;
using tslab_test::read_to_end;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Client sockets closed when the test ends, however it ends.
class Sockets {
 public:
  Sockets() = default;
  Sockets(const Sockets&) = delete;
  Sockets& operator=(const Sockets&) = delete;
  ~Sockets() {
    for (int fd : fds_) ::close(fd);
  }
  int add(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  const std::vector<int>& fds() const { return fds_; }

 private:
  std::vector<int> fds_;
};

// True if the server closed `fd` (end of stream or a reset) within
// `timeout_ms`; false on a timeout or if it sent data instead.
bool closed_by_server(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return false;
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// True if nothing happened on `fd`: no data, no end of stream, no error.
bool quiet(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

std::string request_with_head_of(std::size_t bytes) {
  const std::string start = "GET /metrics HTTP/1.1\r\nX-Filler: ";
  const std::string end = "\r\n\r\n";
  return start + std::string(bytes - start.size() - end.size(), 'a') + end;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// The allocator's id, as its JSON and its metrics' allocator label carry it.
std::string allocator_id(const tslab::Allocator& a) {
  const std::string json = tslab::to_json(a);
  const std::size_t at = json.find("\"allocator\":");
  return at == std::string::npos ? "" : std::to_string(std::stoull(json.substr(at + 12)));
}

class MetricsEndpoint : public testing::Test {
 protected:
  void TearDown() override {
    tslab::metrics_stop();
    tslab::detail::metrics_set_deadlines_for_testing(METRICS_HEAD_DEADLINE_MS, 1000,
                                                     METRICS_WRITE_DEADLINE_MS);
  }
  // For tests whose connections must outlive the deadlines however slowly a
  // loaded machine sets them up: the deadlines are not what they test.
  static void long_deadlines() { tslab::detail::metrics_set_deadlines_for_testing(60000, 60000, 60000); }
};

TEST_F(MetricsEndpoint, ServesEveryLiveAllocator) {
  tslab::Allocator a, b;
  std::vector<void*> blocks;
  for (int i = 0; i < 123; ++i) blocks.push_back(a.allocate(64));
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0) << tslab::to_string(tslab::last_error());
  EXPECT_EQ(tslab::metrics_port(), port);

  const std::string response = http_get(port, "/metrics");
  ASSERT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response.substr(0, 200);
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  const std::string body = http_body(response);
  const std::string id_a = allocator_id(a);
  EXPECT_NE(body.find("tslab_live_blocks{allocator=\"" + id_a + "\"} 123\n"), std::string::npos)
      << body.substr(0, 400);
  // One HELP per family even with two allocators.
  std::size_t helps = 0;
  for (std::size_t at = body.find("# HELP tslab_live_blocks "); at != std::string::npos;
       at = body.find("# HELP tslab_live_blocks ", at + 1))
    ++helps;
  EXPECT_EQ(helps, 1u);
  std::size_t samples = 0;
  for (std::size_t at = body.find("\ntslab_live_blocks{"); at != std::string::npos;
       at = body.find("\ntslab_live_blocks{", at + 1))
    ++samples;
  EXPECT_EQ(samples, 2u);
  // The same text as the library renders itself.
  EXPECT_EQ(http_body(http_get(port, "/metrics?x=1")).find("# HELP tslab_live_bytes "),
            body.find("# HELP tslab_live_bytes "));
  for (void* p : blocks) a.deallocate(p);
}

TEST_F(MetricsEndpoint, OtherPathsAndMethodsAreRefused) {
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  EXPECT_EQ(http_get(port, "/").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(http_get(port, "/metricsx").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(http_get(port, "/metrics", "POST").rfind("HTTP/1.1 405", 0), 0u);
  // A reply to HEAD carries no content (RFC 9110): the head ends the response.
  const std::string head = http_get(port, "/metrics", "HEAD");
  EXPECT_EQ(head.rfind("HTTP/1.1 405", 0), 0u) << head;
  EXPECT_EQ(head.size(), head.find("\r\n\r\n") + 4) << head;
  EXPECT_EQ(http_get(port, "/metrics").rfind("HTTP/1.1 200", 0), 0u);  // still serving
}

TEST_F(MetricsEndpoint, OneEndpointPerProcessStopAndRestart) {
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  EXPECT_EQ(tslab::metrics_start(0), port);     // already running: same endpoint
  EXPECT_EQ(tslab::metrics_start(port), port);  // the same port: fine
  const std::uint16_t other = tslab_test::free_port();
  EXPECT_EQ(tslab::metrics_start(other), 0);
  EXPECT_EQ(tslab::last_error(), tslab::Error::invalid_argument);

  tslab::metrics_stop();
  EXPECT_EQ(tslab::metrics_port(), 0);
  EXPECT_EQ(http_get(port, "/metrics"), "");  // nobody listens any more
  tslab::metrics_stop();                      // a no-op
  const std::uint16_t again = tslab::metrics_start(0);
  ASSERT_NE(again, 0);
  EXPECT_EQ(http_get(again, "/metrics").rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(MetricsEndpoint, APortInUseIsASystemError) {
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  tslab::metrics_stop();
  // Hold the port with a listener of our own, then ask for it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  EXPECT_EQ(tslab::metrics_start(port), 0);
  EXPECT_EQ(tslab::last_error(), tslab::Error::system);
  EXPECT_EQ(tslab::metrics_port(), 0);
  ::close(fd);
}

TEST_F(MetricsEndpoint, AClientThatNeverFinishesCannotHoldStop) {
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  // Half a request, then silence: the server thread is inside this connection.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::send(fd, "GET /met", 8, MSG_NOSIGNAL), 8);
  // Returns while the client still holds its connection open (it would hang
  // here, and the test time out, if stop had to wait for the client).
  tslab::metrics_stop();
  EXPECT_EQ(tslab::metrics_port(), 0);
  ::close(fd);
}

// The acceptance test of the endpoint under abuse: a scrape is answered while a
// hundred clients hold idle connections and a few trickle a byte at a time.
TEST_F(MetricsEndpoint, AScrapeIsAnsweredPastIdleAndTricklingClients) {
  // The idle clients are accepted with the long deadlines: they are surely
  // still open when the scrapes end, however slowly a loaded machine runs.
  long_deadlines();
  tslab::Allocator a;
  void* block = a.allocate(64);
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  Sockets idle;
  for (int i = 0; i < 100; ++i) ASSERT_GE(idle.add(connect_loopback(port)), 0);
  // Answered, so accepted after every idle client (in the order they came):
  // the head deadline set next applies to the tricklers only.
  ASSERT_TRUE(starts_with(http_get(port, "/metrics"), "HTTP/1.1 200 OK"));

  // A head deadline of 3 s for the tricklers, which take over 12 s to send
  // their whole request: a server thread starved for seconds still closes them
  // before they finish.
  tslab::detail::metrics_set_deadlines_for_testing(3000, 60000, 60000);
  // Each trickler has sent its first byte before the scrape; a thread sends
  // the rest one byte per 300 ms, far slower than the head deadline allows.
  constexpr int TRICKLERS = 4;
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  Sockets trickling;
  for (int i = 0; i < TRICKLERS; ++i) {
    const int fd = trickling.add(connect_loopback(port));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, request.data(), 1, MSG_NOSIGNAL), 1);
  }
  std::atomic<int> closed_tricklers{0}, answered_tricklers{0};
  std::thread trickler([&] {
    std::vector<bool> open(TRICKLERS, true);
    int still_open = TRICKLERS;
    for (std::size_t sent = 1; sent < request.size() && still_open > 0; ++sent) {
      std::this_thread::sleep_for(milliseconds(300));  // pacing, not a check
      for (int i = 0; i < TRICKLERS; ++i) {
        if (!open[i]) continue;
        const int fd = trickling.fds()[i];
        pollfd p{fd, POLLIN, 0};
        const bool ended = ::poll(&p, 1, 0) == 1;
        if (ended) {
          (closed_by_server(fd, 0) ? closed_tricklers : answered_tricklers)++;
        } else if (::send(fd, request.data() + sent, 1, MSG_NOSIGNAL) != 1) {
          closed_tricklers++;
        } else {
          continue;
        }
        open[i] = false;
        --still_open;
      }
    }
  });

  // A server that waited on any of them would answer only past its deadline
  // (60 s for an idle client), and http_get gives up after 10 s of silence.
  const std::string response = http_get(port, "/metrics");
  EXPECT_TRUE(starts_with(response, "HTTP/1.1 200 OK\r\n")) << response.substr(0, 200);
  EXPECT_NE(http_body(response).find("tslab_"), std::string::npos);
  // ...and it was answered while every other client still held its connection.
  for (int fd : idle.fds()) EXPECT_TRUE(quiet(fd));

  trickler.join();
  // The head deadline counts from the accept: trickling does not extend it.
  EXPECT_EQ(closed_tricklers.load(), TRICKLERS);
  EXPECT_EQ(answered_tricklers.load(), 0);
  a.deallocate(block);
}

TEST_F(MetricsEndpoint, AnIdleConnectionIsClosedAtTheHeadDeadline) {
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  Sockets client;
  const Clock::time_point connected = Clock::now();
  const int fd = client.add(connect_loopback(port));
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(closed_by_server(fd, 30000));  // a watchdog, not a bound on the deadline
  // Closed by the deadline, not at once.
  EXPECT_GE(Clock::now() - connected, milliseconds(METRICS_HEAD_DEADLINE_MS - 100));
  EXPECT_TRUE(starts_with(http_get(port, "/metrics"), "HTTP/1.1 200"));  // still serving
}

TEST_F(MetricsEndpoint, AHeadOverTheLimitGets431) {
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  // No end of head at all, and more bytes than the limit.
  const std::string endless =
      "GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(2 * MAX_HTTP_HEAD_BYTES, 'a');
  EXPECT_TRUE(starts_with(http_request(port, endless), "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  // The limit itself is served; a byte more is not.
  EXPECT_TRUE(starts_with(http_request(port, request_with_head_of(MAX_HTTP_HEAD_BYTES)), "HTTP/1.1 200 OK"));
  EXPECT_TRUE(starts_with(http_request(port, request_with_head_of(MAX_HTTP_HEAD_BYTES + 1)), "HTTP/1.1 431"));
  // A method refused before its body was read still gets its answer.
  EXPECT_TRUE(starts_with(http_request(port, "POST /metrics HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" +
                                                 std::string(100000, 'b')),
                          "HTTP/1.1 405"));
}

TEST_F(MetricsEndpoint, AtTheCapTheOldestIdleConnectionIsDropped) {
  long_deadlines();
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  Sockets idle;
  for (int i = 0; i < METRICS_MAX_CONNECTIONS; ++i) ASSERT_GE(idle.add(connect_loopback(port)), 0);
  Sockets late;
  const int newest = late.add(connect_loopback(port));
  ASSERT_GE(newest, 0);

  // The kernel hands connections over in the order they came, so the server
  // met the newest at the cap and dropped the first one to make room (at once;
  // 30 s is a loaded machine's margin, half the connections' 60 s deadline).
  EXPECT_TRUE(closed_by_server(idle.fds()[0], 30000));
  for (std::size_t i = 1; i < idle.fds().size(); ++i) EXPECT_TRUE(quiet(idle.fds()[i])) << "connection " << i;
  const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
  ASSERT_EQ(::send(newest, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  EXPECT_TRUE(starts_with(read_to_end(newest), "HTTP/1.1 200 OK"));
}

TEST_F(MetricsEndpoint, AtTheCapConnectionsAlreadyAnsweredMakeRoom) {
  long_deadlines();
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  // Answered connections whose clients keep them open: the server holds each
  // a while to drop what the client may still send (60 s here).
  Sockets answered;
  const std::string request = "GET / HTTP/1.1\r\n\r\n";
  for (int i = 0; i < METRICS_MAX_CONNECTIONS; ++i) {
    const int fd = answered.add(connect_loopback(port));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
    ASSERT_TRUE(starts_with(read_to_end(fd), "HTTP/1.1 404"));
  }
  // Every slot is held, by clients that got their answer: each scrape takes
  // the place of the oldest of them, so a client that reopens such connections
  // faster than the drain deadline cannot keep scrapes out.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(starts_with(http_get(port, "/metrics"), "HTTP/1.1 200")) << i;
}

// The most a socket's send buffer grows to by itself (the largest response the
// server can hand the kernel in one write).
std::size_t largest_send_buffer() {
  std::size_t low = 0, initial = 0, largest = 4u << 20;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/tcp_wmem", "r")) {
    if (std::fscanf(f, "%zu %zu %zu", &low, &initial, &largest) != 3) largest = 4u << 20;
    std::fclose(f);
  }
  return largest;
}

// Allocators with a block in each of several classes, added until /metrics
// renders more than `bytes`.
class ManyAllocators {
 public:
  explicit ManyAllocators(std::size_t bytes) {
    add(1);
    // Each render walks every allocator: size the rest from what one costs.
    for (std::size_t rendered; (rendered = tslab::detail::render_all_prometheus(nullptr, 0)) <= bytes;)
      add((bytes - rendered) / (rendered / allocators_.size()) + 1);
  }
  ~ManyAllocators() {
    for (auto [allocator, block] : blocks_) allocator->deallocate(block);
  }

 private:
  void add(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      tslab::Allocator& a = allocators_.emplace_back();
      for (std::size_t size = 16; size <= 4096; size *= 2) blocks_.push_back({&a, a.allocate(size)});
    }
  }

  std::deque<tslab::Allocator> allocators_;  // never moves an element
  std::vector<std::pair<tslab::Allocator*, void*>> blocks_;
};

TEST_F(MetricsEndpoint, AnotherScrapeIsAnsweredWhileAClientReadsSlowly) {
  // No deadline runs out however slowly a loaded machine renders this many
  // allocators (a sanitizer slows each render many times over).
  long_deadlines();
  // A response the kernel cannot take in one write, so the server must keep
  // the rest and wait for the slow reader.
  const ManyAllocators allocators(largest_send_buffer() + (1u << 20));
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);

  Sockets slow;
  const int fd = slow.add(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);  // before connect: a small window
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  // Its first bytes arrived: the server has started on it and is now waiting
  // for this client to read.
  pollfd first{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&first, 1, 60000), 1);  // a watchdog: two renders come first

  // Answered while the slow reader, still open, has read none of a response
  // larger than the kernel holds between the two sockets: the server has yet
  // to send the rest. A server that waited on the slow reader would answer
  // only once the write deadline (60 s) dropped it: http_get gives up after
  // 10 s of silence, and the slow reader's response would then be cut short.
  const std::string other = http_get(port, "/metrics");
  ASSERT_TRUE(starts_with(other, "HTTP/1.1 200 OK"));

  // The slow reader then gets its whole response, resumed where each write stopped.
  const int large = 1 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &large, sizeof large);  // reads faster from here on
  const std::string response = read_to_end(fd);
  ASSERT_TRUE(starts_with(response, "HTTP/1.1 200 OK"));
  const std::size_t at = response.find("Content-Length: ");
  ASSERT_NE(at, std::string::npos);
  const std::string body = http_body(response);
  EXPECT_EQ(body.size(), std::stoull(response.substr(at + 16)));
  EXPECT_GT(body.size(), largest_send_buffer());
  EXPECT_EQ(body.substr(body.size() - 1), "\n");  // whole lines to the end
}

TEST_F(MetricsEndpoint, StopClosesEveryConnectionPromptlyAndRestartWorks) {
  long_deadlines();
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  Sockets clients;
  for (int i = 0; i < 20; ++i) ASSERT_GE(clients.add(connect_loopback(port)), 0);
  const int partial = clients.add(connect_loopback(port));
  ASSERT_EQ(::send(partial, "GET /metr", 9, MSG_NOSIGNAL), 9);
  ASSERT_TRUE(starts_with(http_get(port, "/metrics"), "HTTP/1.1 200"));  // so all of them were accepted

  const Clock::time_point stopping = Clock::now();
  tslab::metrics_stop();
  // Well before any of them would have run out of time (60 s): half of that
  // is room for a loaded machine, not a speed bound.
  EXPECT_LT(Clock::now() - stopping, milliseconds(30000));
  EXPECT_EQ(tslab::metrics_port(), 0);
  for (int fd : clients.fds()) EXPECT_TRUE(closed_by_server(fd, 5000));

  const std::uint16_t again = tslab::metrics_start(0);
  ASSERT_NE(again, 0);
  EXPECT_TRUE(starts_with(http_get(again, "/metrics"), "HTTP/1.1 200 OK"));
}

// What the forked child checks, each failure its own exit status.
int child_after_fork_checks(std::uint16_t parent_port) {
  tslab::detail::metrics_after_fork_child();
  if (tslab::metrics_port() != 0) return 1;
  const std::uint16_t port = tslab::metrics_start(0);
  if (port == 0 || port == parent_port) return 2;
  const std::string response = http_get(port, "/metrics");
  if (!starts_with(response, "HTTP/1.1 200 OK") || http_body(response).find("tslab_") == std::string::npos)
    return 3;
  tslab::metrics_stop();
  if (tslab::metrics_port() != 0) return 4;
  const std::uint16_t again = tslab::metrics_start(0);
  if (again == 0 || !starts_with(http_get(again, "/metrics"), "HTTP/1.1 200 OK")) return 5;
  tslab::metrics_stop();
  return 0;
}

TEST_F(MetricsEndpoint, AForkedChildResetsAndServesItsOwnEndpoint) {
  tslab::Allocator a;
  void* block = a.allocate(64);
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  Sockets client;
  const int idle = client.add(connect_loopback(port));
  ASSERT_GE(idle, 0);
  // Answered after the idle connection was accepted: the child inherits it.
  ASSERT_TRUE(starts_with(http_get(port, "/metrics"), "HTTP/1.1 200"));

  int to_child[2], from_child[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(from_child), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const char status = static_cast<char>(child_after_fork_checks(port));
    if (::write(from_child[1], &status, 1) != 1) ::_exit(100);
    char go;
    (void)::read(to_child[0], &go, 1);  // stays alive while the parent checks
    ::_exit(status);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  pollfd reply{from_child[0], POLLIN, 0};
  ASSERT_EQ(::poll(&reply, 1, 30000), 1);
  char status = -1;
  EXPECT_EQ(::read(from_child[0], &status, 1), 1);
  EXPECT_EQ(status, 0) << "the child's check that failed";

  // While the child lives: the parent's own endpoint is untouched, and once it
  // stops, nothing of it survives in the child (no copy of a connection keeps
  // the client waiting, no copy of the listener holds the port).
  EXPECT_TRUE(starts_with(http_get(port, "/metrics"), "HTTP/1.1 200 OK"));
  tslab::metrics_stop();
  EXPECT_TRUE(closed_by_server(idle, 5000));
  EXPECT_EQ(tslab::metrics_start(port), port);

  EXPECT_EQ(::write(to_child[1], "x", 1), 1);
  int wait_status = 0;
  ASSERT_EQ(::waitpid(pid, &wait_status, 0), pid);
  EXPECT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 0);
  ::close(to_child[1]);
  ::close(from_child[0]);
  a.deallocate(block);
}

// In a child process of its own (it closes every descriptor): the server,
// then the program closes the descriptors it did not open, as a daemon does
// (closefrom), and opens its own under the same numbers. Returns 0, or which
// check failed.
int descriptors_taken_by_the_program() {
  if (slab_metrics_start(0) == 0) return 1;
  for (int fd = 3; fd < 1024; ++fd) ::close(fd);
  int program[2][2];
  if (::pipe(program[0]) != 0 || ::pipe(program[1]) != 0) return 2;
  // The server sees its descriptors gone (its wake-up pipe's write end closed)
  // and reports none running.
  for (int i = 0; i < 300 && slab_metrics_port() != 0; ++i) ::usleep(10000);
  if (slab_metrics_port() != 0) return 3;
  // A fork's child leaves the program's descriptors alone.
  const pid_t pid = ::fork();
  if (pid < 0) return 4;
  if (pid == 0) {
    for (auto& p : program)
      for (int fd : p)
        if (::fcntl(fd, F_GETFD) < 0) ::_exit(1);
    ::_exit(0);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 5;
  // Stop neither writes into nor closes them.
  slab_metrics_stop();
  for (auto& p : program) {
    for (int fd : p)
      if (::fcntl(fd, F_GETFD) < 0) return 6;
    if (!quiet(p[0])) return 7;
  }
  // And a new endpoint starts.
  if (slab_metrics_start(0) == 0) return 8;
  slab_metrics_stop();
  return 0;
}

TEST_F(MetricsEndpoint, DescriptorsTheProgramTookAreNeverTheServers) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(descriptors_taken_by_the_program());
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the check that failed";
}

TEST_F(MetricsEndpoint, StartsFromTheMetricsPortOption) {
  tslab::detail::options_reset_for_testing();  // as in a fresh process
  tslab::detail::metrics_autostart_reset_for_testing();
  const std::uint16_t port = tslab_test::free_port();
  ASSERT_TRUE(tslab_option_set("TSLAB_METRICS_PORT", std::to_string(port).c_str()));
  EXPECT_EQ(tslab::metrics_port(), 0);
  tslab::Allocator a;  // the first allocator starts it
  EXPECT_EQ(tslab::metrics_port(), port);
  EXPECT_EQ(http_get(port, "/metrics").rfind("HTTP/1.1 200", 0), 0u);
  tslab::detail::options_reset_for_testing();
}

// --- the request-head parser -------------------------------------------------

HttpHeadResult parse(const std::string& bytes) {
  return tslab::detail::parse_http_head(bytes.data(), bytes.size());
}

TEST(HttpHead, IsIncompleteUntilTheBlankLine) {
  EXPECT_EQ(tslab::detail::parse_http_head(nullptr, 0), HttpHeadResult::incomplete);
  EXPECT_EQ(parse("GET"), HttpHeadResult::incomplete);
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\n"), HttpHeadResult::incomplete);
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r"), HttpHeadResult::incomplete);
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\nHost: x\n\n"),
            HttpHeadResult::incomplete);  // bare LFs end nothing
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), HttpHeadResult::metrics);
  // Bytes after the head (a body, a pipelined request) are not looked at.
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\n\r\nPOST / HTTP/1.1"), HttpHeadResult::metrics);
}

TEST(HttpHead, TheSizeLimitIsExact) {
  EXPECT_EQ(parse(request_with_head_of(MAX_HTTP_HEAD_BYTES)), HttpHeadResult::metrics);
  EXPECT_EQ(parse(request_with_head_of(MAX_HTTP_HEAD_BYTES + 1)), HttpHeadResult::too_large);
  const std::string unended = "GET /metrics HTTP/1.1\r\nX: ";
  const std::string one_short = unended + std::string(MAX_HTTP_HEAD_BYTES - 1 - unended.size(), 'a');
  EXPECT_EQ(parse(one_short), HttpHeadResult::incomplete);
  EXPECT_EQ(parse(one_short + "a"), HttpHeadResult::too_large);
  // A terminator that starts inside the limit but ends past it does not count.
  EXPECT_EQ(parse(one_short.substr(0, MAX_HTTP_HEAD_BYTES - 3) + "\r\n\r\n"), HttpHeadResult::too_large);
  // Nor does one after the limit, however much was sent.
  EXPECT_EQ(parse(one_short + "aaaa\r\n\r\n"), HttpHeadResult::too_large);
  // A served head followed by more bytes than the limit is still served.
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\n\r\n" + std::string(2 * MAX_HTTP_HEAD_BYTES, 'b')),
            HttpHeadResult::metrics);
}

TEST(HttpHead, OnlyTheRequestLineDecides) {
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\n\r\n"), HttpHeadResult::metrics);
  EXPECT_EQ(parse("GET /metrics?x HTTP/1.1\r\n\r\n"), HttpHeadResult::metrics);
  EXPECT_EQ(parse("GET /metrics?name[]=tslab_live_bytes HTTP/1.1\r\n\r\n"), HttpHeadResult::metrics);
  EXPECT_EQ(parse("GET /metricsX HTTP/1.1\r\n\r\n"), HttpHeadResult::not_found);
  EXPECT_EQ(parse("GET /metrics/ HTTP/1.1\r\n\r\n"), HttpHeadResult::not_found);
  EXPECT_EQ(parse("GET /metrics\r\n\r\n"), HttpHeadResult::not_found);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\n\r\n"), HttpHeadResult::not_found);
  EXPECT_EQ(parse("GET  /metrics HTTP/1.1\r\n\r\n"), HttpHeadResult::not_found);
  EXPECT_EQ(parse("GET /\r\n\r\nmetrics HTTP/1.1"), HttpHeadResult::not_found);  // the path ends at the head
  EXPECT_EQ(parse("get /metrics HTTP/1.1\r\n\r\n"),
            HttpHeadResult::bad_method);  // methods are case-sensitive
  EXPECT_EQ(parse("POST /metrics HTTP/1.1\r\n\r\n"), HttpHeadResult::bad_method);
  EXPECT_EQ(parse("GETS /metrics HTTP/1.1\r\n\r\n"), HttpHeadResult::bad_method);
  EXPECT_EQ(parse("GET\r\n\r\n"), HttpHeadResult::bad_method);
  EXPECT_EQ(parse("\r\n\r\n"), HttpHeadResult::bad_method);
}

TEST(HttpHead, AHeadRequestIsToldApart) {
  EXPECT_TRUE(tslab::detail::is_head_request("HEAD /metrics HTTP/1.1\r\n\r\n", 27));
  EXPECT_TRUE(tslab::detail::is_head_request("HEAD ", 5));
  EXPECT_FALSE(tslab::detail::is_head_request("HEAD", 4));  // a prefix only: not yet
  EXPECT_FALSE(tslab::detail::is_head_request("GET / HTTP/1.1\r\n\r\n", 18));
  EXPECT_FALSE(tslab::detail::is_head_request("head / HTTP/1.1\r\n\r\n", 19));  // case-sensitive
  EXPECT_FALSE(tslab::detail::is_head_request(nullptr, 0));
}

TEST(HttpHead, NulIsAnOrdinaryByte) {
  using namespace std::string_literals;
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\nX: \0\0\r\n\r\n"s), HttpHeadResult::metrics);
  EXPECT_EQ(parse("GET /metrics\0 HTTP/1.1\r\n\r\n"s), HttpHeadResult::not_found);
  EXPECT_EQ(parse("GET\0/metrics HTTP/1.1\r\n\r\n"s), HttpHeadResult::bad_method);
  EXPECT_EQ(parse("\0GET /metrics HTTP/1.1\r\n\r\n"s), HttpHeadResult::bad_method);
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\0\r\n\r"s), HttpHeadResult::incomplete);
  EXPECT_EQ(parse(std::string(MAX_HTTP_HEAD_BYTES, '\0')), HttpHeadResult::too_large);
}

// Input placed against an inaccessible page: any read past `size` faults.
TEST(HttpHead, NeverReadsPastTheInput) {
  const long page = ::sysconf(_SC_PAGESIZE);
  auto* pages = static_cast<char*>(
      ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(pages, MAP_FAILED);
  ASSERT_EQ(::mprotect(pages + page, page, PROT_NONE), 0);
  const std::string request = "GET /metrics?x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  for (std::size_t size = 0; size <= request.size(); ++size) {
    char* at = pages + page - size;
    std::memcpy(at, request.data(), size);
    EXPECT_EQ(tslab::detail::parse_http_head(at, size),
              size == request.size() ? HttpHeadResult::metrics : HttpHeadResult::incomplete);
    EXPECT_EQ(tslab::detail::find_http_head_end(at, size, size), 0u);
  }
  const char* short_line = "GET /me\r\n\r\n";
  const std::size_t n = std::strlen(short_line);
  std::memcpy(pages + page - n, short_line, n);
  EXPECT_EQ(tslab::detail::parse_http_head(pages + page - n, n), HttpHeadResult::not_found);
  ::munmap(pages, 2 * page);
}

TEST(HttpHead, TheEndOfHeadIsFoundAcrossReads) {
  const std::string head = "GET /metrics HTTP/1.1\r\n\r\n";
  EXPECT_EQ(tslab::detail::find_http_head_end(head.data(), head.size()), head.size());
  // Received up to the first "\r" of the terminator, then the rest: searching
  // from three bytes before the new ones finds it.
  const std::size_t first_read = head.size() - 3;
  EXPECT_EQ(tslab::detail::find_http_head_end(head.data(), first_read, 0), 0u);
  EXPECT_EQ(tslab::detail::find_http_head_end(head.data(), head.size(), first_read - 3), head.size());
  EXPECT_EQ(tslab::detail::find_http_head_end(head.data(), head.size(), head.size() + 10), 0u);
  EXPECT_EQ(tslab::detail::find_http_head_end(nullptr, 0, 0), 0u);
}

}  // namespace
