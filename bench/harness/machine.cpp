// This file contains the machine description and load average of a report.
#include "harness/machine.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>

#include "harness/stats.hpp"

namespace bench {

std::string machine_description() {
  std::string model = "unknown";
  std::ifstream ci("/proc/cpuinfo");
  for (std::string line; std::getline(ci, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) model = line.substr(p + 2);
      break;
    }
  }
  utsname u{};
  uname(&u);
  const long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  return strf("nproc %u, CPU \"%s\", kernel %s %s (%s), RAM %.1f GiB", online_cpus(), model.c_str(),
              u.sysname, u.release, u.machine,
              static_cast<double>(pages) * static_cast<double>(psz) / (1024.0 * 1024 * 1024));
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  if (!(f >> a >> b >> c)) return "unknown";
  return a + " " + b + " " + c;
}

unsigned online_cpus() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1u : static_cast<unsigned>(n);
}

}  // namespace bench
