/* This file contains bench-malloc-thread, a stress shape in the style of glibc's
 * benchtests/bench-malloc-thread, a C program for timing an allocator under
 * LD_PRELOAD: each thread keeps a working set of slots and, at every iteration,
 * replaces the block of a random slot with a new one of 4 B to 32 KiB, its size
 * drawn from a 1/x distribution (most blocks small), writing its first and last
 * byte (docs/BENCHMARKS.md, "Stress shapes: a third round").
 *
 *   bench_malloc_thread [threads (default 1, at most 64)]
 *                       [iterations per thread (20000000)] [working-set slots (4000)]
 *
 * Prints "bench-malloc-thread checksum %016llx", a hash of the bytes written, the
 * same under every allocator.
 */
#include "shapes_common.h"

#define NSIZES 8000

static long ITERS, WS;
static uint64_t sums[64];
static size_t sizes[NSIZES];

static void* worker(void* arg) {
  long tid = (long)arg;
  uint64_t r = 77 + tid, h = 0;
  unsigned char** a = xcalloc(WS, sizeof(void*));
  size_t* as = xcalloc(WS, sizeof(size_t));
  for (long i = 0; i < ITERS; i++) {
    uint64_t x = rng_next(&r);
    long idx = x % WS;
    size_t s = sizes[(x >> 32) % NSIZES];
    if (a[idx]) {
      h += a[idx][0] + a[idx][as[idx] - 1];
      free(a[idx]);
    }
    a[idx] = xmalloc(s);
    as[idx] = s;
    a[idx][0] = (unsigned char)i;
    a[idx][s - 1] = (unsigned char)(i >> 8);
  }
  for (long i = 0; i < WS; i++)
    if (a[i]) {
      h += a[i][0];
      free(a[i]);
    }
  free(a);
  free(as);
  sums[tid] = h;
  return NULL;
}

int main(int argc, char** argv) {
  long T = argl(argc, argv, 1, 1);
  ITERS = argl(argc, argv, 2, 20000000);
  WS = argl(argc, argv, 3, 4000);
  /* The sizes: log-uniform from 4 to 32768, a table of NSIZES drawn once. */
  uint64_t r = 5;
  double lo = log(4.0), hi = log(32768.0);
  for (int i = 0; i < NSIZES; i++) {
    double u = (rng_next(&r) >> 11) * (1.0 / 9007199254740992.0);
    sizes[i] = (size_t)exp(lo + u * (hi - lo));
  }
  const uint64_t h = run_workers(T, worker, sums);
  printf("bench-malloc-thread checksum %016llx\n", (unsigned long long)h);
  return 0;
}
