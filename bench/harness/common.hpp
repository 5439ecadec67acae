// This file contains helpers shared by the workloads: the PRNG every allocator
// sees the same way, the child's abort path, a spinning barrier and the files
// an installed `tslab` finds next to itself.
#ifndef TSLAB_BENCH_HARNESS_COMMON_HPP
#define TSLAB_BENCH_HARNESS_COMMON_HPP

#include <unistd.h>
#include <x86intrin.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace bench {

// splitmix64: a few multiplies and shifts per draw, identical for every allocator.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-shift (no division).
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(((next() >> 32) * n) >> 32); }
  // Uniform in [lo, hi].
  std::uint32_t between(std::uint32_t lo, std::uint32_t hi) { return lo + below(hi - lo + 1); }
};

// Ends the child with a failed report (the driver takes the last JSON line on stdout).
[[noreturn]] inline void die(const char* what) {
  std::string msg = std::string("tslab child: ") + what + "\n";
  (void)!::write(2, msg.data(), msg.size());
  std::fflush(stdout);
  std::string report = std::string("\n{\"ok\":false,\"error\":\"") + what + "\"}\n";
  (void)!::write(1, report.data(), report.size());
  std::_Exit(3);
}

// A file the installed `tslab` was installed with, by its path relative to the
// directory of the running binary ("../lib/libtslab-malloc.so.0"), or "" if
// `relative` is empty or no such file is readable (a binary in its build tree).
inline std::string installed_file(const char* relative) {
  if (relative == nullptr || *relative == '\0') return {};
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string path(buf, static_cast<std::size_t>(n));
  path.resize(path.rfind('/') + 1);
  path += relative;
  return ::access(path.c_str(), R_OK) == 0 ? path : std::string();
}

inline std::uint32_t to_u32(std::uint64_t ticks) {
  return ticks > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(ticks);
}

// Sense-free spinning barrier (generation counter). Yields after a short spin so
// two threads on two shared cores do not starve each other.
class SpinBarrier {
 public:
  explicit SpinBarrier(unsigned n) : n_(n) {}
  void wait() {
    const unsigned g = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (unsigned spins = 0; gen_.load(std::memory_order_acquire) == g; ++spins) {
      if (spins < 2000)
        _mm_pause();
      else
        std::this_thread::yield();
    }
  }

 private:
  const unsigned n_;
  std::atomic<unsigned> count_{0};
  std::atomic<unsigned> gen_{0};
};

}  // namespace bench

#endif
