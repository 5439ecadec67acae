/* This file contains espresso-like, a stress shape in the style of
 * mimalloc-bench's espresso (logic minimisation), a C program for timing an
 * allocator under LD_PRELOAD: covers are arrays grown with realloc of cubes, bit
 * vectors of 16 to 200 B. Each pass makes a cover of random cubes, intersects
 * every pair of them into a temporary, keeps those that pass a test in a new
 * cover and frees the rest and the old cover; the last 64 new covers stay alive
 * (docs/BENCHMARKS.md, "Stress shapes: a third round"). One thread.
 *
 *   espresso_like [passes (default 3000)]
 *
 * Prints "espresso-like checksum %016llx", a hash of the kept cubes' counts and
 * first words, the same under every allocator.
 */
#include "shapes_common.h"

typedef struct {
  int n, cap;
  uint64_t** c;
  int words;
} cover_t;

static void cadd(cover_t* cv, uint64_t* cube) {
  if (cv->n == cv->cap) {
    cv->cap = cv->cap ? cv->cap * 2 : 4;
    cv->c = xrealloc(cv->c, cv->cap * sizeof(void*));
  }
  cv->c[cv->n++] = cube;
}

static void cfree(cover_t* cv) {
  for (int i = 0; i < cv->n; i++) free(cv->c[i]);
  free(cv->c);
  cv->c = NULL;
  cv->n = cv->cap = 0;
}

static uint64_t* cube_rand(int w, uint64_t* r) {
  uint64_t* c = xmalloc(w * 8);
  for (int i = 0; i < w; i++) c[i] = rng_next(r) | rng_next(r);
  return c;
}

int main(int argc, char** argv) {
  long PASSES = argl(argc, argv, 1, 3000);
  uint64_t r = 11, h = 0;
  enum { KEEP = 64 };
  cover_t keep[KEEP];
  memset(keep, 0, sizeof keep);
  for (long p = 0; p < PASSES; p++) {
    int w = 2 + rng_next(&r) % 24; /* 16..200 B cubes */
    cover_t a = {0, 0, NULL, w}, b = {0, 0, NULL, w};
    int n = 20 + rng_next(&r) % 60;
    for (int i = 0; i < n; i++) cadd(&a, cube_rand(w, &r));
    for (int i = 0; i < a.n; i++)
      for (int j = i + 1; j < a.n; j++) {
        uint64_t* t = xmalloc(w * 8); /* temporary intersection */
        int nz = 0;
        for (int k = 0; k < w; k++) {
          t[k] = a.c[i][k] & a.c[j][k];
          nz += t[k] != 0;
        }
        if (nz == w && (t[0] & 7) == 0)
          cadd(&b, t);
        else
          free(t);
      }
    h = mix(h, b.n);
    for (int i = 0; i < b.n; i++) h = mix(h, b.c[i][0]);
    cfree(&a);
    /* The new cover is long-lived: it replaces the one of 64 passes ago. */
    int slot = p % KEEP;
    cfree(&keep[slot]);
    keep[slot] = b;
  }
  for (int i = 0; i < KEEP; i++) cfree(&keep[i]);
  printf("espresso-like checksum %016llx\n", (unsigned long long)h);
  return 0;
}
