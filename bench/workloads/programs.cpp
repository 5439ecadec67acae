// This file contains the program workloads of the preload group: unmodified
// programs (python3, the sqlite3 command line, git, and tslab_containers from
// bench/programs/) run by the measuring child, which already has the allocator
// under test LD_PRELOADed (none for glibc) and passes its environment on. The
// child prepares the input in a temporary directory, runs the program once
// untimed with the allocator's "show yourself" variable set, to check that the
// allocator really serves the program (and to warm the page cache), then runs
// it timed and reports its wall time, CPU time, peak RSS (ru_maxrss from wait4)
// and page faults, and the line of output that shows the work was done.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "harness/allocators.hpp"
#include "harness/common.hpp"
#include "harness/program_runner.hpp"
#include "harness/stats.hpp"
#include "workloads/registry.hpp"

// tslab_containers of the same build, and where an installed `tslab` finds the
// one installed with it (relative to the binary's directory; preferred when it exists).
#ifndef TSLAB_BENCH_CONTAINERS_PROGRAM
#define TSLAB_BENCH_CONTAINERS_PROGRAM ""
#endif
#ifndef TSLAB_BENCH_INSTALLED_CONTAINERS_PROGRAM
#define TSLAB_BENCH_INSTALLED_CONTAINERS_PROGRAM ""
#endif

namespace bench {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

// What a program run under each allocator prints when asked to show itself.
struct SelfReport {
  const char* alloc;
  const char* variable;  // "NAME=VALUE" that makes it print something
  const char* marker;    // a piece of what it prints on stderr
};
const SelfReport kSelfReports[] = {
    {"tslab-malloc", "TSLAB_SHOW_STATS=1", "tslab allocator "},
    {"mimalloc", "MIMALLOC_VERBOSE=1", "mimalloc: "},
    {"jemalloc", "MALLOC_CONF=stats_print:true", "Begin jemalloc statistics"},
    {"tcmalloc", "MALLOCSTATS=1", "MALLOC: "},
};

// The steps of one workload: commands run in `dir` in order (their times add
// up, the peak is the largest), the untimed probe, and the output check.
struct ProgramPlan {
  std::string program;                // the binary the steps run (checked for dynamic linking)
  std::vector<ProgramCommand> steps;  // timed
  ProgramCommand probe;               // untimed, prints little
  std::string expected_output;        // the last step's stdout must contain it
  std::vector<ProgramCommand> after;  // untimed, after the timed steps; the last one's output is reported
};

// The first executable `name` in $PATH (or in /usr/bin).
std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr && *path != '\0' ? path : "/usr/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "/usr/bin/" + name;
}

// The probe run with every allocator's variable set: the one preloaded must
// answer, and no other (glibc: none).
bool check_served_by(const std::string& alloc, ProgramCommand probe, const std::string& dir,
                     std::string& detail, std::string& error) {
  for (const SelfReport& r : kSelfReports) probe.extra_env.push_back(r.variable);
  ProgramResult res;
  if (!run_external(probe, dir, res, error)) return error = "the untimed probe run failed: " + error, false;
  std::string answered;
  for (const SelfReport& r : kSelfReports)
    if (res.err.find(r.marker) != std::string::npos)
      answered += (answered.empty() ? "" : ",") + std::string(r.alloc);
  const std::string want = alloc == "glibc" ? std::string() : alloc;
  if (answered != want)
    return error = strf("%s was meant to run under %s, but the allocators that answered were: %s",
                        probe.argv[0].c_str(), alloc.c_str(), answered.empty() ? "none" : answered.c_str()),
           false;
  detail = alloc == "glibc" ? "no preloaded allocator answered (glibc)" : alloc + " answered in the program";
  return true;
}

ProgramPlan python_json(const ChildSpec& sp) {
  static const char* kScript =
      "import json, sys\n"
      "n = int(sys.argv[1])\n"
      "data = [{'id': i, 'name': 'item%d' % i, 'score': i * 0.25,\n"
      "         'tags': ['t%d' % (i % 7), 'u%d' % (i % 5)]} for i in range(n)]\n"
      "text = json.dumps(data)\n"
      "back = json.loads(text)\n"
      "print('dicts=%d chars=%d last=%s' % (len(back), len(text), back[-1]['name']))\n";
  ProgramPlan p;
  p.program = kPython;
  std::vector<std::string> env = {"PYTHONHASHSEED=0", "PYTHONDONTWRITEBYTECODE=1"};
  if (sp.num("pymalloc") == 0) env.push_back("PYTHONMALLOC=malloc");
  p.steps.push_back({{kPython, "-c", kScript, std::to_string(sp.num("items"))}, env, "", "/dev/null"});
  p.probe = {{kPython, "-c", "pass"}, env, "", "/dev/null"};
  p.expected_output = strf("dicts=%llu ", static_cast<unsigned long long>(sp.num("items")));
  return p;
}

