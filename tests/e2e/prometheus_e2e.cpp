// This file contains the end-to-end tests of the Prometheus exposition against
// the real thing: `promtool check metrics` lints the text, and a Prometheus
// server on loopback scrapes this process's endpoint and answers a query for a
// known metric through its HTTP API. Both skip, saying why, only if the
// Debian package `prometheus` is not installed (`make deps` installs it).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "http_get.h"
#include "tslab/stats.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using tslab_test::http_body;
using tslab_test::http_get;

std::string find_tool(const char* name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    const std::string path = std::string(dir) + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

fs::path make_temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "tslab-prom-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

// Runs argv with stdin from `in` and stdout+stderr to `out`; returns the pid.
pid_t spawn(const std::vector<std::string>& args, const std::string& in, const std::string& out) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.empty() ? "/dev/null" : in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string allocator_id(const tslab::Allocator& a) {
  const std::string json = tslab::to_json(a);
  return std::to_string(std::stoull(json.substr(json.find("\"allocator\":") + 12)));
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The value of the first sample of an instant query's JSON answer, or "".
std::string first_value(const std::string& body) {
  const std::size_t at = body.find("\"value\":[");
  if (at == std::string::npos) return "";
  const std::size_t open = body.find('"', body.find(',', at));
  const std::size_t close = body.find('"', open + 1);
  return open == std::string::npos || close == std::string::npos ? ""
                                                                 : body.substr(open + 1, close - open - 1);
}

TEST(PrometheusE2E, PromtoolAcceptsTheExposition) {
  const std::string promtool = find_tool("promtool");
  if (promtool.empty())
    GTEST_SKIP() << "promtool not found: install the Debian package `prometheus` (make deps)";
  tslab::Allocator a, b;
  a.set_epoch_label(0, "quote\" backslash\\ newline\n");
  std::vector<void*> blocks;
  for (int i = 0; i < 3000; ++i) blocks.push_back(a.allocate(16 + (i % 97) * 40));
  blocks.push_back(b.allocate(1 << 20));
  a.epoch_advance();
  b.deallocate(blocks.back());
  blocks.pop_back();
  const fs::path dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  // Every live allocator, as the endpoint serves it.
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);
  const std::string text = http_body(http_get(port, "/metrics"));
  tslab::metrics_stop();
  ASSERT_FALSE(text.empty());
  { std::ofstream(dir / "metrics.txt") << text; }
  const pid_t pid =
      spawn({promtool, "check", "metrics"}, (dir / "metrics.txt").string(), (dir / "out.txt").string());
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  const std::string out = read_file(dir / "out.txt");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_EQ(out, "") << "promtool reported problems";
  for (void* p : blocks) a.deallocate(p);
  fs::remove_all(dir);
}

TEST(PrometheusE2E, ARealPrometheusScrapesTheEndpoint) {
  const std::string prometheus = find_tool("prometheus");
  if (prometheus.empty())
    GTEST_SKIP() << "prometheus not found: install the Debian package `prometheus` (make deps)";
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  a.set_epoch_label(e, "e2e");
  std::vector<void*> blocks;
  for (int i = 0; i < 777; ++i) blocks.push_back(a.allocate(64, e));
  const std::uint16_t port = tslab::metrics_start(0);
  ASSERT_NE(port, 0);

  const fs::path dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  {
    std::ofstream config(dir / "prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
           << "scrape_configs:\n  - job_name: tslab\n    static_configs:\n"
           << "      - targets: ['127.0.0.1:" << port << "']\n";
  }
  const std::uint16_t web = tslab_test::free_port();
  ASSERT_NE(web, 0);
  const pid_t pid = spawn({prometheus, "--config.file=" + (dir / "prometheus.yml").string(),
                           "--storage.tsdb.path=" + (dir / "data").string(),
                           "--web.listen-address=127.0.0.1:" + std::to_string(web)},
                          "", (dir / "prometheus.log").string());
  ASSERT_GT(pid, 0);

  const std::string id = allocator_id(a);
  const std::string query =
      "/api/v1/query?query=" + url_encode("tslab_live_blocks{allocator=\"" + id + "\"}");
  const std::string label_query =
      "/api/v1/query?query=" + url_encode("tslab_epoch_info{allocator=\"" + id + "\",label=\"e2e\"}");
  std::string value, label_value, last;
  // Prometheus starts, scrapes every second, and the sample becomes queryable.
  // The deadline only bounds a broken setup; a working one answers in seconds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) break;  // Prometheus died: see its log below
    last = http_body(http_get(web, query));
    value = first_value(last);
    if (!value.empty()) {
      label_value = first_value(http_body(http_get(web, label_query)));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(value, "777") << "last answer: " << last << "\nprometheus log:\n"
                          << read_file(dir / "prometheus.log");
  EXPECT_EQ(label_value, "1");
  tslab::metrics_stop();
  for (void* p : blocks) a.deallocate(p);
  fs::remove_all(dir);
}

}  // namespace
