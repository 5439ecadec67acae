// tslab_bench: runs each (allocator, workload, mode) in its own child process
// (this binary re-executed with --child, LD_PRELOAD set for the peers), collects
// the one-line JSON each child prints, and reports medians across runs.
#include <fcntl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "allocators.hpp"
#include "driver.hpp"
#include "stats.hpp"
#include "workloads.hpp"

extern char** environ;

namespace bench {
namespace {

// ---- child ---------------------------------------------------------------

constexpr unsigned kChildTimeoutSeconds = 900;

int child_main(int argc, char** argv) {
  ChildSpec sp;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--alloc")
      sp.alloc = v;
    else if (k == "--workload")
      sp.workload = v;
    else if (k == "--mode")
      sp.mode = v;
    else if (k == "--threads")
      sp.threads = static_cast<unsigned>(std::strtoul(v.c_str(), nullptr, 10));
    else if (k == "--ops")
      sp.ops = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--slots")
      sp.slots = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--count")
      sp.count = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--seed")
      sp.seed = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--size")
      sp.size = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--objects")
      sp.objects = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--cycles")
      sp.cycles = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--warmup")
      sp.warmup = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--batch")
      sp.batch = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--fill-bytes")
      sp.fill_bytes = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--lat-ops")
      sp.lat_ops = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--lat-fill-bytes")
      sp.lat_fill_bytes = std::strtoull(v.c_str(), nullptr, 10);
  }
  std::string head = strf("{\"alloc\":\"%s\",\"workload\":\"%s\",\"mode\":\"%s\",\"threads\":%u",
                          json_escape(sp.alloc).c_str(), json_escape(sp.workload).c_str(),
                          json_escape(sp.mode).c_str(), sp.threads);
  // A child that hangs (a deadlock under test) dies by SIGALRM; the driver reports it.
  alarm(kChildTimeoutSeconds);
  std::string detail;
  if (!is_known_allocator(sp.alloc) || !verify_live_allocator(sp.alloc, detail)) {
    // Refuse: no figure is reported for an allocator that is not the one serving malloc.
    if (detail.empty()) detail = "unknown allocator";
    std::printf("%s,\"ok\":false,\"error\":\"refused: %s\"}\n", head.c_str(), json_escape(detail).c_str());
    return 2;
  }
  if (is_tslab_variant(sp.alloc)) detail = "tslab through its C API; malloc is " + detail + ", no preload";
  Figures f;
  std::string error;
  if (!run_workload(sp, f, error)) {
    std::printf("%s,\"ok\":false,\"error\":\"%s\"}\n", head.c_str(), json_escape(error).c_str());
    return 2;
  }
  std::string out = head + ",\"ok\":true,\"verified\":\"" + json_escape(detail) + "\"";
  for (const auto& [k, v] : f.items) out += strf(",\"%s\":%.17g", k.c_str(), v);
  out += "}\n";
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  return 0;
}

// ---- JSON line parser (flat objects of strings, numbers and booleans) -----

bool parse_flat_json(const std::string& s, Sample& out) {
  std::size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  auto str = [&](std::string& o) {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) {
        ++i;
        if (s[i] == 'u' && i + 4 < s.size()) {
          o += static_cast<char>(std::strtol(s.substr(i + 1, 4).c_str(), nullptr, 16));
          i += 5;
          continue;
        }
      }
      o += s[i++];
    }
    if (i >= s.size()) return false;
    ++i;
    return true;
  };
  ws();
  if (i >= s.size() || s[i++] != '{') return false;
  for (;;) {
    ws();
    if (i < s.size() && s[i] == '}') return true;
    std::string key;
    if (!str(key)) return false;
    ws();
    if (i >= s.size() || s[i++] != ':') return false;
    ws();
    if (i < s.size() && s[i] == '"') {
      std::string v;
      if (!str(v)) return false;
      out.str[key] = v;
    } else if (s.compare(i, 4, "true") == 0) {
      out.num[key] = 1, i += 4;
    } else if (s.compare(i, 5, "false") == 0) {
      out.num[key] = 0, i += 5;
    } else {
      char* end = nullptr;
      double v = std::strtod(s.c_str() + i, &end);
      if (end == s.c_str() + i) return false;
      out.num[key] = v;
      i = static_cast<std::size_t>(end - s.c_str());
    }
    ws();
    if (i < s.size() && s[i] == ',') ++i;
  }
}

// ---- driver ----------------------------------------------------------------

