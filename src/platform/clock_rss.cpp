// This file contains monotonic time and RSS readings, done with raw system calls
// so that they allocate nothing.
#include "platform/clock_rss.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "platform/no_cancel.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t process_rss_bytes() noexcept {
  const CancellationDisabled no_cancel;  // open, read and close are cancellation points
  const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  // statm: size resident shared ...; skip the first field.
  const char* c = buf;
  while (*c != '\0' && *c != ' ') ++c;
  while (*c == ' ') ++c;
  std::uint64_t pages = 0;
  for (; *c >= '0' && *c <= '9'; ++c) pages = pages * 10 + static_cast<std::uint64_t>(*c - '0');
  return pages * OsPlatform::instance().page_size();
}

}  // namespace tslab::detail
