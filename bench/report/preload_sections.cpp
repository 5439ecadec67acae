// This file contains the tables of the preload group: one per program (wall
// time, CPU time, peak RSS, page faults), the cpp-requests table with its
// tslab-malloc + scopes row, one per stress shape, and two summary tables over
// the whole group. Every ratio is to the best peer (glibc, mimalloc, jemalloc,
// tcmalloc); tslab-malloc is shown beside them but never counted as one.
#include <cmath>
#include <limits>

#include "harness/allocators.hpp"
#include "report/section_builders.hpp"

namespace bench {
namespace {

constexpr double kMiB = kSectionMiB;

std::string program_title(const Case& c) {
  const std::string name = c.workload->name;
  std::string what;
  if (name == "python-json")
    what = strf("/usr/bin/python3: json.dumps + json.loads of %llu small dicts (%s)", param(c, "items"),
                param(c, "pymalloc") != 0 ? "Python's small-object allocator in front, as by default"
                                          : "PYTHONMALLOC=malloc: every object through the allocator");
  else if (name == "sqlite")
    what = strf(
        "sqlite3: %llu single-row INSERTs in one transaction, CREATE INDEX, a GROUP BY query, file database",
        param(c, "rows"));
  else if (name == "git-commit")
    what = strf("git init + git add + git commit of %llu small files (three processes; peak = the largest)",
                param(c, "files"));
  else
    what = strf(
        "tslab_containers: %llu rounds of std::map / std::unordered_map / std::string / std::vector work",
        param(c, "rounds"));
  return name + ": " + what + "; the unmodified program with each allocator LD_PRELOADed";
}

Section program(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "run"};
  s.title = program_title(c);
  s.cols = {r.num("wall ms", "wall_ms", 0),        r.num("CPU ms", "cpu_ms", 0),
            r.num("user ms", "user_ms", 0, false), r.num("sys ms", "sys_ms", 0, false),
            r.mib("peak RSS MiB", "rss_peak", 1),  r.num("minor faults", "minor_faults", 0)};
  return s;
}

// "value (ratio x)" against `best` (NaN: no ratio).
std::string with_ratio(double v, double best, int prec) {
  std::string cell = fmt_val(v, prec);
  if (std::isfinite(v) && std::isfinite(best) && best > 0) cell += strf(" (%.2fx)", v / best);
  return cell;
}

// cpp-requests: a row per allocator (plain new/delete), and tslab-malloc once
// more with a lifetime scope around each request.
Section cpp_requests(const Store& st, const Case& c) {
  Section s = base_section(c);
  s.title = strf(
      "cpp-requests: %llu requests on plain new/delete (std::map of strings to vectors, a rendered string, "
      "its split; one in %llu large), one in %llu leaves a survivor in a global cache of %llu; RSS after the "
      "last request and "
      "%llu ms idle (survivors alive), then after the purge call; tslab-malloc + scopes: a lifetime scope "
      "per "
      "request",
      param(c, "requests"), param(c, "big_every"), param(c, "keep_every"), param(c, "cache"),
      param(c, "cooldown_ms"));
  struct Figure {
    const char* header;
    const char* key;
    double scale;
    int precision;
    bool ratio, higher_better;
  };
  static const Figure kFigures[] = {{"req/s", "req_per_s", 1, 0, true, true},
                                    {"peak RSS MiB", "rss_peak", 1 / kMiB, 1, true, false},
                                    {"RSS after phase MiB", "rss_after_phase", 1 / kMiB, 1, true, false},
                                    {"after purge MiB", "rss_after_purge", 1 / kMiB, 1, true, false},
                                    {"base MiB", "rss_base", 1 / kMiB, 1, false, false},
                                    {"survivors", "survivors", 1, 0, false, false}};
  const Store* stp = &st;
  const Case* cp = &c;
  s.custom = [stp, cp]() {
    Table t;
    t.header = {"allocator"};
    std::vector<double> best;
    for (const Figure& fg : kFigures) {
      t.header.push_back(fg.header);
      const Column col{fg.header,
                       [&](const std::string& a) { return stp->median_of(a, cp->id, "plain", fg.key); },
                       fg.precision, fg.ratio, fg.higher_better};
      best.push_back(fg.ratio ? best_peer(*stp, col).value : std::numeric_limits<double>::quiet_NaN());
    }
    auto row = [&](const std::string& label, const std::string& alloc, const char* mode) {
      std::vector<std::string> cells = {label};
      for (std::size_t i = 0; i < std::size(kFigures); ++i)
        cells.push_back(with_ratio(stp->median_of(alloc, cp->id, mode, kFigures[i].key) * kFigures[i].scale,
                                   best[i] * kFigures[i].scale, kFigures[i].precision));
      t.rows.push_back(cells);
    };
    for (const auto& a : stp->allocators) {
      if (!cp->runs(a, "plain")) continue;
      row(a, a, "plain");
      if (cp->runs(a, "scoped")) row(a + " + scopes", a, "scoped");
    }
    return t;
  };
  return s;
}

Section larson(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "tput"};
  s.title = strf(
      "larson: %u threads replace random blocks of %llu-%llu B in their part of a shared array (%llu blocks "
      "per part, %llu replacements per round, %llu rounds; the parts rotate after each round, so blocks are "
      "freed by threads that did not allocate them)",
      c.threads, param(c, "obj_min"), param(c, "obj_max"), param(c, "slots"), param(c, "ops"),
      param(c, "rounds"));
  s.cols = {r.num("Mops/s", "mops_per_s", 2, true, true), r.mib("peak RSS MiB", "rss_peak", 1),
            r.mib("after free MiB", "rss_after", 1), r.mib("after purge MiB", "rss_after_purge", 1),
            r.mib("base MiB", "rss_base", 1, false)};
  return s;
}

