// This file contains RssSampler: a thread that reads the process's RSS every few
// milliseconds into memory from map_buffer() (never the allocator under test),
// and the phase marks a workload sets, so that a chart can show RSS over time
// with its phase boundaries.
#ifndef TSLAB_BENCH_HARNESS_RSS_SAMPLER_HPP
#define TSLAB_BENCH_HARNESS_RSS_SAMPLER_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "harness/spec.hpp"

namespace bench {

class RssSampler {
 public:
  // Room for `capacity` samples, one every `interval_ms`; sampling stops when full.
  RssSampler(std::uint64_t interval_ms, std::size_t capacity);
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  // t = 0 is the moment start() is called.
  void start();
  void stop();
  // Marks the start of a phase at the current time (up to kMaxMarks).
  void mark(const char* phase);
  double seconds_since_start() const;

  // Adds the series "t" (s), "rss_mib", "phase_t" (s) and the string "phases"
  // (names separated by '|') to `out`. Call after stop().
  void report(Figures& out) const;

 private:
  static constexpr std::size_t kMaxMarks = 64;
  static constexpr std::size_t kNameSize = 32;
  void run();

  std::uint64_t interval_ns_;
  std::size_t capacity_;
  double* times_;
  double* values_;
  std::size_t count_ = 0;
  std::uint64_t start_ns_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  double mark_t_[kMaxMarks] = {};
  char mark_name_[kMaxMarks][kNameSize] = {};
  std::size_t marks_ = 0;
};

}  // namespace bench

#endif
