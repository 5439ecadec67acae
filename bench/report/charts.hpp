// This file contains the drawing of charts: the report's JSON document is handed
// to tslab_plot.py (matplotlib), found next to this binary, and run with a
// python3 that can import matplotlib (/usr/bin/python3 first).
#ifndef TSLAB_BENCH_REPORT_CHARTS_HPP
#define TSLAB_BENCH_REPORT_CHARTS_HPP

#include <string>
#include <vector>

namespace bench {

// Draws the charts of the results in `json_path` into `dir` (created if
// missing). `kind` is "demo" (the request charts only) or "bench" (every
// workload's). On success `written` lists the PNG files; otherwise `error`
// says what is missing.
bool draw_charts(const std::string& json_path, const std::string& dir, const std::string& kind,
                 std::vector<std::string>& written, std::string& error);

}  // namespace bench

#endif
