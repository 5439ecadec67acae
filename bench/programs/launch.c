/* This file contains tslab_launch, the small process through which the preload
 * workloads start a program, so that the program's peak RSS is its own.
 *
 * A process started by fork and execve inherits, in ru_maxrss, the peak RSS of
 * the process it was forked from (the kernel folds the old address space's peak
 * into the new image's at execve): a program started straight from a measuring
 * child that holds tens of MiB would report them as its own. tslab_launch is
 * started that way, then forks the program from itself, a process of well under
 * 1 MiB, and passes the program's exit status and resource usage back.
 *
 * Usage: tslab_launch FD NAME=VALUE... -- PROGRAM ARG...
 * Runs PROGRAM with exactly the environment NAME=VALUE..., writes its wait
 * status (an int) then its struct rusage to file descriptor FD, and exits 0;
 * exits 125 if it could not. The program dies with tslab_launch. */
#define _GNU_SOURCE /* wait4 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_all(int fd, const void* data, size_t size) {
  const char* p = (const char*)data;
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    p += n;
    size -= (size_t)n;
  }
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 4) return 125;
  const int fd = atoi(argv[1]);
  int sep = 2;
  while (sep < argc && strcmp(argv[sep], "--") != 0) ++sep;
  if (sep + 1 >= argc) return 125;
  argv[sep] = NULL; /* the environment: argv[2] .. argv[sep - 1] */
  const pid_t pid = fork();
  if (pid < 0) return 125;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(fd);
    execve(argv[sep + 1], argv + sep + 1, argv + 2);
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(pid, &status, 0, &ru) < 0)
    if (errno != EINTR) return 125;
  return write_all(fd, &status, sizeof status) && write_all(fd, &ru, sizeof ru) ? 0 : 125;
}
