// This file contains the table of each workload: its title, columns, the
// allocators it shows and tslab's targets.
#include <cmath>
#include <limits>

#include "harness/allocators.hpp"
#include "report/report.hpp"
#include "report/section_builders.hpp"

namespace bench {
namespace {

constexpr double kMiB = kSectionMiB;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// A target relative to the best peer of column `col`.
Target relative(const Store& st, const std::vector<Column>& cols, std::size_t col, double factor,
                const std::string& what, double slack = 0) {
  const Best b = best_peer(st, cols[col]);
  const std::string scale = factor == 1.0 ? std::string() : strf("%.2g x ", factor);
  const std::string rule =
      strf("%s%s (%s %s)", scale.c_str(), what.c_str(), b.who.empty() ? "none" : b.who.c_str(),
           fmt_val(b.value, cols[col].precision).c_str());
  Target t{col, factor * b.value, rule, slack};
  t.at_least = cols[col].higher_better;
  return t;
}

Section churn(const Store& st, const Case& c, double half_step) {
  Section s = base_section(c);
  Cols tput{st, c.id, "tput"}, lat{st, c.id, "lat"};
  s.title = strf("churn: 1 thread, %llu B blocks, %llu live slots, %llu ops per pass", param(c, "size"),
                 param(c, "slots"), param(c, "ops"));
  s.cols = {tput.num("ns/op", "ns_per_op", 2),
            lat.num("p50 ns", "p50_ns", 1),
            lat.num("p99 ns", "p99_ns", 1),
            lat.num("p99.9 ns", "p999_ns", 1),
            tput.mib("peak RSS MiB", "rss_peak", 2),
            tput.mib("after free MiB", "rss_after", 2),
            tput.mib("base MiB", "rss_base", 2, false)};
  const std::vector<Column> cols = s.cols;
  s.targets = [&st, cols, half_step](const std::string&) {
    return TargetRows{
        {"target",
         {relative(st, cols, 0, 0.8, "fastest peer"), relative(st, cols, 3, 1.0, "best peer", half_step)}}};
  };
  return s;
}

Section bulk(const Store& st, const Case& c, double half_step) {
  Section s = base_section(c);
  Cols tput{st, c.id, "tput"}, lat{st, c.id, "lat"};
  const double payload =
      static_cast<double>(param(c, "count")) * static_cast<double>(param(c, "size")) * c.threads;
  s.title = strf("bulk, %u thread%s: %llu x %llu B per thread allocated, then all freed (payload %.1f MiB)",
                 c.threads, c.threads == 1 ? "" : "s", param(c, "count"), param(c, "size"), payload / kMiB);
  const std::string id = c.id;
  const Store* stp = &st;
  s.cols = {
      tput.num("alloc ns/op", "alloc_ns", 2),
      tput.num("free ns/op", "free_ns", 2),
      lat.num("alloc p99.9 ns", "alloc_p999_ns", 1),
      lat.num("free p99.9 ns", "free_p999_ns", 1),
      tput.mib("peak RSS MiB", "rss_peak", 1),
      {"(peak-base)/payload",
       [=](const std::string& a) {
         return (stp->median_of(a, id, "tput", "rss_peak") - stp->median_of(a, id, "tput", "rss_base")) /
                stp->median_of(a, id, "tput", "payload");
       },
       3, true},
      tput.mib("after free MiB", "rss_after", 2),
      tput.mib("base MiB", "rss_base", 2, false)};
  const std::vector<Column> cols = s.cols;
  const Target rss{5, (1.05 * payload + 2 * kMiB) / payload, "(1.05 x payload + 2 MiB) / payload"};
  const std::string one = "bulk/1";
  const bool two = c.threads == 2;
  s.targets = [&st, cols, rss, half_step, one, two](const std::string& a) {
    TargetRows rows = {
        {"target",
         {relative(st, cols, 0, 1.0, "fastest peer"), relative(st, cols, 1, 1.0, "fastest peer"),
          relative(st, cols, 2, 1.0, "best peer", half_step),
          relative(st, cols, 3, 1.0, "best peer", half_step), rss}}};
    if (two) {
      const double a1 = st.median_of(a, one, "tput", "alloc_ns"),
                   f1 = st.median_of(a, one, "tput", "free_ns");
      rows.push_back({"vs own 1T",
                      {Target{0, 1.2 * a1, strf("1.2 x own 1-thread alloc (%s)", fmt_val(a1, 2).c_str())},
                       Target{1, 1.2 * f1, strf("1.2 x own 1-thread free (%s)", fmt_val(f1, 2).c_str())}}});
    }
    return rows;
  };
  return s;
}

Section steady_churn(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "rss"};
  s.title = strf(
      "steady-churn: 1 thread, %llu live objects of %llu-%llu B, %llu ops replacing a random one; RSS "
      "checkpoints "
      "at 10%% and 100%% of the ops",
      param(c, "window"), param(c, "obj_min"), param(c, "obj_max"), param(c, "ops"));
  s.cols = {r.num("ns/op", "ns_per_op", 2),
            r.mib("filled MiB", "rss_filled", 2),
            r.mib("at 10% MiB", "rss_at_10pct", 2),
            r.mib("at end MiB", "rss_at_end", 2),
            r.num("growth %", "growth_pct", 2, false),
            r.mib("peak MiB", "rss_peak", 2),
            r.mib("after free MiB", "rss_after_free", 2),
            r.mib("base MiB", "rss_base", 2, false)};
  return s;
}

Section phase_shift(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "rss"};
  s.title = strf(
      "phase-shift: a burst of %llu objects of %llu-%llu B, all freed (tslab: then the burst's epoch is "
      "closed), a "
      "%llu ms cool-down, then the purge call",
      param(c, "objects"), param(c, "obj_min"), param(c, "obj_max"), param(c, "cooldown_ms"));
  s.cols = {r.num("burst ms", "burst_ms", 1),
            r.mib("peak MiB", "rss_peak", 1),
            r.mib("after free MiB", "rss_after_free", 2),
            r.mib("after cool-down MiB", "rss_after_cooldown", 2),
            r.num("purge ms", "purge_ms", 2),
            r.mib("after purge MiB", "rss_after_purge", 2),
            r.mib("base MiB", "rss_base", 2, false)};
  return s;
}

