// This file contains the description of the machine a report was measured on.
#ifndef TSLAB_BENCH_HARNESS_MACHINE_HPP
#define TSLAB_BENCH_HARNESS_MACHINE_HPP

#include <string>

namespace bench {

// "nproc 2, CPU "...", kernel Linux ... (x86_64), RAM 23.5 GiB"
std::string machine_description();
// The 1, 5 and 15 minute load averages, "unknown" if unreadable.
std::string load_average();
// Online processors.
unsigned online_cpus();

}  // namespace bench

#endif
