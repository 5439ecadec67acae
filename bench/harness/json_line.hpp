// This file contains the one-line JSON a child prints and the driver reads: a
// flat object whose values are strings, numbers, booleans or arrays of numbers.
#ifndef TSLAB_BENCH_HARNESS_JSON_LINE_HPP
#define TSLAB_BENCH_HARNESS_JSON_LINE_HPP

#include <map>
#include <string>
#include <vector>

#include "harness/spec.hpp"

namespace bench {

// One child's report, as the driver sees it. Booleans are numbers 0 and 1.
struct Sample {
  std::map<std::string, double> num;
  std::map<std::string, std::string> str;
  std::map<std::string, std::vector<double>> series;
};

// Parses one line; false if it is not such an object.
bool parse_json_line(const std::string& line, Sample& out);

// The child's report line: the identifying fields, "ok", then the figures.
std::string json_line(const ChildSpec& spec, bool ok, const std::string& verified_or_error,
                      const Figures& figures);

// A number as JSON (NaN and infinities as null).
std::string json_number(double v);

}  // namespace bench

#endif
