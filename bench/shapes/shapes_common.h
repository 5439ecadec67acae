/* This file contains what the stress-shape programs of bench/shapes/ share:
 * the standard headers they use, a splitmix64 generator, the hash step that
 * folds figures into their checksums, allocation wrappers that abort with a
 * message when the allocator refuses, and the reading of numeric arguments.
 * Every checksum is built from the programs' own values only (never addresses),
 * so it is the same under every allocator.
 */
#pragma once
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: the next number of the sequence seeded by *s. */
static inline uint64_t rng_next(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Folds v into the hash h (order matters). */
static inline uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  return h;
}

static inline void* xmalloc(size_t n) {
  void* p = malloc(n);
  if (!p) {
    fprintf(stderr, "malloc(%zu) failed\n", n);
    abort();
  }
  return p;
}

static inline void* xcalloc(size_t a, size_t b) {
  void* p = calloc(a, b);
  if (!p) {
    fprintf(stderr, "calloc failed\n");
    abort();
  }
  return p;
}

static inline void* xrealloc(void* q, size_t n) {
  void* p = realloc(q, n);
  if (!p) {
    fprintf(stderr, "realloc(%zu) failed\n", n);
    abort();
  }
  return p;
}

/* argv[i] as a number, or def when the command line is shorter. */
static inline long argl(int argc, char** argv, int i, long def) { return argc > i ? atol(argv[i]) : def; }

/* Runs worker(0) .. worker(threads - 1) on threads of their own (at most 64) and
 * returns the mix of sums[0] .. sums[threads - 1], which they filled, in order. */
static inline uint64_t run_workers(long threads, void* (*worker)(void*), const uint64_t* sums) {
  pthread_t th[64];
  for (long t = 0; t < threads; t++) pthread_create(&th[t], NULL, worker, (void*)t);
  uint64_t h = 0;
  for (long t = 0; t < threads; t++) {
    pthread_join(th[t], NULL);
    h = mix(h, sums[t]);
  }
  return h;
}

/* sh6bench's and sh8bench's fill: nb blocks of the sizes that follow sz (each the
 * last plus 1 to 8 modulo maxsz, from iteration it), their first and last bytes
 * written; the sizes in ms. Returns the size the next fill starts from. */
static inline uint64_t fill_blocks(char** mp, size_t* ms, long nb, uint64_t sz, long maxsz, long it) {
  for (long i = 0; i < nb; i++) {
    size_t s = sz;
    sz = sz % maxsz + 1 + (it & 7);
    if (sz > (uint64_t)maxsz) sz = 1;
    mp[i] = xmalloc(s);
    ms[i] = s;
    mp[i][0] = (char)i;
    mp[i][s - 1] = (char)s;
  }
  return sz;
}
