// This file contains the RSS readings from /proc and the clocks the benchmark
// uses: a monotonic nanosecond clock for whole passes and the TSC, calibrated
// against it, for per-operation samples.
#ifndef TSLAB_BENCH_HARNESS_RSS_TIMING_HPP
#define TSLAB_BENCH_HARNESS_RSS_TIMING_HPP

#include <x86intrin.h>

#include <cstddef>
#include <cstdint>

namespace bench {

// Resident set size now (from /proc/self/statm), in bytes; 0 if unreadable.
std::uint64_t rss_bytes();
// Peak resident set size (VmHWM from /proc/self/status), in bytes; 0 if unreadable.
std::uint64_t peak_rss_bytes();
// Resets VmHWM to the current RSS by writing "5" to /proc/self/clear_refs.
// Returns false when that file is not writable.
bool reset_peak_rss();

// CLOCK_MONOTONIC in nanoseconds.
std::uint64_t mono_ns();

// Read the TSC around one operation. The fences keep the measured code from
// moving out of the window: lfence before the first read waits for earlier
// instructions; rdtscp waits for the operation, the trailing lfence keeps later
// instructions from starting before the second read.
inline std::uint64_t tsc_begin() {
  _mm_lfence();
  std::uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}
inline std::uint64_t tsc_end() {
  unsigned aux;
  std::uint64_t t = __rdtscp(&aux);
  _mm_lfence();
  return t;
}

// TSC ticks per nanosecond, measured against CLOCK_MONOTONIC (median of a few
// short windows of `window_ms` each).
double calibrate_tsc_per_ns(unsigned window_ms = 20);
// Median cost, in ticks, of an empty tsc_begin()/tsc_end() pair.
double tsc_pair_overhead_ticks();
// Median non-zero step between back-to-back TSC reads: the clock's effective
// resolution (some virtual machines advance it in coarse steps).
double tsc_step_ticks();

// Anonymous memory straight from the kernel, pre-faulted (so writing to it during
// a timed pass causes no page faults) and invisible to the allocator under test.
// Aborts the process if the kernel refuses.
void* map_buffer(std::size_t bytes);
void unmap_buffer(void* p, std::size_t bytes);

}  // namespace bench

#endif
