// This file contains what `tslab demo` and `tslab bench` share: the options
// both take, and a session that selects the available allocators (saying which
// it skips and why), runs every case, and writes the JSON, Markdown and charts.
#ifndef TSLAB_CLI_SESSION_HPP
#define TSLAB_CLI_SESSION_HPP

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "driver/plan.hpp"

namespace bench {

struct RunOptions {
  std::vector<std::string> allocators;  // empty: the command's default set
  unsigned threads = 0;                 // 0: each workload's default
  unsigned runs = 0;                    // 0: 3, or 1 with --quick
  bool quick = false;
  std::string json_path, markdown_path, plot_dir;
  bool no_plot = false;
  std::map<std::string, std::uint64_t> overrides;  // --set NAME=VALUE, --seed N
};

// Reads `arg` (and its value) if it is one of the shared options; false otherwise.
bool read_run_option(ArgReader& reader, const std::string& arg, RunOptions& options);

class Session {
 public:
  // Checks the allocator names (UsageError for an unknown one) and builds the
  // cases of `selected` workloads; `default_allocators` applies when none were given.
  Session(const RunOptions& options, const std::vector<const Workload*>& selected,
          const std::vector<std::string>& default_allocators, int argc, char** argv);

  // Narrows the allocators that `w`'s cases measure (see Case::only); before run().
  void narrow(const Workload* w, const std::function<bool(const std::string&)>& only);
  // Prints the command, machine and skipped allocators; false (with a message)
  // if no allocator is left to measure.
  bool announce();
  void run();
  // Writes --json and --markdown; draws charts into `plot_dir` of `kind`
  // ("demo" or "bench") when one is set. Returns false if a file or the charts
  // could not be written (the message is printed).
  bool write_outputs(const std::string& kind);
  bool failed() const { return !st_.errors.empty(); }

  const Config& config() const { return cfg_; }
  const Store& store() const { return st_; }

 private:
  RunOptions opt_;
  Config cfg_;
  Store st_;
};

}  // namespace bench

#endif
