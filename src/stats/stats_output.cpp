// This file contains the TSLAB_SHOW_STATS output (stats/stats_output.h).
#include "stats/stats_output.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "platform/fd_identity.h"
#include "platform/fork_hooks.h"
#include "platform/no_cancel.h"

namespace tslab::detail {

namespace {

// The copy's number is the highest free one below this, the default limit of
// open files: far above the numbers programs and scripts pick by hand (shells
// redirect 3-9, and `exec 100>` or `exec 200>` for a lock file; bash takes a
// close-on-exec descriptor it did not open for one of its own and undoes a
// redirection onto it). Below it, a program that uses select() can still hold
// every descriptor it opens.
constexpr int COPY_FD_CEILING = 1024;
// Numbers tried downwards from the ceiling before giving up on a copy.
constexpr int COPY_FD_TRIES = 16;

// Restores errno when it goes out of scope.
class ErrnoKept {
 public:
  ErrnoKept() noexcept : saved_(errno) {}
  ErrnoKept(const ErrnoKept&) = delete;
  ErrnoKept& operator=(const ErrnoKept&) = delete;
  ~ErrnoKept() { errno = saved_; }

 private:
  int saved_;
};

// Published with release once the file's identity is recorded.
std::atomic<int> g_copy_fd{-1};
FdIdentity g_copy_id;

}  // namespace

void keep_stats_output() noexcept {
  if (g_copy_fd.load(std::memory_order_acquire) >= 0) return;
  // Made inside the program's first malloc, which must leave errno as it was.
  const ErrnoKept kept;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return;
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < COPY_FD_CEILING) return;  // stderr it is
  int fd = -1;
  for (int want = COPY_FD_CEILING - 1; fd < 0 && want >= COPY_FD_CEILING - COPY_FD_TRIES; --want) {
    fd = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, want);
    if (fd < 0 && errno == EMFILE) continue;  // `want` and every number above it taken
    if (fd < 0) return;
    if (fd >= COPY_FD_CEILING) {  // `want` was taken: the next number down
      ::close(fd);
      fd = -1;
    }
  }
  if (fd < 0) return;
  g_copy_id = {st.st_dev, st.st_ino};
  g_copy_fd.store(fd, std::memory_order_release);
}

TSLAB_FORK_STEP void forget_stats_output_after_fork() noexcept {
  // A daemon forks and points stderr elsewhere: a copy kept in it would hold
  // the parent's stderr (a pipe a shell reads to its end) open for its life.
  // Closed only if the number still names the copy: the program may have
  // closed it and opened something of its own there (a connection, a
  // descriptor placed at the top of the table).
  const int fd = g_copy_fd.exchange(-1, std::memory_order_relaxed);
  if (fd_ours(fd, g_copy_id)) ::close(fd);
}

void write_stats_output(const char* text) noexcept {
  // stderr while it is open: where the program points it now.
  const int fd = g_copy_fd.load(std::memory_order_acquire);
  if (::fcntl(STDERR_FILENO, F_GETFD) < 0 && fd_ours(fd, g_copy_id)) {
    write_fd(fd, text, std::strlen(text));
    return;
  }
  write_stderr(text);
}

}  // namespace tslab::detail
