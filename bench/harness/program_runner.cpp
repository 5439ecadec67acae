// This file contains the running of external programs for the preload
// workloads: fork, execve with the child's environment, wait4 for the
// program's resource usage, and the checks and temporary files around it.
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

#include "harness/rss_timing.hpp"
#include "harness/stats.hpp"

extern char** environ;

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
  std::vector<std::string> args = cmd.argv, env = environment_with(cmd.extra_env);
  std::vector<char*> av, ev;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  for (auto& e : env) ev.push_back(e.data());
  ev.push_back(nullptr);

  const std::uint64_t t0 = mono_ns();
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {in_fd, out_fd, err_fd}) ::close(fd);
    return error = std::string("fork: ") + std::strerror(errno), false;
  }
  if (pid == 0) {
    // The program dies with the measuring child (a timeout kills both).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    if (!cmd.directory.empty() && chdir(cmd.directory.c_str()) != 0) _exit(126);
    execve(program.c_str(), av.data(), ev.data());
    _exit(127);
  }
  for (int fd : {in_fd, out_fd, err_fd}) ::close(fd);
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  const std::uint64_t t1 = mono_ns();
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
