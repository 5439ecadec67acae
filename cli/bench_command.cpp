// This file contains `tslab bench`: any workload, a named group of them
// (`preload`) or the whole allocator suite (`--all`), against the peers, with
// the full report (tables, ratios, targets, notes).
#include <cstdio>
#include <set>

#include "cli/commands.hpp"
#include "cli/session.hpp"
#include "harness/allocators.hpp"
#include "report/report.hpp"

namespace bench {
namespace {

void print_workloads() {
  for (const WorkloadGroup& g : workload_groups()) {
    std::printf("group %s: %s\n  runs:", g.name, g.summary);
    for (const Workload* w : workloads_in_group(g.name)) std::printf(" %s", w->name);
    std::printf("\n");
  }
  std::printf("--all: every workload outside the groups above\n\n");
  for (const Workload& w : workloads()) {
    const bool grouped = w.group[0] != '\0';
    std::printf("%s%s%s%s\n  %s\n", w.name, grouped ? "  (group " : "", w.group, grouped ? ")" : "",
                w.summary);
    if (w.former_name[0] != '\0') std::printf("  (tslab_bench called it %s)\n", w.former_name);
    for (const WorkloadParam& p : w.params)
      std::printf("    --set %s=N  %s (default %llu, --quick %llu)\n", p.name, p.help,
                  static_cast<unsigned long long>(p.full), static_cast<unsigned long long>(p.quick));
  }
}

std::string param_names(const std::vector<const Workload*>& selected) {
  std::set<std::string> names;
  for (const Workload* w : selected)
    for (const WorkloadParam& p : w->params) names.insert(p.name);
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

void add_once(std::vector<const Workload*>& selected, const Workload* w) {
  for (const Workload* s : selected)
    if (s == w) return;
  selected.push_back(w);
}

std::string group_names() {
  std::string s;
  for (const WorkloadGroup& g : workload_groups()) s += (s.empty() ? "" : ", ") + std::string(g.name);
  return s;
}

}  // namespace

int bench_command(int argc, char** argv) {
  ArgReader r(argc, argv, 2);
  RunOptions opt;
  std::vector<const Workload*> selected;
  std::vector<std::pair<std::string, std::string>> sets;
  bool all = false, list = false;
  while (!r.done()) {
    const std::string a = r.next();
    if (read_run_option(r, a, opt)) continue;
    if (a == "--all") {
      all = true;
    } else if (a == "--list") {
      list = true;
    } else if (a == "--set") {
      const std::string v = r.value(a);
      const auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0) throw UsageError("--set expects NAME=VALUE (got '" + v + "')");
      sets.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--help" || a == "-h") {
      print_usage(stdout);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      throw UsageError("unknown option '" + a + "' for bench (see tslab help)");
    } else if (find_group(a) != nullptr) {
      for (const Workload* w : workloads_in_group(a)) add_once(selected, w);
    } else {
      const Workload* w = find_workload(a);
      if (w == nullptr)
        throw UsageError("unknown workload '" + a + "' (workloads: " + workload_names() +
                         "; groups: " + group_names() + ")");
      add_once(selected, w);
    }
  }
  if (list) {
    print_workloads();
    return 0;
  }
  if (all && !selected.empty()) throw UsageError("give workloads (or groups) or --all, not both");
  if (!all && selected.empty())
    throw UsageError("bench needs a workload, a group or --all (workloads: " + workload_names() +
                     "; groups: " + group_names() + ")");
  if (all) selected = workloads_in_group("");
  for (const auto& [name, value] : sets) {
    bool known = false;
    for (const Workload* w : selected)
      for (const WorkloadParam& p : w->params) known = known || name == p.name;
    if (!known)
      throw UsageError("unknown parameter '" + name + "' for --set (parameters: " + param_names(selected) +
                       ")");
    opt.overrides[name] = parse_number("--set " + name, value, 0, UINT64_MAX);
  }

  Session session(opt, selected, all_allocators(), argc, argv);
  if (!session.announce()) return 1;
  session.run();
  const std::string report = render_report(session.config(), session.store(), false);
  std::fputs(report.c_str(), stdout);
  std::fflush(stdout);
  const bool written = session.write_outputs("bench");
  return session.failed() || !written ? 1 : 0;
}

}  // namespace bench