// The sqlite3 script: the rows one INSERT at a time in one transaction, an index, a query.
std::string sqlite_script(std::uint64_t rows) {
  std::string s =
      "create table t(id integer primary key, k text, v text, n integer);\n"
      "begin;\n";
  for (std::uint64_t i = 1; i <= rows; ++i)
    s += strf("insert into t(k, v, n) values('key%08llu', 'value %llu of the table', %llu);\n",
              static_cast<unsigned long long>((i * 7919) % rows), static_cast<unsigned long long>(i),
              static_cast<unsigned long long>(i % 1000));
  s += "commit;\n"
       "create index tk on t(k);\n"
       "select 'rows=' || count(*), sum(n), min(k), max(k) from t;\n"
       "select n, count(*) from t where k between 'key00000100' and 'key00009999' group by n order by 2 desc "
       "limit 3;\n";
  return s;
}

ProgramPlan sqlite(const ChildSpec& sp, const std::string& dir) {
  ProgramPlan p;
  p.program = find_program("sqlite3");
  p.steps.push_back({{p.program, "-batch", dir + "/bench.db"}, {}, dir, dir + "/load.sql"});
  p.probe = {{p.program, "-version"}, {}, dir, "/dev/null"};
  p.expected_output = strf("rows=%llu|", static_cast<unsigned long long>(sp.num("rows")));
  return p;
}

// git with a fixed identity and dates, and no user or system configuration.
std::vector<std::string> git_environment(const std::string& dir) {
  return {"GIT_AUTHOR_NAME=tslab bench",
          "GIT_AUTHOR_EMAIL=bench@tslab.invalid",
          "GIT_AUTHOR_DATE=2026-01-01T00:00:00+0000",
          "GIT_COMMITTER_NAME=tslab bench",
          "GIT_COMMITTER_EMAIL=bench@tslab.invalid",
          "GIT_COMMITTER_DATE=2026-01-01T00:00:00+0000",
          "GIT_CONFIG_NOSYSTEM=1",
          "GIT_CONFIG_GLOBAL=/dev/null",
          "HOME=" + dir,
          "LC_ALL=C"};
}

ProgramPlan git_commit(const std::string& dir) {
  ProgramPlan p;
  p.program = find_program("git");
  const std::string repo = dir + "/repo";
  const std::vector<std::string> env = git_environment(dir);
  const std::vector<std::string> config = {p.program, "-c", "init.defaultBranch=main", "-c", "gc.auto=0"};
  auto git = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = config;
    argv.insert(argv.end(), args.begin(), args.end());
    return ProgramCommand{argv, env, repo, "/dev/null"};
  };
  p.steps = {git({"init", "-q"}), git({"add", "."}), git({"commit", "-q", "-m", "files for the benchmark"})};
  p.probe = {{p.program, "--version"}, env, dir, "/dev/null"};
  p.after = {git({"rev-parse", "HEAD"})};
  return p;
}

// `files` small files in 30 directories: a few lines of text each.
bool write_git_files(const std::string& dir, std::uint64_t files, std::string& error) {
  const std::string repo = dir + "/repo";
  if (mkdir(repo.c_str(), 0700) != 0) return error = "could not create " + repo, false;
  for (std::uint64_t i = 0; i < files; ++i) {
    const std::string sub = strf("%s/d%02llu", repo.c_str(), static_cast<unsigned long long>(i % 30));
    if (i < 30 && mkdir(sub.c_str(), 0700) != 0) return error = "could not create " + sub, false;
    std::string text = strf("file %llu\n", static_cast<unsigned long long>(i));
    for (std::uint64_t l = 0; l < 1 + i % 8; ++l)
      text +=
          strf("line %llu of file %llu: %llu\n", static_cast<unsigned long long>(l),
               static_cast<unsigned long long>(i), static_cast<unsigned long long>(i * 2654435761u % 100000));
    if (!write_text_file(strf("%s/f%05llu.txt", sub.c_str(), static_cast<unsigned long long>(i)), text))
      return error = "could not write the files to commit", false;
  }
  return true;
}