Section xmalloc(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "tput"};
  s.title = strf(
      "xmalloc: %u allocating and %u freeing threads; %llu blocks of %llu-%llu B per allocating thread, "
      "handed "
      "over in batches of %llu through a shared queue",
      c.threads / 2, c.threads - c.threads / 2, param(c, "blocks"), param(c, "obj_min"), param(c, "obj_max"),
      param(c, "batch"));
  s.cols = {r.num("M blocks/s", "mblocks_per_s", 2, true, true), r.mib("peak RSS MiB", "rss_peak", 1),
            r.mib("after MiB", "rss_after", 1), r.mib("after purge MiB", "rss_after_purge", 1),
            r.mib("base MiB", "rss_base", 1, false)};
  return s;
}

Section cache_scratch(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "tput"};
  s.title = strf(
      "cache-scratch: the main thread allocates one %llu B object per thread; %u threads each free theirs, "
      "then %llu times allocate, write %llu times and free a %llu B object (false sharing shows as time)",
      param(c, "size"), c.threads, param(c, "iterations"), param(c, "writes"), param(c, "size"));
  s.cols = {r.num("wall ms", "wall_ms", 1), r.num("ns/write", "ns_per_write", 2),
            r.num("given objects sharing a line", "given_sharing_line", 0, false),
            r.num("first objects sharing a line", "first_sharing_line", 0, false),
            r.num("first object = a given one", "first_is_a_given_object", 0, false)};
  return s;
}

Section thread_churn(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "tput"};
  s.title = strf(
      "thread-churn: %llu short-lived threads, %u at a time, each allocating, writing and freeing %llu "
      "blocks "
      "of %llu-%llu B",
      param(c, "spawned"), c.threads, param(c, "blocks"), param(c, "obj_min"), param(c, "obj_max"));
  s.cols = {r.num("threads/s", "threads_per_s", 0, true, true), r.mib("peak RSS MiB", "rss_peak", 1),
            r.mib("after MiB", "rss_after", 1), r.mib("after purge MiB", "rss_after_purge", 1),
            r.mib("base MiB", "rss_base", 1, false)};
  return s;
}

Section large_buffer(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "rss"};
  s.title =
      strf("large-buffer: %llu times allocate a buffer of %llu-%llu MiB, write every 4 KiB page, free it",
           param(c, "iterations"), param(c, "min_mib"), param(c, "max_mib"));
  s.cols = {r.num("ms/buffer", "ms_per_buffer", 2),  r.num("faults/buffer", "faults_per_buffer", 0),
            r.mib("peak RSS MiB", "rss_peak", 1),    r.mib("max after a free MiB", "rss_after_free_max", 1),
            r.mib("after loop MiB", "rss_after", 1), r.mib("after purge MiB", "rss_after_purge", 1),
            r.mib("base MiB", "rss_base", 1, false)};
  return s;
}