std::string shell_quote(const std::string& a) {
  if (!a.empty() &&
      a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+@%") ==
          std::string::npos)
    return a;
  std::string o = "'";
  for (char c : a) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

std::string machine_description() {
  std::string model = "unknown";
  std::ifstream ci("/proc/cpuinfo");
  for (std::string line; std::getline(ci, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) model = line.substr(p + 2);
      break;
    }
  }
  utsname u{};
  uname(&u);
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  return strf("nproc %ld, CPU \"%s\", kernel %s %s (%s), RAM %.1f GiB", sysconf(_SC_NPROCESSORS_ONLN),
              model.c_str(), u.sysname, u.release, u.machine,
              static_cast<double>(pages) * static_cast<double>(psz) / (1024.0 * 1024 * 1024));
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  if (!(f >> a >> b >> c)) return "unknown";
  return a + " " + b + " " + c;
}

// Runs one child; returns true and fills `out` when it reported figures.
bool spawn_child(const Config& cfg, const std::string& alloc, const Case& c, const std::string& mode,
                 Sample& out, std::string& error) {
  std::vector<std::string> args = {"tslab_bench",
                                   "--child",
                                   "--alloc",
                                   alloc,
                                   "--workload",
                                   c.workload,
                                   "--mode",
                                   mode,
                                   "--threads",
                                   std::to_string(c.threads),
                                   "--ops",
                                   std::to_string(cfg.churn_ops),
                                   "--slots",
                                   std::to_string(cfg.churn_slots),
                                   "--count",
                                   std::to_string(cfg.bulk_count),
                                   "--seed",
                                   std::to_string(cfg.seed),
                                   "--size",
                                   std::to_string(cfg.size),
                                   "--objects",
                                   std::to_string(cfg.retention_objects),
                                   "--cycles",
                                   std::to_string(cfg.cycles),
                                   "--warmup",
                                   std::to_string(cfg.warmup),
                                   "--batch",
                                   std::to_string(cfg.batch),
                                   "--fill-bytes",
                                   std::to_string(cfg.close_mib << 20),
                                   "--lat-ops",
                                   std::to_string(cfg.lat_ops),
                                   "--lat-fill-bytes",
                                   std::to_string(cfg.lat_fill_mib << 20)};
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0) env.emplace_back(*e);
  const std::string lib = preload_library(alloc);
  if (!lib.empty()) env.push_back("LD_PRELOAD=" + lib);
  std::vector<char*> av, ev;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  for (auto& e : env) ev.push_back(e.data());
  ev.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  std::fflush(nullptr);
  pid_t pid = fork();
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
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t r = read(fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    text.append(buf, static_cast<std::size_t>(r));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // The last non-empty line is the report.
  std::string line;
  std::istringstream is(text);
  for (std::string l; std::getline(is, l);)
    if (!l.empty() && l[0] == '{') line = l;
  Sample s;
  if (line.empty() || !parse_flat_json(line, s)) {
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

// The figure the progress line shows for one child.
std::string progress_key(const std::string& workload, const std::string& mode) {
  if (workload == "churn") return mode == "tput" ? "ns_per_op" : "p999_ns";
  if (workload == "bulk") return mode == "tput" ? "alloc_ns" : "alloc_p999_ns";
  if (workload == "retention") return "rss_after_purge";
  if (workload == "phase-shifts") return "growth_pct";
  return mode == "close" ? "us_per_mib" : "p999_ns";
}

void usage(std::FILE* f) {
  std::fputs(
      "usage: tslab_bench [options]\n"
      "  --runs N              runs per measurement; medians are reported (default 3)\n"
      "  --workload W          churn | bulk | retention | phase-shifts | close-cost | lifecycle\n"
      "                        (retention, phase-shifts and close-cost) | all (default all)\n"
      "  --allocators LIST     comma-separated from tslab,tslab-handle,tslab-epochs,glibc,mimalloc,\n"
      "                        jemalloc,tcmalloc\n"
      "  --churn-ops N         churn operations per pass (default 20000000)\n"
      "  --bulk-count N        bulk blocks per thread (default 500000)\n"
      "  --retention-objects N retention objects (default 1000000)\n"
      "  --cycles N            phase-shifts cycles (default 1000; the warm-up reading is at 50)\n"
      "  --close-mib N         close-cost: MiB filled before the timed epoch_close (default 64)\n"
      "  --seed N              PRNG seed (churn slots, lifecycle sizes)\n"
      "  --json FILE           write all figures (every run and the medians) as JSON\n"
      "  --markdown FILE       write the report as Markdown tables\n"
      "  --quick               tiny sizes and 1 run unless --runs is given (smoke test)\n"
      "Peers are loaded with LD_PRELOAD; override their paths with TSLAB_BENCH_MIMALLOC_SO,\n"
      "TSLAB_BENCH_JEMALLOC_SO and TSLAB_BENCH_TCMALLOC_SO.\n",
      f);
}

bool parse_u64(const char* s, std::uint64_t& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || s[0] == '-') return false;
  out = v;
  return true;
}

int driver_main(int argc, char** argv) {
  Config cfg;
  for (int i = 0; i < argc; ++i) cfg.command += (i ? " " : "") + shell_quote(argv[i]);
  bool runs_given = false, ops_given = false, count_given = false, objects_given = false,
       cycles_given = false, close_given = false;
  std::string alloc_list;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](const char* what) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tslab_bench: %s needs %s\n", a.c_str(), what);
        std::exit(64);
      }
      return argv[++i];
    };
    std::uint64_t v = 0;
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--runs") {
      if (!parse_u64(need("a number"), v) || v == 0 || v > 1000)
        return std::fprintf(stderr, "tslab_bench: bad --runs\n"), 64;
      cfg.runs = static_cast<unsigned>(v), runs_given = true;
    } else if (a == "--workload") {
      cfg.workload = need("a workload");
      bool known = false;
      for (const char* w : {"churn", "bulk", "retention", "phase-shifts", "close-cost", "lifecycle", "all"})
        known = known || cfg.workload == w;
      if (!known)
        return std::fprintf(stderr,
                            "tslab_bench: --workload must be churn, bulk, retention, phase-shifts, "
                            "close-cost, lifecycle or all\n"),
               64;
    } else if (a == "--allocators") {
      alloc_list = need("a list");
    } else if (a == "--churn-ops") {
      if (!parse_u64(need("a number"), v) || v == 0)
        return std::fprintf(stderr, "tslab_bench: bad --churn-ops\n"), 64;
      cfg.churn_ops = v, ops_given = true;
    } else if (a == "--bulk-count") {
      if (!parse_u64(need("a number"), v) || v == 0)
        return std::fprintf(stderr, "tslab_bench: bad --bulk-count\n"), 64;
      cfg.bulk_count = v, count_given = true;
    } else if (a == "--retention-objects") {
      if (!parse_u64(need("a number"), v) || v == 0)
        return std::fprintf(stderr, "tslab_bench: bad --retention-objects\n"), 64;
      cfg.retention_objects = v, objects_given = true;
    } else if (a == "--cycles") {
      if (!parse_u64(need("a number"), v) || v == 0)
        return std::fprintf(stderr, "tslab_bench: bad --cycles\n"), 64;
      cfg.cycles = v, cycles_given = true;
    } else if (a == "--close-mib") {
      if (!parse_u64(need("a number"), v) || v == 0 || v > (1u << 20))
        return std::fprintf(stderr, "tslab_bench: bad --close-mib\n"), 64;
      cfg.close_mib = v, close_given = true;
    } else if (a == "--seed") {
      if (!parse_u64(need("a number"), v)) return std::fprintf(stderr, "tslab_bench: bad --seed\n"), 64;
      cfg.seed = v;
    } else if (a == "--json") {
      cfg.json_path = need("a file");
    } else if (a == "--markdown") {
      cfg.markdown_path = need("a file");
    } else if (a == "--quick") {
      cfg.quick = true;
    } else {
      std::fprintf(stderr, "tslab_bench: unknown option %s\n", a.c_str());
      usage(stderr);
      return 64;
    }
  }
  if (cfg.quick) {
    if (!runs_given) cfg.runs = 1;
    if (!ops_given) cfg.churn_ops = 200000;
    if (!count_given) cfg.bulk_count = 20000;
    if (!objects_given) cfg.retention_objects = 20000;
    if (!cycles_given) cfg.cycles = 40;
    if (!close_given) cfg.close_mib = 4;
    cfg.batch = 2000;
    cfg.lat_ops = 200000;
    cfg.lat_fill_mib = 2;
  }
  // The warm-up reading: after cycle 50, or a twentieth of the cycles when fewer than 1000.
  cfg.warmup = std::max<std::uint64_t>(1, std::min<std::uint64_t>(50, cfg.cycles / 20));

  // Allocators: requested ones in display order; unavailable ones skipped with a reason.
  Store st;
  std::vector<std::string> wanted;
  if (alloc_list.empty()) {
    wanted = all_allocators();
  } else {
    std::stringstream ss(alloc_list);
    for (std::string n; std::getline(ss, n, ',');) {
      if (n.empty()) continue;
      if (!is_known_allocator(n))
        return std::fprintf(stderr, "tslab_bench: unknown allocator %s\n", n.c_str()), 64;
      wanted.push_back(n);
    }
  }
  for (const auto& n : all_allocators()) {
    bool requested = false;
    for (const auto& w : wanted) requested = requested || w == n;
    if (!requested) continue;
    if (is_tslab_variant(n) && !tslab_built_in()) {
      st.skipped.push_back(n + ": this binary was built without the tslab library");
      continue;
    }
    const std::string lib = preload_library(n);
    if (!lib.empty() && access(lib.c_str(), R_OK) != 0) {
      st.skipped.push_back(n + ": " + lib + " not found");
      continue;
    }
    st.allocators.push_back(n);
  }
  cfg.allocators = st.allocators;
  const std::string& w = cfg.workload;
  const bool lifecycle = w == "all" || w == "lifecycle";
  if (w == "all" || w == "churn") st.cases.push_back({"churn", "churn", 1, {"tput", "lat"}});
  if (w == "all" || w == "bulk") {
    st.cases.push_back({"bulk1", "bulk", 1, {"tput", "lat"}});
    st.cases.push_back({"bulk2", "bulk", 2, {"tput", "lat"}});
  }
  if (lifecycle || w == "retention") st.cases.push_back({"retention", "retention", 1, {"rss"}});
  if (lifecycle || w == "phase-shifts") st.cases.push_back({"phase-shifts", "phase-shifts", 1, {"rss"}});
  if (lifecycle || w == "close-cost")
    st.cases.push_back({"close-cost", "close-cost", 2, {"close", "lat-alone", "lat-fill", "lat-close"}});
  cfg.machine = machine_description();
  cfg.load_before = load_average();

  std::printf("Command: %s\n", cfg.command.c_str());
  std::printf("Machine: %s\n", cfg.machine.c_str());
  for (const auto& s : st.skipped) std::printf("Skipped %s\n", s.c_str());
  std::fflush(stdout);
  if (st.allocators.empty()) {
    std::fprintf(stderr, "tslab_bench: no allocator to measure\n");
    return 1;
  }

  // Runs are the outer loop; within a run each case visits every allocator in
  // turn (starting point rotated per run), so noise spreads over all of them.
  const std::size_t na = st.allocators.size();
  for (unsigned r = 0; r < cfg.runs; ++r) {
    for (const Case& c : st.cases) {
      for (std::size_t k = 0; k < na; ++k) {
        const std::string& alloc = st.allocators[(k + r) % na];
        if (!c.applies(alloc)) continue;
        for (const std::string& mode : c.modes) {
          Sample s;
          std::string err;
          std::fprintf(stderr, "[run %u/%u] %-6s %-4s %-13s", r + 1, cfg.runs, c.id.c_str(), mode.c_str(),
                       alloc.c_str());
          if (spawn_child(cfg, alloc, c, mode, s, err)) {
            if (!st.verified.count(alloc)) st.verified[alloc] = s.str["verified"];
            if (s.num.count("peak_reset") && s.num["peak_reset"] == 0) st.peak_reset_failed = true;
            st.runs[alloc][c.id + "/" + mode].push_back(s);
            const std::string key = progress_key(c.workload, mode);
            std::fprintf(stderr, " %s=%.2f\n", key.c_str(), s.num[key]);
          } else {
            std::fprintf(stderr, " FAILED: %s\n", err.c_str());
            st.errors[alloc].push_back(c.id + "/" + mode + ": " + err);
          }
        }
      }
    }
  }

  cfg.load_after = load_average();
  const std::string report = render_report(cfg, st, false);
  std::fputs(report.c_str(), stdout);
  std::fflush(stdout);
  if (!cfg.json_path.empty()) {
    std::ofstream o(cfg.json_path);
    o << render_json(cfg, st);
    if (!o) std::fprintf(stderr, "tslab_bench: could not write %s\n", cfg.json_path.c_str());
  }
  if (!cfg.markdown_path.empty()) {
    std::ofstream o(cfg.markdown_path);
    o << render_report(cfg, st, true);
    if (!o) std::fprintf(stderr, "tslab_bench: could not write %s\n", cfg.markdown_path.c_str());
  }
  return st.errors.empty() ? 0 : 1;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--child") == 0) return bench::child_main(argc, argv);
  return bench::driver_main(argc, argv);
}