Section sustained(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "rss"};
  const unsigned long long cycles = param(c, "cycles");
  const unsigned long long warm = std::max(1ull, std::min(50ull, cycles / 20));
  s.title = strf(
      "sustained-phase-shifts: %llu cycles of fill %llu objects of 64-512 B, free them, end the phase "
      "(tslab: epoch_advance closes the phase's epoch; peers: their purge call); warm-up reading after cycle "
      "%llu",
      cycles, param(c, "batch"), warm);
  s.cols = {r.mib("end of cycle, warm-up MiB", "rss_warm", 2),
            r.mib("end of cycle, last MiB", "rss_end", 2),
            r.num("growth %", "growth_pct", 2, false),
            r.mib("filled, warm-up MiB", "fill_warm", 2),
            r.mib("filled, last MiB", "fill_end", 2),
            r.num("filled growth %", "fill_growth_pct", 2, false),
            r.num("ms/cycle", "ms_per_cycle", 3),
            r.mib("base MiB", "rss_base", 2, false)};
  s.targets = [](const std::string&) {
    return TargetRows{{"target", {Target{2, 1.0, "1%"}, Target{5, 1.0, "1%"}}}};
  };
  return s;
}

Section fragmentation(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "rss"};
  double payload = kNaN, pinned = kNaN;
  for (const auto& a : st.allocators)
    if (!std::isfinite(payload))
      payload = st.median_of(a, c.id, "rss", "payload"), pinned = st.median_of(a, c.id, "rss", "pinned");
  s.title = strf(
      "fragmentation-adversary: %llu objects of 64-768 B (payload %.1f MiB), all freed but every 100th "
      "(pinned "
      "%.2f MiB), then each allocator's purge call",
      param(c, "objects"), payload / kMiB, pinned / kMiB);
  const std::string id = c.id;
  const Store* stp = &st;
  s.cols = {
      r.mib("peak MiB", "rss_peak", 1),
      r.mib("after free MiB", "rss_after_free", 1),
      r.num("purge ms", "purge_ms", 2),
      r.mib("after purge MiB", "rss_after_purge", 2),
      {"after purge - base MiB",
       [=](const std::string& a) {
         return (stp->median_of(a, id, "rss", "rss_after_purge") - stp->median_of(a, id, "rss", "rss_base")) /
                kMiB;
       },
       2, true},
      r.mib("kept 4K pages MiB", "kept_4k_bytes", 2, false),
      r.mib("kept 64K windows MiB", "kept_64k_bytes", 1, false),
      r.mib("own resident full MiB", "own_resident_full", 1, false),
      r.mib("own resident after MiB", "own_resident_after_purge", 2, false),
      r.mib("base MiB", "rss_base", 2, false)};
  const std::vector<Column> cols = s.cols;
  s.targets = [&st, cols, id](const std::string& a) {
    TargetRows rows;
    if (a == "tslab") rows.push_back({"target", {relative(st, cols, 3, 0.75, "best peer after its purge")}});
    if (a == "tslab-epochs") {
      const double pinned_mib = st.median_of(a, id, "rss", "pinned") / kMiB;
      rows.push_back(
          {"target", {Target{4, 1.5 * pinned_mib, strf("1.5 x pinned bytes (%.2f MiB)", pinned_mib)}}});
    }
    return rows;
  };
  return s;
}

