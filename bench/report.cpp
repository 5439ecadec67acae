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
  std::vector<Column> cols;
  // Target rows under a tslab variant: label -> targets.
  std::function<std::vector<std::pair<std::string, std::vector<Target>>>(const std::string&)> targets;
};

std::string fmt_val(double v, int prec) {
  return std::isfinite(v) ? strf("%.*f", prec, v) : std::string("n/a");
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
    const std::string id = c.id;
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
    if (id == "churn") {
      s.targets = [=](const std::string&) {
        return std::vector<std::pair<std::string, std::vector<Target>>>{
            {"target", {rel(0, 0.8, "fastest peer"), rel(3, 1.0, "best peer", half_step)}}};
      };
    } else {
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
    Table t;
    t.header.push_back("allocator");
    for (const auto& c : s.cols) t.header.push_back(c.header);
    std::vector<Best> best;
    for (const auto& c : s.cols) best.push_back(best_peer(st, c));
    for (const auto& a : st.allocators) {
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
  out += b +
         "ns/op comes from a separate pass without per-op timers; churn ns/op includes the PRNG draw (same "
         "for all)\n";
  out +=
      b + "RSS: \"base\" is the process RSS just before the workload; \"peak\" is VmHWM over the workload" +
      (st.peak_reset_failed ? " (VmHWM could NOT be reset on this machine: peak includes process start-up)\n"
                            : " (reset with /proc/self/clear_refs)\n");
  out +=
      b + "churn p50/p99/p99.9 time one free+alloc pair; bulk p99.9 times single allocs and single frees\n";
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
      "\"seed\": %llu, \"quick\": %s},\n",
      cfg.runs, static_cast<unsigned long long>(cfg.churn_ops),
      static_cast<unsigned long long>(cfg.churn_slots), static_cast<unsigned long long>(cfg.bulk_count),
      cfg.size, static_cast<unsigned long long>(cfg.seed), cfg.quick ? "true" : "false");
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
