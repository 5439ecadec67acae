// This file contains `tslab watch`: a live view of a process's tslab metrics,
// read from its /metrics endpoint every --interval seconds, per allocator and
// per epoch slot, with the rates since the previous refresh. On a terminal it
// redraws the screen until `q` (or SIGINT/SIGTERM/SIGHUP) and restores the
// terminal; otherwise it prints one table and exits.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/metrics_view.hpp"
#include "cli/scrape.hpp"
#include "cli/terminal.hpp"

namespace bench {

namespace {

// The first line: the endpoint, the refresh interval (live view only), the time.
std::string header(const HttpUrl& url, double interval, bool live) {
  char clock[16] = "";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  if (localtime_r(&now, &tm) != nullptr) std::strftime(clock, sizeof clock, "%H:%M:%S", &tm);
  char every[32];
  std::snprintf(every, sizeof every, "%g", interval);
  if (!live) return "tslab watch  " + to_string(url) + "  " + clock;
  return "tslab watch  " + to_string(url) + "  every " + every + " s  " + clock + "  (q quits)";
}

int watch_live(const HttpUrl& url, double interval, Scrape first) {
  std::optional<Scrape> previous;
  std::optional<Scrape> current(std::move(first));
  std::string failure;
  {
    TerminalSession terminal;
    for (;;) {
      std::vector<std::string> lines = {header(url, interval, true), ""};
      if (current) {
        for (std::string& line : render_table(*current, previous ? &*previous : nullptr))
          lines.push_back(std::move(line));
      } else {
        lines.push_back(failure + " (retrying)");
      }
      terminal.draw(lines);
      const int key = terminal.wait_key(interval);
      if (key < 0 || key == 'q' || key == 'Q') break;
      if (key != 0) continue;  // another key: redraw now, no new scrape
      try {
        Scrape next = fetch_scrape(url);
        previous = std::move(current);
        current = std::move(next);
      } catch (const std::exception& e) {
        failure = e.what();
        previous.reset();
        current.reset();
      }
    }
  }  // the terminal is restored here
  if (const int sig = TerminalSession::stop_signal(); sig != 0) {
    std::raise(sig);  // the default action again: the status says which signal ended it
    return 128 + sig;
  }
  return 0;
}

}  // namespace

int watch_command(int argc, char** argv) {
  ArgReader r(argc, argv, 2);
  std::string url_text;
  bool url_given = false;
  double interval = 1.0;
  while (!r.done()) {
    const std::string a = r.next();
    if (a == "--url") {
      url_text = r.value(a);
      url_given = true;
      if (url_text.empty()) throw UsageError("--url needs a value");
    } else if (a == "--interval") {
      interval = parse_seconds(a, r.value(a), 0.1, 3600);
    } else if (a == "--help" || a == "-h") {
      print_usage(stdout);
      return 0;
    } else {
      throw UsageError("unknown " + std::string(a.empty() || a[0] != '-' ? "argument" : "option") + " '" + a +
                       "' for watch (watch takes --url URL and --interval SECONDS)");
    }
  }
  const HttpUrl url = metrics_url(url_given ? url_text : std::string(), "watch");
  Scrape first = fetch_scrape(url);  // an endpoint that cannot be read is an error before the screen is taken
  if (!stdout_is_terminal()) {
    std::printf("%s\n", header(url, interval, false).c_str());
    for (const std::string& line : render_table(first, nullptr)) std::printf("%s\n", line.c_str());
    return 0;
  }
  return watch_live(url, interval, std::move(first));
}

}  // namespace bench
