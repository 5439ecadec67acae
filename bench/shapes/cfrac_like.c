/* This file contains cfrac-like, a stress shape in the style of mimalloc-bench's
 * cfrac (continued-fraction factoring), a C program for timing an allocator
 * under LD_PRELOAD: big-number arithmetic with many tiny short-lived blocks
 * (8 to 200 B). A table of 256 long-lived numbers is updated at every step;
 * each result is a fresh block and the temporaries are freed (docs/BENCHMARKS.md,
 * "Stress shapes: a third round"). One thread.
 *
 *   cfrac_like [steps (default 3000000)]
 *
 * Prints "cfrac-like checksum %016llx", a hash of the results' digits and
 * lengths, the same under every allocator.
 */
#include "shapes_common.h"

/* A number in base 2^16, one digit per 32-bit word, least significant first. */
typedef struct {
  uint32_t len;
  uint32_t d[];
} big_t;

static big_t* bnew(uint32_t len) {
  big_t* b = xmalloc(sizeof(big_t) + len * 4);
  b->len = len;
  return b;
}

static big_t* bdup(const big_t* a) {
  big_t* b = bnew(a->len);
  memcpy(b->d, a->d, a->len * 4);
  return b;
}

static big_t* badd(const big_t* a, const big_t* b) {
  uint32_t n = (a->len > b->len ? a->len : b->len) + 1;
  big_t* c = bnew(n);
  uint32_t carry = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t s = carry + (i < a->len ? a->d[i] : 0) + (i < b->len ? b->d[i] : 0);
    c->d[i] = s & 0xffff;
    carry = s >> 16;
  }
  while (c->len > 1 && c->d[c->len - 1] == 0) c->len--;
  return c;
}

/* A product of sorts (each digit product taken mod 2^16), cut to cap digits. */
static big_t* bmul_trunc(const big_t* a, const big_t* b, uint32_t cap) {
  uint32_t n = a->len + b->len;
  if (n > cap) n = cap;
  big_t* c = bnew(n);
  memset(c->d, 0, n * 4);
  for (uint32_t i = 0; i < a->len && i < n; i++) {
    uint32_t carry = 0;
    for (uint32_t j = 0; j < b->len && i + j < n; j++) {
      uint32_t s = c->d[i + j] + a->d[i] * b->d[j] % 65536 + carry;
      c->d[i + j] = s & 0xffff;
      carry = s >> 16;
    }
  }
  while (c->len > 1 && c->d[c->len - 1] == 0) c->len--;
  return c;
}

static big_t* bsmall(uint64_t v) {
  big_t* b = bnew(4);
  for (int i = 0; i < 4; i++) {
    b->d[i] = v & 0xffff;
    v >>= 16;
  }
  while (b->len > 1 && !b->d[b->len - 1]) b->len--;
  return b;
}

int main(int argc, char** argv) {
  long STEPS = argl(argc, argv, 1, 3000000);
  uint64_t r = 3, h = 0;
  enum { N = 256 };
  big_t* tab[N];
  for (int i = 0; i < N; i++) tab[i] = bsmall(rng_next(&r));
  for (long s = 0; s < STEPS; s++) {
    uint64_t x = rng_next(&r);
    int i = x % N, j = (x >> 16) % N, k = (x >> 32) % N;
    /* Temporaries. */
    big_t* t1 = badd(tab[i], tab[j]);
    big_t* t2 = bmul_trunc(t1, tab[k], 1 + (x >> 48) % 48);
    big_t* t3 = bsmall(x);
    big_t* t4 = badd(t2, t3);
    h = mix(h, t4->d[0] ^ t4->len);
    free(t1);
    free(t2);
    free(t3);
    /* The result replaces tab[k] (a quarter of the time as a copy) or is dropped. */
    if ((x & 3) == 0) {
      free(tab[k]);
      tab[k] = t4;
    } else if ((x & 3) == 1) {
      free(tab[k]);
      tab[k] = bdup(t4);
      free(t4);
    } else {
      free(t4);
    }
  }
  for (int i = 0; i < N; i++) {
    h = mix(h, tab[i]->len);
    free(tab[i]);
  }
  printf("cfrac-like checksum %016llx\n", (unsigned long long)h);
  return 0;
}
