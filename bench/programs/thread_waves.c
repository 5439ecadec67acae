/* This file contains thread-waves, a C program for timing an allocator under
 * LD_PRELOAD: waves of threads, each allocating a working set of small blocks
 * (8-263 B, and 8-4103 B in every fourth thread), freeing all but 64 of them and
 * exiting; the 64 are freed by the thread of the same slot in a later wave. The
 * number of threads varies from wave to wave, so heaps of exited threads are
 * adopted by threads of another size mix. Shows what an allocator keeps of its
 * exited threads' memory (docs/BENCHMARKS.md, "Thread waves").
 *
 *   thread_waves [waves (default 30)] [threads per wave (default 32, at most 128)]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KEEP = 64, BLOCKS = 20000, MAX_THREADS = 128, SLOTS = 2 * MAX_THREADS };

static void* carried[SLOTS][KEEP];

static void* work(void* arg) {
  const long slot = (long)arg;
  unsigned x = 777u + (unsigned)slot * 31u;
  void** blocks = malloc(BLOCKS * sizeof(void*));
  if (blocks == NULL) abort();
  for (int i = 0; i < KEEP; ++i) {
    free(carried[slot][i]);
    carried[slot][i] = NULL;
  }
  for (int i = 0; i < BLOCKS; ++i) {
    x = x * 1103515245u + 12345u;
    const size_t n = 8 + (x >> 8) % (slot % 4 == 0 ? 4096 : 256);
    blocks[i] = malloc(n);
    if (blocks[i] == NULL) abort();
    memset(blocks[i], 1, n < 64 ? n : 64);
  }
  for (int i = 0; i < BLOCKS; ++i) {
    if (i < KEEP)
      carried[slot][i] = blocks[i];
    else
      free(blocks[i]);
  }
  free(blocks);
  return NULL;
}

int main(int argc, char** argv) {
  const int waves = argc > 1 ? atoi(argv[1]) : 30;
  const int threads = argc > 2 ? atoi(argv[2]) : 32;
  if (waves < 1 || threads < 4 || threads > MAX_THREADS) {
    fprintf(stderr, "usage: thread_waves [waves >= 1] [threads per wave, 4..%d]\n", MAX_THREADS);
    return 2;
  }
  for (int w = 0; w < waves; ++w) {
    pthread_t t[MAX_THREADS];
    const int n = threads - (w % 3) * (threads / 4);
    for (long i = 0; i < n; ++i)
      if (pthread_create(&t[i], NULL, work, (void*)(i + (w % 2) * MAX_THREADS)) != 0) abort();
    for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
  }
  for (int s = 0; s < SLOTS; ++s)
    for (int k = 0; k < KEEP; ++k) free(carried[s][k]);
  puts("thread_waves: done");
  return 0;
}
