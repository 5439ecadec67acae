/* This file contains sh8bench, a stress shape in the style of MicroQuill's
 * sh8bench (as in mimalloc-bench), a C program for timing an allocator under
 * LD_PRELOAD: each thread, at every iteration, three times allocates an array
 * of blocks of 1 B to a maximum size (the sizes stepping through the range) and
 * hands it to the next thread (in a ring, through a queue of 4 arrays), which
 * frees its blocks: in the order they were allocated, in reverse, or the even
 * ones and then the odd ones. So every block is freed by a thread that did not
 * allocate it (docs/BENCHMARKS.md, "Stress shapes: a third round").
 *
 *   sh8bench [threads (default 2, at most 64)] [iterations per thread (300)]
 *            [blocks per array (5000)] [largest block in bytes (1000)]
 *
 * Prints "sh8bench checksum %016llx", a hash of the bytes written, the same
 * under every allocator.
 */
#include "shapes_common.h"

#define QCAP 4

/* An array of blocks and their sizes, and the order to free them in. */
typedef struct {
  char** mp;
  size_t* ms;
  long n;
  int order;
} batch_t;

/* A thread's queue of the arrays handed to it. */
typedef struct {
  pthread_mutex_t m;
  pthread_cond_t c;
  batch_t q[QCAP];
  int head, cnt;
} queue_t;

static queue_t qs[64];
static long T, ITERS, NB, MAXSZ;
static uint64_t sums[64];

/* Appends b to q, waiting while q is full. */
static void qput(queue_t* q, batch_t b) {
  pthread_mutex_lock(&q->m);
  while (q->cnt == QCAP) pthread_cond_wait(&q->c, &q->m);
  q->q[(q->head + q->cnt) % QCAP] = b;
  q->cnt++;
  pthread_cond_broadcast(&q->c);
  pthread_mutex_unlock(&q->m);
}

/* Takes the oldest batch of q into *b, waiting for one if block is set; returns
 * whether it took one. */
static int qtryget(queue_t* q, batch_t* b, int block) {
  pthread_mutex_lock(&q->m);
  while (block && q->cnt == 0) pthread_cond_wait(&q->c, &q->m);
  int ok = q->cnt > 0;
  if (ok) {
    *b = q->q[q->head];
    q->head = (q->head + 1) % QCAP;
    q->cnt--;
    pthread_cond_broadcast(&q->c);
  }
  pthread_mutex_unlock(&q->m);
  return ok;
}

/* Frees the blocks of b in its order and b's arrays; returns h plus the bytes read. */
static uint64_t free_batch(batch_t b, uint64_t h) {
  char** mp = b.mp;
  size_t* ms = b.ms;
  long n = b.n;
  if (b.order == 0) {
    for (long i = 0; i < n; i++) {
      h += (unsigned char)mp[i][0] + (unsigned char)mp[i][ms[i] - 1];
      free(mp[i]);
    }
  } else if (b.order == 1) {
    for (long i = n - 1; i >= 0; i--) {
      h += (unsigned char)mp[i][0] + (unsigned char)mp[i][ms[i] - 1];
      free(mp[i]);
    }
  } else {
    for (long i = 0; i < n; i += 2) {
      h += (unsigned char)mp[i][0];
      free(mp[i]);
    }
    for (long i = 1; i < n; i += 2) {
      h += (unsigned char)mp[i][0];
      free(mp[i]);
    }
  }
  free(ms);
  free(mp);
  return h;
}

static void* worker(void* arg) {
  long tid = (long)arg;
  uint64_t h = 0, sz = 1 + tid * 37;
  queue_t *out = &qs[(tid + 1) % T], *in = &qs[tid];
  long got = 0;
  batch_t b = {NULL, NULL, 0, 0};
  for (long it = 0; it < ITERS; it++) {
    for (int order = 0; order < 3; order++) {
      char** mp = xmalloc(NB * sizeof(char*));
      size_t* ms = xmalloc(NB * sizeof(size_t));
      sz = fill_blocks(mp, ms, NB, sz, MAXSZ, it);
      /* The whole array goes to the next thread; free what this one was handed. */
      qput(out, (batch_t){mp, ms, NB, order});
      while (qtryget(in, &b, 0)) {
        h = free_batch(b, h);
        got++;
      }
    }
  }
  while (got < ITERS * 3) {
    qtryget(in, &b, 1);
    h = free_batch(b, h);
    got++;
  }
  sums[tid] = h;
  return NULL;
}

int main(int argc, char** argv) {
  T = argl(argc, argv, 1, 2);
  ITERS = argl(argc, argv, 2, 300);
  NB = argl(argc, argv, 3, 5000);
  MAXSZ = argl(argc, argv, 4, 1000);
  for (long t = 0; t < T; t++) {
    pthread_mutex_init(&qs[t].m, NULL);
    pthread_cond_init(&qs[t].c, NULL);
  }
  const uint64_t h = run_workers(T, worker, sums);
  printf("sh8bench checksum %016llx\n", (unsigned long long)h);
  return 0;
}