std::vector<Section> epoch_reclamation(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "close"};
  s.title = strf(
      "epoch-reclamation: epoch_close of one epoch after filling it with %llu MiB of 128 B blocks and "
      "freeing them "
      "all (tslab only: the peers have no equivalent call)",
      param(c, "fill_mib"));
  s.cols = {r.mib("RSS filled MiB", "rss_full", 2, false),
            r.mib("before close MiB", "rss_before_close", 2, false),
            r.mib("after close MiB", "rss_after_close", 2, false),
            r.mib("returned MiB", "returned", 2, false),
            r.mib("own resident after MiB", "own_after_close", 2, false),
            r.scaled("close ms", "close_us", 1e-3, 3, false),
            r.num("us per MiB returned", "us_per_mib", 1, false)};

  Section l = base_section(c);
  l.title = strf(
      "epoch-reclamation: latency of a churn thread (free + alloc of 128 B in its own epoch, 10000 slots, "
      "%llu timed "
      "pairs) while the main thread works on other epochs (tslab only)",
      param(c, "lat_ops"));
  const std::string fill = strf("%llu MiB", param(c, "lat_fill_mib"));
  const std::string id = c.id;
  const Store* stp = &st;
  l.custom = [stp, id, fill]() {
    Table t;
    t.header = {"main thread", "p50 ns", "p99 ns",          "p99.9 ns",    "max ns",
                "fills",       "closes", "close ms (mean)", "close us/MiB"};
    auto M = [&](const char* mode, const std::string& key) { return stp->median_of("tslab", id, mode, key); };
    auto row = [&](const std::string& label, const char* mode, const std::string& pre) {
      const bool closing = std::string(mode) == "lat-close";
      t.rows.push_back({label, fmt_val(M(mode, pre + "p50_ns"), 1), fmt_val(M(mode, pre + "p99_ns"), 1),
                        fmt_val(M(mode, pre + "p999_ns"), 1), fmt_val(M(mode, pre + "max_ns"), 1),
                        fmt_val(M(mode, "fills"), 0), closing ? fmt_val(M(mode, "closes"), 0) : "",
                        closing ? fmt_val(M(mode, "close_us_mean") / 1e3, 3) : "",
                        closing ? fmt_val(M(mode, "close_us_per_mib"), 1) : ""});
    };
    row("idle", "lat-alone", "");
    row("fills/frees " + fill + " in one other epoch, no close", "lat-fill", "");
    row("fills/frees " + fill + " in a fresh epoch, then closes it", "lat-close", "");
    row("  same, only pairs overlapping an epoch_close", "lat-close", "during_");
    return t;
  };
  return {s, l};
}

Section thread_scaling(const Store& st, const std::vector<const Case*>& cases) {
  Section s = base_section(*cases.front());
  const Case& first = *cases.front();
  s.title = strf(
      "thread-scaling: T threads each churn %llu live objects of %llu-%llu B (%llu ops per thread) on one "
      "allocator; million ops per second over all threads (higher is better)",
      param(first, "window"), param(first, "obj_min"), param(first, "obj_max"), param(first, "ops"));
  for (const Case* c : cases) {
    Cols r{st, c->id, "tput"};
    s.cols.push_back(r.num(strf("T=%u Mops/s", c->threads), "mops_per_s", 2, true, true));
  }
  if (cases.size() > 1) {
    const std::string lo = cases.front()->id, hi = cases.back()->id;
    const Store* stp = &st;
    s.cols.push_back({strf("T=%u / T=1", cases.back()->threads),
                      [=](const std::string& a) {
                        return stp->median_of(a, hi, "tput", "mops_per_s") /
                               stp->median_of(a, lo, "tput", "mops_per_s");
                      },
                      2, false});
  }
  return s;
}

