// This file contains the tests of the built-in metrics endpoint: what it
// serves, its errors, stop and restart, and its start from TSLAB_METRICS_PORT.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http_get.h"
#include "options/options.h"
#include "slab_stats.h"
#include "stats/metrics_server.h"
#include "tslab/options.h"
#include "tslab/stats.hpp"

namespace {

using tslab_test::http_body;
using tslab_test::http_get;

// The allocator's id, as its JSON and its metrics' allocator label carry it.
std::string allocator_id(const tslab::Allocator& a) {
  const std::string json = tslab::to_json(a);
  const std::size_t at = json.find("\"allocator\":");
  return at == std::string::npos ? "" : std::to_string(std::stoull(json.substr(at + 12)));
}

class MetricsEndpoint : public testing::Test {
 protected:
  void TearDown() override { tslab::metrics_stop(); }
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

}  // namespace
