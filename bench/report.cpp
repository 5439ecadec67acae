// The report: per-case tables of medians with each figure's ratio to the best
// peer, tslab's targets under its rows, and a JSON dump of every figure.
#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "allocators.hpp"
#include "driver.hpp"
#include "stats.hpp"

namespace bench {

double Store::median_of(const std::string& alloc, const std::string& case_id, const std::string& mode,
                        const std::string& key) const {
  auto a = runs.find(alloc);
  if (a == runs.end()) return std::numeric_limits<double>::quiet_NaN();
  auto c = a->second.find(case_id + "/" + mode);
  if (c == a->second.end()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> v;
  for (const Sample& s : c->second) {
    auto it = s.num.find(key);
    if (it != s.num.end()) v.push_back(it->second);
  }
  return median(v);
}

bool Case::applies(const std::string& alloc) const {
  if (workload == "churn" || workload == "bulk") return alloc != "tslab-epochs";
  if (workload == "retention") return alloc != "tslab-handle";
  if (workload == "phase-shifts") return alloc == "tslab" || is_peer(alloc);
  if (workload == "close-cost") return alloc == "tslab";
  return false;
}

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Column {
  std::string header;
  std::function<double(const std::string&)> value;
  int precision;
  bool ratio;  // show the ratio to the best peer (lower is better)
};

struct Best {
  double value = kNaN;
  std::string who;
};

Best best_peer(const Store& st, const Column& c) {
  Best b;
  for (const auto& a : st.allocators) {
    if (!is_peer(a)) continue;
    double v = c.value(a);
    if (std::isfinite(v) && (!std::isfinite(b.value) || v < b.value)) b = {v, a};
  }
  return b;
}

// A target on one column: the figure must not exceed `limit`.
struct Target {
  std::size_t column;
  double limit;
  std::string rule;  // e.g. "<= 0.8 x fastest peer (mimalloc 14.2)"
  // Tolerance: latency figures are whole TSC steps, so values within half a step
  // of the limit count as equal.
  double slack = 0;
};

std::string verdict(double v, const Target& t) {
  if (!std::isfinite(v) || !std::isfinite(t.limit)) return "n/a";
  return v <= t.limit + t.slack ? "met" : "MISSED";
}

struct Section {
  std::string title;
  std::string case_id;
  std::function<bool(const std::string&)> applies;
  std::vector<Column> cols;
  // A table of its own instead of one row per allocator (tslab-only figures).
  std::function<Table()> custom;
  // Target rows under a tslab variant: label -> targets.
  std::function<std::vector<std::pair<std::string, std::vector<Target>>>(const std::string&)> targets;
};

std::string fmt_val(double v, int prec) {
  return std::isfinite(v) ? strf("%.*f", prec, v) : std::string("n/a");
}

// Tables of the epoch-lifecycle cases (retention, phase-shifts, close-cost).
void add_lifecycle_sections(const Config& cfg, const Store& st, const Case& c, std::vector<Section>& out) {
  auto M = [&st](const std::string& a, const std::string& cid, const std::string& m, const std::string& k) {
    return st.median_of(a, cid, m, k);
  };
  const std::string id = c.id;
  Section s;
  s.case_id = id;
  s.applies = [c](const std::string& a) { return c.applies(a); };
  auto mib = [=](const char* key, const char* mode = "rss") {
    return [=](const std::string& a) { return M(a, id, mode, key) / kMiB; };
  };
  if (c.workload == "retention") {
    // Payload and pinned bytes are the same for every allocator (same seeded sizes).
    double payload = kNaN, pinned = kNaN;
    for (const auto& a : st.allocators)
      if (!std::isfinite(payload)) payload = M(a, id, "rss", "payload"), pinned = M(a, id, "rss", "pinned");
    s.title = strf(
        "retention: %llu objects of 64-768 B (payload %.1f MiB), all freed but every 100th (pinned %.2f "
        "MiB), then each allocator's purge call",
        static_cast<unsigned long long>(cfg.retention_objects), payload / kMiB, pinned / kMiB);
    s.cols = {
        {"peak MiB", mib("rss_peak"), 1, true},
        {"after free MiB", mib("rss_after_free"), 1, true},
        {"purge ms", [=](const std::string& a) { return M(a, id, "rss", "purge_ms"); }, 2, true},
        {"after purge MiB", mib("rss_after_purge"), 2, true},
        {"after purge - base MiB",
         [=](const std::string& a) {
           return (M(a, id, "rss", "rss_after_purge") - M(a, id, "rss", "rss_base")) / kMiB;
         },
         2, true},
        {"kept 4K pages MiB", mib("kept_4k_bytes"), 2, false},
        {"kept 64K windows MiB", mib("kept_64k_bytes"), 1, false},
        {"own resident full MiB", mib("own_resident_full"), 1, false},
        {"own resident after MiB", mib("own_resident_after_purge"), 2, false},
        {"base MiB", mib("rss_base"), 2, false},
    };
  } else if (c.workload == "phase-shifts") {
    s.title = strf(
        "phase-shifts: %llu cycles of fill %llu objects of 64-512 B, free them, end the phase "
        "(tslab: epoch_advance + epoch_close; peers: their purge call); warm-up reading after cycle %llu",
        static_cast<unsigned long long>(cfg.cycles), static_cast<unsigned long long>(cfg.batch),
        static_cast<unsigned long long>(cfg.warmup));
    s.cols = {
        {"end of cycle, warm-up MiB", mib("rss_warm"), 2, true},
        {"end of cycle, last MiB", mib("rss_end"), 2, true},
        {"growth %", [=](const std::string& a) { return M(a, id, "rss", "growth_pct"); }, 2, false},
        {"filled, warm-up MiB", mib("fill_warm"), 2, true},
        {"filled, last MiB", mib("fill_end"), 2, true},
        {"filled growth %", [=](const std::string& a) { return M(a, id, "rss", "fill_growth_pct"); }, 2,
         false},
        {"ms/cycle", [=](const std::string& a) { return M(a, id, "rss", "ms_per_cycle"); }, 3, true},
        {"base MiB", mib("rss_base"), 2, false},
    };
  } else {
    s.title = strf(
        "close-cost: epoch_close of one epoch after filling it with %llu MiB of 128 B blocks and freeing "
        "them all (tslab only: the peers have no equivalent call)",
        static_cast<unsigned long long>(cfg.close_mib));
    s.cols = {
        {"RSS filled MiB", mib("rss_full", "close"), 2, false},
        {"before close MiB", mib("rss_before_close", "close"), 2, false},
        {"after close MiB", mib("rss_after_close", "close"), 2, false},
        {"returned MiB", mib("returned", "close"), 2, false},
        {"own resident after MiB", mib("own_after_close", "close"), 2, false},
        {"close ms", [=](const std::string& a) { return M(a, id, "close", "close_us") / 1e3; }, 3, false},
        {"us per MiB returned", [=](const std::string& a) { return M(a, id, "close", "us_per_mib"); }, 1,
         false},
    };
    out.push_back(s);

    Section l;
    l.case_id = id;
    l.applies = s.applies;
    l.title = strf(
        "close-cost: latency of a churn thread (free + alloc of 128 B in its own epoch, 10000 slots, %llu "
        "timed pairs) while the main thread works on other epochs (tslab only)",
        static_cast<unsigned long long>(cfg.lat_ops));
    const std::string mib_fill = strf("%llu MiB", static_cast<unsigned long long>(cfg.lat_fill_mib));
    l.custom = [=]() {
      Table t;
      t.header = {"main thread", "p50 ns", "p99 ns",          "p99.9 ns",    "max ns",
                  "fills",       "closes", "close ms (mean)", "close us/MiB"};
      auto v = [&](const char* mode, const char* key, int prec) {
        return fmt_val(M("tslab", id, mode, key), prec);
      };
      auto row = [&](const std::string& label, const char* mode, const char* pre) {
        auto k = [&](const char* key) { return std::string(pre) + key; };
        const bool closing = std::string(mode) == "lat-close";
        t.rows.push_back({label, v(mode, k("p50_ns").c_str(), 1), v(mode, k("p99_ns").c_str(), 1),
                          v(mode, k("p999_ns").c_str(), 1), v(mode, k("max_ns").c_str(), 1),
                          v(mode, "fills", 0), closing ? v(mode, "closes", 0) : "",
                          closing ? fmt_val(M("tslab", id, mode, "close_us_mean") / 1e3, 3) : "",
                          closing ? v(mode, "close_us_per_mib", 1) : ""});
      };
      row("idle", "lat-alone", "");
      row("fills/frees " + mib_fill + " in one other epoch, no close", "lat-fill", "");
      row("fills/frees " + mib_fill + " in a fresh epoch, then closes it", "lat-close", "");
      row("  same, only pairs overlapping an epoch_close", "lat-close", "during_");
      return t;
    };
    out.push_back(l);
    return;
  }
  out.push_back(s);
}

}  // namespace

// Median over every latency child of one of its timer figures.
double timer_figure(const Store& st, const char* key) {
  std::vector<double> v;
  for (const auto& [a, m] : st.runs)
    for (const auto& [k, samples] : m)
      for (const Sample& s : samples)
        if (auto i = s.num.find(key); i != s.num.end()) v.push_back(i->second);
  return median(v);
}

std::string render_report(const Config& cfg, const Store& st, bool md) {
  const double tsc_step = timer_figure(st, "tsc_step_ns");
  const double half_step = std::isfinite(tsc_step) ? 0.5 * tsc_step : 0.0;
  auto M = [&st](const std::string& a, const std::string& c, const std::string& m, const std::string& k) {
    return st.median_of(a, c, m, k);
  };
  std::vector<Section> sections;
  std::vector<std::string> summary;  // target lines
  int n_met = 0, n_missed = 0, n_na = 0;

  for (const Case& c : st.cases) {
    Section s;
    s.case_id = c.id;
    s.applies = [c](const std::string& a) { return c.applies(a); };
    const std::string id = c.id;
    if (c.workload == "retention" || c.workload == "phase-shifts" || c.workload == "close-cost") {
      add_lifecycle_sections(cfg, st, c, sections);
      continue;
    }
    if (c.workload == "churn") {
      s.title = strf("churn: 1 thread, %zu B blocks, %llu live slots, %llu ops per pass", cfg.size,
                     static_cast<unsigned long long>(cfg.churn_slots),
                     static_cast<unsigned long long>(cfg.churn_ops));
      s.cols = {
          {"ns/op", [=](const std::string& a) { return M(a, id, "tput", "ns_per_op"); }, 2, true},
          {"p50 ns", [=](const std::string& a) { return M(a, id, "lat", "p50_ns"); }, 1, true},
          {"p99 ns", [=](const std::string& a) { return M(a, id, "lat", "p99_ns"); }, 1, true},
          {"p99.9 ns", [=](const std::string& a) { return M(a, id, "lat", "p999_ns"); }, 1, true},
          {"peak RSS MiB", [=](const std::string& a) { return M(a, id, "tput", "rss_peak") / kMiB; }, 2,
           true},
          {"after free MiB", [=](const std::string& a) { return M(a, id, "tput", "rss_after") / kMiB; }, 2,
           true},
          {"base MiB", [=](const std::string& a) { return M(a, id, "tput", "rss_base") / kMiB; }, 2, false},
      };
    } else {
      const double payload = static_cast<double>(cfg.bulk_count) * static_cast<double>(cfg.size) * c.threads;
      s.title =
          strf("bulk, %u thread%s: %llu x %zu B per thread allocated, then all freed (payload %.1f MiB)",
               c.threads, c.threads == 1 ? "" : "s", static_cast<unsigned long long>(cfg.bulk_count),
               cfg.size, payload / kMiB);
      s.cols = {
          {"alloc ns/op", [=](const std::string& a) { return M(a, id, "tput", "alloc_ns"); }, 2, true},
          {"free ns/op", [=](const std::string& a) { return M(a, id, "tput", "free_ns"); }, 2, true},
          {"alloc p99.9 ns", [=](const std::string& a) { return M(a, id, "lat", "alloc_p999_ns"); }, 1, true},
          {"free p99.9 ns", [=](const std::string& a) { return M(a, id, "lat", "free_p999_ns"); }, 1, true},
          {"peak RSS MiB", [=](const std::string& a) { return M(a, id, "tput", "rss_peak") / kMiB; }, 1,
           true},
          {"(peak-base)/payload",
           [=](const std::string& a) {
             return (M(a, id, "tput", "rss_peak") - M(a, id, "tput", "rss_base")) /
                    M(a, id, "tput", "payload");
           },
           3, true},
          {"after free MiB", [=](const std::string& a) { return M(a, id, "tput", "rss_after") / kMiB; }, 2,
           true},
          {"base MiB", [=](const std::string& a) { return M(a, id, "tput", "rss_base") / kMiB; }, 2, false},
      };
    }
    sections.push_back(std::move(s));
  }

  // Targets, evaluated for each tslab variant.
  for (Section& s : sections) {
    const std::vector<Column> cols = s.cols;
    const std::string id = s.case_id;
    auto rel = [cols, &st](std::size_t col, double factor, const std::string& what, double slack = 0) {
      Best b = best_peer(st, cols[col]);
      std::string scale = factor == 1.0 ? std::string() : strf("%.2g x ", factor);
      std::string rule =
          strf("%s%s (%s %s)", scale.c_str(), what.c_str(), b.who.empty() ? "none" : b.who.c_str(),
               fmt_val(b.value, cols[col].precision).c_str());
      return Target{col, factor * b.value, rule, slack};
    };
    if (id == "retention") {
      s.targets = [=, &st](const std::string& a) {
        std::vector<std::pair<std::string, std::vector<Target>>> rows;
        if (a == "tslab") rows.push_back({"target", {rel(3, 0.75, "best peer after its purge")}});
        if (a == "tslab-epochs") {
          const double pinned = st.median_of(a, id, "rss", "pinned") / kMiB;
          rows.push_back(
              {"target", {Target{4, 1.5 * pinned, strf("1.5 x pinned bytes (%.2f MiB)", pinned)}}});
        }
        return rows;
      };
    } else if (id == "phase-shifts") {
      s.targets = [=](const std::string&) {
        return std::vector<std::pair<std::string, std::vector<Target>>>{
            {"target", {Target{2, 1.0, "1%"}, Target{5, 1.0, "1%"}}}};
      };
    } else if (id == "close-cost") {
      // No targets: the issue asks for the figures only.
    } else if (id == "churn") {
      s.targets = [=](const std::string&) {
        return std::vector<std::pair<std::string, std::vector<Target>>>{
            {"target", {rel(0, 0.8, "fastest peer"), rel(3, 1.0, "best peer", half_step)}}};
      };
    } else if (id == "bulk1" || id == "bulk2") {
      const double payload =
          static_cast<double>(cfg.bulk_count) * static_cast<double>(cfg.size) * (id == "bulk2" ? 2 : 1);
      const Target rss{5, (1.05 * payload + 2 * kMiB) / payload, "(1.05 x payload + 2 MiB) / payload"};
      const std::string one = "bulk1";
      s.targets = [=, &st](const std::string& a) {
        std::vector<std::pair<std::string, std::vector<Target>>> rows = {
            {"target",
             {rel(0, 1.0, "fastest peer"), rel(1, 1.0, "fastest peer"), rel(2, 1.0, "best peer", half_step),
              rel(3, 1.0, "best peer", half_step), rss}}};
        if (id == "bulk2") {
          double a1 = st.median_of(a, one, "tput", "alloc_ns"), f1 = st.median_of(a, one, "tput", "free_ns");
          rows.push_back(
              {"vs own 1T",
               {Target{0, 1.2 * a1, strf("1.2 x own 1-thread alloc (%s)", fmt_val(a1, 2).c_str())},
                Target{1, 1.2 * f1, strf("1.2 x own 1-thread free (%s)", fmt_val(f1, 2).c_str())}}});
        }
        return rows;
      };
    }
  }

  std::string out;
  auto heading = [&](const std::string& t) {
    out += md ? "\n### " + t + "\n\n" : "\n" + t + "\n" + std::string(t.size(), '=') + "\n";
  };
  if (md) {
    out += "Command: `" + cfg.command + "`\n\n";
    out += "Machine: " + cfg.machine + "\n\n";
  }
  out += strf(
      "%sMedians of %u run%s; each cell shows the value and its ratio to the best peer (glibc, mimalloc,\n"
      "jemalloc, tcmalloc), lower is better. Every figure comes from a separate child process.\n",
      md ? "" : "\n", cfg.runs, cfg.runs == 1 ? "" : "s");

  for (const Section& s : sections) {
    heading(s.title);
    bool any = false;
    for (const auto& a : st.allocators) any = any || !s.applies || s.applies(a);
    if (!any) {
      out += "(none of the measured allocators applies)\n";
      continue;
    }
    if (s.custom) {
      out += md ? s.custom().markdown() : s.custom().text();
      continue;
    }
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
        double v = c.value(a);
        std::string cell = fmt_val(v, c.precision);
        if (c.ratio && std::isfinite(v) && std::isfinite(best[i].value) && best[i].value > 0)
          cell += strf(" (%.2fx)", v / best[i].value);
        row.push_back(cell);
      }
      t.rows.push_back(row);
      if (!is_tslab_variant(a) || !s.targets) continue;
      for (const auto& [label, targets] : s.targets(a)) {
        std::vector<std::string> trow(s.cols.size() + 1);
        trow[0] = md ? "&nbsp;&nbsp;↳ " + label : "  > " + label;
        for (const Target& tg : targets) {
          double v = s.cols[tg.column].value(a);
          std::string vd = verdict(v, tg);
          trow[tg.column + 1] = "<= " + fmt_val(tg.limit, s.cols[tg.column].precision) + " " +
                                (md && vd == "MISSED" ? "**MISSED**" : vd);
          (vd == "met" ? n_met : vd == "MISSED" ? n_missed : n_na)++;
          summary.push_back(strf("%s%-6s %-12s %-5s %s %s <= %s = %s", md ? "- " : "  ", vd.c_str(),
                                 a.c_str(), s.case_id.c_str(), s.cols[tg.column].header.c_str(),
                                 fmt_val(v, s.cols[tg.column].precision).c_str(), tg.rule.c_str(),
                                 fmt_val(tg.limit, s.cols[tg.column].precision).c_str()));
        }
        t.rows.push_back(trow);
      }
    }
    out += md ? t.markdown() : t.text();
  }

  heading("Targets");
  for (const auto& l : summary) out += l + "\n";
  out += strf("%s%d met, %d missed, %d not measurable\n", md ? "\n" : "", n_met, n_missed, n_na);

  heading("Notes");
  std::string b = md ? "- " : "  ";
  for (const auto& a : st.allocators) {
    bool measured = false;
    for (const Case& c : st.cases) measured = measured || c.applies(a);
    if (!measured) continue;
    auto it = st.verified.find(a);
    out += b + a + ": verified live allocator: " +
           (it != st.verified.end() ? it->second : "none (no successful run)") + "\n";
  }
  for (const auto& s : st.skipped) out += b + "skipped " + s + "\n";
  for (const auto& [a, errs] : st.errors)
    for (const auto& e : errs) out += b + "FAILED " + a + " " + e + "\n";
  // Timer figures, from every latency child.
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
  bool churn_bulk = false, lifecycle = false;
  for (const Case& c : st.cases) {
    churn_bulk = churn_bulk || c.workload == "churn" || c.workload == "bulk";
    lifecycle =
        lifecycle || c.workload == "retention" || c.workload == "phase-shifts" || c.workload == "close-cost";
  }
  if (churn_bulk)
    out += b +
           "ns/op comes from a separate pass without per-op timers; churn ns/op includes the PRNG draw (same "
           "for all)\n";
  out +=
      b + "RSS: \"base\" is the process RSS just before the workload; \"peak\" is VmHWM over the workload" +
      (st.peak_reset_failed ? " (VmHWM could NOT be reset on this machine: peak includes process start-up)\n"
                            : " (reset with /proc/self/clear_refs)\n");
  if (churn_bulk)
    out +=
        b + "churn p50/p99/p99.9 time one free+alloc pair; bulk p99.9 times single allocs and single frees\n";
  if (lifecycle) {
    out +=
        b +
        "purge calls: glibc malloc_trim(0), tcmalloc MallocExtension_ReleaseFreeMemory(), jemalloc "
        "mallctl(\"arena.4096.purge\") (all arenas), mimalloc mi_collect(true); tslab slab_collect(); "
        "tslab-epochs closes the epoch of the freed objects instead (kept objects live in another epoch)\n";
    out += b +
           "lifecycle workloads write every byte of every block; RSS is the process's (/proc/self/statm), "
           "\"base\" includes the harness's slot arrays (mmap); \"own resident\" is slab_resident_bytes()\n";
    out +=
        b +
        "retention: \"kept 4K pages\" / \"kept 64K windows\" are the distinct 4 KiB pages / 64 KiB-aligned "
        "windows that hold part of a kept object (measured from the addresses): what an allocator that "
        "cannot move objects keeps resident when it returns memory at that granularity\n";
    out += b +
           "phase-shifts: peers call their purge after every cycle; growth % compares the reading after the "
           "last cycle with the one after the warm-up cycle (\"end of cycle\": after the frees and the "
           "close/purge; \"filled\": with the batch allocated)\n";
    out += b +
           "close-cost latency: each pair is one free + one alloc timed with the TSC; \"overlapping an "
           "epoch_close\" keeps the pairs during which the main thread was inside epoch_close (flag read "
           "before and after the pair)\n";
  }
  out += b + "load average (1, 5, 15 min) when the runs started: " + cfg.load_before +
         "; when they ended: " + cfg.load_after + "\n";
  return out;
}

