/* This file contains drifting-sizes, a C program for the memory an allocator keeps
 * under LD_PRELOAD when a program's block sizes move: two threads each send blocks
 * to the other through a ring and free the blocks they receive (half at once,
 * half after 8,192 more), every free a free of the other thread's block. The mean
 * block size moves from 32 B up to 4 KiB and back, `cycles` times. Prints the
 * process RSS at each return to 32 B, and the peak (docs/BENCHMARKS.md,
 * "Thread waves").
 *
 *   drifting_sizes [blocks per thread (default 10000000)] [cycles (default 2)]
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process_rss.h"

enum { RING = 4096, WINDOW = 8192 };

struct ring {
  void* slot[RING];
  _Atomic size_t head, tail;
};

static struct ring rings[2];
static long blocks = 10000000;
static int cycles = 2;
static _Atomic long checkpoints[2];

static void* work(void* arg) {
  const int me = (int)(long)arg;
  struct ring* out = &rings[me];
  struct ring* in = &rings[1 - me];
  void** window = calloc(WINDOW, sizeof(void*));
  unsigned x = 7u + (unsigned)me;
  long sent = 0, received = 0, wi = 0;
  while (sent < blocks || received < blocks) {
    if (sent < blocks) {
      const size_t t = atomic_load_explicit(&out->tail, memory_order_relaxed);
      if (t - atomic_load_explicit(&out->head, memory_order_acquire) < RING) {
        double phase = (double)sent / (double)blocks * cycles;
        phase -= floor(phase);
        const double up = phase < 0.5 ? 2 * phase : 2 - 2 * phase;
        x = x * 1103515245u + 12345u;
        const size_t size = 8 + (size_t)(32.0 * pow(128.0, up) * ((x >> 8) % 1024) / 1024.0);
        void* p = malloc(size);
        if (p == NULL) abort();
        memset(p, 1, size < 256 ? size : 256);
        out->slot[t % RING] = p;
        atomic_store_explicit(&out->tail, t + 1, memory_order_release);
        if (++sent % (blocks / cycles) == 0) atomic_fetch_add(&checkpoints[me], 1);
      }
    }
    const size_t h = atomic_load_explicit(&in->head, memory_order_relaxed);
    if (h != atomic_load_explicit(&in->tail, memory_order_acquire)) {
      void* p = in->slot[h % RING];
      atomic_store_explicit(&in->head, h + 1, memory_order_release);
      ++received;
      if (received % 2 == 0) {
        free(p);
      } else {
        free(window[wi]);
        window[wi] = p;
        wi = (wi + 1) % WINDOW;
      }
    } else if (sent >= blocks) {
      sched_yield();
    }
  }
  for (long i = 0; i < WINDOW; ++i) free(window[i]);
  free(window);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 1) blocks = atol(argv[1]);
  if (argc > 2) cycles = atoi(argv[2]);
  if (blocks < 1000 || cycles < 1) {
    fprintf(stderr, "usage: drifting_sizes [blocks per thread >= 1000] [cycles >= 1]\n");
    return 2;
  }
  pthread_t t[2];
  for (long i = 0; i < 2; ++i)
    if (pthread_create(&t[i], NULL, work, (void*)i) != 0) abort();
  long peak = 0, seen = 0;
  for (;;) {
    const long rss = process_rss_kib();
    if (rss > peak) peak = rss;
    const long done = atomic_load(&checkpoints[0]);
    if (done > seen) {
      printf("cycle %ld ends (32 B again): RSS %ld KiB\n", done, rss);
      fflush(stdout);
      seen = done;
    }
    if (seen >= cycles) break;
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  printf("drifting_sizes: peak RSS %ld KiB\n", peak);
  return 0;
}
