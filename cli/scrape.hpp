// This file contains what `tslab stats --url` and `tslab watch` share: the
// endpoint to read (--url, else TSLAB_METRICS_PORT) and one scrape of it.
#ifndef TSLAB_CLI_SCRAPE_HPP
#define TSLAB_CLI_SCRAPE_HPP

#include <string>

#include "cli/http_get.hpp"
#include "cli/metrics_model.hpp"

namespace bench {

// Seconds a scrape may take, connection included.
constexpr double kScrapeTimeout = 5.0;

// The URL given with --url (`given`, empty when none), else
// http://127.0.0.1:$TSLAB_METRICS_PORT/metrics. Throws UsageError for a bad URL,
// or for neither (naming both ways to give one).
HttpUrl metrics_url(const std::string& given, const std::string& command);

// GET and parse; throws FetchError, or ExpositionError for text that is not
// the Prometheus format.
std::string fetch_text(const HttpUrl& url);
Scrape fetch_scrape(const HttpUrl& url);

// A monotonic clock in seconds.
double monotonic_seconds();

}  // namespace bench

#endif