std::string render_json(const Config& cfg, const Store& st) {
  auto q = [](const std::string& s) { return "\"" + json_escape(s) + "\""; };
  auto num = [](double v) { return std::isfinite(v) ? strf("%.6g", v) : std::string("null"); };
  std::string o = "{\n";
  o += "  \"command\": " + q(cfg.command) + ",\n";
  o += "  \"machine\": " + q(cfg.machine) + ",\n";
  o += "  \"load_before\": " + q(cfg.load_before) + ",\n";
  o += "  \"load_after\": " + q(cfg.load_after) + ",\n";
  o += strf(
      "  \"config\": {\"runs\": %u, \"churn_ops\": %llu, \"churn_slots\": %llu, \"bulk_count\": %llu, "
      "\"size\": %zu, "
      "\"seed\": %llu, \"quick\": %s, \"retention_objects\": %llu, \"cycles\": %llu, \"warmup\": %llu, "
      "\"batch\": %llu, \"close_mib\": %llu, \"lat_ops\": %llu, \"lat_fill_mib\": %llu},\n",
      cfg.runs, static_cast<unsigned long long>(cfg.churn_ops),
      static_cast<unsigned long long>(cfg.churn_slots), static_cast<unsigned long long>(cfg.bulk_count),
      cfg.size, static_cast<unsigned long long>(cfg.seed), cfg.quick ? "true" : "false",
      static_cast<unsigned long long>(cfg.retention_objects), static_cast<unsigned long long>(cfg.cycles),
      static_cast<unsigned long long>(cfg.warmup), static_cast<unsigned long long>(cfg.batch),
      static_cast<unsigned long long>(cfg.close_mib), static_cast<unsigned long long>(cfg.lat_ops),
      static_cast<unsigned long long>(cfg.lat_fill_mib));
  o += "  \"skipped\": [";
  for (std::size_t i = 0; i < st.skipped.size(); ++i) o += (i ? ", " : "") + q(st.skipped[i]);
  o += "],\n  \"errors\": {";
  bool first = true;
  for (const auto& [a, errs] : st.errors) {
    o += std::string(first ? "" : ", ") + q(a) + ": [";
    for (std::size_t i = 0; i < errs.size(); ++i) o += (i ? ", " : "") + q(errs[i]);
    o += "]";
    first = false;
  }
  o += "},\n  \"verified\": {";
  first = true;
  for (const auto& [a, v] : st.verified)
    o += std::string(first ? "" : ", ") + q(a) + ": " + q(v), first = false;
  o += "},\n  \"medians\": {";
  first = true;
  for (const auto& a : st.allocators) {
    auto it = st.runs.find(a);
    if (it == st.runs.end()) continue;
    o += std::string(first ? "" : ",") + "\n    " + q(a) + ": {";
    first = false;
    bool f2 = true;
    for (const auto& [k, samples] : it->second) {
      std::set<std::string> keys;
      for (const Sample& s : samples)
        for (const auto& [key, v] : s.num) keys.insert(key);
      o += std::string(f2 ? "" : ",") + "\n      " + q(k) + ": {";
      f2 = false;
      bool f3 = true;
      auto slash = k.find('/');
      for (const auto& key : keys) {
        o += std::string(f3 ? "" : ", ") + q(key) + ": " +
             num(st.median_of(a, k.substr(0, slash), k.substr(slash + 1), key));
        f3 = false;
      }
      o += "}";
    }
    o += "\n    }";
  }
  o += "\n  },\n  \"runs\": [";
  first = true;
  for (const auto& a : st.allocators) {
    auto it = st.runs.find(a);
    if (it == st.runs.end()) continue;
    for (const auto& [k, samples] : it->second)
      for (std::size_t r = 0; r < samples.size(); ++r) {
        o += std::string(first ? "" : ",") + "\n    {\"alloc\": " + q(a) + ", \"case\": " + q(k) +
             strf(", \"index\": %zu", r);
        first = false;
        for (const auto& [key, v] : samples[r].str)
          if (key != "alloc") o += ", " + q(key) + ": " + q(v);
        for (const auto& [key, v] : samples[r].num) o += ", " + q(key) + ": " + num(v);
        o += "}";
      }
  }
  o += "\n  ]\n}\n";
  return o;
}

}  // namespace bench
