// This file contains the endpoint choice and the scrape of `tslab stats --url`
// and `tslab watch`.
#include "cli/scrape.hpp"

#include <chrono>
#include <cstdlib>

#include "cli/args.hpp"
#include "cli/exposition.hpp"

namespace bench {

HttpUrl metrics_url(const std::string& given, const std::string& command) {
  HttpUrl url;
  std::string error;
  if (!given.empty()) {
    if (!parse_http_url(given, &url, &error)) throw UsageError("--url: " + error);
    return url;
  }
  const char* port = std::getenv("TSLAB_METRICS_PORT");
  if (port == nullptr || *port == '\0')
    throw UsageError(command +
                     " needs --url http://127.0.0.1:PORT/metrics, or TSLAB_METRICS_PORT set to the port");
  const std::string text = std::string("http://127.0.0.1:") + port + "/metrics";
  if (!parse_http_url(text, &url, &error))
    throw UsageError("TSLAB_METRICS_PORT='" + std::string(port) + "' is not a port (1 to 65535)");
  return url;
}

std::string fetch_text(const HttpUrl& url) { return http_get(url, kScrapeTimeout); }

Scrape fetch_scrape(const HttpUrl& url) {
  const std::string text = fetch_text(url);
  const double now = monotonic_seconds();
  try {
    return build_scrape(parse_exposition(text), now);
  } catch (const ExpositionError& e) {
    throw ExpositionError(to_string(url) + " is not Prometheus text: " + e.what());
  }
}

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace bench
