// This file contains the search for python3 with matplotlib and for the plot
// script, and the run of the script.
#include "report/charts.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

extern char** environ;

#ifndef TSLAB_PLOT_SCRIPT_SOURCE
#define TSLAB_PLOT_SCRIPT_SOURCE ""
#endif

namespace bench {
namespace {

constexpr const char* kScriptName = "tslab_plot.py";

// Runs argv, capturing stdout (and stderr when `merge_stderr`); returns the exit status or -1.
int run(const std::vector<std::string>& args, std::string& output, bool merge_stderr) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  if (merge_stderr) posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  std::vector<char*> av;
  for (const auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, av[0], &fa, nullptr, av.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return -1;
  }
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool has_matplotlib(const std::string& python) {
  std::string out;
  return run({python, "-c", "import matplotlib"}, out, true) == 0;
}

// A python3 that imports matplotlib: Debian's /usr/bin/python3 first (another
// python3 earlier on PATH may lack the Debian package), then python3 on PATH.
bool find_python(std::string& python, std::string& error) {
  if (const char* env = std::getenv("TSLAB_PYTHON"); env != nullptr && *env != '\0') {
    if (has_matplotlib(env)) return python = env, true;
    error = std::string("TSLAB_PYTHON=") + env + " cannot import matplotlib";
    return false;
  }
  for (const char* candidate : {"/usr/bin/python3", "python3"})
    if ((candidate[0] != '/' || access(candidate, X_OK) == 0) && has_matplotlib(candidate))
      return python = candidate, true;
  error =
      "charts need python3 with matplotlib, and neither /usr/bin/python3 nor python3 on PATH can import it "
      "(Debian: apt-get install python3-matplotlib, or set TSLAB_PYTHON)";
  return false;
}

std::string executable_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<std::size_t>(n));
  const auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

// The plot script: $TSLAB_PLOT_SCRIPT, next to this binary, in ../share/tslab,
// or in the source tree this binary was built from.
bool find_script(std::string& script, std::string& error) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("TSLAB_PLOT_SCRIPT"); env != nullptr && *env != '\0')
    candidates.push_back(env);
  const std::string dir = executable_dir();
  candidates.push_back(dir + "/" + kScriptName);
  candidates.push_back(dir + "/../share/tslab/" + kScriptName);
  if (TSLAB_PLOT_SCRIPT_SOURCE[0] != '\0') candidates.push_back(TSLAB_PLOT_SCRIPT_SOURCE);
  for (const auto& c : candidates)
    if (access(c.c_str(), R_OK) == 0) return script = c, true;
  error = std::string("the plot script ") + kScriptName + " is not next to this binary (" + dir +
          ") nor in the source tree; set TSLAB_PLOT_SCRIPT to its path";
  return false;
}

bool make_dirs(const std::string& dir, std::string& error) {
  std::string path;
  std::stringstream ss(dir);
  if (!dir.empty() && dir[0] == '/') path = "/";
  for (std::string part; std::getline(ss, part, '/');) {
    if (part.empty()) continue;
    path += part + "/";
    if (mkdir(path.c_str(), 0777) != 0 && errno != EEXIST) {
      error = "cannot create " + path + ": " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

}  // namespace

bool draw_charts(const std::string& json_path, const std::string& dir, const std::string& kind,
                 std::vector<std::string>& written, std::string& error) {
  std::string python, script;
  if (!find_python(python, error) || !find_script(script, error) || !make_dirs(dir, error)) return false;
  std::string out;
  const int rc = run({python, script, "--input", json_path, "--out", dir, "--kind", kind}, out, true);
  if (rc != 0) {
    error = "the plot script failed (" + python + " " + script + "): " + out;
    while (!error.empty() && error.back() == '\n') error.pop_back();
    return false;
  }
  std::istringstream is(out);
  for (std::string line; std::getline(is, line);)
    if (line.rfind("wrote ", 0) == 0) written.push_back(line.substr(6));
  return true;
}

}  // namespace bench