Section server_buffers(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "tput"};
  s.title = strf(
      "server-buffers: %u threads each hold %llu buffers of 16, 32, 64 or 128 KiB and replace random ones "
      "(%llu replacements per thread), writing the first and last page of each",
      c.threads, param(c, "buffers"), param(c, "ops"));
  s.cols = {r.num("k replacements/s", "kops_per_s", 0, true, true), r.mib("peak RSS MiB", "rss_peak", 1),
            r.mib("after MiB", "rss_after", 1), r.mib("after purge MiB", "rss_after_purge", 1),
            r.mib("base MiB", "rss_base", 1, false)};
  return s;
}

// The figure that sums up each preload workload in the summary.
struct SummaryFigure {
  const char* workload;
  const char* mode;
  const char* key;
  const char* unit;
  double scale;
  int precision;
  bool higher_better;
};
const SummaryFigure kSummary[] = {
    {"python-json", "run", "wall_ms", "ms", 1, 0, false},
    {"sqlite", "run", "wall_ms", "ms", 1, 0, false},
    {"git-commit", "run", "wall_ms", "ms", 1, 0, false},
    {"cpp-containers", "run", "wall_ms", "ms", 1, 0, false},
    {"cpp-requests", "plain", "req_per_s", "req/s", 1, 0, true},
    {"larson", "tput", "mops_per_s", "Mops/s", 1, 2, true},
    {"xmalloc", "tput", "mblocks_per_s", "M blocks/s", 1, 2, true},
    {"cache-scratch", "tput", "wall_ms", "ms", 1, 1, false},
    {"thread-churn", "tput", "threads_per_s", "threads/s", 1, 0, true},
    {"large-buffer", "rss", "ms_per_buffer", "ms/buffer", 1, 2, false},
    {"server-buffers", "tput", "kops_per_s", "k replacements/s", 1, 0, true},
};

}  // namespace

std::vector<Section> preload_sections(const Store& st, const Workload& w,
                                      const std::vector<const Case*>& cases) {
  const std::string name = w.name;
  std::vector<Section> out;
  for (const Case* c : cases) {
    if (name == "python-json" || name == "sqlite" || name == "git-commit" || name == "cpp-containers")
      out.push_back(program(st, *c));
    if (name == "cpp-requests") out.push_back(cpp_requests(st, *c));
    if (name == "larson") out.push_back(larson(st, *c));
    if (name == "xmalloc") out.push_back(xmalloc(st, *c));
    if (name == "cache-scratch") out.push_back(cache_scratch(st, *c));
    if (name == "thread-churn") out.push_back(thread_churn(st, *c));
    if (name == "large-buffer") out.push_back(large_buffer(st, *c));
    if (name == "server-buffers") out.push_back(server_buffers(st, *c));
  }
  return out;
}

std::vector<Section> preload_summary(const Store& st) {
  Section speed, memory;
  speed.title =
      "preload group at a glance: each workload's time or throughput (throughput: higher is better), ratio "
      "to "
      "the best peer";
  memory.title = "preload group at a glance: peak RSS MiB of each workload (programs: the program's own)";
  speed.case_id = memory.case_id = "preload";
  speed.applies = memory.applies = [](const std::string& a) { return uses_malloc_api(a); };
  for (const SummaryFigure& fg : kSummary) {
    const Case* c = nullptr;
    for (const Case& k : st.cases)
      if (std::string(k.workload->name) == fg.workload) c = &k;
    if (c == nullptr) continue;
    Cols r{st, c->id, fg.mode};
    speed.cols.push_back(r.scaled(std::string(fg.workload) + " " + fg.unit, fg.key, fg.scale, fg.precision,
                                  true, fg.higher_better));
    if (std::string(fg.workload) != "cache-scratch")  // it reports no RSS
      memory.cols.push_back(r.mib(std::string(fg.workload), "rss_peak", 1));
  }
  if (speed.cols.size() < 2) return {};
  return {speed, memory};
}

}  // namespace bench
