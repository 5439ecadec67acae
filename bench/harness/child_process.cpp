// This file contains the spawning of measuring children and their entry point.
#include "harness/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "harness/allocators.hpp"
#include "harness/stats.hpp"
#include "workloads/registry.hpp"

extern char** environ;

namespace bench {
namespace {

// A child that hangs (a deadlock under test) dies by SIGALRM; the driver reports it.
constexpr unsigned kChildTimeoutSeconds = 900;

std::vector<std::string> child_arguments(const ChildSpec& sp) {
  std::vector<std::string> args = {
      "tslab",     kChildFlag, "--alloc", sp.alloc,    "--workload",
      sp.workload, "--mode",   sp.mode,   "--threads", std::to_string(sp.threads)};
  for (const auto& [k, v] : sp.params) {
    args.push_back("--param");
    args.push_back(k + "=" + std::to_string(v));
  }
  return args;
}

bool parse_child_arguments(int argc, char** argv, ChildSpec& sp, std::string& error) {
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--alloc") {
      sp.alloc = v;
    } else if (k == "--workload") {
      sp.workload = v;
    } else if (k == "--mode") {
      sp.mode = v;
    } else if (k == "--threads") {
      sp.threads = static_cast<unsigned>(std::strtoul(v.c_str(), nullptr, 10));
    } else if (k == "--param") {
      const auto eq = v.find('=');
      if (eq == std::string::npos) return error = "bad --param " + v, false;
      sp.params[v.substr(0, eq)] = std::strtoull(v.c_str() + eq + 1, nullptr, 10);
    } else {
      return error = "unknown child argument " + k, false;
    }
  }
  return true;
}

std::string read_all(int fd, const std::function<void()>& tick) {
  std::string text;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, 200);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      if (tick) tick();
      continue;
    }
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace

bool run_child(const ChildSpec& spec, Sample& out, std::string& error, const std::function<void()>& tick) {
  std::vector<std::string> args = child_arguments(spec);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0) env.emplace_back(*e);
  const std::string lib = preload_library(spec.alloc);
  if (!lib.empty()) env.push_back("LD_PRELOAD=" + lib);
  std::vector<char*> av, ev;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  for (auto& e : env) ev.push_back(e.data());
  ev.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return error = std::string("pipe: ") + std::strerror(errno), false;
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (pid == 0) {
    dup2(fds[1], 1);
    execve("/proc/self/exe", av.data(), ev.data());
    _exit(127);
  }
  close(fds[1]);
  const std::string text = read_all(fds[0], tick);
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // The last line that looks like an object is the report.
  std::string line;
  std::istringstream is(text);
  for (std::string l; std::getline(is, l);)
    if (!l.empty() && l[0] == '{') line = l;
  Sample s;
  if (line.empty() || !parse_json_line(line, s)) {
    error = WIFSIGNALED(status)
                ? strf("child killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)))
                : strf("child exited %d without a report", WEXITSTATUS(status));
    return false;
  }
  if (s.num["ok"] != 1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    error = s.str.count("error") ? s.str["error"] : strf("child exited with status %d", status);
    return false;
  }
  out = std::move(s);
  return true;
}

int child_main(int argc, char** argv) {
  ChildSpec sp;
  std::string detail;
  Figures f;
  if (!parse_child_arguments(argc, argv, sp, detail)) {
    std::fputs(json_line(sp, false, detail, f).c_str(), stdout);
    return 2;
  }
  alarm(kChildTimeoutSeconds);
  if (!is_known_allocator(sp.alloc) || !verify_live_allocator(sp.alloc, detail)) {
    // Refuse: no figure is reported for an allocator that is not the one serving malloc.
    if (detail.empty()) detail = "unknown allocator " + sp.alloc;
    std::fputs(json_line(sp, false, "refused: " + detail, f).c_str(), stdout);
    return 2;
  }
  if (is_tslab_variant(sp.alloc)) detail = "tslab through its C API; malloc is " + detail + ", no preload";
  std::string error;
  if (!run_workload(sp, f, error)) {
    std::fputs(json_line(sp, false, error, f).c_str(), stdout);
    return 2;
  }
  const std::string line = json_line(sp, true, detail, f);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace bench
