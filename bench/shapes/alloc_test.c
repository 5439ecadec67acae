/* This file contains alloc-test, a stress shape in the style of mimalloc-bench's
 * alloc-test, a C program for timing an allocator under LD_PRELOAD: each thread
 * builds linked lists of blocks of random size, 8 B to 8 KiB (log-uniform), frees
 * every other element at once and keeps a rolling window of lists alive, the
 * oldest list of the window freed whole when a new one takes its place
 * (docs/BENCHMARKS.md, "Stress shapes: a third round").
 *
 *   alloc_test [threads (default 2, at most 64)] [iterations per thread (20000)]
 *              [list length (500)] [window of live lists (16)]
 *
 * Prints "alloc-test checksum %016llx", a hash of the blocks' contents, the same
 * under every allocator.
 */
#include "shapes_common.h"

typedef struct node {
  struct node* next;
  uint32_t size, val;
} node_t;

static long ITERS, LEN, WIN;
static uint64_t sums[64];

/* 8 B to 8 KiB: a power of two from 8 to 4096, plus up to as much again (the
 * caller raises it to 17 B, a node and its last byte). */
static size_t rsize(uint64_t* r) {
  uint64_t x = rng_next(r);
  int k = x % 10;
  size_t lo = 8u << k;
  return lo + ((x >> 8) % lo);
}

static uint64_t free_list(node_t* n) {
  uint64_t h = 0;
  while (n) {
    node_t* nx = n->next;
    h += n->val + ((unsigned char*)n)[n->size - 1];
    free(n);
    n = nx;
  }
  return h;
}

static void* worker(void* arg) {
  long tid = (long)arg;
  uint64_t r = 99 + tid, h = 0;
  node_t** win = xcalloc(WIN, sizeof(node_t*));
  for (long it = 0; it < ITERS; it++) {
    node_t* head = NULL;
    for (long i = 0; i < LEN; i++) {
      size_t s = rsize(&r);
      if (s < sizeof(node_t) + 1) s = sizeof(node_t) + 1;
      node_t* n = xmalloc(s);
      n->size = s;
      n->val = (uint32_t)rng_next(&r) & 0xffff;
      ((unsigned char*)n)[s - 1] = (unsigned char)i;
      n->next = head;
      head = n;
    }
    /* Drop every other element. */
    for (node_t* n = head; n && n->next; n = n->next) {
      node_t* d = n->next;
      n->next = d->next;
      h += d->val;
      free(d);
    }
    long w = it % WIN;
    h += free_list(win[w]);
    win[w] = head;
  }
  for (long w = 0; w < WIN; w++) h += free_list(win[w]);
  free(win);
  sums[tid] = h;
  return NULL;
}

int main(int argc, char** argv) {
  long T = argl(argc, argv, 1, 2);
  ITERS = argl(argc, argv, 2, 20000);
  LEN = argl(argc, argv, 3, 500);
  WIN = argl(argc, argv, 4, 16);
  const uint64_t h = run_workers(T, worker, sums);
  printf("alloc-test checksum %016llx\n", (unsigned long long)h);
  return 0;
}
