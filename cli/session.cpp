// This file contains the options shared by demo and bench, and the session that
// runs them and writes what they produced.
#include "cli/session.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "harness/allocators.hpp"
#include "harness/machine.hpp"
#include "report/charts.hpp"
#include "report/report.hpp"

namespace bench {
namespace {

constexpr std::uint64_t kMaxThreads = 256;
constexpr std::uint64_t kMaxRuns = 1000;

std::string allocator_names() {
  std::string s;
  for (const auto& a : all_allocators()) s += (s.empty() ? "" : ", ") + a;
  return s;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream o(path);
  o << text;
  o.close();
  if (!o) {
    std::fprintf(stderr, "tslab: could not write %s\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace

bool read_run_option(ArgReader& r, const std::string& arg, RunOptions& o) {
  if (arg == "--allocators") {
    o.allocators = parse_list(arg, r.value(arg));
    for (const auto& a : o.allocators)
      if (!is_known_allocator(a))
        throw UsageError("unknown allocator '" + a + "' (allocators: " + allocator_names() + ")");
  } else if (arg == "--threads") {
    o.threads = static_cast<unsigned>(parse_number(arg, r.value(arg), 1, kMaxThreads));
  } else if (arg == "--runs") {
    o.runs = static_cast<unsigned>(parse_number(arg, r.value(arg), 1, kMaxRuns));
  } else if (arg == "--json") {
    o.json_path = r.value(arg);
  } else if (arg == "--markdown") {
    o.markdown_path = r.value(arg);
  } else if (arg == "--plot") {
    o.plot_dir = r.value(arg);
  } else if (arg == "--no-plot") {
    o.no_plot = true;
  } else if (arg == "--quick") {
    o.quick = true;
  } else if (arg == "--seed") {
    o.overrides["seed"] = parse_number(arg, r.value(arg), 0, UINT64_MAX);
  } else {
    return false;
  }
  return true;
}

Session::Session(const RunOptions& options, const std::vector<const Workload*>& selected,
                 const std::vector<std::string>& default_allocators, int argc, char** argv)
    : opt_(options) {
  cfg_.runs = opt_.runs != 0 ? opt_.runs : (opt_.quick ? 1 : 3);
  cfg_.quick = opt_.quick;
  cfg_.json_path = opt_.json_path;
  cfg_.markdown_path = opt_.markdown_path;
  cfg_.plot_dir = opt_.no_plot ? std::string() : opt_.plot_dir;
  cfg_.command = quoted_command(argc, argv);
  const std::vector<std::string>& wanted = opt_.allocators.empty() ? default_allocators : opt_.allocators;
  select_allocators(wanted, st_);
  cfg_.allocators = st_.allocators;
  for (const Workload* w : selected) {
    if (opt_.threads != 0 && w->threading == Threading::single)
      std::fprintf(stderr, "tslab: note: --threads does not apply to %s (it runs %u thread%s); ignored\n",
                   w->name, w->default_threads, w->default_threads == 1 ? "" : "s");
    bool any = false;
    for (const auto& a : st_.allocators) any = any || w->applies(a);
    if (!any && !st_.allocators.empty())
      std::fprintf(stderr, "tslab: note: none of the selected allocators applies to %s; it is not measured\n",
                   w->name);
    for (Case& c : cases_for(*w, opt_.threads, opt_.quick, opt_.overrides)) st_.cases.push_back(std::move(c));
  }
}

void Session::narrow(const Workload* w, const std::function<bool(const std::string&)>& only) {
  for (Case& c : st_.cases)
    if (c.workload == w) c.only = only;
}

bool Session::announce() {
  cfg_.machine = machine_description();
  cfg_.load_before = load_average();
  std::printf("Command: %s\n", cfg_.command.c_str());
  std::printf("Machine: %s\n", cfg_.machine.c_str());
  std::fflush(stdout);
  for (const auto& s : st_.skipped) std::fprintf(stderr, "tslab: skipping %s\n", s.c_str());
  if (st_.allocators.empty()) {
    std::fprintf(stderr, "tslab: no allocator left to measure\n");
    return false;
  }
  return true;
}

void Session::run() {
  run_plan(cfg_, st_);
  cfg_.load_after = load_average();
}

bool Session::write_outputs(const std::string& kind) {
  bool ok = true;
  std::string json_path = cfg_.json_path;
  const std::string json = render_json(cfg_, st_);
  if (!json_path.empty()) ok = write_file(json_path, json) && ok;
  if (!cfg_.markdown_path.empty()) ok = write_file(cfg_.markdown_path, render_report(cfg_, st_, true)) && ok;
  if (cfg_.plot_dir.empty()) return ok;
  bool temporary = false;
  if (json_path.empty()) {
    char tmpl[] = "/tmp/tslab-results-XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd < 0) {
      std::fprintf(stderr, "tslab: could not create a temporary file for the charts\n");
      return false;
    }
    close(fd);
    json_path = tmpl;
    temporary = true;
    if (!write_file(json_path, json)) return false;
  }
  std::vector<std::string> written;
  std::string error;
  const bool drawn = draw_charts(json_path, cfg_.plot_dir, kind, written, error);
  if (temporary) unlink(json_path.c_str());
  if (!drawn) {
    std::fprintf(stderr, "tslab: no charts written: %s\n", error.c_str());
    return false;
  }
  std::printf("\nCharts:\n");
  for (const auto& w : written) std::printf("  %s\n", w.c_str());
  return ok;
}

}  // namespace bench