Section request(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "serve"};
  s.title = strf(
      "request: %u threads, %llu serve phases of %llu ms; requests of %llu-%llu objects of %llu-%llu B, "
      "%.2g%% into "
      "a shared FIFO cache of %llu (tslab: an epoch per batch of %llu requests per thread, the cache in a "
      "long-lived "
      "epoch); after each phase the cache drains and the process idles %llu ms",
      c.threads, param(c, "phases"), param(c, "serve_ms"), param(c, "req_min"), param(c, "req_max"),
      param(c, "obj_min"), param(c, "obj_max"), static_cast<double>(param(c, "cache_bp")) / 100.0,
      param(c, "cache_capacity"), param(c, "batch"), param(c, "cooldown_ms"));
  s.cols = {r.num("req/s", "req_per_s", 0, true, true),
            r.num("p50 us", "p50_us", 2),
            r.num("p99 us", "p99_us", 2),
            r.num("p99.9 us", "p999_us", 2),
            r.mib("peak RSS MiB", "rss_peak", 1),
            r.mib("RSS after phase MiB", "rss_after_phase", 1),
            r.mib("after purge MiB", "rss_after_purge", 1),
            r.mib("base MiB", "rss_base", 1, false)};
  const std::vector<Column> cols = s.cols;
  s.targets = [&st, cols](const std::string& a) {
    if (a != "tslab") return TargetRows{};
    return TargetRows{{"target",
                       {relative(st, cols, 0, 1.1, "fastest peer"), relative(st, cols, 3, 1.0, "best peer"),
                        relative(st, cols, 5, 1.0, "lowest peer")}}};
  };
  return s;
}

// Where a request's time goes: CPU time and page faults of the whole process over
// the serve phases (less sensitive to other work on the machine than wall time),
// and for tslab the library's own counters.
Section request_costs(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "serve"};
  s.title =
      "request: cost per request (process CPU time and minor page faults over the serve phases; tslab: "
      "madvise "
      "calls, process-wide fences, time in epoch closes, slow-path allocations and remote frees collected, "
      "per 1000 requests, "
      "from "
      "its statistics)";
  s.cols = {r.num("CPU us/req", "cpu_us_per_req", 2),
            r.num("sys us/req", "sys_us_per_req", 3, false),
            r.num("minor faults/1k req", "minor_faults_per_kreq", 1),
            r.num("madvise/1k req", "decommit_calls_per_kreq", 1, false),
            r.num("fences/1k req", "quiescence_waits_per_kreq", 1, false),
            r.num("close us/1k req", "close_us_per_kreq", 1, false),
            r.num("slow paths/1k req", "slow_paths_per_kreq", 0, false),
            r.num("remote frees/1k req", "remote_frees_per_kreq", 0, false),
            r.num("epochs closed", "epochs_closed", 0, false)};
  return s;
}

Section producer_consumer(const Store& st, const Case& c) {
  Section s = base_section(c);
  Cols r{st, c.id, "tput"};
  s.title = strf(
      "producer-consumer: %u threads in %u pairs, %llu objects of %llu-%llu B per producer, freed by its "
      "consumer",
      c.threads, c.threads / 2, param(c, "items"), param(c, "obj_min"), param(c, "obj_max"));
  s.cols = {r.num("M items/s", "mitems_per_s", 2, true, true), r.mib("peak RSS MiB", "rss_peak", 1),
            r.mib("after MiB", "rss_after", 1), r.mib("after purge MiB", "rss_after_purge", 1),
            r.mib("base MiB", "rss_base", 1, false)};
  return s;
}

}  // namespace

Best best_peer(const Store& st, const Column& c) {
  Best b{kNaN, ""};
  for (const auto& a : st.allocators) {
    if (!is_peer(a)) continue;
    const double v = c.value(a);
    if (!std::isfinite(v)) continue;
    if (!std::isfinite(b.value) || (c.higher_better ? v > b.value : v < b.value)) b = {v, a};
  }
  return b;
}

std::vector<Section> workload_sections(const Store& st, const Workload& w, double half_step) {
  std::vector<const Case*> cases;
  for (const Case& c : st.cases)
    if (c.workload == &w) cases.push_back(&c);
  if (cases.empty()) return {};
  const std::string name = w.name;
  if (std::string(w.group) == "preload") return preload_sections(st, w, cases);
  if (name == "thread-scaling") return {thread_scaling(st, cases)};
  if (name == "epoch-reclamation") return epoch_reclamation(st, *cases.front());
  std::vector<Section> out;
  for (const Case* c : cases) {
    if (name == "churn") out.push_back(churn(st, *c, half_step));
    if (name == "bulk") out.push_back(bulk(st, *c, half_step));
    if (name == "steady-churn") out.push_back(steady_churn(st, *c));
    if (name == "phase-shift") out.push_back(phase_shift(st, *c));
    if (name == "sustained-phase-shifts") out.push_back(sustained(st, *c));
    if (name == "fragmentation-adversary") out.push_back(fragmentation(st, *c));
    if (name == "request") out.push_back(request(st, *c)), out.push_back(request_costs(st, *c));
    if (name == "producer-consumer") out.push_back(producer_consumer(st, *c));
  }
  return out;
}

}  // namespace bench
