// This file contains the entry point of the `tslab` command: it dispatches to a
// subcommand (demo, bench, stats, serve, watch, help, --version), or runs one measurement when
// re-executed as a child, and turns command line errors into a one-line message
// and status 2.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "harness/child_process.hpp"

int main(int argc, char** argv) {
  using namespace bench;
  if (argc > 1 && std::strcmp(argv[1], kChildFlag) == 0) return child_main(argc, argv);
  if (argc < 2) {
    std::fputs("tslab: no command given (commands: demo, bench, stats, serve, watch, help)\n", stderr);
    return 2;
  }
  const std::string command = argv[1];
  try {
    if (command == "demo") return demo_command(argc, argv);
    if (command == "bench") return bench_command(argc, argv);
    if (command == "stats") return stats_command(argc, argv);
    if (command == "serve") return serve_command(argc, argv);
    if (command == "watch") return watch_command(argc, argv);
    if (command == "help" || command == "--help" || command == "-h") {
      print_usage(stdout);
      return 0;
    }
    if (command == "--version") {
      if (argc > 2) throw UsageError(std::string("unknown argument '") + argv[2] + "' for --version");
      print_version(stdout);
      return 0;
    }
    throw UsageError("unknown command '" + command + "' (commands: demo, bench, stats, serve, watch, help)");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "tslab: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tslab: %s\n", e.what());
    return 1;
  }
}
