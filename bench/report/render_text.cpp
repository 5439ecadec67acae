// This file contains the text and Markdown report: every section's table, the
// targets with their verdicts, and notes on how the figures were produced.
#include <algorithm>
#include <cmath>

#include "harness/allocators.hpp"
#include "report/report.hpp"
#include "report/section_builders.hpp"

namespace bench {
namespace {

std::string verdict(double v, const Target& t) {
  if (!std::isfinite(v) || !std::isfinite(t.limit)) return "n/a";
  const bool met = t.at_least ? v >= t.limit - t.slack : v <= t.limit + t.slack;
  return met ? "met" : "MISSED";
}

// Median over every latency child of one of its timer figures.
double timer_figure(const Store& st, const char* key) {
  std::vector<double> v;
  for (const auto& [a, m] : st.runs)
    for (const auto& [k, samples] : m)
      for (const Sample& s : samples)
        if (auto i = s.num.find(key); i != s.num.end()) v.push_back(i->second);
  return median(v);
}

bool measured(const Store& st, const char* workload) {
  for (const Case& c : st.cases)
    if (std::string(c.workload->name) == workload) return true;
  return false;
}

bool measured_group(const Store& st, const char* group) {
  for (const Case& c : st.cases)
    if (std::string(c.workload->group) == group) return true;
  return false;
}

std::string notes(const Config& cfg, const Store& st, bool md, double tsc_step) {
  std::string out;
  const std::string b = md ? "- " : "  ";
  for (const auto& a : st.allocators) {
    bool any = false;
    for (const Case& c : st.cases) any = any || c.applies(a);
    if (!any) continue;
    auto it = st.verified.find(a);
    out += b + a + ": verified live allocator: " +
           (it != st.verified.end() ? it->second : "none (no successful run)") + "\n";
  }
  for (const auto& s : st.skipped) out += b + "skipped " + s + "\n";
  for (const auto& [a, errs] : st.errors)
    for (const auto& e : errs) out += b + "FAILED " + a + " " + e + "\n";
  if (std::isfinite(tsc_step)) {
    const char* ind = md ? "" : "    ";
    out +=
        b + strf("latency samples: TSC at %.3f ticks/ns, calibrated against CLOCK_MONOTONIC in each child\n",
                 timer_figure(st, "tsc_per_ns"));
    out +=
        b + strf(
                "the TSC advances in steps of %.1f ns here, so percentiles are multiples of that; an empty\n"
                "%stimed window costs %.1f ns (median), included in every p50/p99/p99.9 figure\n",
                tsc_step, ind, timer_figure(st, "timer_overhead_ns"));
  }
  if (measured(st, "churn") || measured(st, "bulk")) {
    out += b +
           "churn/bulk ns/op come from a separate pass without per-op timers; churn ns/op includes the PRNG "
           "draw\n";
    out +=
        b + "churn p50/p99/p99.9 time one free+alloc pair; bulk p99.9 times single allocs and single frees\n";
  }
  out +=
      b + "RSS: \"base\" is the process RSS just before the workload; \"peak\" is VmHWM over the workload" +
      (st.peak_reset_failed ? " (VmHWM could NOT be reset on this machine: peak includes process start-up)\n"
                            : " (reset with /proc/self/clear_refs)\n");
  out += b +
         "purge calls: glibc malloc_trim(0), tcmalloc MallocExtension_ReleaseFreeMemory(), jemalloc "
         "mallctl(\"arena.4096.purge\") (all arenas), mimalloc mi_collect(true); tslab slab_collect(); "
         "tslab-malloc malloc_trim(0)\n";
  if (std::find(st.allocators.begin(), st.allocators.end(), "tslab-malloc") != st.allocators.end())
    out += b +
           "tslab-malloc is tslab as the process malloc (libtslab-malloc.so LD_PRELOADed, no epochs unless a "
           "workload opens lifetime scopes); it is shown beside the peers but never counted as one\n";
  if (measured_group(st, "preload"))
    out +=
        b +
        "preload group: the programs (python-json, sqlite, git-commit, cpp-containers) run unmodified in a "
        "process of their own that inherits the measuring child's LD_PRELOAD; an untimed first run with each "
        "allocator's reporting variable set (TSLAB_SHOW_STATS, MIMALLOC_VERBOSE, MALLOC_CONF=stats_print, "
        "MALLOCSTATS) checks that the allocator named, and no other, served the program, and warms the page "
        "cache; wall and CPU time, peak RSS (ru_maxrss) and page faults come from wait4. The stress shapes "
        "and cpp-requests run in the child through malloc/free and new/delete. None of them runs the tslab "
        "C API variants (tslab, tslab-handle, tslab-epochs): they are written against malloc, so tslab takes "
        "part as tslab-malloc\n";
  if (measured(st, "request"))
    out +=
        b +
        "request: latency is one request, allocation to last free, timed with the TSC (a request that ends a "
        "tslab batch includes its epoch_advance); req/s counts requests over the serve phases; \"RSS after "
        "phase\" is read after the last drain and cool-down, before the purge call; CPU time per request is "
        "the "
        "process's user + system time over the serve phases divided by the requests served\n";
  if (measured(st, "fragmentation-adversary"))
    out +=
        b +
        "fragmentation-adversary: \"kept 4K pages\" / \"kept 64K windows\" are the distinct 4 KiB pages / 64 "
        "KiB-aligned windows that hold part of a kept object: what an allocator that cannot move objects "
        "keeps "
        "resident at that granularity; tslab-epochs closes the epoch of the freed objects instead of "
        "collecting\n";
  if (measured(st, "sustained-phase-shifts"))
    out +=
        b +
        "sustained-phase-shifts: growth % compares the reading after the last cycle with the one after the "
        "warm-up cycle (\"end of cycle\": after the frees and the close/purge; \"filled\": with the batch "
        "allocated)\n";
  if (measured(st, "epoch-reclamation"))
    out +=
        b +
        "epoch-reclamation latency: each pair is one free + one alloc timed with the TSC; \"overlapping an "
        "epoch_close\" keeps the pairs during which the main thread was inside epoch_close\n";
  out += b + "load average (1, 5, 15 min) when the runs started: " + cfg.load_before +
         "; when they ended: " + cfg.load_after + "\n";
  return out;
}

}  // namespace

std::string section_table(const Store& st, const Section& s, bool md, std::vector<std::string>* summary,
                          int* n_met, int* n_missed, int* n_na) {
  if (s.custom) return md ? s.custom().markdown() : s.custom().text();
  Table t;
  t.header.push_back("allocator");
  for (const auto& c : s.cols) t.header.push_back(c.header);
  std::vector<Best> best;
  for (const auto& c : s.cols) best.push_back(best_peer(st, c));
  for (const auto& a : st.allocators) {
    if (s.applies && !s.applies(a)) continue;
    std::vector<std::string> row = {a};
    for (std::size_t i = 0; i < s.cols.size(); ++i) {
      const Column& c = s.cols[i];
      const double v = c.value(a);
      std::string cell = fmt_val(v, c.precision);
      if (c.ratio && std::isfinite(v) && std::isfinite(best[i].value) && best[i].value > 0)
        cell += strf(" (%.2fx)", v / best[i].value);
      row.push_back(cell);
    }
    t.rows.push_back(row);
    if (summary == nullptr || !is_tslab_variant(a) || !s.targets) continue;
    for (const auto& [label, targets] : s.targets(a)) {
      std::vector<std::string> trow(s.cols.size() + 1);
      trow[0] = md ? "&nbsp;&nbsp;↳ " + label : "  > " + label;
      for (const Target& tg : targets) {
        const double v = s.cols[tg.column].value(a);
        const std::string vd = verdict(v, tg);
        const char* op = tg.at_least ? ">=" : "<=";
        trow[tg.column + 1] = std::string(op) + " " + fmt_val(tg.limit, s.cols[tg.column].precision) + " " +
                              (md && vd == "MISSED" ? "**MISSED**" : vd);
        (vd == "met" ? *n_met : vd == "MISSED" ? *n_missed : *n_na)++;
        summary->push_back(strf("%s%-6s %-12s %-14s %s %s %s %s = %s", md ? "- " : "  ", vd.c_str(),
                                a.c_str(), s.case_id.c_str(), s.cols[tg.column].header.c_str(),
                                fmt_val(v, s.cols[tg.column].precision).c_str(), op, tg.rule.c_str(),
                                fmt_val(tg.limit, s.cols[tg.column].precision).c_str()));
      }
      t.rows.push_back(trow);
    }
  }
  return md ? t.markdown() : t.text();
}

std::string render_report(const Config& cfg, const Store& st, bool md) {
  const double tsc_step = timer_figure(st, "tsc_step_ns");
  const double half_step = std::isfinite(tsc_step) ? 0.5 * tsc_step : 0.0;
  std::vector<Section> sections;
  for (const Workload& w : workloads())
    for (Section& s : workload_sections(st, w, half_step)) sections.push_back(std::move(s));
  for (Section& s : preload_summary(st)) sections.push_back(std::move(s));

  std::string out;
  std::vector<std::string> summary;
  int n_met = 0, n_missed = 0, n_na = 0;
  auto heading = [&](const std::string& t) {
    out += md ? "\n### " + t + "\n\n"
              : "\n" + t + "\n" + std::string(std::min<std::size_t>(t.size(), 100), '=') + "\n";
  };
  if (md) out += "Command: `" + cfg.command + "`\n\nMachine: " + cfg.machine + "\n\n";
  out += strf(
      "%sMedians of %u run%s; each cell shows the value and its ratio to the best peer (glibc, mimalloc,\n"
      "jemalloc, tcmalloc): lower is better, except where a column says higher is better (there the\n"
      "best peer is the largest). Every figure comes from a separate child process.\n",
      md ? "" : "\n", cfg.runs, cfg.runs == 1 ? "" : "s");

  for (const Section& s : sections) {
    heading(s.title);
    out += section_table(st, s, md, &summary, &n_met, &n_missed, &n_na);
  }

  if (!summary.empty()) {
    heading("Targets");
    for (const auto& l : summary) out += l + "\n";
    out += strf("%s%d met, %d missed, %d not measurable\n", md ? "\n" : "", n_met, n_missed, n_na);
  }
  heading("Notes");
  out += notes(cfg, st, md, tsc_step);
  return out;
}

}  // namespace bench
