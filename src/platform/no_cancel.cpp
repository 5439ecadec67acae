// This file contains cancellation-free stderr writes (platform/no_cancel.h).
#include "platform/no_cancel.h"

#include <pthread.h>
#include <unistd.h>

#include <cstring>

#include "options/diagnostic_write.h"

namespace tslab::detail {

CancellationDisabled::CancellationDisabled() noexcept : previous_(PTHREAD_CANCEL_ENABLE) {
  ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &previous_);
}

CancellationDisabled::~CancellationDisabled() { ::pthread_setcancelstate(previous_, nullptr); }

void write_fd(int fd, const char* text, std::size_t size) noexcept { write_diagnostic(fd, text, size); }

void write_stderr(const char* text, std::size_t size) noexcept { write_fd(STDERR_FILENO, text, size); }

void write_stderr(const char* text) noexcept { write_stderr(text, std::strlen(text)); }

}  // namespace tslab::detail
