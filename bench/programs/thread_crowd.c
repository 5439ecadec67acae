/* This file contains thread-crowd, a C program for timing an allocator under
 * LD_PRELOAD: rounds of many threads alive at once, each allocating 64 blocks
 * of 16-3015 B (a size mix that differs from thread to thread), waiting until
 * every thread of its round has allocated, freeing its blocks and exiting. It
 * prints the process's RSS after the last round, when nothing is allocated:
 * what an allocator keeps of a crowd of exited threads (docs/BENCHMARKS.md,
 * "Thread waves").
 *
 *   thread_crowd [threads per round (default 300)] [rounds (default 30)]
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process_rss.h"

enum { BLOCKS = 64 };

static pthread_barrier_t all_allocated;

static void* work(void* arg) {
  const uintptr_t id = (uintptr_t)arg;
  void* blocks[BLOCKS];
  for (int i = 0; i < BLOCKS; ++i) {
    blocks[i] = malloc(16 + (id * 7 + (uintptr_t)i * 13) % 3000);
    if (blocks[i] == NULL) abort();
    memset(blocks[i], 1, 16);
  }
  pthread_barrier_wait(&all_allocated);
  for (int i = 0; i < BLOCKS; ++i) free(blocks[i]);
  return NULL;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 300;
  const int rounds = argc > 2 ? atoi(argv[2]) : 30;
  if (threads < 1 || rounds < 1) return 2;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t* ids = malloc(sizeof(pthread_t) * (size_t)threads);
  if (ids == NULL) return 1;
  for (int r = 0; r < rounds; ++r) {
    pthread_barrier_init(&all_allocated, NULL, (unsigned)threads);
    for (int t = 0; t < threads; ++t)
      if (pthread_create(&ids[t], &attr, work, (void*)(uintptr_t)(t + r * threads)) != 0) return 1;
    for (int t = 0; t < threads; ++t) pthread_join(ids[t], NULL);
    pthread_barrier_destroy(&all_allocated);
  }
  free(ids);
  printf("rss after %d rounds of %d threads: %.1f MiB\n", rounds, threads, process_rss_kib() / 1024.0);
  return 0;
}
