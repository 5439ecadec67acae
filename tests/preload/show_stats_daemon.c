/* This file contains a program run under the drop-in malloc with
 * TSLAB_SHOW_STATS=1 that starts a daemon the way servers do: the process
 * forks, its child points stdin, stdout and stderr at /dev/null and lives on,
 * the parent exits. A shell that reads the parent's stderr through a pipe
 * ($(server 2>&1)) waits until no process holds the pipe's write end, so the
 * daemon must hold no copy of it (the copy the exit report keeps for programs
 * that close stderr: stats/stats_output.cpp). The parent's summary still
 * reaches the pipe. Prints "show_stats_daemon: ok". */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipe_text.h"

/* Descriptors from 3 up that name the file `of` names; -1 without /proc. */
static int copies_of(const struct stat* of) {
  int copies = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == NULL) return -1;
  for (struct dirent* e; (e = readdir(dir)) != NULL;) {
    const int fd = atoi(e->d_name);
    struct stat st;
    if (e->d_name[0] == '.' || fd < 3 || fd == dirfd(dir) || fstat(fd, &st) != 0) continue;
    if (st.st_dev == of->st_dev && st.st_ino == of->st_ino) ++copies;
  }
  closedir(dir);
  return copies;
}

/* The daemon: counts its descriptors that name the pipe its stderr was. */
static int daemon_child(int result_fd) {
  struct stat pipe_st;
  if (fstat(STDERR_FILENO, &pipe_st) != 0) return 10;
  const int null_fd = open("/dev/null", O_RDWR);
  if (null_fd < 0) return 11;
  for (int fd = 0; fd < 3; ++fd) dup2(null_fd, fd);
  close(null_fd);
  const int held = copies_of(&pipe_st);
  if (held < 0) return 12;
  char line[32];
  const int n = snprintf(line, sizeof line, "%d\n", held);
  if (write(result_fd, line, (size_t)n) != n) return 13;
  return 0;
}

/* The server: allocates (the copy of stderr is made), forks the daemon and exits. */
static int server(int result_fd) {
  void* volatile p = malloc(100);
  free(p);
  struct stat pipe_st;
  if (fstat(STDERR_FILENO, &pipe_st) != 0) return 21;
  if (copies_of(&pipe_st) != 1) return 22; /* no copy: the test would prove nothing */
  const pid_t pid = fork();
  if (pid < 0) return 20;
  if (pid == 0) _exit(daemon_child(result_fd));
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 2 && strcmp(argv[1], "server") == 0) return server(atoi(argv[2]));
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 1024) {
    printf("show_stats_daemon: ok (skipped: with an open-files limit below 1024 no copy is kept)\n");
    return 0;
  }
  int err_pipe[2], result_pipe[2];
  if (pipe(err_pipe) != 0 || pipe(result_pipe) != 0) return 2;
  const pid_t pid = fork();
  if (pid < 0) return 3;
  if (pid == 0) {
    close(err_pipe[0]);
    close(result_pipe[0]);
    dup2(err_pipe[1], STDERR_FILENO);
    close(err_pipe[1]);
    setenv("TSLAB_SHOW_STATS", "1", 1);
    char fd_text[16];
    snprintf(fd_text, sizeof fd_text, "%d", result_pipe[1]);
    execl("/proc/self/exe", argv[0], "server", fd_text, (char*)NULL);
    _exit(4);
  }
  close(err_pipe[1]);
  close(result_pipe[1]);
  /* The server's stderr to its end first (it may write more than a pipe
     holds), which comes once the server and the daemon have exited, whatever
     the daemon held; then the daemon's answer and the server's status. */
  static char err[65536];
  read_to_end(err_pipe[0], err, sizeof err);
  char result[32] = {0};
  size_t got = 0;
  for (ssize_t n;
       got < sizeof result - 1 && (n = read(result_pipe[0], result + got, sizeof result - 1 - got)) > 0;)
    got += (size_t)n;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("show_stats_daemon: the server failed (exit %d)\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 1;
  }
  if (got == 0) {
    printf("show_stats_daemon: the daemon did not answer\n");
    return 1;
  }
  if (atoi(result) != 0) {
    printf("show_stats_daemon: the daemon holds %d copies of the server's stderr pipe\n", atoi(result));
    return 1;
  }
  if (strstr(err, "tslab allocator") == NULL) {
    printf("show_stats_daemon: the server's summary did not reach its stderr:\n%s\n", err);
    return 1;
  }
  printf("show_stats_daemon: ok\n");
  return 0;
}
