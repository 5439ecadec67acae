// This file contains the report of a `tslab bench` or `tslab demo` run: per
// workload a table of medians with each figure's ratio to the best peer, the
// targets under tslab's rows, notes on method, and a JSON document with every
// run's figures, the medians and the series charts are drawn from.
#ifndef TSLAB_BENCH_REPORT_REPORT_HPP
#define TSLAB_BENCH_REPORT_REPORT_HPP

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "driver/plan.hpp"
#include "harness/stats.hpp"

namespace bench {

struct Column {
  std::string header;
  std::function<double(const std::string& alloc)> value;
  int precision;
  bool ratio;                  // show the ratio to the best peer
  bool higher_better = false;  // the best peer is the largest value
};

// A target on one column: the figure must not exceed `limit` (or, with
// `at_least`, not fall below it).
struct Target {
  std::size_t column;
  double limit;
  std::string rule;  // e.g. "<= 0.8 x fastest peer (mimalloc 14.2)"
  // Tolerance: latency figures are whole TSC steps, so values within half a
  // step of the limit count as equal.
  double slack = 0;
  bool at_least = false;
};

using TargetRows = std::vector<std::pair<std::string, std::vector<Target>>>;

struct Section {
  std::string title;
  std::string case_id;
  std::function<bool(const std::string&)> applies;
  std::vector<Column> cols;
  // A table of its own instead of one row per allocator (tslab-only figures).
  std::function<Table()> custom;
  // Target rows under a tslab variant: label -> targets.
  std::function<TargetRows(const std::string&)> targets;
};

// The best peer's value of a column (smallest, or largest if higher_better).
struct Best {
  double value;
  std::string who;
};
Best best_peer(const Store& st, const Column& c);

// The sections of one workload (all its cases).
std::vector<Section> workload_sections(const Store& st, const Workload& w, double half_tsc_step);

// One section as a table; with `summary`, tslab's target rows too, each target
// appended to `summary` as a line and counted.
std::string section_table(const Store& st, const Section& s, bool markdown,
                          std::vector<std::string>* summary = nullptr, int* n_met = nullptr,
                          int* n_missed = nullptr, int* n_na = nullptr);

// The human-readable report (tables, ratios, targets, notes); Markdown when `markdown`.
std::string render_report(const Config& cfg, const Store& st, bool markdown);
// Everything as one JSON document: configuration, every child's figures, medians, series.
std::string render_json(const Config& cfg, const Store& st);

}  // namespace bench

#endif
