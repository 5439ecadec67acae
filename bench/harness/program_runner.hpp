// This file contains the running of an external program from a measuring
// child: it starts the program with the child's environment (so the child's
// LD_PRELOAD, the allocator under test, applies to the program too) plus a few
// variables, in a given directory, with its output in files, waits for it with
// wait4 and returns its wall time, CPU time, peak RSS and page faults.
#ifndef TSLAB_BENCH_HARNESS_PROGRAM_RUNNER_HPP
#define TSLAB_BENCH_HARNESS_PROGRAM_RUNNER_HPP

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct ProgramCommand {
  std::vector<std::string> argv;       // argv[0] is the program's path
  std::vector<std::string> extra_env;  // "NAME=VALUE", added to (or replacing) the child's environment
  std::string directory;               // working directory ("" for the child's own)
  std::string stdin_path = "/dev/null";
};

struct ProgramResult {
  std::uint64_t wall_ns = 0;
  std::uint64_t user_ns = 0, sys_ns = 0;
  // ru_maxrss of wait4: the largest RSS of the program and of every process it
  // waited for, in bytes.
  std::uint64_t max_rss = 0;
  std::uint64_t minor_faults = 0, major_faults = 0;
  std::string out;  // what it wrote on stdout (up to 64 KiB)
  std::string err;  // what it wrote on stderr (up to 64 KiB)
};

// Runs `cmd` to completion. False with `error` set if it could not start, was
// killed by a signal or exited with a non-zero status (the error quotes the end
// of its stderr). `scratch_dir` holds the output files while it runs.
bool run_external(const ProgramCommand& cmd, const std::string& scratch_dir, ProgramResult& out,
                  std::string& error);

// Whether `path` is an executable ELF file with a program interpreter (dynamically
// linked), so that LD_PRELOAD applies to it. False with `why` set otherwise.
bool preload_applies_to(const std::string& path, std::string& why);

// A fresh directory under $TMPDIR (or /tmp), and its removal with everything in it.
bool make_temp_dir(const char* prefix, std::string& path, std::string& error);
void remove_tree(const std::string& path);

// Writes `text` to `path`; false if it could not.
bool write_text_file(const std::string& path, const std::string& text);

}  // namespace bench

#endif
