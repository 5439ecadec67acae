/* This file contains rptest, a stress shape in the style of rpmalloc's benchmark
 * (rptest), a C program for timing an allocator under LD_PRELOAD: each thread,
 * in a loop, allocates a batch of blocks of 16 B to 16 KiB (half of them below
 * 32 B, a quarter below 64 B, and so on), frees and replaces parts of it in four
 * passes, hands one block in eight to the next thread (in a ring), which frees
 * them, and frees the rest. A thread waits (freeing what it was handed) while
 * more than two of its batches wait for the next thread, so that the backlog,
 * and with it the peak memory, stays bounded whatever the scheduling
 * (docs/BENCHMARKS.md, "Stress shapes: a third round").
 *
 *   rptest [threads (default 2, at most 64)] [loops per thread (200)]
 *          [blocks per batch (8000)]
 *
 * Prints "rptest checksum made=%llu freed=%llu", the sum of the random byte
 * written into each block and the sum of those read back when the blocks were
 * freed, the same under every allocator (and equal to each other).
 */
#include "shapes_common.h"

/* A batch of blocks handed to the next thread. */
typedef struct handoff {
  struct handoff* next;
  long n;
  void* p[];
} handoff_t;

/* A thread's mailbox: the batches handed to it, and how many. */
typedef struct {
  pthread_mutex_t m;
  handoff_t* head;
  _Atomic long pending;
} mbox_t;

static mbox_t box[64];
static _Atomic int done[64];
static long T, LOOPS, NBLK;
static _Atomic uint64_t total, tfreed;

/* Class k with probability 2^-(k+1) for k < 9 (k = 9 takes the rest), then a
 * size in [16 << k, 32 << k): 16 B to 16 KiB. */
static size_t pick_size(uint64_t* r) {
  uint64_t x = rng_next(r);
  int k = 0;
  while (k < 9 && (x & 1)) {
    k++;
    x >>= 1;
  }
  size_t lo = 16u << k;
  return lo + (rng_next(r) % lo);
}

/* A new block of s bytes whose first and last bytes hold a random value, added
 * to *made. */
static inline void* blk(size_t s, uint64_t* r, uint64_t* made) {
  unsigned char* p = xmalloc(s);
  unsigned char v = (unsigned char)rng_next(r);
  p[0] = v;
  p[s - 1] = v;
  *made += v;
  return p;
}

/* Frees a block made by blk and returns its value. */
static inline uint64_t drop(void* q) {
  unsigned char* p = q;
  uint64_t v = p[0];
  free(p);
  return v;
}

/* Frees every block handed to mailbox b so far; returns the sum of their values. */
static uint64_t drain(mbox_t* b) {
  pthread_mutex_lock(&b->m);
  handoff_t* h = b->head;
  b->head = NULL;
  pthread_mutex_unlock(&b->m);
  long cnt = 0;
  uint64_t s = 0;
  while (h) {
    cnt++;
    handoff_t* n = h->next;
    for (long i = 0; i < h->n; i++) s += drop(h->p[i]);
    free(h);
    h = n;
  }
  atomic_fetch_sub(&b->pending, cnt);
  return s;
}

static void* worker(void* arg) {
  long tid = (long)arg;
  uint64_t r = 1234 + tid, made = 0, freed = 0;
  void** slot = xmalloc(NBLK * sizeof(void*));
  size_t* sz = xmalloc(NBLK * sizeof(size_t));
  for (long l = 0; l < LOOPS; l++) {
    for (long i = 0; i < NBLK; i++) {
      sz[i] = pick_size(&r);
      slot[i] = blk(sz[i], &r, &made);
    }
    /* Free part of the batch and replace it. */
    for (int pass = 0; pass < 4; pass++)
      for (long i = pass & 1; i < NBLK; i += 2 + pass) {
        freed += drop(slot[i]);
        sz[i] = pick_size(&r);
        slot[i] = blk(sz[i], &r, &made);
      }
    /* Blocks 3, 11, 19, ... go to the next thread: (NBLK + 4) / 8 of them (as
     * many as NBLK / 8 when NBLK % 8 < 4). */
    long nh = (NBLK + 4) / 8;
    handoff_t* h = xmalloc(sizeof(handoff_t) + nh * sizeof(void*));
    h->n = 0;
    for (long i = 0; i < NBLK; i++) {
      if (i % 8 == 3)
        h->p[h->n++] = slot[i];
      else
        freed += drop(slot[i]);
    }
    mbox_t* b = &box[(tid + 1) % T];
    pthread_mutex_lock(&b->m);
    h->next = b->head;
    b->head = h;
    atomic_fetch_add(&b->pending, 1);
    pthread_mutex_unlock(&b->m);
    /* Bound the hand-off backlog so peak memory does not depend on scheduling. */
    while (atomic_load(&b->pending) > 2 && !atomic_load(&done[(tid + 1) % T])) {
      freed += drain(&box[tid]);
      sched_yield();
    }
    /* The next thread has finished: do not let its mailbox grow. */
    if (atomic_load(&done[(tid + 1) % T])) freed += drain(b);
    freed += drain(&box[tid]);
  }
  atomic_store(&done[tid], 1);
  free(slot);
  free(sz);
  atomic_fetch_add(&total, made);
  atomic_fetch_add(&tfreed, freed);
  return NULL;
}

int main(int argc, char** argv) {
  T = argl(argc, argv, 1, 2);
  LOOPS = argl(argc, argv, 2, 200);
  NBLK = argl(argc, argv, 3, 8000);
  pthread_t th[64];
  for (long t = 0; t < T; t++) pthread_mutex_init(&box[t].m, NULL);
  for (long t = 0; t < T; t++) pthread_create(&th[t], NULL, worker, (void*)t);
  for (long t = 0; t < T; t++) pthread_join(th[t], NULL);
  for (long t = 0; t < T; t++) atomic_fetch_add(&tfreed, drain(&box[t]));
  printf("rptest checksum made=%llu freed=%llu\n", (unsigned long long)atomic_load(&total),
         (unsigned long long)atomic_load(&tfreed));
  return 0;
}
