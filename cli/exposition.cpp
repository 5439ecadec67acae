// This file contains the Prometheus text exposition parser: one pass over the
// lines, each either a comment (# HELP, # TYPE, or any other) or a sample
// `name{label="value",...} value [timestamp]`.
#include "cli/exposition.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace bench {

namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

class LineReader {
 public:
  LineReader(std::string_view line, std::size_t number) : s_(line), number_(number) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw ExpositionError("line " + std::to_string(number_) + ": " + what);
  }
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[i_]; }
  void skip_blanks() {
    while (!at_end() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool take(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  // A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), or a label name when !colons.
  std::string name(const std::string& what, bool colons) {
    const std::size_t start = i_;
    if (at_end() || !name_start(s_[i_]) || (!colons && s_[i_] == ':')) fail("expected a " + what);
    while (!at_end() && name_char(s_[i_]) && (colons || s_[i_] != ':')) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }
  // A quoted label value with \\, \" and \n escapes.
  std::string quoted() {
    if (!take('"')) fail("expected '\"' to open a label value");
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated label value");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) fail("unterminated label value");
      const char e = s_[i_++];
      if (e == 'n')
        out += '\n';
      else if (e == '\\' || e == '"')
        out += e;
      else
        fail(std::string("unknown escape '\\") + e + "' in a label value");
    }
  }
  // The rest of the line up to the next blank.
  std::string_view word() {
    const std::size_t start = i_;
    while (!at_end() && s_[i_] != ' ' && s_[i_] != '\t') ++i_;
    return s_.substr(start, i_ - start);
  }
  std::string_view rest() {
    const std::string_view r = s_.substr(i_ < s_.size() ? i_ : s_.size());
    i_ = s_.size();
    return r;
  }

 private:
  std::string_view s_;
  std::size_t number_;
  std::size_t i_ = 0;
};

// HELP text: \\ and \n are escapes; any other backslash stays.
std::string unescape_help(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '\\' || text[i + 1] == 'n')) {
      out += text[i + 1] == 'n' ? '\n' : '\\';
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

void parse_comment(LineReader& r, Exposition& out) {
  r.take('#');
  r.skip_blanks();
  const std::string_view keyword = r.word();
  if (keyword != "HELP" && keyword != "TYPE") return;  // any other comment
  r.skip_blanks();
  const std::string family = r.name("metric name after # " + std::string(keyword), true);
  if (!r.at_end() && r.peek() != ' ' && r.peek() != '\t') r.fail("bad character in a metric name");
  r.skip_blanks();
  FamilyInfo& info = out.families[family];
  if (keyword == "HELP") {
    info.help = unescape_help(r.rest());
    return;
  }
  const std::string_view type = r.word();
  if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" && type != "untyped")
    r.fail("unknown metric type '" + std::string(type) + "'");
  r.skip_blanks();
  if (!r.at_end()) r.fail("unexpected text after the metric type");
  info.type = std::string(type);
}

// Labels one sample may carry. tslab's own samples carry at most five; the
// check for a label given twice looks at those before it, so a line of
// thousands (a hostile or broken endpoint) would take quadratic time.
constexpr std::size_t MAX_LABELS_PER_SAMPLE = 64;

void parse_sample(LineReader& r, Exposition& out) {
  Sample s;
  s.name = r.name("metric name", true);
  if (r.take('{')) {
    r.skip_blanks();
    while (!r.take('}')) {
      if (s.labels.size() == MAX_LABELS_PER_SAMPLE)
        r.fail("more than " + std::to_string(MAX_LABELS_PER_SAMPLE) + " labels in one sample");
      std::string key = r.name("label name", false);
      r.skip_blanks();
      if (!r.take('=')) r.fail("expected '=' after label " + key);
      r.skip_blanks();
      std::string value = r.quoted();
      for (const auto& kv : s.labels)
        if (kv.first == key) r.fail("label " + key + " given twice");
      s.labels.emplace_back(std::move(key), std::move(value));
      r.skip_blanks();
      if (r.take(',')) {
        r.skip_blanks();
        continue;
      }
      if (r.peek() != '}') r.fail("expected ',' or '}' after a label value");
    }
  }
  if (r.peek() != ' ' && r.peek() != '\t') r.fail("expected a blank before the value");
  r.skip_blanks();
  const std::string_view value = r.word();
  if (!parse_sample_value(value, &s.value)) r.fail("bad sample value '" + std::string(value) + "'");
  r.skip_blanks();
  if (!r.at_end()) {
    const std::string ts(r.word());
    char* end = nullptr;
    errno = 0;
    s.timestamp_ms = std::strtoll(ts.c_str(), &end, 10);
    if (ts.empty() || *end != '\0' || errno != 0) r.fail("bad timestamp '" + ts + "'");
    s.has_timestamp = true;
    r.skip_blanks();
    if (!r.at_end()) r.fail("unexpected text after the timestamp");
  }
  out.samples.push_back(std::move(s));
}

}  // namespace

const std::string* Sample::label(std::string_view key) const {
  for (const auto& kv : labels)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

bool parse_sample_value(std::string_view text, double* out) {
  if (text == "+Inf" || text == "Inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "-Inf") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (text.empty() || text.size() > 64) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return false;
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || (errno == ERANGE && std::fabs(v) > 1)) return false;
  *out = v;
  return true;
}

Exposition parse_exposition(std::string_view text) {
  Exposition out;
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    LineReader r(line, number);
    r.skip_blanks();
    if (r.at_end()) continue;
    if (r.peek() == '#')
      parse_comment(r, out);
    else
      parse_sample(r, out);
  }
  return out;
}

}  // namespace bench
