// This file contains `tslab stats`: either a short request-shaped workload on
// one tslab allocator (cli/request_workload.hpp), then the allocator's
// statistics snapshot through slab_stats_summary, slab_stats_json or
// slab_stats_prometheus; or, with --url, the metrics of a live process read from
// its /metrics endpoint, as a table per allocator and epoch, JSON, or the text
// as served.
#include <cstdio>
#include <string>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/metrics_view.hpp"
#include "cli/scrape.hpp"

#ifdef TSLAB_BENCH_HAVE_TSLAB
#include "cli/request_workload.hpp"
#include "slab_alloc.h"
#include "slab_stats.h"
#endif

namespace bench {

namespace {

int stats_from_url(const HttpUrl& url, const std::string& format) {
  if (format == "prometheus") {
    std::fputs(fetch_text(url).c_str(), stdout);
    return 0;
  }
  const Scrape scrape = fetch_scrape(url);
  if (format == "json") {
    std::fputs(render_scrape_json(scrape).c_str(), stdout);
    return 0;
  }
  std::printf("%s\n", to_string(url).c_str());
  for (const std::string& line : render_table(scrape, nullptr)) std::printf("%s\n", line.c_str());
  return 0;
}

#ifdef TSLAB_BENCH_HAVE_TSLAB
using Render = std::size_t (*)(SlabAllocator*, char*, std::size_t);

int stats_from_workload(const std::string& format) {
  const Render render = format == "json"         ? slab_stats_json
                        : format == "prometheus" ? slab_stats_prometheus
                                                 : slab_stats_summary;
  SlabAllocator* a = slab_allocator_create();
  if (a == nullptr) {
    std::fprintf(stderr, "tslab: slab_allocator_create failed\n");
    return 1;
  }
  slab_allocator_set_name(a, "stats workload");
  slab_epoch_set_label(a, epoch_current(a), "batch (first)");
  {
    RequestWorkload workload(a, RequestWorkloadOptions{});
    if (!workload.run()) {
      std::fprintf(stderr, "tslab: the stats workload failed: %s\n", slab_error_string(workload.error()));
      return 1;
    }
    // The snapshot, with the kept objects still live in the epochs they came from.
    const std::size_t need = render(a, nullptr, 0);
    std::string text(need + 1, '\0');
    render(a, text.data(), text.size());
    text.resize(need);
    std::fputs(text.c_str(), stdout);
    if (!text.empty() && text.back() != '\n') std::fputc('\n', stdout);
  }
  slab_allocator_free(a);
  return 0;
}
#else
int stats_from_workload(const std::string&) {
  std::fprintf(stderr,
               "tslab: stats needs the tslab library (or --url), and this binary was built without it\n");
  return 1;
}
#endif

}  // namespace

int stats_command(int argc, char** argv) {
  ArgReader r(argc, argv, 2);
  std::string format = "summary";
  std::string url;
  bool url_given = false;
  while (!r.done()) {
    const std::string a = r.next();
    if (a == "--json" || a == "--prometheus") {
      if (format != "summary" && format != a.substr(2))
        throw UsageError("stats takes one of --json and --prometheus, not both");
      format = a.substr(2);
    } else if (a == "--url") {
      url = r.value(a);
      url_given = true;
    } else if (a == "--help" || a == "-h") {
      print_usage(stdout);
      return 0;
    } else {
      throw UsageError("unknown " + std::string(a.empty() || a[0] != '-' ? "argument" : "option") + " '" + a +
                       "' for stats (stats takes --url URL, --json or --prometheus)");
    }
  }
  if (url_given) return stats_from_url(metrics_url(url, "stats"), format);
  return stats_from_workload(format);
}

}  // namespace bench
