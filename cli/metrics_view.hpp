// This file contains what `tslab stats --url` and `tslab watch` print from the
// model of metrics_model.hpp: a text table per allocator and per epoch slot,
// with changes since the previous scrape when there is one, and JSON.
#ifndef TSLAB_CLI_METRICS_VIEW_HPP
#define TSLAB_CLI_METRICS_VIEW_HPP

#include <string>
#include <vector>

#include "cli/metrics_model.hpp"

namespace bench {

// The table's lines (no newlines). `previous` (may be null) adds rates: live
// bytes per second, closes per second, pages returned per second, drain counters
// per second. Epoch slots that never held anything (no label, no memory, never
// closed) are counted, not listed.
std::vector<std::string> render_table(const Scrape& current, const Scrape* previous);

// {"allocators":[{"allocator":"<uid>","name":"...","fields":{...},
//   "epochs":[{"epoch":N,"label":"...","state":"...","fields":{...}}]}],"process":{...}}
// Values that are not finite are null.
std::string render_scrape_json(const Scrape& scrape);

// 1536 -> "1.5 KiB".
std::string format_bytes(double bytes);

}  // namespace bench

#endif
