/* This file contains server-bufs, a stress shape of a server's connection
 * buffers, a C program for timing an allocator under LD_PRELOAD: each thread
 * holds a number of live buffers of 16, 32, 64 or 128 KiB and, at every
 * iteration, replaces a random one with a new buffer of a random one of these
 * sizes, writing its first and last 4 KiB page (docs/BENCHMARKS.md, "Stress
 * shapes: a third round" and "Large spans in 64 KiB granules").
 *
 *   server_bufs [threads (default 2, at most 64)] [replacements per thread (400000)]
 *               [live buffers per thread (2000)]
 *
 * Prints "server-bufs checksum %016llx", a hash of the bytes written, the same
 * under every allocator.
 */
#include "shapes_common.h"

static long ITERS, NBUF;
static uint64_t sums[64];

static void* worker(void* arg) {
  long tid = (long)arg;
  uint64_t r = 555 + tid, h = 0;
  unsigned char** b = xcalloc(NBUF, sizeof(void*));
  size_t* bs = xcalloc(NBUF, sizeof(size_t));
  /* The first NBUF iterations fill the slots in order, the others replace. */
  for (long i = 0; i < NBUF + ITERS; i++) {
    uint64_t x = rng_next(&r);
    long idx = i < NBUF ? i : (long)(x % NBUF);
    size_t s = (size_t)16384 << ((x >> 40) & 3);
    if (b[idx]) {
      h += b[idx][0] + b[idx][bs[idx] - 1];
      free(b[idx]);
    }
    unsigned char* p = xmalloc(s);
    memset(p, (int)(i & 0xff), 4096);
    memset(p + s - 4096, (int)(x & 0xff), 4096);
    b[idx] = p;
    bs[idx] = s;
  }
  for (long i = 0; i < NBUF; i++) {
    h += b[i][0];
    free(b[i]);
  }
  free(b);
  free(bs);
  sums[tid] = h;
  return NULL;
}

int main(int argc, char** argv) {
  long T = argl(argc, argv, 1, 2);
  ITERS = argl(argc, argv, 2, 400000);
  NBUF = argl(argc, argv, 3, 2000);
  const uint64_t h = run_workers(T, worker, sums);
  printf("server-bufs checksum %016llx\n", (unsigned long long)h);
  return 0;
}
