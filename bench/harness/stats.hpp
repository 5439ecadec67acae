// This file contains percentiles of per-operation samples, medians across runs,
// string formatting and the table renderer (plain text for the terminal,
// Markdown for docs).
#ifndef TSLAB_BENCH_HARNESS_STATS_HPP
#define TSLAB_BENCH_HARNESS_STATS_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

// Nearest-rank percentile (q in (0, 1]) of n samples; reorders `v` in place.
// Returns 0 for n == 0.
std::uint32_t percentile(std::uint32_t* v, std::size_t n, double q);
// Largest sample; 0 for n == 0.
std::uint32_t max_sample(const std::uint32_t* v, std::size_t n);

// Median of the values (mean of the middle two for an even count); NaN if empty.
double median(std::vector<double> v);

// printf-style formatting into a std::string.
std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The characters of `s` escaped for use inside a JSON string (no quotes added).
std::string json_escape(const std::string& s);

// A table of string cells. Column 0 is left-aligned, the rest right-aligned.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string text() const;
  std::string markdown() const;
};

}  // namespace bench

#endif
