// This file contains the TSLAB_SHOW_STATS output (stats/stats_output.h).
#include "stats/stats_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "platform/no_cancel.h"

namespace tslab::detail {

namespace {

// The copy's number is at least this: above the numbers programs pick by hand
// (shells redirect 3-9 and keep their own from 10).
constexpr int FIRST_COPY_FD = 100;

// Published with release once the file's identity is recorded.
std::atomic<int> g_copy_fd{-1};
dev_t g_copy_dev = 0;
ino_t g_copy_ino = 0;

}  // namespace

void keep_stats_output() noexcept {
  if (g_copy_fd.load(std::memory_order_acquire) >= 0) return;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return;
  const int fd = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, FIRST_COPY_FD);
  if (fd < 0) return;  // no descriptor that high: stderr it is
  g_copy_dev = st.st_dev;
  g_copy_ino = st.st_ino;
  g_copy_fd.store(fd, std::memory_order_release);
}

void write_stats_output(const char* text) noexcept {
  // stderr while it is open: where the program points it now.
  const int fd = g_copy_fd.load(std::memory_order_acquire);
  struct stat st {};
  if (fd >= 0 && ::fcntl(STDERR_FILENO, F_GETFD) < 0 && ::fstat(fd, &st) == 0 && st.st_dev == g_copy_dev &&
      st.st_ino == g_copy_ino) {
    write_fd(fd, text, std::strlen(text));
    return;
  }
  write_stderr(text);
}

}  // namespace tslab::detail
