/* This file contains realloc-mix, a C program that checks and times an
 * allocator under LD_PRELOAD on a random mix of calls over blocks of 0 B to
 * 8 MiB, sizes near the boundaries allocators switch at (16 KiB, 64 KiB, 1, 2,
 * 4 MiB): each of `threads` threads keeps 256 blocks and, per step, frees one
 * (free, free_sized or free_aligned_sized where the C library has them), resizes
 * one with realloc, or replaces one by malloc, calloc or posix_memalign
 * (alignments up to 4 MiB). Every block is written whole and checked before its
 * next use: contents kept by realloc, calloc zeroed, alignment, usable size.
 * Prints "ok" (docs/BENCHMARKS.md, "Buffers grown by realloc").
 *
 *   realloc_mix [threads (default 2)] [steps per thread (default 20000)]
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* C23's sized frees, when the library provides them (tslab's override does). */
void free_sized(void* p, size_t size) __attribute__((weak));
void free_aligned_sized(void* p, size_t alignment, size_t size) __attribute__((weak));

enum { BLOCKS = 256 };

struct block {
  unsigned char* p;
  size_t size, alignment;
  unsigned char tag;
};

static long steps = 20000;

static uint64_t next_random(uint64_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static size_t draw_size(uint64_t* s) {
  static const size_t base[] = {0,
                                1,
                                8,
                                16,
                                17,
                                1024,
                                4096,
                                16384,
                                16385,
                                32768,
                                65535,
                                65536,
                                65537,
                                131072,
                                1 << 20,
                                (1 << 20) + 1,
                                2 << 20,
                                (2 << 20) + 1,
                                4 << 20,
                                (4 << 20) - 1,
                                (4 << 20) + 1,
                                8 << 20};
  const size_t b = base[next_random(s) % (sizeof base / sizeof base[0])];
  long delta = (long)(next_random(s) % 64) - 32;
  if (next_random(s) % 3 == 0 || (long)b + delta < 0) delta = 0;
  return (size_t)((long)b + delta);
}

static void fail(const char* what, const struct block* b) {
  fprintf(stderr, "realloc_mix: %s (block %p of %zu B, alignment %zu)\n", what, (void*)b->p, b->size,
          b->alignment);
  abort();
}

static void check(const struct block* b) {
  for (size_t i = 0; i < b->size; ++i)
    if (b->p[i] != b->tag) fail("contents changed", b);
  if (malloc_usable_size(b->p) < b->size) fail("usable size below the size asked", b);
  if (b->alignment != 0 && (uintptr_t)b->p % b->alignment != 0) fail("misaligned", b);
}

static void release(struct block* b, int how) {
  if (how == 1 && free_sized != NULL)
    free_sized(b->p, b->size);
  else if (how == 2 && free_aligned_sized != NULL && b->alignment != 0)
    free_aligned_sized(b->p, b->alignment, b->size);
  else
    free(b->p);
  b->p = NULL;
}

static void* work(void* arg) {
  uint64_t seed = (uintptr_t)arg * 2654435761u + 1;
  struct block* blocks = calloc(BLOCKS, sizeof *blocks);
  if (blocks == NULL) abort();
  for (long i = 0; i < steps; ++i) {
    struct block* b = &blocks[next_random(&seed) % BLOCKS];
    const int op = (int)(next_random(&seed) % 8);
    if (b->p != NULL) check(b);
    if (op < 3 && b->p != NULL) {
      release(b, op);
      continue;
    }
    if (op < 5 && b->p != NULL) {
      const size_t size = draw_size(&seed);
      unsigned char* q = realloc(b->p, size);
      if (size == 0) { /* glibc's realloc(p, 0) frees p (and may return NULL) */
        if (q != NULL) free(q);
        b->p = NULL;
        continue;
      }
      if (q == NULL) fail("realloc refused", b);
      const size_t kept = size < b->size ? size : b->size;
      for (size_t k = 0; k < kept; ++k)
        if (q[k] != b->tag) fail("realloc lost the contents", b);
      b->p = q;
      b->size = size;
      b->alignment = 0;
      b->tag++;
      memset(b->p, b->tag, b->size);
      continue;
    }
    if (b->p != NULL) free(b->p);
    const size_t size = draw_size(&seed);
    const int kind = (int)(next_random(&seed) % 4);
    size_t alignment = 0;
    if (kind == 0) {
      b->p = malloc(size);
    } else if (kind == 1) {
      b->p = calloc(1, size);
    } else {
      alignment = (size_t)1 << (next_random(&seed) % 23);
      if (alignment < sizeof(void*)) alignment = sizeof(void*);
      void* p = NULL;
      if (posix_memalign(&p, alignment, size) != 0) p = NULL;
      b->p = p;
    }
    b->size = size;
    b->alignment = alignment;
    if (b->p == NULL) fail("allocation refused", b);
    if (kind == 1)
      for (size_t k = 0; k < size; ++k)
        if (b->p[k] != 0) fail("calloc not zeroed", b);
    b->tag = (unsigned char)next_random(&seed);
    memset(b->p, b->tag, b->size);
  }
  for (int i = 0; i < BLOCKS; ++i)
    if (blocks[i].p != NULL) {
      check(&blocks[i]);
      free(blocks[i].p);
    }
  free(blocks);
  return NULL;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 2;
  if (argc > 2) steps = atol(argv[2]);
  if (threads < 1 || threads > 64 || steps < 1) {
    fprintf(stderr, "usage: realloc_mix [threads 1-64] [steps per thread]\n");
    return 2;
  }
  pthread_t tid[64];
  for (int t = 0; t < threads; ++t) pthread_create(&tid[t], NULL, work, (void*)(uintptr_t)(t + 1));
  for (int t = 0; t < threads; ++t) pthread_join(tid[t], NULL);
  puts("ok");
  return 0;
}
