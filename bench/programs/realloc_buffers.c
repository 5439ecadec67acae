/* This file contains realloc-buffers, a C program for the memory an allocator
 * keeps under LD_PRELOAD when buffers grow by realloc: each thread keeps `live`
 * buffers, each with a target size drawn log-uniformly from 16 B to 1 MiB; a
 * step on a buffer grows it by half with realloc (the new bytes written) until
 * it reaches its target, and the step after frees it, the next one starting
 * again at 16 B with a new target. Prints the time, the peak and final process
 * RSS and the bytes the buffers asked for at the end (docs/BENCHMARKS.md,
 * "Buffers grown by realloc").
 *
 *   realloc_buffers [threads (default 2)] [steps per thread (default 2000000)]
 *                   [live buffers per thread (default 500)]
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "process_rss.h"

enum { MAX_BUFFER = 1 << 20, MIN_BUFFER = 16 };

struct buffer {
  unsigned char* p;
  size_t size, target;
};

static long steps = 2000000;
static int live = 500;
static _Atomic long asked_bytes;
static _Atomic long peak_kib;

static unsigned next_random(unsigned* x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

static size_t draw_target(unsigned* x) {
  const double span = log((double)MAX_BUFFER / MIN_BUFFER);
  return (size_t)(MIN_BUFFER * exp(span * (next_random(x) % 1000000) / 1000000.0));
}

static void note_peak(void) {
  const long now = process_rss_kib();
  long seen = atomic_load(&peak_kib);
  while (now > seen && !atomic_compare_exchange_weak(&peak_kib, &seen, now)) {
  }
}

static void* work(void* arg) {
  unsigned x = 2463534242u + (unsigned)(long)arg * 7919u;
  struct buffer* b = calloc((size_t)live, sizeof *b);
  if (b == NULL) abort();
  for (long i = 0; i < steps; ++i) {
    struct buffer* it = &b[next_random(&x) % (unsigned)live];
    if (it->p != NULL && it->size >= it->target) {
      free(it->p);
      it->p = NULL;
      continue;
    }
    size_t size = it->p == NULL ? MIN_BUFFER : it->size + it->size / 2;
    if (it->p == NULL) it->target = draw_target(&x);
    if (size > it->target) size = it->target;
    unsigned char* q = realloc(it->p, size);
    if (q == NULL) abort();
    if (it->p != NULL && q[it->size - 1] != (unsigned char)it->size) abort(); /* contents kept */
    memset(q + (it->p == NULL ? 0 : it->size), (int)(unsigned char)size,
           size - (it->p == NULL ? 0 : it->size));
    q[size - 1] = (unsigned char)size;
    it->p = q;
    it->size = size;
    if ((i & 0xffff) == 0) note_peak();
  }
  long asked = 0;
  for (int i = 0; i < live; ++i) asked += b[i].p != NULL ? (long)b[i].size : 0;
  atomic_fetch_add(&asked_bytes, asked);
  note_peak();
  /* The buffers stay live: the final RSS is read with them. */
  return b;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 2;
  if (argc > 2) steps = atol(argv[2]);
  if (argc > 3) live = atoi(argv[3]);
  if (threads < 1 || threads > 64 || steps < 1 || live < 1) {
    fprintf(stderr, "usage: realloc_buffers [threads 1-64] [steps per thread] [live buffers per thread]\n");
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t tid[64];
  for (int t = 0; t < threads; ++t) pthread_create(&tid[t], NULL, work, (void*)(long)t);
  void* kept[64];
  for (int t = 0; t < threads; ++t) pthread_join(tid[t], &kept[t]);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("seconds %.2f peak_rss_mib %.1f final_rss_mib %.1f asked_mib %.1f\n", seconds,
         (double)atomic_load(&peak_kib) / 1024, (double)process_rss_kib() / 1024,
         (double)atomic_load(&asked_bytes) / 1048576.0);
  for (int t = 0; t < threads; ++t) {
    struct buffer* b = kept[t];
    for (int i = 0; i < live; ++i) free(b[i].p);
    free(b);
  }
  return 0;
}
