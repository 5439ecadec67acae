/* This file contains the C API test, compiled as C11: it calls every function
 * of slab_alloc.h, epoch_domain.h, slab_arena.h and tslab/error.h and checks the results. It returns non-zero
 * on the first failed check of any section and prints where that check is. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epoch_domain.h"
#include "slab_alloc.h"
#include "slab_arena.h"
#include "tslab/error.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                                \
    }                                                                          \
  } while (0)

#define CHECK_ERR(expected) CHECK(slab_last_error() == (expected))

static int allocator_ok(SlabAllocator* a) {
  char msg[256] = {0};
  if (!slab_check(a, msg, sizeof msg)) {
    fprintf(stderr, "slab_check: %s\n", msg);
    return 0;
  }
  return 1;
}

static int test_lifetime(void) {
  SlabAllocator* a = slab_allocator_create();
  CHECK(a != NULL);
  CHECK(slab_epoch_count(a) == SLAB_DEFAULT_EPOCH_COUNT);
  slab_allocator_free(a);

  SlabAllocatorOptions o;
  memset(&o, 0, sizeof o);
  a = slab_allocator_create_with(&o);
  CHECK(a != NULL);
  CHECK(slab_epoch_count(a) == SLAB_DEFAULT_EPOCH_COUNT);
  slab_allocator_free(a);

  o.epoch_count = 3;
  a = slab_allocator_create_with(&o);
  CHECK(a != NULL);
  CHECK(slab_epoch_count(a) == 3);
  slab_allocator_free(a);

  o.epoch_count = SLAB_MAX_EPOCH_COUNT;
  a = slab_allocator_create_with(&o);
  CHECK(a != NULL);
  CHECK(slab_epoch_count(a) == SLAB_MAX_EPOCH_COUNT);
  slab_allocator_free(a);

  o.epoch_count = SLAB_MAX_EPOCH_COUNT + 1;
  CHECK(slab_allocator_create_with(&o) == NULL);
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  return 0;
}

static int test_handles(void) {
  SlabAllocator* a = slab_allocator_create();
  CHECK(a != NULL);
  SlabHandle h = 0;
  void* p = alloc_obj_epoch(a, 100, 0, &h);
  CHECK(p != NULL);
  CHECK(h != 0);
  CHECK(((uintptr_t)p & 15u) == 0);
  CHECK(slab_usable_size(a, p) == 112);
  memset(p, 0x7E, 100);
  CHECK(slab_handle_to_ptr(a, h) == p);
  CHECK(slab_ptr_to_handle(a, p) == h);
  CHECK(free_obj(a, h));
  CHECK(slab_handle_to_ptr(a, h) == NULL);
  CHECK(slab_ptr_to_handle(a, p) == 0);
  CHECK(!free_obj(a, h));
  CHECK_ERR(TSLAB_ERR_DOUBLE_FREE);
  CHECK(!free_obj(a, 0));
  CHECK_ERR(TSLAB_ERR_INVALID_HANDLE);
  CHECK(slab_handle_to_ptr(a, 0) == NULL);

  CHECK(alloc_obj_epoch(a, 0, 0, &h) == NULL);
  CHECK_ERR(TSLAB_ERR_SIZE_ZERO);
  CHECK(alloc_obj_epoch(a, 64, SLAB_DEFAULT_EPOCH_COUNT, &h) == NULL);
  CHECK_ERR(TSLAB_ERR_EPOCH_OUT_OF_RANGE);

  /* A large block by handle. */
  p = alloc_obj_epoch(a, 200000, 1, &h);
  CHECK(p != NULL && h != 0);
  CHECK(slab_usable_size(a, p) >= 200000);
  CHECK(slab_handle_to_ptr(a, h) == p);
  CHECK(free_obj(a, h));
  CHECK(!free_obj(a, h));

  /* Another allocator's handle. */
  SlabAllocator* b = slab_allocator_create();
  CHECK(b != NULL);
  p = alloc_obj_epoch(a, 64, 0, &h);
  CHECK(p != NULL);
  CHECK(!free_obj(b, h));
  CHECK_ERR(TSLAB_ERR_FOREIGN);
  CHECK(slab_handle_to_ptr(b, h) == NULL);
  CHECK(slab_ptr_to_handle(b, p) == 0);
  CHECK(free_obj(a, h));
  CHECK(allocator_ok(a));
  CHECK(allocator_ok(b));
  slab_allocator_free(b);
  slab_allocator_free(a);
  return 0;
}

