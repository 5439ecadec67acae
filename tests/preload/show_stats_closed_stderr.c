/* This file contains a program run under the drop-in malloc that re-executes
 * itself with TSLAB_SHOW_STATS=1, stderr a pipe, an open-files limit of 1024
 * and descriptor 1023 taken: the copy of stderr kept for the exit report must
 * be the next number down. The child closes stderr in an exit handler, as
 * coreutils' close_stdout does, so its summary reaches the pipe only through
 * that copy, and its first malloc, which makes the copy, leaves errno as it
 * was. Prints "show_stats_closed_stderr: ok". */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipe_text.h"

static void close_stderr(void) { close(STDERR_FILENO); }

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    if (fcntl(1023, F_GETFD) < 0) return 10; /* the descriptor the parent took */
    errno = EDOM;
    void* volatile p = malloc(100); /* the copy is made here: 1023 refused, 1022 taken */
    if (errno != EDOM) return 11;   /* a malloc that succeeds leaves errno alone */
    free(p);
    atexit(close_stderr);
    return 0;
  }
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 2;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < 1024) {
    printf("show_stats_closed_stderr: ok (skipped: the open-files limit cannot reach 1024)\n");
    return 0;
  }
  int err_pipe[2];
  if (pipe(err_pipe) != 0) return 3;
  const pid_t pid = fork();
  if (pid < 0) return 4;
  if (pid == 0) {
    close(err_pipe[0]);
    dup2(err_pipe[1], STDERR_FILENO);
    close(err_pipe[1]);
    limit.rlim_cur = 1024;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(5);
    const int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd < 0 || dup2(null_fd, 1023) != 1023) _exit(6);
    close(null_fd);
    setenv("TSLAB_SHOW_STATS", "1", 1);
    execl("/proc/self/exe", argv[0], "child", (char*)NULL);
    _exit(7);
  }
  close(err_pipe[1]);
  static char err[65536];
  read_to_end(err_pipe[0], err, sizeof err);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("show_stats_closed_stderr: the child failed (exit %d)\n",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 1;
  }
  if (strstr(err, "tslab allocator") == NULL) {
    printf("show_stats_closed_stderr: the child's summary did not reach the pipe:\n%s\n", err);
    return 1;
  }
  printf("show_stats_closed_stderr: ok\n");
  return 0;
}
