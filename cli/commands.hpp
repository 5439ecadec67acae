// This file contains the subcommands of the `tslab` command line tool:
//   tslab demo    the request workload with tslab and every peer, a table and charts
//   tslab bench   any workload (or --all) against the peers, medians of --runs
//   tslab stats   a short workload, then the allocator's statistics snapshot;
//                 or, with --url, a live process's metrics
//   tslab serve   the stats workload in a loop with the metrics endpoint on
//   tslab watch   a live view of a process's metrics, refreshed every --interval
//   tslab --help, tslab --version
// Each takes the full argv (argv[1] is the subcommand) and returns the exit
// status; a command line error throws UsageError.
#ifndef TSLAB_CLI_COMMANDS_HPP
#define TSLAB_CLI_COMMANDS_HPP

#include <cstdio>

namespace bench {

int demo_command(int argc, char** argv);
int bench_command(int argc, char** argv);
int stats_command(int argc, char** argv);
int serve_command(int argc, char** argv);
int watch_command(int argc, char** argv);

// The usage text of `tslab` (all subcommands).
void print_usage(std::FILE* out);
// `tslab --version`: "tslab MAJOR.MINOR.PATCH" (the library's tslab_version()),
// then the copyright and license.
void print_version(std::FILE* out);

}  // namespace bench

#endif
