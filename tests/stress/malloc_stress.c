/* This file contains a multithreaded stress test of the process malloc, in the
 * spirit of mimalloc's test-stress: rounds of short-lived threads allocate
 * blocks of random size (mostly small, sometimes medium, rarely large) with
 * malloc, calloc, realloc, posix_memalign and aligned_alloc, grow and shrink
 * them with realloc chains, and hand them to each other through a shared
 * transfer array, so that many blocks are freed by a thread other than the one
 * that allocated them, often after that thread has exited. Every block carries
 * a pattern derived from a per-block cookie that is checked before each free
 * and realloc; a mismatch is reported on stderr and the test exits with 1.
 *
 * It uses only the C malloc family and pthreads, so it runs against any
 * malloc: the C library's, one linked in, or one preloaded:
 *
 *   gcc -std=c11 -O2 -pthread tests/stress/malloc_stress.c -o malloc_stress
 *   LD_PRELOAD=build/libtslab-malloc.so ./malloc_stress [THREADS] [SCALE] [ROUNDS] [small]
 *
 * Defaults: 8 threads, scale 50, 10 rounds. "small" as an argument, or
 * STRESS_SMALL=1 in the environment, caps the block sizes and does a quarter
 * of the steps, for sanitizer builds. STRESS_SEED=N changes the seed. Each
 * thread's choices (slots, sizes, operations) derive from the seed, its round
 * and its index, so a rerun with the same arguments replays them; only which
 * blocks arrive through the transfer array depends on the scheduling. A
 * failure report names the round, thread, step and seed. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <malloc.h>  // malloc_usable_size
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

enum {
  TRANSFER_SLOTS = 1024,          // blocks in flight between threads
  MIN_BLOCK = 8,                  // every block holds at least its cookie
  FULL_PATTERN_LIMIT = 64 << 10,  // larger blocks get a sparse pattern
  SPARSE_EDGE_WORDS = 32,         // words patterned at each end of a sparse block
  SPARSE_STRIDE_WORDS = 512,      // and one word in every 4 KiB between
  SLACK_EDGE_BYTES = 64,          // usable-size slack filled at each end
  ZERO_SIZE_BATCH = 8,            // malloc(0) pointers checked together
};

static const unsigned char SLACK_BYTE = 0xA5;

struct config {
  unsigned threads;
  unsigned scale;
  unsigned rounds;
  bool small;
  uint64_t seed;
  size_t steps_per_thread;   // for a thread of average length
  size_t retained_slots;     // blocks a thread holds at once
  unsigned medium_max_bits;  // medium sizes are in [1 KiB, 2^bits)
  unsigned large_min_bits;   // large sizes are in [2^min, 2^max]
  unsigned large_max_bits;
  size_t large_max;
};

static struct config cfg;

// The transfer array: a block put here by one thread is taken out, and later
// freed or reallocated, by another (or by a thread of a later round).
static _Atomic(unsigned char*)* transfer;

// ---------------------------------------------------------------------------
// Per-thread state, PRNG and failure reports
// ---------------------------------------------------------------------------

struct counters {
  uint64_t allocations;  // blocks returned by the malloc family
  uint64_t reallocs;     // realloc calls on a live block
  uint64_t transfers;    // blocks put into the transfer array
  uint64_t cross_frees;  // frees and reallocs by a thread other than the allocating one
};

struct worker {
  unsigned index;
  unsigned round;
  unsigned owner_id;  // this thread's mark in the cookies of its blocks
  uint64_t rng;
  size_t steps;
  size_t step;  // current step, for failure reports
  unsigned char** retained;
  struct counters count;
  pthread_t thread;
};

static uint64_t mix64(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9u;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBu;
  return x ^ (x >> 31);
}

static uint64_t next_random(struct worker* w) {  // splitmix64
  w->rng += 0x9E3779B97F4A7C15u;
  return mix64(w->rng);
}

static size_t random_below(struct worker* w, size_t n) { return (size_t)(next_random(w) % n); }

// Reports a failure of worker `w` (NULL for the main thread) and exits with 1.
// _Exit, not exit: other threads may still be inside malloc.
#define FAIL(w, ...) fail_at(w, __LINE__, __VA_ARGS__)

static void fail_at(const struct worker* w, int line, const char* format, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static void fail_at(const struct worker* w, int line, const char* format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  if (w != NULL)
    fprintf(stderr, "malloc_stress: FAILED in round %u, thread %u, step %zu (seed %llu, line %d): %s\n",
            w->round, w->index, w->step, (unsigned long long)cfg.seed, line, message);
  else
    fprintf(stderr, "malloc_stress: FAILED in main thread (seed %llu, line %d): %s\n",
            (unsigned long long)cfg.seed, line, message);
  fflush(stdout);
  _Exit(1);
}

// ---------------------------------------------------------------------------
// Block cookies and patterns
//
// The first 8 bytes of a block are its cookie:
//   bits  0..22  the requested size (at most 8 MiB - 1)
//   bits 23..35  the id of the allocating thread
//   bits 36..47  random, so that two blocks never share a pattern by chance
//   bits 48..63  a hash of bits 0..47, so a damaged cookie is noticed
// Word i >= 1 of the block holds pattern_word(cookie, i) (its first bytes only,
// for a last partial word); blocks above FULL_PATTERN_LIMIT only have their
// first and last SPARSE_EDGE_WORDS words and every SPARSE_STRIDE_WORDS-th
// word written, which keeps 4 MiB blocks cheap but still touches every page.
// The bytes between the requested size and malloc_usable_size() are filled
// with SLACK_BYTE, which catches an allocator whose usable size overlaps the
// next block.
// ---------------------------------------------------------------------------

enum { SIZE_BITS = 23, OWNER_BITS = 13, TAG_BITS = 12 };
#define FIELD_MASK(bits) ((UINT64_C(1) << (bits)) - 1)

static uint64_t cookie_check(uint64_t low48) { return mix64(low48 ^ 0x5EED5EED5EEDu) >> 48; }

static uint64_t make_cookie(size_t size, unsigned owner_id, uint64_t random) {
  uint64_t low = (uint64_t)size | ((uint64_t)(owner_id & FIELD_MASK(OWNER_BITS)) << SIZE_BITS) |
                 ((random & FIELD_MASK(TAG_BITS)) << (SIZE_BITS + OWNER_BITS));
  return low | (cookie_check(low) << 48);
}

static size_t cookie_size(uint64_t cookie) { return (size_t)(cookie & FIELD_MASK(SIZE_BITS)); }

static unsigned cookie_owner(uint64_t cookie) {
  return (unsigned)((cookie >> SIZE_BITS) & FIELD_MASK(OWNER_BITS));
}

static bool cookie_valid(uint64_t cookie) {
  return cookie_check(cookie & FIELD_MASK(48)) == cookie >> 48 && cookie_size(cookie) >= MIN_BLOCK;
}

static uint64_t pattern_word(uint64_t cookie, size_t index) {
  if (index == 0) return cookie;
  uint64_t x = cookie ^ ((uint64_t)index * 0x9E3779B97F4A7C15u);
  return x ^ (x >> 29);
}

// The index of the patterned word after word `index` (of `word_count`).
static size_t next_pattern_word(size_t index, size_t word_count, bool sparse) {
  size_t next = index + 1;
  if (!sparse || next < SPARSE_EDGE_WORDS || next + SPARSE_EDGE_WORDS >= word_count) return next;
  size_t strided = (next + SPARSE_STRIDE_WORDS - 1) / SPARSE_STRIDE_WORDS * SPARSE_STRIDE_WORDS;
  size_t tail = word_count - SPARSE_EDGE_WORDS;
  return strided < tail ? strided : tail;
}

static void write_pattern(unsigned char* p, size_t size, uint64_t cookie) {
  size_t word_count = (size + 7) / 8;
  bool sparse = size > FULL_PATTERN_LIMIT;
  for (size_t i = 0; i < word_count; i = next_pattern_word(i, word_count, sparse)) {
    uint64_t word = pattern_word(cookie, i);
    size_t offset = i * 8;
    size_t n = size - offset < 8 ? size - offset : 8;
    memcpy(p + offset, &word, n);
  }
}

// The offset of the first byte below `limit` that differs from the pattern of
// a block of `size` bytes with this cookie, or SIZE_MAX if none does. *expected
// and *actual get the two bytes.
static size_t find_pattern_mismatch(const unsigned char* p, size_t size, uint64_t cookie, size_t limit,
                                    unsigned* expected, unsigned* actual) {
  size_t word_count = (size + 7) / 8;
  bool sparse = size > FULL_PATTERN_LIMIT;
  for (size_t i = 0; i < word_count && i * 8 < limit; i = next_pattern_word(i, word_count, sparse)) {
    uint64_t word = pattern_word(cookie, i);
    unsigned char want[8];
    memcpy(want, &word, 8);
    size_t offset = i * 8;
    size_t end = offset + 8;
    if (end > size) end = size;
    if (end > limit) end = limit;
    for (size_t j = offset; j < end; j++) {
      if (p[j] != want[j - offset]) {
        *expected = want[j - offset];
        *actual = p[j];
        return j;
      }
    }
  }
  return SIZE_MAX;
}

// The (offset, length) ranges of the slack between `size` and `usable` that
// carry SLACK_BYTE: all of it, or its first and last SLACK_EDGE_BYTES.
static void slack_ranges(size_t size, size_t usable, size_t ranges[2][2]) {
  size_t slack = usable - size;
  if (slack <= 2 * SLACK_EDGE_BYTES) {
    ranges[0][0] = size, ranges[0][1] = slack;
    ranges[1][0] = usable, ranges[1][1] = 0;
  } else {
    ranges[0][0] = size, ranges[0][1] = SLACK_EDGE_BYTES;
    ranges[1][0] = usable - SLACK_EDGE_BYTES, ranges[1][1] = SLACK_EDGE_BYTES;
  }
}

static size_t usable_size_checked(struct worker* w, const unsigned char* p, size_t size, const char* op) {
  size_t usable = malloc_usable_size((void*)p);
  if (usable < size)
    FAIL(w, "%s: malloc_usable_size(%p) = %zu < requested size %zu", op, (void*)p, usable, size);
  return usable;
}

// Writes a fresh cookie, pattern and slack fill over a block of `size` bytes.
static void stamp_block(struct worker* w, unsigned char* p, size_t size, const char* op) {
  size_t usable = usable_size_checked(w, p, size, op);
  write_pattern(p, size, make_cookie(size, w->owner_id, next_random(w)));
  size_t ranges[2][2];
  slack_ranges(size, usable, ranges);
  for (int r = 0; r < 2; r++) memset(p + ranges[r][0], SLACK_BYTE, ranges[r][1]);
}

static uint64_t read_cookie(const unsigned char* p) {
  uint64_t cookie;
  memcpy(&cookie, p, sizeof cookie);
  return cookie;
}

// Checks the cookie, pattern and slack of a live block before `op` frees,
// reallocates or hands it on; returns its cookie.
static uint64_t verify_block(struct worker* w, const unsigned char* p, const char* op) {
  uint64_t cookie = read_cookie(p);
  if (!cookie_valid(cookie))
    FAIL(w, "%s: block %p has a damaged cookie 0x%016llx (its first 8 bytes were overwritten)", op,
         (const void*)p, (unsigned long long)cookie);
  size_t size = cookie_size(cookie);
  size_t usable = usable_size_checked(w, p, size, op);
  unsigned expected = 0, actual = 0;
  size_t offset = find_pattern_mismatch(p, size, cookie, size, &expected, &actual);
  if (offset != SIZE_MAX)
    FAIL(w,
         "%s: block %p of %zu bytes (allocated by thread id %u) corrupted at offset %zu: expected 0x%02x, "
         "found 0x%02x",
         op, (const void*)p, size, cookie_owner(cookie), offset, expected, actual);
  size_t ranges[2][2];
  slack_ranges(size, usable, ranges);
  for (int r = 0; r < 2; r++) {
    for (size_t i = ranges[r][0]; i < ranges[r][0] + ranges[r][1]; i++) {
      if (p[i] != SLACK_BYTE)
        FAIL(w,
             "%s: block %p of %zu bytes (usable %zu) has its slack overwritten at offset %zu: found 0x%02x",
             op, (const void*)p, size, usable, i, p[i]);
    }
  }
  return cookie;
}

// ---------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------

// A size in [2^low_bits, 2^high_bits): first a power of two uniformly, then a
// uniform offset within it, so small sizes are as common as large ones per
// doubling (as real programs' sizes roughly are).
static size_t log_uniform_size(struct worker* w, unsigned low_bits, unsigned high_bits) {
  unsigned bits = low_bits + (unsigned)random_below(w, high_bits - low_bits);
  size_t base = (size_t)1 << bits;
  return base + random_below(w, base);
}

// Mostly small (8 B - 1 KiB), sometimes medium (1 KiB - 64 KiB), rarely large
// (256 KiB - 4 MiB); STRESS_SMALL lowers the upper two classes.
static size_t pick_size(struct worker* w) {
  size_t r = random_below(w, 10000);
  if (r < 10) {
    size_t size = log_uniform_size(w, cfg.large_min_bits, cfg.large_max_bits);
    return size < cfg.large_max ? size : cfg.large_max;
  }
  if (r < 800) return log_uniform_size(w, 10, cfg.medium_max_bits);
  return log_uniform_size(w, 3, 10);
}

static size_t clamp_size(size_t size) {
  if (size < MIN_BLOCK) return MIN_BLOCK;
  return size > cfg.large_max ? cfg.large_max : size;
}

// ---------------------------------------------------------------------------
// Allocation, free, realloc
// ---------------------------------------------------------------------------

static void check_zeroed(struct worker* w, const unsigned char* p, size_t size) {
  for (size_t i = 0; i < size; i++) {
    if (p[i] != 0)
      FAIL(w, "calloc: block %p of %zu bytes not zeroed at offset %zu: found 0x%02x", (const void*)p, size, i,
           p[i]);
  }
}

static unsigned char* allocate_with_calloc(struct worker* w, size_t size) {
  // Spread the size over count and element size in different ways.
  size_t count = size, element = 1;
  switch (random_below(w, 3)) {
    case 0:
      break;
    case 1:
      count = 1, element = size;
      break;
    default:
      if (size % 8 == 0) count = size / 8, element = 8;
      break;
  }
  unsigned char* p = calloc(count, element);
  if (p == NULL) FAIL(w, "calloc(%zu, %zu) returned NULL", count, element);
  check_zeroed(w, p, size);
  return p;
}

// posix_memalign or aligned_alloc with an alignment of 16 .. 4096; *size is
// rounded up to a multiple of the alignment for aligned_alloc (C11 asks it).
static unsigned char* allocate_aligned(struct worker* w, size_t* size) {
  size_t alignment = (size_t)16 << random_below(w, 9);
  void* p = NULL;
  const char* op;
  if (random_below(w, 2) == 0) {
    op = "posix_memalign";
    int error = posix_memalign(&p, alignment, *size);
    if (error != 0) FAIL(w, "posix_memalign(%zu, %zu) failed with %d", alignment, *size, error);
  } else {
    op = "aligned_alloc";
    *size = (*size + alignment - 1) / alignment * alignment;
    p = aligned_alloc(alignment, *size);
    if (p == NULL) FAIL(w, "aligned_alloc(%zu, %zu) returned NULL", alignment, *size);
  }
  if ((uintptr_t)p % alignment != 0)
    FAIL(w, "%s: %p of %zu bytes is not aligned to %zu", op, p, *size, alignment);
  return p;
}

// A new block of about `size` bytes from a random member of the malloc
// family, stamped with a fresh cookie.
static unsigned char* allocate_block(struct worker* w, size_t size) {
  unsigned char* p;
  size_t kind = random_below(w, 100);
  if (kind < 70) {
    p = malloc(size);
    if (p == NULL) FAIL(w, "malloc(%zu) returned NULL", size);
  } else if (kind < 82) {
    p = allocate_with_calloc(w, size);
  } else if (kind < 96) {
    p = allocate_aligned(w, &size);
  } else {
    p = realloc(NULL, size);
    if (p == NULL) FAIL(w, "realloc(NULL, %zu) returned NULL", size);
  }
  w->count.allocations++;
  stamp_block(w, p, size, "allocate");
  return p;
}

static void count_if_foreign(struct worker* w, uint64_t cookie) {
  if (cookie_owner(cookie) != (w->owner_id & FIELD_MASK(OWNER_BITS))) w->count.cross_frees++;
}

static void free_block(struct worker* w, unsigned char* p) {
  count_if_foreign(w, verify_block(w, p, "free"));
  free(p);
}

static size_t next_realloc_size(struct worker* w, size_t old_size) {
  size_t r = random_below(w, 8);
  if (r == 0) return clamp_size(pick_size(w));                                           // jump anywhere
  if (r < 4) return clamp_size(old_size + old_size * (1 + random_below(w, 300)) / 100);  // grow
  return clamp_size(old_size - old_size * random_below(w, 90) / 100);                    // shrink
}

// Reallocates `p` two to six times, growing and shrinking it; after each call
// checks that the first min(old, new) bytes survived, then restamps it.
static unsigned char* realloc_chain(struct worker* w, unsigned char* p) {
  size_t links = 2 + random_below(w, 5);
  for (size_t link = 0; link < links; link++) {
    uint64_t cookie = verify_block(w, p, "realloc");
    count_if_foreign(w, cookie);
    size_t old_size = cookie_size(cookie);
    size_t new_size = next_realloc_size(w, old_size);
    uintptr_t old_address = (uintptr_t)p;  // for reports: p is invalid after realloc
    unsigned char* q = realloc(p, new_size);
    if (q == NULL) FAIL(w, "realloc(0x%jx, %zu) returned NULL", (uintmax_t)old_address, new_size);
    w->count.reallocs++;
    size_t kept = old_size < new_size ? old_size : new_size;
    unsigned expected = 0, actual = 0;
    size_t offset = find_pattern_mismatch(q, old_size, cookie, kept, &expected, &actual);
    if (offset != SIZE_MAX)
      FAIL(w,
           "realloc(0x%jx, %zu) from %zu bytes = %p lost contents at offset %zu: expected 0x%02x, found "
           "0x%02x",
           (uintmax_t)old_address, new_size, old_size, (void*)q, offset, expected, actual);
    stamp_block(w, q, new_size, "realloc");
    p = q;
  }
  return p;
}

// Puts `p` into a random transfer slot and returns what was there (NULL, or a
// block some thread put there, which this thread now owns).
static unsigned char* exchange_block(struct worker* w, unsigned char* p) {
  size_t slot = random_below(w, TRANSFER_SLOTS);
  // acq_rel: the release publishes the pattern this thread wrote into `p`,
  // the acquire makes the pattern the other thread wrote into the block we
  // take out visible before we read it.
  unsigned char* taken = atomic_exchange_explicit(&transfer[slot], p, memory_order_acq_rel);
  w->count.transfers++;
  if (taken != NULL) verify_block(w, taken, "transfer");
  return taken;
}

// malloc(0) must return unique, non-NULL pointers that free accepts.
static void check_zero_size_batch(struct worker* w) {
  void* batch[ZERO_SIZE_BATCH];
  for (size_t i = 0; i < ZERO_SIZE_BATCH; i++) {
    batch[i] = malloc(0);
    if (batch[i] == NULL) FAIL(w, "malloc(0) returned NULL");
    for (size_t j = 0; j < i; j++) {
      if (batch[j] == batch[i]) FAIL(w, "malloc(0) returned %p twice", batch[i]);
    }
  }
  w->count.allocations += ZERO_SIZE_BATCH;
  for (size_t i = 0; i < ZERO_SIZE_BATCH; i++) free(batch[i]);
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

// One step: act on a random retained slot.
static void run_step(struct worker* w) {
  size_t slot = random_below(w, cfg.retained_slots);
  unsigned char* p = w->retained[slot];
  if (p == NULL) {
    w->retained[slot] = allocate_block(w, pick_size(w));
    return;
  }
  size_t action = random_below(w, 100);
  if (action < 35) {
    free_block(w, p);
    w->retained[slot] = NULL;
  } else if (action < 50) {
    free_block(w, p);
    w->retained[slot] = allocate_block(w, pick_size(w));
  } else if (action < 60) {
    w->retained[slot] = realloc_chain(w, p);
  } else {
    w->retained[slot] = exchange_block(w, p);
  }
}

// At exit a thread either frees what it still holds, or (every third one)
// leaves it all in the transfer array for other threads, of this round or
// the next, to free after it is gone.
static void finish_worker(struct worker* w) {
  bool leave_behind = (w->index + w->round) % 3 == 0;
  for (size_t slot = 0; slot < cfg.retained_slots; slot++) {
    unsigned char* p = w->retained[slot];
    if (p == NULL) continue;
    if (leave_behind) p = exchange_block(w, p);
    if (p != NULL) free_block(w, p);
  }
  free(w->retained);
  w->retained = NULL;
}

static void* worker_main(void* arg) {
  struct worker* w = arg;
  w->retained = calloc(cfg.retained_slots, sizeof *w->retained);
  if (w->retained == NULL) FAIL(w, "calloc of the retained array failed");
  for (w->step = 0; w->step < w->steps; w->step++) {
    run_step(w);
    if (w->step % 256 == 0) check_zero_size_batch(w);
  }
  finish_worker(w);
  return NULL;
}

static void init_worker(struct worker* w, unsigned index, unsigned round) {
  memset(w, 0, sizeof *w);
  w->index = index;
  w->round = round;
  w->owner_id = round * cfg.threads + index + 1;  // 0 is the main thread
  w->rng = mix64(cfg.seed ^ ((uint64_t)round << 32) ^ index);
  // Threads of one round run for 2/3, 3/3 or 4/3 of the average, so some exit
  // while others still take their blocks out of the transfer array.
  w->steps = cfg.steps_per_thread * (2 + index % 3) / 3;
}

static void add_counters(struct counters* total, const struct counters* c) {
  total->allocations += c->allocations;
  total->reallocs += c->reallocs;
  total->transfers += c->transfers;
  total->cross_frees += c->cross_frees;
}

// Starts cfg.threads new threads and joins them (join orders their writes
// before the next round's reads of the transfer array).
static void run_round(unsigned round, struct worker* workers, struct counters* total) {
  for (unsigned i = 0; i < cfg.threads; i++) {
    init_worker(&workers[i], i, round);
    int error = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
    if (error != 0) FAIL(NULL, "pthread_create failed with %d", error);
  }
  for (unsigned i = 0; i < cfg.threads; i++) {
    int error = pthread_join(workers[i].thread, NULL);
    if (error != 0) FAIL(NULL, "pthread_join failed with %d", error);
    add_counters(total, &workers[i].count);
  }
}

// The main thread frees what the last round left in the transfer array.
static void drain_transfers(struct counters* total) {
  struct worker main_worker;
  memset(&main_worker, 0, sizeof main_worker);
  main_worker.round = cfg.rounds;
  for (size_t slot = 0; slot < TRANSFER_SLOTS; slot++) {
    unsigned char* p = atomic_exchange_explicit(&transfer[slot], NULL, memory_order_acquire);
    if (p != NULL) free_block(&main_worker, p);
  }
  add_counters(total, &main_worker.count);
}

// ---------------------------------------------------------------------------
// Single-threaded checks of the error cases
// ---------------------------------------------------------------------------

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#endif

// Sanitizers report these calls as errors instead of returning, so they are
// left out of sanitizer builds.
static void check_error_cases(void) {
#ifndef UNDER_SANITIZER
  volatile size_t huge = SIZE_MAX / 2 + 1;  // volatile: no compile-time overflow warning
  void* p = calloc(huge, 2);
  if (p != NULL) FAIL(NULL, "calloc(%zu, 2) overflows but returned %p", (size_t)huge, p);
  int error = posix_memalign(&p, 24, 64);
  if (error != EINVAL) FAIL(NULL, "posix_memalign(24, 64) returned %d, not EINVAL", error);
#endif
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

static bool env_flag(const char* name) {
  const char* value = getenv(name);
  return value != NULL && *value != '\0' && strcmp(value, "0") != 0;
}

static void usage_error(const char* what, const char* text) {
  fprintf(stderr, "malloc_stress: bad %s '%s'\nusage: malloc_stress [THREADS] [SCALE] [ROUNDS] [small]\n",
          what, text);
  exit(2);
}

static unsigned parse_count(const char* text, const char* what) {
  char* end;
  unsigned long value = strtoul(text, &end, 10);
  if (*text == '\0' || *end != '\0' || value == 0 || value > 4096) usage_error(what, text);
  return (unsigned)value;
}

static void parse_config(int argc, char** argv) {
  cfg.threads = 8, cfg.scale = 50, cfg.rounds = 10;
  cfg.small = env_flag("STRESS_SMALL");
  const char* seed = getenv("STRESS_SEED");
  cfg.seed = seed != NULL ? strtoull(seed, NULL, 0) : 0x7511AB;
  unsigned* positional[] = {&cfg.threads, &cfg.scale, &cfg.rounds};
  const char* names[] = {"THREADS", "SCALE", "ROUNDS"};
  size_t count = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "small") == 0 || strcmp(argv[i], "--small") == 0)
      cfg.small = true;
    else if (count < 3)
      *positional[count] = parse_count(argv[i], names[count]), count++;
    else
      usage_error("argument", argv[i]);
  }
  cfg.steps_per_thread = (size_t)cfg.scale * (cfg.small ? 50 : 200);
  cfg.retained_slots = (size_t)cfg.scale * (cfg.small ? 2 : 4);
  cfg.medium_max_bits = cfg.small ? 14 : 16;
  cfg.large_min_bits = cfg.small ? 16 : 18;
  cfg.large_max_bits = cfg.small ? 19 : 22;
  cfg.large_max = (size_t)1 << cfg.large_max_bits;
}

int main(int argc, char** argv) {
  parse_config(argc, argv);
  check_error_cases();

  transfer = malloc(TRANSFER_SLOTS * sizeof *transfer);
  struct worker* workers = malloc(cfg.threads * sizeof *workers);
  if (transfer == NULL || workers == NULL) FAIL(NULL, "malloc of the test's arrays failed");
  for (size_t slot = 0; slot < TRANSFER_SLOTS; slot++) atomic_init(&transfer[slot], NULL);

  struct counters total = {0};
  for (unsigned round = 0; round < cfg.rounds; round++) run_round(round, workers, &total);
  drain_transfers(&total);
  free(workers);
  free((void*)transfer);

  printf(
      "malloc_stress: %u threads x %u rounds%s, %llu allocations, %llu reallocs, %llu transfers, "
      "%llu cross-thread frees: ok\n",
      cfg.threads, cfg.rounds, cfg.small ? " (small)" : "", (unsigned long long)total.allocations,
      (unsigned long long)total.reallocs, (unsigned long long)total.transfers,
      (unsigned long long)total.cross_frees);
  return 0;
}
