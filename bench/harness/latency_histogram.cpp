// This file contains the LatencyHistogram's merge and quantile.
#include "harness/latency_histogram.hpp"

#include <cmath>

namespace bench {

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  if (other.max_ > max_) max_ = other.max_;
}

double LatencyHistogram::quantile(double q) const {
  if (total_ == 0) return 0;
  double rank = std::ceil(q * static_cast<double>(total_));
  const std::uint64_t want = rank < 1.0 ? 1 : static_cast<std::uint64_t>(rank);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen < want) continue;
    if (i < kExact) return static_cast<double>(i);
    // Bucket i holds [m << shift, (m + 1) << shift) with m in [2^kSubBits, 2^(kSubBits+1)).
    const std::size_t shift = i / (1u << kSubBits) - 1;
    const std::uint64_t m = i % (1u << kSubBits) + (1u << kSubBits);
    const double lo = std::ldexp(static_cast<double>(m), static_cast<int>(shift));
    const double hi = std::ldexp(static_cast<double>(m + 1), static_cast<int>(shift));
    const double mid = 0.5 * (lo + hi - 1);
    return mid > static_cast<double>(max_) ? static_cast<double>(max_) : mid;
  }
  return static_cast<double>(max_);
}

}  // namespace bench
