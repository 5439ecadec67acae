// This file contains FdIdentity: which open file a descriptor tslab made names,
// read when it was made. A program may close descriptors it did not open
// (closefrom(3), as daemons do before they drop privileges) and open its own
// under the same numbers: tslab then uses, closes or writes to a number of its
// own only while it still names that file (fd_ours), never the program's.
#ifndef TSLAB_PLATFORM_FD_IDENTITY_H
#define TSLAB_PLATFORM_FD_IDENTITY_H

#include <fcntl.h>
#include <sys/stat.h>

namespace tslab::detail {

struct FdIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
};

inline FdIdentity identity_of(int fd) noexcept {
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) return {};
  return {st.st_dev, st.st_ino};
}

// True if `fd` still names the file `id` was read from, and is close-on-exec,
// as every descriptor tslab makes is (sockets and pipes have an inode each).
inline bool fd_ours(int fd, const FdIdentity& id) noexcept {
  if (fd < 0) return false;
  const int flags = ::fcntl(fd, F_GETFD);
  struct stat st {};
  return flags >= 0 && (flags & FD_CLOEXEC) != 0 && ::fstat(fd, &st) == 0 && st.st_dev == id.dev &&
         st.st_ino == id.ino;
}

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_FD_IDENTITY_H
