// This file contains the parser and writer of the child's one-line JSON report.
#include "harness/json_line.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "harness/stats.hpp"

namespace bench {
namespace {

class LineParser {
 public:
  explicit LineParser(const std::string& s) : s_(s) {}

  bool object(Sample& out) {
    ws();
    if (!eat('{')) return false;
    ws();
    if (eat('}')) return true;
    for (;;) {
      std::string key;
      ws();
      if (!string(key)) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      if (!value(key, out)) return false;
      ws();
      if (eat('}')) return true;
      if (!eat(',')) return false;
    }
  }

 private:
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool string(std::string& o) {
    if (!eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
        ++i_;
        if (s_[i_] == 'u' && i_ + 4 < s_.size()) {
          o += static_cast<char>(std::strtol(s_.substr(i_ + 1, 4).c_str(), nullptr, 16));
          i_ += 5;
          continue;
        }
        const char c = s_[i_++];
        o += c == 'n' ? '\n' : c == 't' ? '\t' : c;
        continue;
      }
      o += s_[i_++];
    }
    return eat('"');
  }
  bool number(double& v) {
    if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
      v = std::nan("");
      return true;
    }
    const char* begin = s_.c_str() + i_;
    char* end = nullptr;
    v = std::strtod(begin, &end);
    if (end == begin) return false;
    i_ += static_cast<std::size_t>(end - begin);
    return true;
  }
  bool value(const std::string& key, Sample& out) {
    if (i_ < s_.size() && s_[i_] == '"') {
      std::string v;
      if (!string(v)) return false;
      out.str[key] = v;
      return true;
    }
    if (s_.compare(i_, 4, "true") == 0) return i_ += 4, out.num[key] = 1, true;
    if (s_.compare(i_, 5, "false") == 0) return i_ += 5, out.num[key] = 0, true;
    if (eat('[')) {
      std::vector<double>& arr = out.series[key];
      ws();
      if (eat(']')) return true;
      for (;;) {
        double v = 0;
        ws();
        if (!number(v)) return false;
        arr.push_back(v);
        ws();
        if (eat(']')) return true;
        if (!eat(',')) return false;
      }
    }
    double v = 0;
    if (!number(v)) return false;
    out.num[key] = v;
    return true;
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

}  // namespace

bool parse_json_line(const std::string& line, Sample& out) {
  Sample s;
  if (!LineParser(line).object(s)) return false;
  out = std::move(s);
  return true;
}

std::string json_number(double v) { return std::isfinite(v) ? strf("%.10g", v) : std::string("null"); }

std::string json_line(const ChildSpec& sp, bool ok, const std::string& verified_or_error, const Figures& f) {
  std::string out = strf("{\"alloc\":\"%s\",\"workload\":\"%s\",\"mode\":\"%s\",\"threads\":%u,\"ok\":%s",
                         json_escape(sp.alloc).c_str(), json_escape(sp.workload).c_str(),
                         json_escape(sp.mode).c_str(), sp.threads, ok ? "true" : "false");
  out += strf(",\"%s\":\"%s\"", ok ? "verified" : "error", json_escape(verified_or_error).c_str());
  for (const auto& [k, v] : f.items) out += ",\"" + json_escape(k) + "\":" + json_number(v);
  for (const auto& [k, v] : f.strings) out += ",\"" + json_escape(k) + "\":\"" + json_escape(v) + "\"";
  for (const auto& [k, vs] : f.series) {
    out += ",\"" + json_escape(k) + "\":[";
    for (std::size_t i = 0; i < vs.size(); ++i) out += (i ? "," : "") + json_number(vs[i]);
    out += "]";
  }
  return out + "}\n";
}

}  // namespace bench
