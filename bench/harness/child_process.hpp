// This file contains the driver's side of a measurement: it re-executes this
// binary as `--child` with LD_PRELOAD set to the peer under test (none for glibc
// and tslab), reads the one-line JSON report the child prints, and turns a
// crash, a timeout or a refusal into an error message. It also holds the
// child's side: reading the arguments back and the entry point.
#ifndef TSLAB_BENCH_HARNESS_CHILD_PROCESS_HPP
#define TSLAB_BENCH_HARNESS_CHILD_PROCESS_HPP

#include <functional>
#include <string>
#include <vector>

#include "harness/json_line.hpp"
#include "harness/spec.hpp"

namespace bench {

// The first argument that makes this binary a measuring child.
inline constexpr const char* kChildFlag = "--child";

// Runs one child for `spec`. Returns true and fills `out` when it reported
// figures; otherwise `error` says why. `tick` (may be empty) is called about five
// times a second while the child runs.
bool run_child(const ChildSpec& spec, Sample& out, std::string& error, const std::function<void()>& tick);

// The child's entry point (argv[1] is kChildFlag): checks the live allocator,
// runs the workload and prints its report line. Returns the exit status.
int child_main(int argc, char** argv);

}  // namespace bench

#endif
