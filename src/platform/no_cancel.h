// This file contains what keeps tslab's few blocking system calls (writing a
// diagnostic to stderr, reading /proc) from being cancellation points, and its
// writes from ending the process with SIGPIPE.
//
// A thread with a deferred pthread_cancel pending is cancelled at the next
// cancellation point it reaches. If that were a write(2) inside free (a bad
// free's report) or a read(2) inside a close, the cancellation would unwind
// through malloc and free, which are noexcept: the process would terminate.
// So tslab disables cancellation around them; the thread is cancelled at its
// own next cancellation point instead.
#ifndef TSLAB_PLATFORM_NO_CANCEL_H
#define TSLAB_PLATFORM_NO_CANCEL_H

#include <cstddef>

namespace tslab::detail {

// Cancellation disabled for the calling thread while it lives.
class CancellationDisabled {
 public:
  CancellationDisabled() noexcept;
  ~CancellationDisabled();
  CancellationDisabled(const CancellationDisabled&) = delete;
  CancellationDisabled& operator=(const CancellationDisabled&) = delete;

 private:
  int previous_;
};

// Writes all of text[0, size) to `fd` with write(2): no allocation, no stdio
// lock, not a cancellation point, and no SIGPIPE if nobody reads the pipe
// (options/diagnostic_write.h, which the options' own report uses too).
// Gives up quietly if the descriptor refuses.
void write_fd(int fd, const char* text, std::size_t size) noexcept;
// The same to stderr.
void write_stderr(const char* text, std::size_t size) noexcept;
// The same for a NUL-terminated text.
void write_stderr(const char* text) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_NO_CANCEL_H
