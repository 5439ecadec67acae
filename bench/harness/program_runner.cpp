// This file contains the running of external programs for the preload
// workloads: through tslab_launch (bench/programs/launch.c), so that a
// program's peak RSS does not include the measuring child's, with the child's
// environment; the program's resource usage; and the checks and temporary files
// around it.
#include "harness/program_runner.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "harness/stats.hpp"

extern char** environ;

// tslab_launch of the same build, and where an installed `tslab` finds its own.
#ifndef TSLAB_BENCH_LAUNCH_PROGRAM
#define TSLAB_BENCH_LAUNCH_PROGRAM ""
#endif
#ifndef TSLAB_BENCH_INSTALLED_LAUNCH_PROGRAM
#define TSLAB_BENCH_INSTALLED_LAUNCH_PROGRAM ""
#endif

namespace bench {
namespace {

constexpr std::size_t kMaxCaptured = 64 * 1024;

std::uint64_t to_ns(const timeval& t) {
  return static_cast<std::uint64_t>(t.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(t.tv_usec) * 1000ull;
}

std::string read_capped(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string s(kMaxCaptured, '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

// The last non-empty line of `text`, for error messages.
std::string last_line(const std::string& text) {
  std::string last;
  std::istringstream is(text);
  for (std::string l; std::getline(is, l);)
    if (!l.empty()) last = l;
  return last.size() > 300 ? last.substr(0, 300) + "..." : last;
}

// The child's environment with `extra` added; an entry of `extra` replaces one of the same name.
std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    const std::size_t name_len = eq != nullptr ? static_cast<std::size_t>(eq - *e) : std::strlen(*e);
    bool replaced = false;
    for (const std::string& x : extra)
      replaced = replaced || x.compare(0, name_len + 1, *e, name_len + 1) == 0;
    if (!replaced) env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::string launcher() {
  const std::string installed = installed_file(TSLAB_BENCH_INSTALLED_LAUNCH_PROGRAM);
  if (!installed.empty()) return installed;
  return ::access(TSLAB_BENCH_LAUNCH_PROGRAM, X_OK) == 0 ? TSLAB_BENCH_LAUNCH_PROGRAM : std::string();
}

bool read_all(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool run_external(const ProgramCommand& cmd, const std::string& scratch_dir, ProgramResult& out,
                  std::string& error) {
  if (cmd.argv.empty()) return error = "no program to run", false;
  const std::string program = cmd.argv[0];
  const std::string out_path = scratch_dir + "/program.out", err_path = scratch_dir + "/program.err";
  const int in_fd = ::open(cmd.stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
  const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
    for (int fd : {in_fd, out_fd, err_fd})
      if (fd >= 0) ::close(fd);
    return error = "could not open the program's input or output files in " + scratch_dir, false;
  }
  const std::string launch = launcher();
  if (launch.empty()) {
    for (int fd : {in_fd, out_fd, err_fd}) ::close(fd);
    return error = "tslab_launch not found (built and installed with tslab)", false;
  }
  // The launcher's own environment is empty; the program's follows its FD
  // argument (3: the pipe's writing end), up to "--".
  std::vector<std::string> args = {launch, "3"};
  for (std::string& e : environment_with(cmd.extra_env)) args.push_back(std::move(e));
  args.emplace_back("--");
  args.insert(args.end(), cmd.argv.begin(), cmd.argv.end());
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  char* no_env[] = {nullptr};
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    for (int fd : {in_fd, out_fd, err_fd}) ::close(fd);
    return error = std::string("pipe: ") + std::strerror(errno), false;
  }

  const std::uint64_t t0 = mono_ns();
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {in_fd, out_fd, err_fd, report[0], report[1]}) ::close(fd);
    return error = std::string("fork: ") + std::strerror(errno), false;
  }
  if (pid == 0) {
    // The launcher, and the program with it, die with the measuring child (a
    // timeout kills both).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    dup2(report[1], 3);  // dup2 clears close-on-exec
    if (!cmd.directory.empty() && chdir(cmd.directory.c_str()) != 0) _exit(126);
    execve(launch.c_str(), av.data(), no_env);
    _exit(125);
  }
  for (int fd : {in_fd, out_fd, err_fd, report[1]}) ::close(fd);
  int status = 0, launcher_status = 0;
  rusage ru{};
  const bool reported = read_all(report[0], &status, sizeof status) && read_all(report[0], &ru, sizeof ru);
  ::close(report[0]);
  while (waitpid(pid, &launcher_status, 0) < 0 && errno == EINTR) {
  }
  const std::uint64_t t1 = mono_ns();
  if (!reported || !WIFEXITED(launcher_status) || WEXITSTATUS(launcher_status) != 0)
    return error = program + " could not be started through " + launch, false;
  out.wall_ns = t1 - t0;
  out.user_ns = to_ns(ru.ru_utime);
  out.sys_ns = to_ns(ru.ru_stime);
  out.max_rss = static_cast<std::uint64_t>(ru.ru_maxrss) * 1024u;
  out.minor_faults = static_cast<std::uint64_t>(ru.ru_minflt);
  out.major_faults = static_cast<std::uint64_t>(ru.ru_majflt);
  out.out = read_capped(out_path);
  out.err = read_capped(err_path);
  if (WIFSIGNALED(status))
    return error = strf("%s was killed by signal %d (%s): %s", program.c_str(), WTERMSIG(status),
                        strsignal(WTERMSIG(status)), last_line(out.err).c_str()),
           false;
  if (WEXITSTATUS(status) == 127) return error = program + " could not be started", false;
  if (WEXITSTATUS(status) != 0)
    return error = strf("%s exited with status %d: %s", program.c_str(), WEXITSTATUS(status),
                        last_line(out.err).c_str()),
           false;
  return true;
}

bool preload_applies_to(const std::string& path, std::string& why) {
  if (access(path.c_str(), X_OK) != 0) return why = path + " not found or not executable", false;
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh{};
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64)
    return why = path + " is not a 64-bit ELF executable", false;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    in.seekg(static_cast<std::streamoff>(eh.e_phoff + static_cast<std::uint64_t>(i) * eh.e_phentsize));
    if (!in.read(reinterpret_cast<char*>(&ph), sizeof ph)) break;
    if (ph.p_type == PT_INTERP) return true;
  }
  return why = path + " is statically linked: LD_PRELOAD cannot replace its malloc", false;
}

bool make_temp_dir(const char* prefix, std::string& path, std::string& error) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return error = "mkdtemp " + tmpl + ": " + std::strerror(errno), false;
  path = tmpl;
  return true;
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

bool write_text_file(const std::string& path, const std::string& text) {
  std::ofstream o(path, std::ios::binary);
  o << text;
  o.close();
  return static_cast<bool>(o);
}

}  // namespace bench
