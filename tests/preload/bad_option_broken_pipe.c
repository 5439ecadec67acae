/* This file contains a program run under the drop-in malloc that re-executes
 * itself with a bad TSLAB_* value and stderr a pipe whose reader is gone. The
 * options are read at the process's first allocation, which reports the bad
 * value on stderr: that write must not end the process with SIGPIPE (the
 * default action) before or after main. Prints "bad_option_broken_pipe: ok"
 * when the child ran to its end. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    void* volatile p = malloc(100);
    free(p);
    return 0;
  }
  int fds[2];
  if (pipe(fds) != 0) return 2;
  close(fds[0]);
  const pid_t pid = fork();
  if (pid < 0) return 3;
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);
    dup2(fds[1], STDERR_FILENO);
    setenv("TSLAB_LARGE_RETAIN", "bogus", 1);
    execl("/proc/self/exe", argv[0], "child", (char*)NULL);
    _exit(4);
  }
  close(fds[1]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 5;
  if (WIFSIGNALED(status)) {
    printf("bad_option_broken_pipe: child ended by signal %d\n", WTERMSIG(status));
    return 1;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("bad_option_broken_pipe: child exited with %d\n", WEXITSTATUS(status));
    return 1;
  }
  printf("bad_option_broken_pipe: ok\n");
  return 0;
}
