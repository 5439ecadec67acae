// This file contains a parser of the Prometheus text exposition format (0.0.4):
// what `tslab stats --url` and `tslab watch` read from a live /metrics endpoint.
// It knows nothing of tslab's metric names: every sample is kept with its name,
// labels and value, and the HELP and TYPE comments by family.
#ifndef TSLAB_CLI_EXPOSITION_HPP
#define TSLAB_CLI_EXPOSITION_HPP

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bench {

// A line that is not exposition text: "line N: <what is wrong>".
class ExpositionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in order, values unescaped
  double value = 0;                                         // +Inf, -Inf and NaN included
  bool has_timestamp = false;
  long long timestamp_ms = 0;

  // The value of label `key`, or nullptr.
  const std::string* label(std::string_view key) const;
};

struct FamilyInfo {
  std::string type;  // counter, gauge, histogram, summary, untyped; "" when not given
  std::string help;  // unescaped
};

struct Exposition {
  std::vector<Sample> samples;                 // in text order
  std::map<std::string, FamilyInfo> families;  // by family name, from HELP and TYPE lines
};

// Parses a whole exposition. Blank lines and comments other than HELP and TYPE
// are skipped; anything malformed throws ExpositionError naming its line.
Exposition parse_exposition(std::string_view text);

// A value as the format writes it: a decimal or exponent number, +Inf, -Inf or
// NaN. False for anything else.
bool parse_sample_value(std::string_view text, double* out);

}  // namespace bench

#endif
