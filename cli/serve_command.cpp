// This file contains `tslab serve`: the request-shaped workload of `tslab
// stats` run in a loop, at a gentle pace, on an allocator named "requests",
// with the metrics endpoint on, so that `tslab watch` or Prometheus has a live
// process to read. It prints the endpoint's URL, then runs for --seconds (or
// until SIGINT or SIGTERM).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "cli/args.hpp"
#include "cli/commands.hpp"

#ifdef TSLAB_BENCH_HAVE_TSLAB
#include "cli/request_workload.hpp"
#include "slab_alloc.h"
#include "slab_stats.h"
#endif

namespace bench {

#ifdef TSLAB_BENCH_HAVE_TSLAB
namespace {

volatile std::sig_atomic_t g_serve_signal = 0;
extern "C" void on_serve_signal(int sig) { g_serve_signal = sig; }

// The port the endpoint listens on: TSLAB_METRICS_PORT's, if it started it with
// the first allocator; else --port (0: a free one).
std::uint16_t start_endpoint(std::uint16_t wanted, bool port_given) {
  const std::uint16_t running = slab_metrics_port();
  if (running != 0) {
    if (port_given && wanted != 0 && wanted != running)
      throw UsageError("--port " + std::to_string(wanted) + " differs from TSLAB_METRICS_PORT=" +
                       std::to_string(running) + ", which already serves the metrics");
    return running;
  }
  const std::uint16_t port = slab_metrics_start(wanted);
  if (port == 0)
    throw std::runtime_error("cannot serve metrics on 127.0.0.1:" + std::to_string(wanted) + ": " +
                             slab_error_string(slab_last_error()));
  return port;
}

}  // namespace

int serve_command(int argc, char** argv) {
  ArgReader r(argc, argv, 2);
  std::uint64_t port = 0, seconds = 0;
  bool port_given = false;
  while (!r.done()) {
    const std::string a = r.next();
    if (a == "--port") {
      port = parse_number(a, r.value(a), 0, 65535);
      port_given = true;
    } else if (a == "--seconds") {
      seconds = parse_number(a, r.value(a), 1, 7 * 24 * 3600);
    } else if (a == "--help" || a == "-h") {
      print_usage(stdout);
      return 0;
    } else {
      throw UsageError("unknown " + std::string(a.empty() || a[0] != '-' ? "argument" : "option") + " '" + a +
                       "' for serve (serve takes --port N and --seconds N)");
    }
  }
  SlabAllocator* a = slab_allocator_create();  // starts the endpoint if TSLAB_METRICS_PORT is set
  if (a == nullptr) {
    std::fprintf(stderr, "tslab: slab_allocator_create failed\n");
    return 1;
  }
  slab_allocator_set_name(a, "requests");
  slab_epoch_set_label(a, epoch_current(a), "batch (first)");
  const std::uint16_t listening = start_endpoint(static_cast<std::uint16_t>(port), port_given);
  std::printf(
      "serving metrics at http://127.0.0.1:%u/metrics (tslab watch --url http://127.0.0.1:%u/metrics)\n",
      listening, listening);
  std::fflush(stdout);

  struct sigaction sa {};
  sa.sa_handler = on_serve_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::atomic<bool> stop{false};
  RequestWorkloadOptions options;
  options.requests_per_thread = 0;  // until stopped
  options.batch = 64;
  options.pause_ms = 200;  // at most ten epoch closes a second: watchable, and light on the machine
  options.stop = &stop;
  bool ok = true;
  TslabError why = TSLAB_OK;
  {
    RequestWorkload workload(a, options);
    std::thread runner([&] { ok = workload.run(); });
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (g_serve_signal == 0 && (seconds == 0 || std::chrono::steady_clock::now() < end))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.store(true);
    runner.join();
    why = workload.error();
  }
  slab_metrics_stop();
  slab_allocator_free(a);
  if (!ok) {
    std::fprintf(stderr, "tslab: the serve workload failed: %s\n", slab_error_string(why));
    return 1;
  }
  return 0;
}

#else

int serve_command(int, char**) {
  std::fprintf(stderr, "tslab: serve needs the tslab library, and this binary was built without it\n");
  return 1;
}

#endif

}  // namespace bench
