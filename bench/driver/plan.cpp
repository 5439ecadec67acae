// This file contains the cases of each workload, the selection of available
// allocators and the loop that runs every measurement in its own child.
#include "driver/plan.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "harness/allocators.hpp"
#include "harness/child_process.hpp"
#include "harness/machine.hpp"
#include "harness/progress.hpp"
#include "harness/stats.hpp"

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

const Sample* Store::median_run(const std::string& alloc, const std::string& case_id, const std::string& mode,
                                const std::string& key) const {
  auto a = runs.find(alloc);
  if (a == runs.end()) return nullptr;
  auto c = a->second.find(case_id + "/" + mode);
  if (c == a->second.end() || c->second.empty()) return nullptr;
  const double m = median_of(alloc, case_id, mode, key);
  const Sample* best = &c->second.front();
  double best_gap = std::numeric_limits<double>::infinity();
  for (const Sample& s : c->second) {
    auto it = s.num.find(key);
    if (it == s.num.end()) continue;
    const double gap = std::fabs(it->second - m);
    if (gap < best_gap) best_gap = gap, best = &s;
  }
  return best;
}

std::vector<Case> cases_for(const Workload& w, unsigned threads, bool quick,
                            const std::map<std::string, std::uint64_t>& overrides) {
  std::map<std::string, std::uint64_t> params;
  for (const WorkloadParam& p : w.params) params[p.name] = quick ? p.quick : p.full;
  for (const auto& [k, v] : overrides)
    if (params.count(k)) params[k] = v;
  auto one = [&](unsigned t, bool suffix) {
    Case c;
    c.id = suffix ? strf("%s/%u", w.name, t) : std::string(w.name);
    c.workload = &w;
    c.threads = t;
    c.params = params;
    return c;
  };
  switch (w.threading) {
    case Threading::single:
      return {one(w.default_threads, false)};
    case Threading::fixed:
      return {one(threads != 0 ? threads : w.default_threads, false)};
    case Threading::bulk:
      if (threads != 0) return {one(threads, true)};
      return {one(1, true), one(2, true)};
    case Threading::scaling: {
      const unsigned n = threads != 0 ? threads : std::max(2u, online_cpus());
      std::vector<Case> v;
      for (unsigned t = 1; t <= n; ++t) v.push_back(one(t, true));
      return v;
    }
  }
  return {};
}

void select_allocators(const std::vector<std::string>& requested, Store& st) {
  for (const auto& n : all_allocators()) {
    if (std::find(requested.begin(), requested.end(), n) == requested.end()) continue;
    if (is_tslab_variant(n) && !tslab_built_in()) {
      st.skipped.push_back(n + ": this binary was built without the tslab library");
      continue;
    }
    const std::string lib = preload_library(n);
    const std::string variable = preload_override_variable(n);
    if (lib.empty() && !variable.empty()) {
      st.skipped.push_back(n + ": this binary was built without its shared object (set " + variable +
                           " to its path)");
      continue;
    }
    if (!lib.empty() && access(lib.c_str(), R_OK) != 0) {
      const char* how = n == "tslab-malloc" ? "build the tslab_malloc target" : "install the Debian package";
      st.skipped.push_back(n + ": " + lib + " not found (" + how + ", or set " + variable + " to its path)");
      continue;
    }
    st.allocators.push_back(n);
  }
}

namespace {

// The figure a progress line shows for one finished child.
std::string progress_figure(const std::string& workload, const std::string& mode, const Sample& s) {
  const Headline h = headline(workload, mode);
  auto v = s.num.find(h.key);
  return v == s.num.end() ? std::string("ok") : strf(h.format, v->second);
}

}  // namespace

void run_plan(const Config& cfg, Store& st) {
  const std::size_t na = st.allocators.size();
  std::size_t total = 0;
  for (const Case& c : st.cases)
    for (const auto& a : st.allocators)
      for (const std::string& mode : c.workload->modes) total += c.runs(a, mode);
  Progress progress(total * cfg.runs);
  for (unsigned r = 0; r < cfg.runs; ++r) {
    for (const Case& c : st.cases) {
      for (std::size_t k = 0; k < na; ++k) {
        const std::string& alloc = st.allocators[(k + r) % na];
        for (const std::string& mode : c.workload->modes) {
          if (!c.runs(alloc, mode)) continue;
          ChildSpec spec;
          spec.alloc = alloc;
          spec.workload = c.workload->name;
          spec.mode = mode;
          spec.threads = c.threads;
          spec.params = c.params;
          const std::string what =
              strf("%s %s %s, run %u/%u", c.id.c_str(), mode.c_str(), alloc.c_str(), r + 1, cfg.runs);
          progress.begin(what);
          Sample s;
          std::string err;
          if (run_child(spec, s, err, [&] { progress.tick(); })) {
            if (!st.verified.count(alloc)) st.verified[alloc] = s.str["verified"];
            if (s.num.count("peak_reset") && s.num["peak_reset"] == 0) st.peak_reset_failed = true;
            progress.end(progress_figure(c.workload->name, mode, s));
            st.runs[alloc][c.id + "/" + mode].push_back(std::move(s));
          } else {
            progress.end("FAILED: " + err);
            st.errors[alloc].push_back(c.id + "/" + mode + ": " + err);
          }
        }
      }
    }
  }
  progress.finish();
}

}  // namespace bench
