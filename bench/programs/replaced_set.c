/* This file contains replaced-set, a C program for the memory an allocator keeps
 * under LD_PRELOAD when one thread builds a working set and others replace it: the
 * main thread allocates `objects` blocks of 64-1024 B (every byte written), then
 * waits while `workers` threads replace random ones (free the old block, allocate
 * and write a new one), `rounds` times the set's size in all. The main thread never
 * allocates again, so each replaced block is a free of its block by another
 * thread. Prints the process RSS after the build and after each round
 * (docs/BENCHMARKS.md, "A working set replaced by other threads").
 *
 *   replaced_set [objects (default 400000)] [workers (default 2)] [rounds (default 6)]
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process_rss.h"

static _Atomic(unsigned char*)* set;
static long objects = 400000;
static int workers = 2;
static pthread_barrier_t round_start, round_end;
static int rounds = 6;

static uint64_t next_random(uint64_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static unsigned char* make_block(uint64_t* s) {
  const size_t size = 64 + next_random(s) % 961;
  unsigned char* p = malloc(size);
  if (p == NULL) abort();
  memset(p, (int)(size & 0xff), size);
  return p;
}

static void* work(void* arg) {
  uint64_t seed = 88172645463325252ull ^ ((uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull);
  for (int r = 0; r < rounds; ++r) {
    pthread_barrier_wait(&round_start);
    for (long i = 0; i < objects / workers; ++i) {
      const long at = (long)(next_random(&seed) % (uint64_t)objects);
      unsigned char* fresh = make_block(&seed);
      free(atomic_exchange(&set[at], fresh));
    }
    pthread_barrier_wait(&round_end);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 1) objects = atol(argv[1]);
  if (argc > 2) workers = atoi(argv[2]);
  if (argc > 3) rounds = atoi(argv[3]);
  if (objects < 1 || workers < 1 || workers > 64 || rounds < 1) {
    fprintf(stderr, "usage: replaced_set [objects] [workers 1-64] [rounds]\n");
    return 2;
  }
  set = calloc((size_t)objects, sizeof *set);
  if (set == NULL) abort();
  uint64_t seed = 2463534242u;
  for (long i = 0; i < objects; ++i) set[i] = make_block(&seed);
  printf("built rss_mib %.1f\n", (double)process_rss_kib() / 1024);
  pthread_barrier_init(&round_start, NULL, (unsigned)workers + 1);
  pthread_barrier_init(&round_end, NULL, (unsigned)workers + 1);
  pthread_t tid[64];
  for (int t = 0; t < workers; ++t) pthread_create(&tid[t], NULL, work, (void*)(uintptr_t)(t + 1));
  for (int r = 0; r < rounds; ++r) {
    pthread_barrier_wait(&round_start);
    pthread_barrier_wait(&round_end);
    printf("round %d rss_mib %.1f\n", r + 1, (double)process_rss_kib() / 1024);
  }
  for (int t = 0; t < workers; ++t) pthread_join(tid[t], NULL);
  for (long i = 0; i < objects; ++i) free(set[i]);
  free(set);
  return 0;
}
