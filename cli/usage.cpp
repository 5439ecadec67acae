// This file contains the usage text and the version of the `tslab` command.
#include "cli/commands.hpp"

#ifdef TSLAB_BENCH_HAVE_TSLAB
#include "tslab/version.h"
#endif

namespace bench {

void print_version(std::FILE* out) {
#ifdef TSLAB_BENCH_HAVE_TSLAB
  const int v = tslab_version();
  std::fprintf(out, "tslab %d.%d.%d\n", v / 10000, v / 100 % 100, v % 100);
#else
  std::fputs("tslab (built without the library: peers only)\n", out);
#endif
  std::fputs(
      "Copyright (c) 2026 the tslab authors.\n"
      "License: MIT <https://opensource.org/licenses/MIT>.\n",
      out);
}

void print_usage(std::FILE* out) {
  std::fputs(
      "Usage: tslab <command> [options]\n"
      "\n"
      "  tslab demo [--runs N] [--threads N] [--allocators LIST] [--plot DIR | --no-plot] [--json FILE] "
      "[--quick]\n"
      "      A request-shaped workload with tslab (using epochs) and, side by side, glibc, mimalloc,\n"
      "      jemalloc and tcmalloc: a table of throughput, latency percentiles, peak RSS and the RSS\n"
      "      left after the phase ends, with ratios to the best peer, and PNG charts (default DIR:\n"
      "      tslab-demo); then a plain new/delete request loop under each allocator (LD_PRELOAD), and\n"
      "      under tslab-malloc also with a lifetime scope per request. About a minute on 2 cores.\n"
      "\n"
      "  tslab bench <workload|group>... | --all [--allocators LIST] [--threads N] [--runs N]\n"
      "              [--json FILE] [--markdown FILE] [--plot DIR] [--seed N] [--set NAME=VALUE]... "
      "[--quick]\n"
      "      Workloads (--all): churn, steady-churn, bulk, phase-shift, sustained-phase-shifts,\n"
      "      fragmentation-adversary, epoch-reclamation, thread-scaling, request, producer-consumer.\n"
      "      Group preload: unmodified programs under each allocator's LD_PRELOAD (python-json,\n"
      "      sqlite, git-commit, cpp-containers), cpp-requests, and stress shapes through malloc\n"
      "      (larson, xmalloc, cache-scratch, thread-churn, large-buffer); not part of --all.\n"
      "      Each figure is the median of --runs runs (default 3), every run in its own process.\n"
      "  tslab bench --list\n"
      "      The workloads, groups and parameters (for --set).\n"
      "\n"
      "  tslab stats [--json | --prometheus]\n"
      "      Runs a short workload on tslab and prints the allocator's statistics snapshot\n"
      "      (a summary, JSON, or Prometheus text).\n"
      "  tslab stats --url URL [--json | --prometheus]\n"
      "      Reads a live process's metrics from its endpoint (URL: http://127.0.0.1:PORT/metrics,\n"
      "      served when the process runs with TSLAB_METRICS_PORT=PORT) and prints a table per\n"
      "      allocator (id and name) and epoch slot, the same as JSON, or the text as served.\n"
      "\n"
      "  tslab watch [--url URL] [--interval SECONDS]\n"
      "      A live view of a process's metrics, redrawn every SECONDS (default 1, 0.1 to 3600):\n"
      "      per allocator its live, resident and reclaimable bytes and closes, and per epoch slot\n"
      "      its state, era, label, live, committed and reclaimable bytes, closes, last close time\n"
      "      and drain figures when the library reports them, with rates since the last refresh\n"
      "      (live bytes/s, closes/s). q quits. URL defaults to\n"
      "      http://127.0.0.1:$TSLAB_METRICS_PORT/metrics. When standard output is not a\n"
      "      terminal, prints the table once and exits.\n"
      "\n"
      "  tslab serve [--port N] [--seconds N]\n"
      "      Something to watch: the stats workload in a loop (two threads, about ten epoch\n"
      "      closes a second) on an allocator named \"requests\", with the metrics endpoint on\n"
      "      127.0.0.1:N (default: TSLAB_METRICS_PORT, else a free port). Prints the URL, then\n"
      "      runs for N seconds or until interrupted.\n"
      "\n"
      "  tslab help | --help | -h\n"
      "      This text.\n"
      "  tslab --version\n"
      "      The version of the tslab library the command is built with.\n"
      "\n"
      "Options:\n"
      "  --allocators LIST  comma-separated from tslab, glibc, mimalloc, jemalloc, tcmalloc, the\n"
      "                     tslab variants tslab-handle (handle API) and tslab-epochs (kept objects\n"
      "                     in their own epoch; fragmentation-adversary), and tslab-malloc (tslab as\n"
      "                     the process malloc, libtslab-malloc.so preloaded; not counted as a peer);\n"
      "                     default: all\n"
      "  --threads N        threads of the multi-threaded workloads (thread-scaling: 1..N)\n"
      "  --runs N           runs per measurement; the median is reported (default 3)\n"
      "  --json FILE        every run's figures, the medians and the chart series as JSON\n"
      "  --markdown FILE    the report as Markdown tables\n"
      "  --plot DIR         draw PNG charts into DIR (python3 with matplotlib)\n"
      "  --quick            tiny sizes and 1 run unless --runs is given (a smoke test)\n"
      "Peers are LD_PRELOADed from their Debian packages (libmimalloc2.0, libjemalloc2,\n"
      "libtcmalloc-minimal4); a missing one is skipped with a message. Override their paths with\n"
      "TSLAB_BENCH_MIMALLOC_SO, TSLAB_BENCH_JEMALLOC_SO and TSLAB_BENCH_TCMALLOC_SO, and those of\n"
      "libtslab-malloc.so and tslab_containers (built with the command) with TSLAB_BENCH_TSLAB_MALLOC_SO\n"
      "and TSLAB_BENCH_CONTAINERS_PROGRAM.\n",
      out);
}

}  // namespace bench
