/* This file contains cache-thrash, a stress shape in the style of Hoard's
 * cache-thrash, a C program for timing an allocator under LD_PRELOAD: each
 * thread, again and again, allocates a small object, writes every byte of it
 * many times and frees it. An allocator that gives threads objects on the same
 * cache line makes the threads fight over it (docs/BENCHMARKS.md, "Stress
 * shapes: a third round").
 *
 *   cache_thrash [threads (default 2, at most 64)] [objects per thread (1000)]
 *                [object size in bytes (8)] [writes of each byte (100000)]
 *
 * Prints "cache-thrash checksum %016llx", a hash of the bytes written, the same
 * under every allocator.
 */
#include "shapes_common.h"

static long ITERS, OBJ, REPS;
static uint64_t sums[64];

static void* worker(void* arg) {
  long tid = (long)arg;
  uint64_t h = 0;
  for (long i = 0; i < ITERS; i++) {
    volatile char* o = xmalloc(OBJ);
    for (long j = 0; j < REPS; j++)
      for (long k = 0; k < OBJ; k++) {
        o[k] = (char)(i + j + k);
        char c = o[k];
        c++;
        o[k] = c;
      }
    for (long k = 0; k < OBJ; k++) h += (unsigned char)o[k];
    free((void*)o);
  }
  sums[tid] = h + tid;
  return NULL;
}

int main(int argc, char** argv) {
  long T = argl(argc, argv, 1, 2);
  ITERS = argl(argc, argv, 2, 1000);
  OBJ = argl(argc, argv, 3, 8);
  REPS = argl(argc, argv, 4, 100000);
  const uint64_t h = run_workers(T, worker, sums);
  printf("cache-thrash checksum %016llx\n", (unsigned long long)h);
  return 0;
}
