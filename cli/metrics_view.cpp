// This file contains the table and the JSON of a scrape.
#include "cli/metrics_view.hpp"

#include <cmath>
#include <cstdio>
#include <set>

namespace bench {

namespace {

std::string printf_string(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

double field_or(const Fields& f, const std::string& name, double fallback) {
  const double* v = find_field(f, name);
  return v == nullptr ? fallback : *v;
}

std::string bytes_or_dash(const Fields& f, const std::string& name) {
  const double* v = find_field(f, name);
  return v == nullptr ? "-" : format_bytes(*v);
}

// A count as a whole number; a fraction (a ratio such as a drain rate) with 3 digits.
std::string count(double v) {
  if (!std::isfinite(v)) return "-";
  if (v != std::floor(v)) return printf_string("%.3g", v);
  return printf_string(std::fabs(v) < 1e15 ? "%.0f" : "%.3g", v);
}

std::string signed_bytes_per_second(const Change& c) {
  if (!c.known) return "";
  if (c.per_second == 0) return "0 B/s";
  return (c.per_second > 0 ? "+" : "-") + format_bytes(std::fabs(c.per_second)) + "/s";
}

std::string rate(const Change& c) { return c.known ? printf_string("%.1f/s", c.per_second) : ""; }

std::string seconds(double s) {
  if (!std::isfinite(s)) return "-";
  if (s < 1e-3) return printf_string("%.0f us", s * 1e6);
  if (s < 1) return printf_string("%.2f ms", s * 1e3);
  return printf_string("%.2f s", s);
}

std::string pad(std::string s, std::size_t width, bool right) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

bool counter(const std::string& name) {
  return name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
}

// A field about draining (whether closes found their epoch empty), or the bytes
// a close found pinned; histogram buckets left out.
bool drain_field(const std::string& name) {
  return name.find('{') == std::string::npos &&
         (name.find("drain") != std::string::npos || name == "last_close_pinned_bytes");
}

// The drain fields of any epoch of the allocator: columns when the library reports them.
std::set<std::string> drain_fields(const AllocatorView& a) {
  std::set<std::string> out;
  for (const auto& [slot, e] : a.epochs)
    for (const auto& [name, value] : e.fields)
      if (drain_field(name)) out.insert(name);
  return out;
}

// A drain column's title: without "last_close_" (the columns follow "last close")
// and, for a counter shown as a rate, "_total" turned into "/s".
std::string drain_title(const std::string& field) {
  std::string t = field.rfind("last_close_", 0) == 0 ? "close " + field.substr(11) : field;
  if (counter(t)) t = t.substr(0, t.size() - 6) + "/s";
  return t;
}

// A slot that never held anything (never labelled, never closed, no memory) is idle.
bool worth_a_row(const EpochView& e) {
  return !e.label.empty() || field_or(e.fields, "live_blocks", 0) != 0 ||
         field_or(e.fields, "committed_bytes", 0) != 0 || field_or(e.fields, "closes_total", 0) != 0;
}

std::string allocator_line(const AllocatorView& a, const Scrape& cur, const Scrape* prev) {
  std::string line = "allocator " + a.uid;
  if (!a.name.empty()) line += " \"" + a.name + "\"";
  line += ": live " + bytes_or_dash(a.fields, "live_bytes");
  const std::string live_rate = signed_bytes_per_second(change_of(prev, cur, a.uid, -1, "live_bytes"));
  if (!live_rate.empty()) line += " (" + live_rate + ")";
  line += ", resident " + bytes_or_dash(a.fields, "resident_bytes");
  line += ", reclaimable " + bytes_or_dash(a.fields, "reclaimable_bytes");
  if (const double* closes = find_field(a.fields, "epoch_close_calls_total")) {
    line += ", closes " + count(*closes);
    const std::string r = rate(change_of(prev, cur, a.uid, -1, "epoch_close_calls_total"));
    if (!r.empty()) line += " (" + r + ")";
  }
  const Change returned = change_of(prev, cur, a.uid, -1, "decommit_bytes_total");
  if (returned.known) line += ", returned " + format_bytes(returned.per_second) + "/s";
  for (const auto& [name, value] : a.fields)
    if (drain_field(name)) {
      line += ", " + name + " " + count(value);
      if (counter(name)) {
        const std::string r = rate(change_of(prev, cur, a.uid, -1, name));
        if (!r.empty()) line += " (" + r + ")";
      }
    }
  return line;
}

struct Column {
  std::string title;
  std::size_t width;
  bool right;
};

std::string row(const std::vector<Column>& columns, const std::vector<std::string>& cells) {
  std::string line = " ";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    line += ' ';
    line += pad(cells[i], columns[i].width, columns[i].right);
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

void epoch_rows(const AllocatorView& a, const Scrape& cur, const Scrape* prev,
                std::vector<std::string>& out) {
  const std::set<std::string> drains = drain_fields(a);
  std::vector<Column> columns = {{"epoch", 5, true},      {"state", 7, false},       {"era", 6, true},
                                 {"label", 20, false},    {"live", 10, true},        {"live/s", 11, true},
                                 {"committed", 10, true}, {"reclaimable", 11, true}, {"closes", 7, true},
                                 {"closes/s", 8, true},   {"last close", 10, true}};
  for (const std::string& d : drains) {
    const std::string title = drain_title(d);
    columns.push_back({title, std::max<std::size_t>(title.size(), 9), true});
  }
  std::vector<std::string> titles;
  for (const Column& c : columns) titles.push_back(c.title);
  out.push_back(row(columns, titles));
  // The current epoch (what epoch_current() returns) always has a row, marked
  // with *: just after an advance it may hold nothing and have no label yet.
  const double* current = find_field(a.fields, "current_epoch");
  unsigned idle = 0;
  for (const auto& [slot, e] : a.epochs) {
    const bool is_current = current != nullptr && *current == slot;
    if (!is_current && !worth_a_row(e)) {
      ++idle;
      continue;
    }
    std::string label = e.label;
    if (label.size() > 20) label = label.substr(0, 19) + "~";
    std::vector<std::string> cells = {
        (is_current ? "*" : "") + std::to_string(slot),
        e.state.empty() ? "-" : e.state,
        find_field(e.fields, "era") ? count(*find_field(e.fields, "era")) : "-",
        label,
        bytes_or_dash(e.fields, "live_bytes"),
        signed_bytes_per_second(change_of(prev, cur, a.uid, static_cast<int>(slot), "live_bytes")),
        bytes_or_dash(e.fields, "committed_bytes"),
        bytes_or_dash(e.fields, "reclaimable_bytes"),
        find_field(e.fields, "closes_total") ? count(*find_field(e.fields, "closes_total")) : "-",
        rate(change_of(prev, cur, a.uid, static_cast<int>(slot), "closes_total")),
        find_field(e.fields, "last_close_seconds") ? seconds(*find_field(e.fields, "last_close_seconds"))
                                                   : "-"};
    for (const std::string& d : drains) {
      if (counter(d))
        cells.push_back(rate(change_of(prev, cur, a.uid, static_cast<int>(slot), d)));
      else if (d.size() > 6 && d.compare(d.size() - 6, 6, "_bytes") == 0)
        cells.push_back(bytes_or_dash(e.fields, d));
      else
        cells.push_back(find_field(e.fields, d) ? count(*find_field(e.fields, d)) : "-");
    }
    out.push_back(row(columns, cells));
  }
  std::string notes;
  if (current != nullptr) notes = "* current epoch";
  if (idle != 0) notes += (notes.empty() ? "" : "; ") + std::to_string(idle) + " idle epoch slots not shown";
  if (!notes.empty()) out.push_back("  (" + notes + ")");
}

void json_string(const std::string& s, std::string& out) {
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

void json_fields(const Fields& fields, std::string& out) {
  out += '{';
  bool first = true;
  for (const auto& [name, value] : fields) {
    if (!first) out += ',';
    first = false;
    json_string(name, out);
    out += ':';
    out += std::isfinite(value) ? printf_string("%.17g", value) : "null";
  }
  out += '}';
}

}  // namespace

std::string format_bytes(double bytes) {
  if (!std::isfinite(bytes)) return "-";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = bytes;
  while (std::fabs(v) >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return printf_string("%.0f B", v);
  return printf_string("%.1f ", v) + units[u];
}

std::vector<std::string> render_table(const Scrape& current, const Scrape* previous) {
  std::vector<std::string> out;
  if (current.allocators.empty()) out.push_back("no tslab allocator in the metrics");
  for (const AllocatorView& a : current.allocators) {
    out.push_back(allocator_line(a, current, previous));
    epoch_rows(a, current, previous, out);
  }
  return out;
}

std::string render_scrape_json(const Scrape& scrape) {
  std::string out = "{\"allocators\":[";
  bool first = true;
  for (const AllocatorView& a : scrape.allocators) {
    if (!first) out += ',';
    first = false;
    out += "{\"allocator\":";
    json_string(a.uid, out);
    out += ",\"name\":";
    json_string(a.name, out);
    out += ",\"fields\":";
    json_fields(a.fields, out);
    out += ",\"epochs\":[";
    bool first_epoch = true;
    for (const auto& [slot, e] : a.epochs) {
      if (!first_epoch) out += ',';
      first_epoch = false;
      out += "{\"epoch\":" + std::to_string(slot) + ",\"label\":";
      json_string(e.label, out);
      out += ",\"state\":";
      json_string(e.state, out);
      out += ",\"fields\":";
      json_fields(e.fields, out);
      out += '}';
    }
    out += "]}";
  }
  out += "],\"process\":";
  json_fields(scrape.process, out);
  out += "}\n";
  return out;
}

}  // namespace bench
