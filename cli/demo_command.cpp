// This file contains `tslab demo`: the request workload with tslab (using
// epochs) and every installed peer, a table with ratios to the best peer, a few
// sentences on what the figures say, and the charts (RSS over time with the
// phases marked, latency percentiles, throughput); then a short section on
// plain new/delete: the cpp-requests loop under each allocator through
// LD_PRELOAD, and under tslab-malloc once more with a lifetime scope per
// request, with the RSS each leaves behind.
#include <cmath>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/session.hpp"
#include "harness/allocators.hpp"
#include "report/report.hpp"

namespace bench {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

const std::vector<std::string> kDemoAllocators = {"tslab", "glibc", "mimalloc", "jemalloc", "tcmalloc"};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

// "4.8x less than" / "1.3x more than" / "the same as", comparing a with b.
std::string compared(double a, double b) {
  if (!(a > 0) || !(b > 0)) return "n/a against";
  const double r = a / b;
  if (r > 0.97 && r < 1.03) return "about the same as";
  return r < 1 ? strf("%.1fx less than", 1 / r) : strf("%.1fx more than", r);
}

// What the figures say, in a few sentences computed from them.
std::string what_it_shows(const Store& st, const Case& c) {
  auto M = [&](const std::string& a, const char* key) { return st.median_of(a, c.id, "serve", key); };
  auto best = [&](const char* key, bool highest) {
    Best b{std::nan(""), ""};
    for (const auto& a : st.allocators) {
      if (!is_peer(a)) continue;
      const double v = M(a, key);
      if (std::isfinite(v) && (b.who.empty() || (highest ? v > b.value : v < b.value))) b = {v, a};
    }
    return b;
  };
  const bool have_tslab = std::isfinite(M("tslab", "req_per_s"));
  const Best rss = best("rss_after_phase", false), tput = best("req_per_s", true),
             tail = best("p999_us", false);
  const Best peak = best("rss_peak", false), purged = best("rss_after_purge", false);
  if (!have_tslab || rss.who.empty()) return "";
  std::string o = "\nWhat this shows:\n";
  o += strf(
      "  - When the phase ends (cache drained, idle), tslab holds %.1f MiB: %s the lowest peer (%s, %.1f "
      "MiB).\n",
      M("tslab", "rss_after_phase") / kMiB, compared(M("tslab", "rss_after_phase"), rss.value).c_str(),
      rss.who.c_str(), rss.value / kMiB);
  o += "    Closing an epoch hands its pages back at once; the peers keep the freed memory for reuse.\n";
  o +=
      strf("    With each allocator's purge call after the run: tslab %.1f MiB, lowest peer %.1f MiB (%s).\n",
           M("tslab", "rss_after_purge") / kMiB, purged.value / kMiB, purged.who.c_str());
  o += strf("  - Peak RSS while serving: tslab %.1f MiB, lowest peer %.1f MiB (%s).\n",
            M("tslab", "rss_peak") / kMiB, peak.value / kMiB, peak.who.c_str());
  o += strf("  - Throughput: tslab %.0f req/s, %.2fx the fastest peer (%s, %.0f req/s).\n",
            M("tslab", "req_per_s"), M("tslab", "req_per_s") / tput.value, tput.who.c_str(), tput.value);
  const Best cpu = best("cpu_us_per_req", false);
  if (!cpu.who.empty())
    o += strf(
        "    CPU time per request (less sensitive to other work on the machine): tslab %.2f us, lowest peer "
        "%.2f us (%s).\n",
        M("tslab", "cpu_us_per_req"), cpu.value, cpu.who.c_str());
  o += strf("  - Tail latency: tslab p99.9 %.1f us, best peer %.1f us (%s).\n", M("tslab", "p999_us"),
            tail.value, tail.who.c_str());
  return o;
}

// The plain new/delete section: its table and a sentence or two on the RSS.
std::string plain_new_section(const Store& st, const Workload& w) {
  const std::vector<Section> sections = workload_sections(st, w, 0);
  const Case* c = nullptr;
  for (const Case& k : st.cases)
    if (k.workload == &w) c = &k;
  if (sections.empty() || c == nullptr) return "";
  std::string o =
      "\nPlain new/delete: a C++ request loop, unmodified, under each allocator with LD_PRELOAD, and under\n";
  o += "tslab-malloc once more with tslab_scope_begin/end around each request (found with dlsym, so the\n";
  o += strf(
      "same code runs everywhere): %llu requests building std::map/std::string/std::vector garbage, one in\n",
      static_cast<unsigned long long>(c->params.at("requests")));
  o += strf(
      "%llu large; one in %llu leaves a survivor in a global cache of %llu. RSS after phase: after the\n",
      static_cast<unsigned long long>(c->params.at("big_every")),
      static_cast<unsigned long long>(c->params.at("keep_every")),
      static_cast<unsigned long long>(c->params.at("cache")));
  o += "last request, survivors still alive.\n";
  o += section_table(st, sections[0], false);
  auto M = [&](const std::string& a, const char* mode, const char* key) {
    return st.median_of(a, c->id, mode, key);
  };
  const Column after{"", [&](const std::string& a) { return M(a, "plain", "rss_after_phase"); }, 1, true};
  const Best low = best_peer(st, after);
  const double plain = M("tslab-malloc", "plain", "rss_after_phase");
  const double scoped = M("tslab-malloc", "scoped", "rss_after_phase");
  if (!std::isfinite(plain) || !std::isfinite(scoped) || low.who.empty()) return o;
  o += strf(
      "  - After the requests (survivors alive), tslab-malloc with a scope per request holds %.1f MiB: %s\n"
      "    without scopes (%.1f MiB); the lowest peer (%s) %.1f MiB.\n",
      scoped / kMiB, compared(scoped, plain).c_str(), plain / kMiB, low.who.c_str(), low.value / kMiB);
  const double survivors = M("tslab-malloc", "scoped", "survivors");
  if (scoped > plain && survivors > 0)
    o += strf(
        "    A closed scope's epoch keeps the pages its survivors sit in: about %.1f KiB more per survivor\n"
        "    alive (%.0f) than without scopes.\n",
        (scoped - plain) / 1024.0 / survivors, survivors);
  else
    o += "    A scope's end closes its epoch: what died in the request goes back to the OS at once.\n";
  const Best fastest = best_peer(
      st, Column{"", [&](const std::string& a) { return M(a, "plain", "req_per_s"); }, 0, true, true});
  o += strf("  - Time per request: tslab-malloc %.1f us, with scopes %.1f us; fastest peer (%s) %.1f us.\n",
            M("tslab-malloc", "plain", "us_per_req"), M("tslab-malloc", "scoped", "us_per_req"),
            fastest.who.c_str(), 1e6 / fastest.value);
  return o;
}

}  // namespace

