// This file contains LatencyHistogram: per-operation latencies in TSC ticks,
// counted in log-linear buckets (exact below 128 ticks, then 64 buckets per
// power of two, so a percentile is within 1.6% of the sample it names). It
// needs no allocation, so a worker can fill one in memory from map_buffer()
// without calling the allocator under test.
#ifndef TSLAB_BENCH_HARNESS_LATENCY_HISTOGRAM_HPP
#define TSLAB_BENCH_HARNESS_LATENCY_HISTOGRAM_HPP

#include <cstddef>
#include <cstdint>

namespace bench {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 6;
  static constexpr std::uint64_t kExact = 2u << kSubBits;  // values below this get a bucket each
  static constexpr std::size_t kBuckets = (64 - kSubBits) * (1u << kSubBits) + kExact;

  void add(std::uint64_t ticks) {
    ++counts_[bucket_of(ticks)];
    ++total_;
    if (ticks > max_) max_ = ticks;
  }
  void merge(const LatencyHistogram& other);

  std::uint64_t total() const { return total_; }
  std::uint64_t max() const { return max_; }
  // The value at quantile q in (0, 1] (nearest rank), as the middle of its
  // bucket; 0 when empty.
  double quantile(double q) const;

  static std::size_t bucket_of(std::uint64_t v) {
    if (v < kExact) return static_cast<std::size_t>(v);
    const unsigned shift = 63u - static_cast<unsigned>(__builtin_clzll(v)) - kSubBits;
    return static_cast<std::size_t>(shift) * (1u << kSubBits) + static_cast<std::size_t>(v >> shift);
  }

 private:
  std::uint64_t counts_[kBuckets] = {};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace bench

#endif
