/* This file contains sh6bench, a stress shape in the style of MicroQuill's
 * sh6bench (as in mimalloc-bench), a C program for timing an allocator under
 * LD_PRELOAD: each thread, at every iteration, three times allocates an array
 * of blocks of 1 B to a maximum size (the sizes stepping through the range) and
 * frees them: in the order they were allocated, in reverse, then the even ones
 * and the odd ones (docs/BENCHMARKS.md, "Stress shapes: a third round").
 *
 *   sh6bench [threads (default 2, at most 64)] [iterations per thread (400)]
 *            [blocks per array (5000)] [largest block in bytes (1000)]
 *
 * Prints "sh6bench checksum %016llx", a hash of the bytes written, the same
 * under every allocator.
 */
#include "shapes_common.h"

static long ITERS, NB, MAXSZ;
static uint64_t sums[64];

static void* worker(void* arg) {
  long tid = (long)arg;
  uint64_t h = tid, sz = 1 + tid * 37;
  for (long it = 0; it < ITERS; it++) {
    for (int order = 0; order < 3; order++) {
      char** mp = xmalloc(NB * sizeof(char*));
      size_t* ms = xmalloc(NB * sizeof(size_t));
      sz = fill_blocks(mp, ms, NB, sz, MAXSZ, it);
      if (order == 0) {
        for (long i = 0; i < NB; i++) {
          h = mix(h, mp[i][0] ^ mp[i][ms[i] - 1]);
          free(mp[i]);
        }
      } else if (order == 1) {
        for (long i = NB - 1; i >= 0; i--) {
          h = mix(h, mp[i][0] ^ mp[i][ms[i] - 1]);
          free(mp[i]);
        }
      } else {
        for (long i = 0; i < NB; i += 2) {
          h = mix(h, mp[i][0]);
          free(mp[i]);
        }
        for (long i = 1; i < NB; i += 2) {
          h = mix(h, mp[i][0]);
          free(mp[i]);
        }
      }
      free(ms);
      free(mp);
    }
  }
  sums[tid] = h;
  return NULL;
}

int main(int argc, char** argv) {
  long T = argl(argc, argv, 1, 2);
  ITERS = argl(argc, argv, 2, 400);
  NB = argl(argc, argv, 3, 5000);
  MAXSZ = argl(argc, argv, 4, 1000);
  const uint64_t h = run_workers(T, worker, sums);
  printf("sh6bench checksum %016llx\n", (unsigned long long)h);
  return 0;
}
