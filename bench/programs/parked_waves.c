/* This file contains parked-waves, a C program for the memory an allocator keeps
 * under LD_PRELOAD when exited threads leave blocks that later threads free:
 * waves of 8-16 threads, each allocating 20,000 blocks of 8-519 B, keeping every
 * tenth (2,000) for a thread of a later wave to free and freeing the rest, then
 * exiting. Prints the process RSS after every tenth of the waves and its peak
 * (docs/BENCHMARKS.md, "Thread waves").
 *
 *   parked_waves [waves (default 300)]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process_rss.h"

enum { BLOCKS = 20000, THREADS = 16, PARKED = 2000 };

static void* parked[THREADS][PARKED];

static void* work(void* arg) {
  const long slot = (long)arg;
  unsigned x = 12345u + (unsigned)slot * 7919u;
  void** blocks = malloc(BLOCKS * sizeof(void*));
  if (blocks == NULL) abort();
  for (int i = 0; i < BLOCKS; ++i) {
    x = x * 1103515245u + 12345u;
    const size_t n = 8 + (x >> 8) % 512;
    blocks[i] = malloc(n);
    if (blocks[i] == NULL) abort();
    memset(blocks[i], 1, n < 64 ? n : 64);
  }
  /* The blocks an earlier thread left in this slot go first, freed here. */
  const long other = (slot + 5) % THREADS;
  for (int k = 0; k < PARKED; ++k) {
    free(parked[other][k]);
    parked[other][k] = NULL;
  }
  for (int i = 0; i < BLOCKS; ++i) {
    if (i % 10 == 0)
      parked[other][i / 10] = blocks[i];
    else
      free(blocks[i]);
  }
  free(blocks);
  return NULL;
}

int main(int argc, char** argv) {
  const int waves = argc > 1 ? atoi(argv[1]) : 300;
  if (waves < 10) {
    fprintf(stderr, "usage: parked_waves [waves >= 10]\n");
    return 2;
  }
  long peak = 0;
  for (int w = 0; w < waves; ++w) {
    pthread_t t[THREADS];
    const int n = THREADS - (w % 3) * 4;
    for (long i = 0; i < n; ++i)
      if (pthread_create(&t[i], NULL, work, (void*)((i + w) % THREADS)) != 0) abort();
    for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
    const long rss = process_rss_kib();
    if (rss > peak) peak = rss;
    if (w % (waves / 10) == 0 || w == waves - 1) printf("wave %d: RSS %ld KiB\n", w, rss);
  }
  printf("parked_waves: peak RSS %ld KiB\n", peak);
  return 0;
}
