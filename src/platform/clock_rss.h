// This file contains the process-level readings: monotonic time and RSS.
#ifndef TSLAB_PLATFORM_CLOCK_RSS_H
#define TSLAB_PLATFORM_CLOCK_RSS_H

#include <cstdint>

namespace tslab::detail {

std::uint64_t monotonic_ns() noexcept;
// Resident set size of the process from /proc/self/statm; 0 if unreadable.
std::uint64_t process_rss_bytes() noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_CLOCK_RSS_H
