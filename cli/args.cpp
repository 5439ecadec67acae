// This file contains the command line reader and the checked number parser.
#include "cli/args.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "harness/stats.hpp"

namespace bench {

ArgReader::ArgReader(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) args_.emplace_back(argv[i]);
}

std::string ArgReader::next() {
  std::string a = args_[i_++];
  has_pending_ = false;
  if (a.rfind("--", 0) == 0) {
    const auto eq = a.find('=');
    if (eq != std::string::npos) {
      pending_ = a.substr(eq + 1);
      has_pending_ = true;
      a.resize(eq);
    }
  }
  return a;
}

std::string ArgReader::value(const std::string& option) {
  if (has_pending_) {
    has_pending_ = false;
    if (pending_.empty()) throw UsageError(option + " needs a value");
    return pending_;
  }
  if (i_ >= args_.size()) throw UsageError(option + " needs a value");
  const std::string v = args_[i_];
  // "--json --plot x": the next word is another option, not a value.
  if (v.rfind("--", 0) == 0 && v.size() > 2)
    throw UsageError(option + " needs a value (got option " + v + ")");
  ++i_;
  return v;
}

std::uint64_t parse_number(const std::string& option, const std::string& text, std::uint64_t min,
                           std::uint64_t max) {
  if (text.empty()) throw UsageError(option + " needs a number");
  if (text[0] == '-') throw UsageError(option + " must be a positive number (got '" + text + "')");
  std::uint64_t v = 0;
  bool overflow = false;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c)))
      throw UsageError(option + " expects a whole number (got '" + text + "')");
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) overflow = true;
    if (!overflow) v = v * 10 + d;
  }
  if (overflow || v > max)
    throw UsageError(option + " is too large (got '" + text + "'; at most " + std::to_string(max) + ")");
  if (v < min)
    throw UsageError(option + " must be at least " + std::to_string(min) + " (got '" + text + "')");
  return v;
}

double parse_seconds(const std::string& option, const std::string& text, double min, double max) {
  if (text.empty()) throw UsageError(option + " needs a number of seconds");
  std::size_t digits = 0, dots = 0;
  for (char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c)))
      ++digits;
    else if (c == '.')
      ++dots;
    else
      throw UsageError(option + " expects seconds such as 1 or 0.5 (got '" + text + "')");
  }
  if (digits == 0 || dots > 1 || text.size() > 12)
    throw UsageError(option + " expects seconds such as 1 or 0.5 (got '" + text + "')");
  const double v = std::strtod(text.c_str(), nullptr);
  char range[96];
  std::snprintf(range, sizeof range, "%g to %g seconds", min, max);
  if (v < min || v > max) throw UsageError(option + " must be " + range + " (got '" + text + "')");
  return v;
}

std::vector<std::string> parse_list(const std::string& option, const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ',') {
      if (cur.empty()) throw UsageError(option + " has an empty item in '" + text + "'");
      out.push_back(cur);
      cur.clear();
    } else {
      cur += text[i];
    }
  }
  return out;
}

std::string quoted_command(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.empty() ||
        a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+@%") !=
            std::string::npos) {
      std::string q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      a = q + "'";
    }
    out += (i ? " " : "") + a;
  }
  return out;
}

}  // namespace bench
