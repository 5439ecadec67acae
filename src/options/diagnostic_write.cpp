// This file contains the write every tslab diagnostic goes through
// (options/diagnostic_write.h).
#include "options/diagnostic_write.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace tslab::detail {

namespace {

// SIGPIPE held back from the calling thread while it lives. A write to a pipe
// or socket nobody reads raises SIGPIPE at the writer, and its default action
// ends the process: a diagnostic tslab writes (a bad free's line, a report at
// exit) must not be what kills a program that would otherwise go on. The
// signal the held writes raised, and only it, is taken back before the mask
// is restored: one already pending stays pending, and one raised while
// SIGPIPE is ignored never was. sigpending cannot tell a SIGPIPE pending for
// the whole process (kill(2)) from one pending for the thread, so when one
// for the process is pending as the write breaks, the write's own is left
// pending on the thread as well, and both are delivered.
class SigpipeHeld {
 public:
  SigpipeHeld() noexcept {
    ::sigemptyset(&pipe_);
    ::sigaddset(&pipe_, SIGPIPE);
    held_ = ::pthread_sigmask(SIG_BLOCK, &pipe_, &previous_) == 0;
    if (!held_) return;
    sigset_t pending;
    ::sigemptyset(&pending);
    ::sigpending(&pending);
    pending_before_ = ::sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeHeld() {
    if (!held_) return;
    if (broken_ && !pending_before_) {
      const timespec no_wait{};
      while (::sigtimedwait(&pipe_, nullptr, &no_wait) < 0 && errno == EINTR) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeHeld(const SigpipeHeld&) = delete;
  SigpipeHeld& operator=(const SigpipeHeld&) = delete;

  void saw_broken_pipe() noexcept { broken_ = true; }

 private:
  sigset_t pipe_;
  sigset_t previous_;
  bool held_ = false;
  bool pending_before_ = false;
  bool broken_ = false;
};

}  // namespace

void write_diagnostic(int fd, const char* text, std::size_t size) noexcept {
  int cancel_state = PTHREAD_CANCEL_ENABLE;
  ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  const int saved = errno;  // a diagnostic leaves the caller's errno as it was
  {
    SigpipeHeld no_sigpipe;
    for (std::size_t done = 0; done < size;) {
      const ssize_t n = ::write(fd, text + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EPIPE) no_sigpipe.saw_broken_pipe();
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
  }  // the signal taken back, if raised, before errno is restored
  ::pthread_setcancelstate(cancel_state, nullptr);
  errno = saved;
}

}  // namespace tslab::detail
