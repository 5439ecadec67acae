/* This file contains fork-faults, a C program for measuring under LD_PRELOAD
 * what an allocator adds to each fork(): the minor page faults the parent takes
 * from fork() until it returns, and those the child takes until fork() returns
 * in it (the kernel starts the child's count at zero). Every page of the
 * allocator's own that the parent's or the child's fork handlers write after
 * the address space was copied is one such fault (a copy of the page), and so
 * is every page of its code the child runs for the first time. It prints the
 * mean of each per fork, and the time per fork with the child's exit and the
 * parent's wait.
 *
 *   fork_faults [forks (default 2000)] [live blocks held across the forks (default 10000)]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long minor_faults(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

int main(int argc, char** argv) {
  const int forks = argc > 1 ? atoi(argv[1]) : 2000;
  const int live = argc > 2 ? atoi(argv[2]) : 10000;
  if (forks < 1 || live < 0) return 2;
  void** blocks = malloc(sizeof(void*) * (size_t)(live > 0 ? live : 1));
  if (blocks == NULL) return 1;
  for (int i = 0; i < live; ++i) {
    blocks[i] = malloc(16 + (size_t)(i % 64) * 16);
    if (blocks[i] == NULL) return 1;
    memset(blocks[i], 1, 16);
  }
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return 1;
  long parent_faults = 0, child_faults = 0;
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int i = 0; i < forks; ++i) {
    const long before = minor_faults();
    const pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      const long at_start = minor_faults();
      _exit(write(pipe_fds[1], &at_start, sizeof at_start) == (ssize_t)sizeof at_start ? 0 : 1);
    }
    parent_faults += minor_faults() - before;
    long in_child = 0;
    if (read(pipe_fds[0], &in_child, sizeof in_child) != (ssize_t)sizeof in_child) return 1;
    child_faults += in_child;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  const double us = ((double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec)) / 1e3;
  printf(
      "forks %d, live blocks %d: minor faults per fork %.1f in the parent, %.1f in the child; %.1f us per "
      "fork\n",
      forks, live, (double)parent_faults / forks, (double)child_faults / forks, us / forks);
  for (int i = 0; i < live; ++i) free(blocks[i]);
  free(blocks);
  return 0;
}