int demo_command(int argc, char** argv) {
  ArgReader r(argc, argv, 2);
  RunOptions opt;
  opt.plot_dir = "tslab-demo";
  while (!r.done()) {
    const std::string a = r.next();
    if (read_run_option(r, a, opt)) continue;
    if (a == "--help" || a == "-h") {
      print_usage(stdout);
      return 0;
    }
    throw UsageError("unknown " + std::string(a.empty() || a[0] != '-' ? "argument" : "option") + " '" + a +
                     "' for demo (see tslab help)");
  }
  const Workload* request = find_workload("request");
  const Workload* plain_new = find_workload("cpp-requests");
  // The plain new/delete section measures tslab as tslab-malloc; the request
  // table keeps to the allocators asked for (tslab-malloc only if named).
  std::vector<std::string> wanted = opt.allocators.empty() ? kDemoAllocators : opt.allocators;
  const bool malloc_named = contains(wanted, "tslab-malloc");
  if (contains(wanted, "tslab") && !malloc_named) wanted.push_back("tslab-malloc");
  opt.allocators = wanted;
  Session session(opt, {request, plain_new}, kDemoAllocators, argc, argv);
  if (!malloc_named) session.narrow(request, [](const std::string& a) { return a != "tslab-malloc"; });
  if (!session.announce()) return 1;
  const Store& st = session.store();
  const Case& c = st.cases.front();
  std::printf(
      "\ntslab demo: %u threads serve requests (%llu-%llu objects of %llu-%llu B each, written and freed "
      "when the "
      "request ends;\n%.2g%% go into a shared FIFO cache of %llu, evicted by whichever thread inserts) for "
      "%llu "
      "phases of %.1f s.\nAfter each phase the cache drains and the process idles %.2f s. tslab allocates "
      "each batch "
      "of %llu requests\nper thread in an epoch that is closed when the batch ends, and the cache in a "
      "long-lived "
      "epoch closed when\nit drains; the peers run malloc/free. Medians of %u run%s, each run of each "
      "allocator in "
      "its own process.\nThen a short plain new/delete section: a C++ request loop under each allocator, "
      "tslab as tslab-malloc.\n",
      c.threads, static_cast<unsigned long long>(c.params.at("req_min")),
      static_cast<unsigned long long>(c.params.at("req_max")),
      static_cast<unsigned long long>(c.params.at("obj_min")),
      static_cast<unsigned long long>(c.params.at("obj_max")),
      static_cast<double>(c.params.at("cache_bp")) / 100.0,
      static_cast<unsigned long long>(c.params.at("cache_capacity")),
      static_cast<unsigned long long>(c.params.at("phases")),
      static_cast<double>(c.params.at("serve_ms")) / 1e3,
      static_cast<double>(c.params.at("cooldown_ms")) / 1e3,
      static_cast<unsigned long long>(c.params.at("batch")), session.config().runs,
      session.config().runs == 1 ? "" : "s");
  std::fflush(stdout);
  session.run();
  std::printf("\n");
  const std::vector<Section> sections = workload_sections(st, *request, 0);
  if (!sections.empty()) std::fputs(section_table(st, sections[0], false).c_str(), stdout);
  std::printf(
      "Ratios (in parentheses) are to the best peer: the highest req/s, the lowest latency and RSS.\n"
      "\"RSS after phase\" is read after the last phase's drain and idle time; \"after purge\" after each\n"
      "allocator's own purge call (glibc malloc_trim, mimalloc mi_collect, jemalloc arena purge,\n"
      "tcmalloc ReleaseFreeMemory, tslab slab_collect).\n");
  if (sections.size() > 1) {
    std::printf(
        "\nCost per request: CPU time and minor page faults of the process while serving; for tslab also "
        "its\n"
        "own counters per 1000 requests (madvise calls, time in epoch closes, slow paths, remote frees).\n");
    std::fputs(section_table(st, sections[1], false).c_str(), stdout);
  }
  std::fputs(what_it_shows(st, c).c_str(), stdout);
  std::fputs(plain_new_section(st, *plain_new).c_str(), stdout);
  for (const auto& [a, errs] : st.errors)
    for (const auto& e : errs) std::printf("FAILED %s %s\n", a.c_str(), e.c_str());
  std::fflush(stdout);
  const bool written = session.write_outputs("demo");
  return session.failed() || !written ? 1 : 0;
}

}  // namespace bench