static int test_pointers(void) {
  SlabAllocator* a = slab_allocator_create();
  CHECK(a != NULL);
  char* p = (char*)slab_malloc_epoch(a, 128, 0);
  CHECK(p != NULL);
  CHECK(slab_usable_size(a, p) == 128);
  CHECK(!slab_free_checked(a, p + 1));
  CHECK_ERR(TSLAB_ERR_INTERIOR_POINTER);
  CHECK(!slab_free_checked(a, p + 16));
  CHECK_ERR(TSLAB_ERR_INTERIOR_POINTER);
  CHECK(slab_usable_size(a, p + 16) == 0);
  CHECK(slab_free_checked(a, p));
  CHECK(!slab_free_checked(a, p));
  CHECK_ERR(TSLAB_ERR_DOUBLE_FREE);
  CHECK(slab_free_checked(a, NULL));
  slab_free(a, NULL);

  int local = 0;
  CHECK(!slab_free_checked(a, &local));
  CHECK_ERR(TSLAB_ERR_NOT_ALLOCATED);
  void* m = malloc(64);
  CHECK(m != NULL);
  CHECK(!slab_free_checked(a, m));
  CHECK_ERR(TSLAB_ERR_NOT_ALLOCATED);
  slab_free(a, m); /* no-op with an error */
  CHECK_ERR(TSLAB_ERR_NOT_ALLOCATED);
  free(m);
  CHECK(slab_usable_size(a, &local) == 0);

  /* Size 0 through the malloc-style API: NULL, TSLAB_ERR_SIZE_ZERO (temporal-slab's
   * contract); through the aligned one: a unique block. */
  CHECK(slab_malloc_epoch(a, 0, 0) == NULL);
  CHECK_ERR(TSLAB_ERR_SIZE_ZERO);
  CHECK(slab_malloc_epoch(a, 0, 1) == NULL);
  CHECK_ERR(TSLAB_ERR_SIZE_ZERO);
  void* z1 = slab_malloc_aligned_epoch(a, 0, 16, 0);
  void* z2 = slab_malloc_aligned_epoch(a, 0, 16, 0);
  CHECK(z1 != NULL && z2 != NULL && z1 != z2);
  slab_free(a, z1);
  CHECK(slab_usable_size(a, z1) == 0);
  CHECK(slab_free_checked(a, z2));

  for (size_t al = 1; al <= ((size_t)1 << 20); al <<= 1) {
    void* q = slab_malloc_aligned_epoch(a, 1000, al, 2);
    CHECK(q != NULL);
    CHECK(((uintptr_t)q & (al - 1)) == 0);
    CHECK(slab_usable_size(a, q) >= 1000);
    CHECK(slab_free_checked(a, q));
  }
  CHECK(slab_malloc_aligned_epoch(a, 64, 0, 0) == NULL);
  CHECK_ERR(TSLAB_ERR_BAD_ALIGNMENT);
  CHECK(slab_malloc_aligned_epoch(a, 64, 48, 0) == NULL);
  CHECK_ERR(TSLAB_ERR_BAD_ALIGNMENT);
  CHECK(slab_malloc_aligned_epoch(a, SIZE_MAX - 10, 64, 0) == NULL);
  CHECK_ERR(TSLAB_ERR_SIZE_TOO_LARGE);
  CHECK(slab_malloc_epoch(a, SIZE_MAX, 0) == NULL);
  CHECK_ERR(TSLAB_ERR_SIZE_TOO_LARGE);
  CHECK(slab_malloc_epoch(a, (size_t)1 << 62, 0) == NULL);
  CHECK(slab_last_error() == TSLAB_ERR_OUT_OF_MEMORY || slab_last_error() == TSLAB_ERR_SIZE_TOO_LARGE);

  /* A foreign pointer. */
  SlabAllocator* b = slab_allocator_create();
  CHECK(b != NULL);
  void* q = slab_malloc_epoch(a, 64, 0);
  CHECK(q != NULL);
  CHECK(!slab_free_checked(b, q));
  CHECK_ERR(TSLAB_ERR_FOREIGN);
  CHECK(slab_usable_size(a, q) == 64);
  slab_free(a, q);
  CHECK(slab_usable_size(a, q) == 0);
  slab_allocator_free(b);

  /* Large spans. */
  char* big = (char*)slab_malloc_epoch(a, 1u << 20, 1);
  CHECK(big != NULL);
  big[0] = 1;
  big[(1u << 20) - 1] = 2;
  CHECK(slab_usable_size(a, big) >= (1u << 20));
  CHECK(!slab_free_checked(a, big + 4096));
  CHECK_ERR(TSLAB_ERR_INTERIOR_POINTER);
  CHECK(slab_free_checked(a, big));
  CHECK(!slab_free_checked(a, big));
  CHECK_ERR(TSLAB_ERR_DOUBLE_FREE);
  CHECK(allocator_ok(a));
  slab_allocator_free(a);
  return 0;
}

