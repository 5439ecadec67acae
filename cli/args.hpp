// This file contains the command line reader shared by the subcommands: options
// as "--name value" or "--name=value", numbers checked with a one-line message
// naming the problem, and the exception that carries that message to main().
#ifndef TSLAB_CLI_ARGS_HPP
#define TSLAB_CLI_ARGS_HPP

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

// A command line error: main() prints "tslab: <what>" and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ArgReader {
 public:
  ArgReader(int argc, char** argv, int first);

  bool done() const { return i_ >= args_.size(); }
  // The next word; for "--name=value" only "--name" (the value is kept for value()).
  std::string next();
  // The value of the option just read by next(); throws when it is missing.
  std::string value(const std::string& option);

 private:
  std::vector<std::string> args_;
  std::size_t i_ = 0;
  std::string pending_;  // the "value" of "--name=value"
  bool has_pending_ = false;
};

// A whole number in [min, max] for `option`; throws UsageError naming what is
// wrong: not a number, negative, below min (e.g. zero), above max or overflowing.
std::uint64_t parse_number(const std::string& option, const std::string& text, std::uint64_t min,
                           std::uint64_t max);

// A duration in seconds ("1", "0.5", "2.25") in [min, max]; throws UsageError
// naming what is wrong.
double parse_seconds(const std::string& option, const std::string& text, double min, double max);

// A comma-separated list (empty items are an error).
std::vector<std::string> parse_list(const std::string& option, const std::string& text);

// The shell-quoted form of the command line, for reports.
std::string quoted_command(int argc, char** argv);

}  // namespace bench

#endif
