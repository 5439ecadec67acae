/* This file contains a program run under the drop-in malloc that starts
 * CHILDREN copies of itself with TSLAB_SHOW_STATS=1, each allocating and
 * freeing large blocks until a timer's signal handler calls exit(7). Most
 * such signals land inside malloc or free, whose frame may hold the
 * allocator's lock: the exit report must then say it was skipped instead of
 * waiting for that lock forever. Every child must exit with 7 within
 * DEADLINE_S seconds and print either its summary or that line, and at least
 * one must have exited from inside tslab (else the test proved nothing).
 * Prints "show_stats_exit_in_handler: ok". */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipe_text.h"

enum { CHILDREN = 16, DEADLINE_S = 10, SLOTS = 32 };

static void exit_now(int sig) {
  (void)sig;
  exit(7); /* not async-signal-safe, and programs do it */
}

__attribute__((noreturn)) static void run_child(void) {
  void* slots[SLOTS] = {0};
  /* The allocator, and with it the report, exist before the timer is armed: a
   * loaded machine may otherwise deliver the signal before the first malloc
   * ends, and a process with no allocator has nothing to report. */
  slots[0] = malloc(70000);
  signal(SIGALRM, exit_now);
  const struct itimerval once = {{0, 0}, {0, 3000}};
  setitimer(ITIMER_REAL, &once, NULL);
  unsigned r = (unsigned)getpid();
  for (;;) {
    r = r * 1103515245u + 12345u;
    const unsigned i = (r >> 16) % SLOTS;
    free(slots[i]);
    slots[i] = malloc(70000 + r % 3000000);
  }
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) run_child();
  int hung = 0, wrong_exit = 0, silent = 0, skipped = 0, summaries = 0;
  for (int c = 0; c < CHILDREN; ++c) {
    int err_pipe[2];
    if (pipe(err_pipe) != 0) return 2;
    const pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid == 0) {
      close(err_pipe[0]);
      dup2(err_pipe[1], STDERR_FILENO);
      close(err_pipe[1]);
      setenv("TSLAB_SHOW_STATS", "1", 1);
      execl("/proc/self/exe", argv[0], "child", (char*)NULL);
      _exit(4);
    }
    close(err_pipe[1]);
    static char err[65536];
    if (!read_until(err_pipe[0], err, sizeof err, DEADLINE_S)) {
      ++hung;
      kill(pid, SIGKILL);
    }
    close(err_pipe[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 7) ++wrong_exit;
    if (strstr(err, "exit report skipped") != NULL)
      ++skipped;
    else if (strstr(err, "tslab allocator") != NULL)
      ++summaries;
    else {
      ++silent;
      printf("show_stats_exit_in_handler: child %d printed neither (status %#x): \"%.300s\"\n", c, status,
             err);
    }
  }
  printf(
      "show_stats_exit_in_handler: %d children: %d summaries, %d reports skipped, %d hung, %d wrong exits, "
      "%d silent\n",
      CHILDREN, summaries, skipped, hung, wrong_exit, silent);
  if (hung != 0 || wrong_exit != 0 || silent != 0) return 1;
  if (skipped == 0) {
    printf("show_stats_exit_in_handler: no signal landed inside tslab: nothing was tested\n");
    return 1;
  }
  printf("show_stats_exit_in_handler: ok\n");
  return 0;
}
