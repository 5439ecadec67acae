// This file contains what a child process is asked to measure (ChildSpec) and
// what it reports back (Figures): numbers, number series and strings.
#ifndef TSLAB_BENCH_HARNESS_SPEC_HPP
#define TSLAB_BENCH_HARNESS_SPEC_HPP

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace bench {

struct ChildSpec {
  std::string alloc;     // see all_allocators()
  std::string workload;  // see workload_names()
  std::string mode;      // the workload's mode: one child per mode
  unsigned threads = 1;
  std::map<std::string, std::uint64_t> params;  // the workload's parameters

  // The parameter's value, or 0 if it was not given.
  std::uint64_t num(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? 0 : it->second;
  }
};

// Figures in output order.
struct Figures {
  std::vector<std::pair<std::string, double>> items;
  std::vector<std::pair<std::string, std::vector<double>>> series;
  std::vector<std::pair<std::string, std::string>> strings;

  void add(const std::string& key, double value) { items.emplace_back(key, value); }
  void add_series(const std::string& key, std::vector<double> values) {
    series.emplace_back(key, std::move(values));
  }
  void add_string(const std::string& key, const std::string& value) { strings.emplace_back(key, value); }
};

}  // namespace bench

#endif
