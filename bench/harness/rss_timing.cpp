// This file contains the RSS readings from /proc, TSC calibration and harness buffers.
#include "rss_timing.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace bench {
namespace {

// Reads a small /proc file into `buf` with plain syscalls (no stdio buffers, so
// reading RSS does not call malloc in the allocator under test).
std::size_t read_proc(const char* path, char* buf, std::size_t cap) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = ::read(fd, buf + n, cap - 1 - n);
    if (r <= 0) break;
    n += static_cast<std::size_t>(r);
  }
  ::close(fd);
  buf[n] = '\0';
  return n;
}

}  // namespace

std::uint64_t rss_bytes() {
  char buf[256];
  if (read_proc("/proc/self/statm", buf, sizeof buf) == 0) return 0;
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::uint64_t peak_rss_bytes() {
  char buf[4096];
  if (read_proc("/proc/self/status", buf, sizeof buf) == 0) return 0;
  const char* p = std::strstr(buf, "VmHWM:");
  if (p == nullptr) return 0;
  unsigned long long kib = 0;
  if (std::sscanf(p + 6, "%llu", &kib) != 1) return 0;
  return static_cast<std::uint64_t>(kib) * 1024u;
}

bool reset_peak_rss() {
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

std::uint64_t mono_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

double calibrate_tsc_per_ns(unsigned window_ms) {
  double r[5];
  for (double& x : r) {
    std::uint64_t n0 = mono_ns();
    std::uint64_t c0 = __rdtsc();
    std::uint64_t n1;
    do {
      n1 = mono_ns();
    } while (n1 - n0 < static_cast<std::uint64_t>(window_ms) * 1000000u);
    std::uint64_t c1 = __rdtsc();
    x = static_cast<double>(c1 - c0) / static_cast<double>(n1 - n0);
  }
  std::sort(r, r + 5);
  return r[2];
}

double tsc_pair_overhead_ticks() {
  constexpr int kN = 4001;
  static std::uint64_t d[kN];
  for (int i = 0; i < kN; ++i) {
    std::uint64_t a = tsc_begin();
    std::uint64_t b = tsc_end();
    d[i] = b - a;
  }
  std::nth_element(d, d + kN / 2, d + kN);
  return static_cast<double>(d[kN / 2]);
}

double tsc_step_ticks() {
  constexpr int kN = 20001;
  static std::uint64_t d[kN];
  int n = 0;
  std::uint64_t prev = __rdtsc();
  for (int i = 0; i < 4 * kN && n < kN; ++i) {
    std::uint64_t x = __rdtsc();
    if (x != prev) d[n++] = x - prev;
    prev = x;
  }
  if (n == 0) return 0;
  std::nth_element(d, d + n / 2, d + n);
  return static_cast<double>(d[n / 2]);
}

void* map_buffer(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) {
    static const char msg[] = "tslab: mmap of a harness buffer failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    std::abort();
  }
  // MAP_POPULATE is advisory; touch every page to be sure.
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  for (std::size_t off = 0; off < bytes; off += page) static_cast<volatile char*>(p)[off] = 0;
  return p;
}

void unmap_buffer(void* p, std::size_t bytes) {
  if (p != nullptr) ::munmap(p, bytes == 0 ? 1 : bytes);
}

}  // namespace bench
