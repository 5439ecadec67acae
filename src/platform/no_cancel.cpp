// This file contains cancellation-free stderr writes (platform/no_cancel.h).
#include "platform/no_cancel.h"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tslab::detail {

CancellationDisabled::CancellationDisabled() noexcept : previous_(PTHREAD_CANCEL_ENABLE) {
  ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &previous_);
}

CancellationDisabled::~CancellationDisabled() { ::pthread_setcancelstate(previous_, nullptr); }

void write_fd(int fd, const char* text, std::size_t size) noexcept {
  const CancellationDisabled no_cancel;
  const int saved = errno;  // a diagnostic leaves the caller's errno as it was
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, text + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  errno = saved;
}

void write_stderr(const char* text, std::size_t size) noexcept { write_fd(STDERR_FILENO, text, size); }

void write_stderr(const char* text) noexcept { write_stderr(text, std::strlen(text)); }

}  // namespace tslab::detail