ProgramPlan cpp_containers(const ChildSpec& sp) {
  ProgramPlan p;
  const char* override_path = std::getenv("TSLAB_BENCH_CONTAINERS_PROGRAM");
  const std::string installed = installed_file(TSLAB_BENCH_INSTALLED_CONTAINERS_PROGRAM);
  p.program = override_path != nullptr && *override_path != '\0' ? override_path
              : !installed.empty()                               ? installed
                                                                 : TSLAB_BENCH_CONTAINERS_PROGRAM;
  const std::string seed = std::to_string(sp.num("seed"));
  p.steps.push_back({{p.program, std::to_string(sp.num("rounds")), seed}, {}, "", "/dev/null"});
  p.probe = {{p.program, "0", seed}, {}, "", "/dev/null"};
  p.expected_output = strf("rounds=%llu ", static_cast<unsigned long long>(sp.num("rounds")));
  return p;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

bool prepare(const ChildSpec& sp, const std::string& dir, ProgramPlan& plan, std::string& error) {
  if (sp.workload == "python-json") {
    if (sp.num("items") == 0) return error = "python-json needs items", false;
    plan = python_json(sp);
  } else if (sp.workload == "sqlite") {
    if (sp.num("rows") == 0) return error = "sqlite needs rows", false;
    if (!write_text_file(dir + "/load.sql", sqlite_script(sp.num("rows"))))
      return error = "could not write the sqlite3 script", false;
    plan = sqlite(sp, dir);
  } else if (sp.workload == "git-commit") {
    if (sp.num("files") == 0) return error = "git-commit needs files", false;
    if (!write_git_files(dir, sp.num("files"), error)) return false;
    plan = git_commit(dir);
  } else if (sp.workload == "cpp-containers") {
    plan = cpp_containers(sp);
    if (plan.program.empty())
      return error =
                 "this binary does not know where tslab_containers is (set TSLAB_BENCH_CONTAINERS_PROGRAM)",
             false;
  } else {
    return error = "unknown program workload " + sp.workload, false;
  }
  return true;
}

bool measure(const ChildSpec& sp, const std::string& dir, Figures& f, std::string& error) {
  ProgramPlan plan;
  if (!prepare(sp, dir, plan, error)) return false;
  std::string why, served;
  if (!preload_applies_to(plan.program, why)) return error = why, false;
  if (!check_served_by(sp.alloc, plan.probe, dir, served, error)) return false;

  ProgramResult total, res;
  std::string output;
  for (const ProgramCommand& step : plan.steps) {
    if (!run_external(step, dir, res, error)) return false;
    total.wall_ns += res.wall_ns;
    total.user_ns += res.user_ns;
    total.sys_ns += res.sys_ns;
    total.minor_faults += res.minor_faults;
    total.major_faults += res.major_faults;
    total.max_rss = std::max(total.max_rss, res.max_rss);
    output = res.out;
  }
  if (output.find(plan.expected_output) == std::string::npos)
    return error = "unexpected output from " + plan.program + ": " + first_line(output), false;
  for (const ProgramCommand& step : plan.after) {
    if (!run_external(step, dir, res, error)) return false;
    output = res.out;
  }

  f.add("wall_ms", static_cast<double>(total.wall_ns) / 1e6);
  f.add("cpu_ms", static_cast<double>(total.user_ns + total.sys_ns) / 1e6);
  f.add("user_ms", static_cast<double>(total.user_ns) / 1e6);
  f.add("sys_ms", static_cast<double>(total.sys_ns) / 1e6);
  f.add("rss_peak", static_cast<double>(total.max_rss));
  f.add("minor_faults", static_cast<double>(total.minor_faults));
  f.add("major_faults", static_cast<double>(total.major_faults));
  f.add("processes", static_cast<double>(plan.steps.size()));
  f.add_string("program", plan.program);
  f.add_string("program_check", served);
  f.add_string("output", first_line(output));
  return true;
}

}  // namespace

bool run_program(const ChildSpec& sp, Figures& f, std::string& error) {
  if (!uses_malloc_api(sp.alloc))
    return error = sp.workload + " runs a program through malloc: it measures tslab as tslab-malloc, not " +
                   sp.alloc,
           false;
  std::string dir;
  if (!make_temp_dir("tslab-preload", dir, error)) return false;
  const bool ok = measure(sp, dir, f, error);
  remove_tree(dir);
  return ok;
}

}  // namespace bench
