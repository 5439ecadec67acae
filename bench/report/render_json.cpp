// This file contains the JSON document of a run: the configuration, then one
// entry per (case, mode, allocator) with the workload's parameters, every
// run's figures, their medians, and the series of the median run (RSS over
// time, latency percentiles, per-cycle RSS) that the charts are drawn from.
#include <set>

#include "harness/json_line.hpp"
#include "report/report.hpp"

namespace bench {
namespace {

std::string q(const std::string& s) { return "\"" + json_escape(s) + "\""; }

std::string list(const std::vector<std::string>& v) {
  std::string o = "[";
  for (std::size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + q(v[i]);
  return o + "]";
}

std::string numbers(const std::vector<double>& v) {
  std::string o = "[";
  for (std::size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + json_number(v[i]);
  return o + "]";
}

std::string figures(const Sample& s) {
  std::string o = "{";
  bool first = true;
  for (const auto& [k, v] : s.num)
    o += std::string(first ? "" : ", ") + q(k) + ": " + json_number(v), first = false;
  for (const auto& [k, v] : s.str) o += std::string(first ? "" : ", ") + q(k) + ": " + q(v), first = false;
  return o + "}";
}

std::string entry(const Store& st, const Case& c, const std::string& mode, const std::string& alloc) {
  std::string o = "    {\"workload\": " + q(c.workload->name) + ", \"case\": " + q(c.id) +
                  strf(", \"threads\": %u", c.threads) + ", \"mode\": " + q(mode) +
                  ", \"allocator\": " + q(alloc);
  o += ", \"params\": {";
  bool first = true;
  for (const auto& [k, v] : c.params)
    o += std::string(first ? "" : ", ") + q(k) + ": " + std::to_string(v), first = false;
  o += "}";
  const std::vector<Sample>* samples = nullptr;
  if (auto a = st.runs.find(alloc); a != st.runs.end())
    if (auto r = a->second.find(c.id + "/" + mode); r != a->second.end()) samples = &r->second;
  o += ", \"ok\": " + std::string(samples != nullptr && !samples->empty() ? "true" : "false");
  o += ",\n      \"median\": {";
  if (samples != nullptr) {
    std::set<std::string> keys;
    for (const Sample& s : *samples)
      for (const auto& [k, v] : s.num) keys.insert(k);
    first = true;
    for (const auto& k : keys)
      o += std::string(first ? "" : ", ") + q(k) + ": " + json_number(st.median_of(alloc, c.id, mode, k)),
          first = false;
  }
  o += "},\n      \"runs\": [";
  if (samples != nullptr)
    for (std::size_t i = 0; i < samples->size(); ++i)
      o += std::string(i ? ",\n        " : "\n        ") + figures((*samples)[i]);
  o += "],\n      \"series\": {";
  const Sample* rep = st.median_run(alloc, c.id, mode, headline(c.workload->name, mode).key);
  if (rep != nullptr) {
    first = true;
    for (const auto& [k, v] : rep->series)
      o += std::string(first ? "" : ", ") + q(k) + ": " + numbers(v), first = false;
    if (auto p = rep->str.find("phases"); p != rep->str.end()) {
      std::vector<std::string> names;
      std::string cur;
      for (char ch : p->second) {
        if (ch == '|')
          names.push_back(cur), cur.clear();
        else
          cur += ch;
      }
      if (!p->second.empty()) names.push_back(cur);
      o += std::string(first ? "" : ", ") + "\"phase_names\": " + list(names);
    }
  }
  return o + "}}";
}

}  // namespace

std::string render_json(const Config& cfg, const Store& st) {
  std::string o = "{\n";
  o += "  \"tool\": \"tslab\",\n";
  o += "  \"command\": " + q(cfg.command) + ",\n";
  o += "  \"machine\": " + q(cfg.machine) + ",\n";
  o += "  \"load_before\": " + q(cfg.load_before) + ",\n";
  o += "  \"load_after\": " + q(cfg.load_after) + ",\n";
  o += strf("  \"runs\": %u,\n  \"quick\": %s,\n", cfg.runs, cfg.quick ? "true" : "false");
  o += "  \"allocators\": " + list(st.allocators) + ",\n";
  o += "  \"skipped\": " + list(st.skipped) + ",\n";
  o += "  \"verified\": {";
  bool first = true;
  for (const auto& [a, v] : st.verified)
    o += std::string(first ? "" : ", ") + q(a) + ": " + q(v), first = false;
  o += "},\n  \"errors\": {";
  first = true;
  for (const auto& [a, errs] : st.errors)
    o += std::string(first ? "" : ", ") + q(a) + ": " + list(errs), first = false;
  o += "},\n  \"workloads\": [";
  first = true;
  for (const Workload& w : workloads()) {
    bool used = false;
    for (const Case& c : st.cases) used = used || c.workload == &w;
    if (!used) continue;
    o += std::string(first ? "" : ",") + "\n    {\"name\": " + q(w.name) + ", \"summary\": " + q(w.summary) +
         ", \"modes\": " + list(w.modes) + "}";
    first = false;
  }
  o += "\n  ],\n  \"results\": [\n";
  first = true;
  for (const Case& c : st.cases)
    for (const std::string& mode : c.workload->modes)
      for (const auto& a : st.allocators) {
        if (!c.runs(a, mode)) continue;
        o += std::string(first ? "" : ",\n") + entry(st, c, mode, a);
        first = false;
      }
  o += "\n  ]\n}\n";
  return o;
}

}  // namespace bench