static int test_epochs(void) {
  SlabAllocator* a = slab_allocator_create();
  CHECK(a != NULL);
  CHECK(epoch_current(a) == 0);
  uint64_t max_era = 0;
  for (EpochId e = 0; e < slab_epoch_count(a); ++e) {
    CHECK(slab_epoch_state(a, e) == EPOCH_ACTIVE);
    CHECK(slab_epoch_era(a, e) >= 1);
    for (EpochId f = 0; f < e; ++f) CHECK(slab_epoch_era(a, e) != slab_epoch_era(a, f));
    if (slab_epoch_era(a, e) > max_era) max_era = slab_epoch_era(a, e);
  }
  CHECK(slab_epoch_era(a, slab_epoch_count(a)) == 0);

  SlabHandle h = 0;
  void* old_block = alloc_obj_epoch(a, 64, 0, &h);
  CHECK(old_block != NULL);
  for (int i = 0; i < 40; ++i) {
    const EpochId prev = epoch_current(a);
    const EpochId next = epoch_advance(a);
    CHECK(next == (prev + 1) % SLAB_DEFAULT_EPOCH_COUNT);
    CHECK(epoch_current(a) == next);
    CHECK(slab_epoch_state(a, prev) == EPOCH_CLOSING);
    CHECK(slab_epoch_state(a, next) == EPOCH_ACTIVE);
    CHECK(slab_epoch_era(a, next) > max_era);
    max_era = slab_epoch_era(a, next);
    CHECK(slab_malloc_epoch(a, 64, prev) == NULL);
    CHECK_ERR(TSLAB_ERR_EPOCH_CLOSING);
    void* p = slab_malloc_epoch(a, 64, next);
    CHECK(p != NULL);
    CHECK(slab_free_checked(a, p));
  }
  /* Frees into a CLOSING epoch succeed. */
  CHECK(slab_epoch_state(a, 0) == EPOCH_CLOSING);
  CHECK(free_obj(a, h));

  const EpochId cur = epoch_current(a);
  const EpochId other = (cur + 3) % SLAB_DEFAULT_EPOCH_COUNT;
  CHECK(epoch_close(a, other));
  CHECK(slab_epoch_state(a, other) == EPOCH_CLOSING);
  CHECK(alloc_obj_epoch(a, 64, other, &h) == NULL);
  CHECK_ERR(TSLAB_ERR_EPOCH_CLOSING);
  CHECK(slab_malloc_aligned_epoch(a, 64, 64, other) == NULL);
  CHECK_ERR(TSLAB_ERR_EPOCH_CLOSING);
  CHECK(!epoch_close(a, SLAB_DEFAULT_EPOCH_COUNT));
  CHECK_ERR(TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  CHECK(allocator_ok(a));
  slab_allocator_free(a);
  return 0;
}

static int test_classes_and_counters(void) {
  CHECK(slab_size_class_count() == 80);
  CHECK(slab_class_size(0) == 16);
  CHECK(slab_class_size(7) == 128);
  CHECK(slab_class_size(8) == 144);
  CHECK(slab_class_size(63) == 16384);
  CHECK(slab_class_size(64) == 18432);
  CHECK(slab_class_size(79) == 65536);
  CHECK(slab_class_size(80) == 0);
  CHECK(slab_size_class_of(1) == 0);
  CHECK(slab_size_class_of(16) == 0);
  CHECK(slab_size_class_of(17) == 1);
  CHECK(slab_size_class_of(129) == 8);
  CHECK(slab_size_class_of(16384) == 63);
  CHECK(slab_size_class_of(16385) == 64);
  CHECK(slab_size_class_of(65536) == 79);
  CHECK(slab_size_class_of(65537) == slab_size_class_count());
  CHECK(slab_object_count(0) == 0);
  CHECK(slab_object_count(16) == 4096);
  CHECK(slab_object_count(129) == SLAB_PAGE_SIZE / 144);
  CHECK(slab_object_count(16384) == 4);
  CHECK(slab_object_count(20000) == 3);
  CHECK(slab_object_count(65536) == 1);
  CHECK(slab_object_count(65537) == 0);

  SlabAllocator* a = slab_allocator_create();
  CHECK(a != NULL);
  PerfCounters pc;
  memset(&pc, 0xFF, sizeof pc);
  CHECK(get_perf_counters(a, 3, &pc));
  CHECK(pc.new_slab_count == 0);
  void* blocks[3000];
  for (int i = 0; i < 3000; ++i) {
    blocks[i] = slab_malloc_epoch(a, 64, 0);
    CHECK(blocks[i] != NULL);
  }
  CHECK(get_perf_counters(a, slab_size_class_of(64), &pc));
  CHECK(pc.new_slab_count >= 3000 / slab_object_count(64));
  CHECK(pc.slow_path_hits > 0);
  for (int i = 0; i < 3000; ++i) CHECK(slab_free_checked(a, blocks[i]));
  CHECK(!get_perf_counters(a, slab_size_class_count(), &pc));
  CHECK(!get_perf_counters(a, 0, NULL));
  CHECK(!get_perf_counters(NULL, 0, &pc));
  CHECK(slab_check(a, NULL, 0));
  CHECK(allocator_ok(a));
  slab_allocator_free(a);
  return 0;
}

static int test_errors_and_utilities(void) {
  for (int e = TSLAB_OK; e <= TSLAB_ERR_DOUBLE_FREE; ++e) {
    const char* s = slab_error_string((TslabError)e);
    CHECK(s != NULL);
    CHECK(s[0] != '\0');
  }
  CHECK(strcmp(slab_error_string(TSLAB_OK), slab_error_string(TSLAB_ERR_DOUBLE_FREE)) != 0);
  /* Any int is a value of the type in C, and the library, in C++, must take it. */
  volatile int unknown = 99;
  CHECK(slab_error_string((TslabError)unknown) != NULL);
  CHECK(read_rss_bytes_linux() > 0);
  uint64_t t0 = now_ns();
  for (int i = 0; i < 1000; ++i) {
    uint64_t t1 = now_ns();
    CHECK(t1 >= t0);
    t0 = t1;
  }
  return 0;
}

struct CrossThread {
  SlabAllocator* a;
  SlabHandle handles[1000];
  void* ptrs[1000];
  int failures;
};

static void* free_from_other_thread(void* arg) {
  struct CrossThread* c = (struct CrossThread*)arg;
  for (int i = 0; i < 1000; ++i) {
    if (i % 2 == 0) {
      if (!free_obj(c->a, c->handles[i])) ++c->failures;
    } else {
      if (!slab_free_checked(c->a, c->ptrs[i])) ++c->failures;
    }
  }
  return NULL;
}

static int test_cross_thread(void) {
  static struct CrossThread c;
  c.a = slab_allocator_create();
  CHECK(c.a != NULL);
  c.failures = 0;
  for (int i = 0; i < 1000; ++i) {
    c.ptrs[i] = alloc_obj_epoch(c.a, (uint32_t)(16 + i), 0, &c.handles[i]);
    CHECK(c.ptrs[i] != NULL);
  }
  pthread_t t;
  CHECK(pthread_create(&t, NULL, free_from_other_thread, &c) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(c.failures == 0);
  for (int i = 0; i < 1000; ++i) CHECK(slab_handle_to_ptr(c.a, c.handles[i]) == NULL);
  CHECK(allocator_ok(c.a));
  slab_allocator_free(c.a);
  return 0;
}

/* NULL allocators are reported as invalid arguments, never dereferenced. */
static int test_null_allocator(void) {
  SlabHandle h = 0;
  CHECK(alloc_obj_epoch(NULL, 64, 0, &h) == NULL);
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  CHECK(!free_obj(NULL, 1));
  CHECK(slab_malloc_epoch(NULL, 64, 0) == NULL);
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  CHECK(slab_usable_size(NULL, &h) == 0);
  CHECK(!slab_check(NULL, NULL, 0));
  return 0;
}

/* The allocator's name: copied, at most 31 bytes, no control characters. */
static int test_allocator_name(void) {
  SlabAllocator* a = slab_allocator_create();
  CHECK(a != NULL);
  char buf[SLAB_ALLOCATOR_NAME_SIZE];
  memset(buf, 'x', sizeof buf);
  CHECK(slab_allocator_name(a, buf, sizeof buf) == 0 && buf[0] == '\0'); /* never named */
  char name[] = "request cache";
  CHECK(slab_allocator_set_name(a, name));
  name[0] = 'R'; /* the allocator keeps its own copy */
  CHECK(slab_allocator_name(a, buf, sizeof buf) == 13 && strcmp(buf, "request cache") == 0);
  CHECK(slab_allocator_name(a, NULL, 0) == 13);
  char small[5];
  CHECK(slab_allocator_name(a, small, sizeof small) == 13 && strcmp(small, "requ") == 0);
  /* 31 bytes fit; 32 are refused and the old name stays. */
  char longest[32];
  memset(longest, 'n', 31);
  longest[31] = '\0';
  CHECK(slab_allocator_set_name(a, longest));
  CHECK(slab_allocator_name(a, buf, sizeof buf) == 31 && strcmp(buf, longest) == 0);
  char too_long[33];
  memset(too_long, 'm', 32);
  too_long[32] = '\0';
  CHECK(!slab_allocator_set_name(a, too_long));
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  CHECK(slab_allocator_name(a, buf, sizeof buf) == 31 && strcmp(buf, longest) == 0);
  /* Control characters are refused, anywhere in the name. */
  CHECK(!slab_allocator_set_name(a, "line\nbreak"));
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  CHECK(!slab_allocator_set_name(a, "\tab"));
  CHECK(!slab_allocator_set_name(a, "del\x7f"));
  CHECK(!slab_allocator_set_name(a, "\x1b[2J"));
  CHECK(strcmp(buf, longest) == 0 && slab_allocator_name(a, NULL, 0) == 31);
  /* UTF-8 and quotes are names like any other. */
  CHECK(slab_allocator_set_name(a, "caf\xC3\xA9 \"q\""));
  CHECK(slab_allocator_name(a, buf, sizeof buf) == 9 && strcmp(buf, "caf\xC3\xA9 \"q\"") == 0);
  /* NULL and "" clear it. */
  CHECK(slab_allocator_set_name(a, NULL));
  CHECK(slab_allocator_name(a, buf, sizeof buf) == 0 && buf[0] == '\0');
  CHECK(slab_allocator_set_name(a, "x") && slab_allocator_set_name(a, ""));
  CHECK(slab_allocator_name(a, NULL, 0) == 0);
  slab_allocator_free(a);
  /* A NULL or destroyed allocator. */
  CHECK(!slab_allocator_set_name(NULL, "x"));
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  memset(buf, 'x', sizeof buf);
  CHECK(slab_allocator_name(NULL, buf, sizeof buf) == 0 && buf[0] == '\0');
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  CHECK(!slab_allocator_set_name(a, "x"));
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  return 0;
}

static int test_lifecycle(void) {
  SlabAllocator* a = slab_allocator_create();
  CHECK(a != NULL);
  /* Fill and empty epoch 2, then close it by era: its pages go back. */
  enum { N = 20000 };
  static void* blocks[N];
  for (int i = 0; i < N; ++i) {
    blocks[i] = slab_malloc_epoch(a, 256, 2);
    CHECK(blocks[i] != NULL);
    memset(blocks[i], 7, 256);
  }
  const uint64_t full = slab_resident_bytes(a);
  CHECK(full >= (uint64_t)N * 256);
  for (int i = 0; i < N; ++i) CHECK(slab_free_checked(a, blocks[i]));
  const uint64_t era = slab_epoch_era(a, 2);
  CHECK(slab_epoch_set_label(a, 2, "batch"));
  CHECK(epoch_close_era(a, 2, era));
  /* Everything but the warm reserve goes back. */
  CHECK(slab_resident_bytes(a) < full / 4 + slab_warm_reserve(a));
  SlabEpochInfo info;
  CHECK(slab_epoch_info(a, 2, &info));
  CHECK(info.state == EPOCH_CLOSING && info.era == era && info.live_count == 0);
  CHECK(strcmp(info.label, "batch") == 0);
  /* A stale era is refused. */
  CHECK(!epoch_close_era(a, 2, era + 1000));
  CHECK_ERR(TSLAB_ERR_STALE_EPOCH);
  /* Refcounts. */
  CHECK(slab_epoch_inc_refcount(a, 3) == 1);
  CHECK(slab_epoch_get_refcount(a, 3) == 1);
  CHECK(slab_epoch_dec_refcount(a, 3) == 0);
  /* collect() in an open epoch. */
  for (int i = 0; i < N; ++i) blocks[i] = slab_malloc_epoch(a, 128, 4);
  for (int i = 0; i < N; ++i) CHECK(slab_free_checked(a, blocks[i]));
  CHECK(slab_collect(a) > 0);
  CHECK(allocator_ok(a));
  slab_allocator_free(a);
  return 0;
}

static int test_domains(void) {
  SlabAllocator* a = slab_allocator_create();
  CHECK(a != NULL);
  EpochDomain* d = epoch_domain_create(a);
  CHECK(d != NULL && d->alloc == a && d->epoch_id == epoch_current(a));
  CHECK(epoch_domain_enter(d));
  CHECK(epoch_domain_current() == d);
  CHECK(epoch_domain_allocator() == a);
  CHECK(slab_epoch_get_refcount(a, d->epoch_id) == 1);
  void* p = slab_malloc_epoch(a, 64, d->epoch_id);
  CHECK(p != NULL);
  CHECK(!epoch_domain_destroy(d)); /* still entered */
  CHECK_ERR(TSLAB_ERR_DOMAIN_MISUSE);
  CHECK(epoch_domain_exit(d)); /* last holder, auto-close */
  CHECK(epoch_domain_current() == NULL);
  CHECK(slab_epoch_state(a, d->epoch_id) == EPOCH_CLOSING);
  CHECK(slab_free_checked(a, p)); /* frees into a closed epoch still work */
  CHECK(epoch_domain_destroy(d));
  EpochDomain* w = epoch_domain_wrap(a, 5, false);
  CHECK(w != NULL && w->epoch_id == 5);
  CHECK(epoch_domain_force_close(w));
  CHECK(slab_epoch_state(a, 5) == EPOCH_CLOSING);
  CHECK(epoch_domain_destroy(w));
  CHECK(allocator_ok(a));
  slab_allocator_free(a);
  return 0;
}

/* --- arenas (slab_arena.h) ------------------------------------------------- */

struct ArenaWorker {
  SlabArena* arena;
  int id;
  int ok;
};

/* Fills 200 blocks of a shared arena with its id and checks they stay so. */
static void* arena_worker(void* arg) {
  struct ArenaWorker* w = (struct ArenaWorker*)arg;
  unsigned char* blocks[200];
  w->ok = 1;
  for (int i = 0; i < 200; ++i) {
    blocks[i] = (unsigned char*)slab_arena_alloc(w->arena, 48, 16);
    if (blocks[i] == NULL || ((uintptr_t)blocks[i] & 15u) != 0) {
      w->ok = 0;
      return NULL;
    }
    memset(blocks[i], w->id, 48);
  }
  for (int i = 0; i < 200; ++i)
    for (int j = 0; j < 48; ++j)
      if (blocks[i][j] != (unsigned char)w->id) w->ok = 0;
  return NULL;
}

static int test_arenas(void) {
  SlabAllocator* a = slab_allocator_create();
  CHECK(a != NULL);
  SlabArenaOptions o;
  CHECK(slab_arena_options_init(&o));
  CHECK(slab_arena_config_error() == NULL);
  CHECK(o.epoch == SLAB_ARENA_CURRENT_EPOCH && !o.shared && !o.close_epoch && o.buffer == NULL);

  /* A growing arena over chunks of the allocator. */
  o.chunk_size = 4096;
  o.overflow = TSLAB_ARENA_OVERFLOW_GROW;
  o.zero_on_reset = true;
  SlabArena* arena = slab_arena_create(a, &o);
  CHECK(arena != NULL);
  for (int i = 0; i < 100; ++i) {
    unsigned char* p = (unsigned char*)slab_arena_alloc(arena, 100, 64);
    CHECK(p != NULL && ((uintptr_t)p & 63u) == 0);
    CHECK(p[0] == 0 && p[99] == 0);
    memset(p, 0xA5, 100);
  }
  CHECK(slab_arena_alloc(arena, 8, 0) == NULL);
  CHECK_ERR(TSLAB_ERR_BAD_ALIGNMENT);
  CHECK(slab_arena_alloc(arena, 8, 24) == NULL);
  CHECK_ERR(TSLAB_ERR_BAD_ALIGNMENT);
  CHECK(slab_arena_alloc(arena, SIZE_MAX, 1) == NULL);
  CHECK_ERR(TSLAB_ERR_SIZE_TOO_LARGE);
  SlabArenaStats st;
  CHECK(slab_arena_stats(arena, &st));
  CHECK(st.bytes_used == 100u * 100u);
  CHECK(st.chunks > 1 && st.overflows == st.chunks - 1);
  CHECK(slab_arena_reset(arena));
  CHECK(slab_arena_stats(arena, &st));
  CHECK(st.bytes_used == 0 && st.chunks == 1 && st.resets == 1 && st.high_water >= 100u * 100u);
  CHECK(slab_arena_destroy(arena));
  CHECK(!slab_arena_destroy(NULL));
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  /* A policy no enumerator names: refused (any int is a value of the type in
   * C, and the library, in C++, must read it as one). */
  volatile int policy = 7;
  o.overflow = (TslabArenaOverflow)policy;
  CHECK(slab_arena_create(a, &o) == NULL);
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  o.overflow = (TslabArenaOverflow)-1;
  CHECK(slab_arena_create(a, &o) == NULL);
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  o.overflow = TSLAB_ARENA_OVERFLOW_GROW;

  /* Over a caller buffer, error policy, no allocator. */
  static unsigned char buffer[1024];
  SlabArenaOptions b;
  memset(&b, 0, sizeof b);
  b.overflow = TSLAB_ARENA_OVERFLOW_ERROR;
  b.buffer = buffer;
  b.buffer_size = sizeof buffer;
  arena = slab_arena_create(NULL, &b);
  CHECK(arena != NULL);
  CHECK(slab_arena_alloc(arena, 1000, 1) == buffer);
  CHECK(slab_arena_alloc(arena, 32, 1) == NULL);
  CHECK_ERR(TSLAB_ERR_ARENA_FULL);
  CHECK(slab_arena_destroy(arena));

  /* A shared arena, two threads at once. */
  o.shared = true;
  arena = slab_arena_create(a, &o);
  CHECK(arena != NULL);
  struct ArenaWorker w[2] = {{arena, 1, 0}, {arena, 2, 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; ++i) CHECK(pthread_create(&t[i], NULL, arena_worker, &w[i]) == 0);
  for (int i = 0; i < 2; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  CHECK(w[0].ok && w[1].ok);
  CHECK(slab_arena_stats(arena, &st));
  CHECK(st.bytes_used == 2u * 200u * 48u);
  CHECK(slab_arena_destroy(arena));

  /* An epoch arena: destroying it closes its epoch and returns its pages. */
  const uint64_t baseline = slab_resident_bytes(a);
  SlabArenaOptions e = o;
  e.shared = false;
  e.chunk_size = 1u << 20;
  e.epoch = 6;
  e.close_epoch = true;
  arena = slab_arena_create(a, &e);
  CHECK(arena != NULL);
  for (int i = 0; i < 8 * 256; ++i) {
    void* p = slab_arena_alloc(arena, 4096, 4096);
    CHECK(p != NULL);
    memset(p, 0x3C, 4096);
  }
  CHECK(slab_resident_bytes(a) >= baseline + 8u * 1024u * 1024u);
  CHECK(slab_epoch_state(a, 6) == EPOCH_ACTIVE);
  CHECK(slab_arena_destroy(arena));
  CHECK(slab_epoch_state(a, 6) == EPOCH_CLOSING);
  CHECK(slab_resident_bytes(a) < baseline + 1024u * 1024u);

  /* The thread's arena. */
  SlabArena* mine = slab_thread_arena();
  CHECK(mine != NULL && slab_thread_arena() == mine);
  CHECK(slab_thread_arena_alloc(64, 8) != NULL);
  CHECK(slab_arena_stats(mine, &st) && st.bytes_used == 64);
  CHECK(slab_thread_arena_reset());
  CHECK(slab_arena_stats(mine, &st) && st.bytes_used == 0);
  CHECK(!slab_arena_destroy(mine));
  CHECK_ERR(TSLAB_ERR_INVALID_ARGUMENT);
  CHECK(slab_thread_arena_destroy());
  CHECK(slab_thread_arena_alloc(64, 8) != NULL); /* created again */
  CHECK(slab_thread_arena_destroy());
  CHECK(allocator_ok(a));
  slab_allocator_free(a);
  return 0;
}

int main(void) {
  struct {
    const char* name;
    int (*fn)(void);
  } sections[] = {
      {"lifetime", test_lifetime},
      {"handles", test_handles},
      {"pointers", test_pointers},
      {"epochs", test_epochs},
      {"classes_and_counters", test_classes_and_counters},
      {"errors_and_utilities", test_errors_and_utilities},
      {"cross_thread", test_cross_thread},
      {"null_allocator", test_null_allocator},
      {"allocator_name", test_allocator_name},
      {"lifecycle", test_lifecycle},
      {"domains", test_domains},
      {"arenas", test_arenas},
  };
  int failed = 0;
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; ++i) {
    if (sections[i].fn() != 0) {
      fprintf(stderr, "c_api_test: section %s FAILED\n", sections[i].name);
      failed = 1;
    } else {
      printf("c_api_test: section %s ok\n", sections[i].name);
    }
  }
  return failed;
}
