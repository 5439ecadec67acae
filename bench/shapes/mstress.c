/* This file contains mstress, a stress shape after mimalloc's test/test-stress.c,
 * a C program for timing an allocator under LD_PRELOAD: threads created in
 * rounds, each allocating with calloc blocks of 1 to 16 words (1 to 64 for
 * those it retains to its end), of which 1% are 100 times larger, 0.1% 1,000
 * times and 0.01% 10,000 times; filling them with a pattern that is checked when
 * they are freed; freeing random ones; and exchanging pointers with other
 * threads, of its round and of later ones, through a shared array of 1,000
 * slots, so blocks are freed by threads that did not allocate them
 * (docs/BENCHMARKS.md, "Stress shapes: a third round").
 *
 *   mstress [threads per round (default 4, at most 256)] [scale (50)] [rounds (20)]
 *
 * A thread makes 100 * scale * (n % 8 + 1) allocations and half as many
 * retained ones, n being its index counted over all rounds. Prints "mstress items allocated %llu freed %llu",
 * the words allocated and freed, the same under every allocator (and equal to each other); aborts with a
 * message if a block is not zeroed or its pattern has changed.
 */
#include "shapes_common.h"

#define TRANSFERS 1000

static long THREADS, SCALE, ITER;
static const uintptr_t cookie = 0xbf58476d1ce4e5b9ULL;
static _Atomic(void*) transfer[TRANSFERS];
static _Atomic uint64_t freed_items, alloc_items_total;

static inline uint64_t pick(uint64_t* r) { return rng_next(r); }

static inline int chance(size_t perc, uint64_t* r) { return (pick(r) % 100) < perc; }

static void* alloc_items(size_t items, uint64_t* r) {
  if (chance(1, r)) {
    if (chance(1, r))
      items *= 10000; /* 0.01% giant */
    else if (chance(10, r))
      items *= 1000; /* 0.1% huge */
    else
      items *= 100; /* 1% large */
  }
  if (items == 40) items++;
  uintptr_t* p = xcalloc(items, sizeof(uintptr_t));
  for (uintptr_t i = 0; i < items; i++) {
    if (p[i] != 0) {
      fprintf(stderr, "calloc not zero\n");
      abort();
    }
    p[i] = (items - i) ^ cookie;
  }
  atomic_fetch_add_explicit(&alloc_items_total, items, memory_order_relaxed);
  return p;
}

static void free_items(void* p) {
  if (p) {
    uintptr_t* q = p;
    uintptr_t items = q[0] ^ cookie;
    for (uintptr_t i = 0; i < items; i++)
      if ((q[i] ^ cookie) != items - i) {
        fprintf(stderr, "memory corruption at %p %zu\n", p, (size_t)i);
        abort();
      }
    atomic_fetch_add_explicit(&freed_items, items, memory_order_relaxed);
  }
  free(p);
}

static void* stress(void* arg) {
  intptr_t tid = (intptr_t)arg;
  uint64_t r = (tid + 1) * 43;
  const size_t max_item_shift = 5, max_item_retained_shift = max_item_shift + 2;
  size_t allocs = 100 * (size_t)SCALE * (tid % 8 + 1), retain = allocs / 2;
  void** data = NULL;
  size_t data_size = 0, data_top = 0;
  void** retained = xcalloc(retain, sizeof(void*));
  size_t retain_top = 0;
  while (allocs > 0 || retain > 0) {
    if (retain == 0 || (chance(50, &r) && allocs > 0)) {
      allocs--;
      if (data_top >= data_size) {
        data_size += 100000;
        data = xrealloc(data, data_size * sizeof(void*));
      }
      data[data_top++] = alloc_items(1ULL << (pick(&r) % max_item_shift), &r);
    } else {
      retained[retain_top++] = alloc_items(1ULL << (pick(&r) % max_item_retained_shift), &r);
      retain--;
    }
    if (chance(66, &r) && data_top > 0) {
      size_t idx = pick(&r) % data_top;
      free_items(data[idx]);
      data[idx] = NULL;
    }
    if (chance(25, &r) && data_top > 0) {
      size_t di = pick(&r) % data_top;
      size_t ti = pick(&r) % TRANSFERS;
      data[di] = atomic_exchange(&transfer[ti], data[di]);
    }
  }
  for (size_t i = 0; i < retain_top; i++) free_items(retained[i]);
  for (size_t i = 0; i < data_top; i++) free_items(data[i]);
  free(retained);
  free(data);
  return NULL;
}

int main(int argc, char** argv) {
  THREADS = argl(argc, argv, 1, 4);
  SCALE = argl(argc, argv, 2, 50);
  ITER = argl(argc, argv, 3, 20);
  uint64_t r = 42;
  for (long n = 0; n < ITER; n++) {
    pthread_t th[256];
    for (long t = 0; t < THREADS; t++)
      pthread_create(&th[t], NULL, stress, (void*)(intptr_t)(n * THREADS + t));
    for (long t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    /* Half the transfer slots are emptied after each round, all after the last. */
    for (int i = 0; i < TRANSFERS; i++)
      if (chance(50, &r) || n + 1 == ITER) free_items(atomic_exchange(&transfer[i], NULL));
  }
  printf("mstress items allocated %llu freed %llu\n", (unsigned long long)alloc_items_total,
         (unsigned long long)freed_items);
  return 0;
}
