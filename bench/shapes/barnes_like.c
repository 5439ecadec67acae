/* This file contains barnes-like, a stress shape in the style of mimalloc-bench's
 * barnes (Barnes-Hut n-body), a C program for timing an allocator under
 * LD_PRELOAD: long-lived bodies (80 B each), an octree of cells (136 B each)
 * built from them and freed again at every step, and a small temporary per body
 * per step for its force (docs/BENCHMARKS.md, "Stress shapes: a third round").
 * One thread.
 *
 *   barnes_like [bodies (default 4000)] [steps (40)]
 *
 * Prints "barnes-like checksum %.9e", a sum over the bodies' final positions and
 * velocities, the same under every allocator.
 */
#include "shapes_common.h"

typedef struct {
  double pos[3], vel[3], acc[3], mass;
} body_t; /* 80 B */

typedef struct cell {
  double center[3], half, mass, cm[3];
  struct cell* sub[8];
  body_t* b;
} cell_t; /* 136 B */

static cell_t* newcell(const double c[3], double half) {
  cell_t* x = xcalloc(1, sizeof(cell_t));
  memcpy(x->center, c, 24);
  x->half = half;
  return x;
}

static void insert(cell_t* c, body_t* b, int depth) {
  if (!c->b && !c->mass) {
    c->b = b;
    c->mass = b->mass;
    memcpy(c->cm, b->pos, 24);
    return;
  }
  if (depth > 40) {
    c->mass += b->mass;
    return;
  }
  if (c->b) {
    body_t* o = c->b;
    c->b = NULL;
    c->mass = 0;
    insert(c, o, depth);
  }
  int q = (b->pos[0] > c->center[0]) | ((b->pos[1] > c->center[1]) << 1) | ((b->pos[2] > c->center[2]) << 2);
  if (!c->sub[q]) {
    double nc[3];
    for (int k = 0; k < 3; k++) nc[k] = c->center[k] + ((q >> k) & 1 ? c->half / 2 : -c->half / 2);
    c->sub[q] = newcell(nc, c->half / 2);
  }
  insert(c->sub[q], b, depth + 1);
  for (int k = 0; k < 3; k++) c->cm[k] = (c->cm[k] * c->mass + b->pos[k] * b->mass) / (c->mass + b->mass);
  c->mass += b->mass;
}

static void freetree(cell_t* c) {
  if (!c) return;
  for (int i = 0; i < 8; i++) freetree(c->sub[i]);
  free(c);
}

static void force(cell_t* c, body_t* b, double* acc) {
  if (!c || c->mass == 0) return;
  double d[3], r2 = 1e-3;
  for (int k = 0; k < 3; k++) {
    d[k] = c->cm[k] - b->pos[k];
    r2 += d[k] * d[k];
  }
  int leaf = 1;
  for (int i = 0; i < 8; i++)
    if (c->sub[i]) leaf = 0;
  if (leaf || (c->half * c->half * 4) < 0.25 * r2) {
    double f = c->mass / (r2 * __builtin_sqrt(r2));
    for (int k = 0; k < 3; k++) acc[k] += f * d[k];
    return;
  }
  for (int i = 0; i < 8; i++) force(c->sub[i], b, acc);
}

int main(int argc, char** argv) {
  long NB = argl(argc, argv, 1, 4000), STEPS = argl(argc, argv, 2, 40);
  uint64_t r = 17;
  body_t** bs = xmalloc(NB * sizeof(void*));
  for (long i = 0; i < NB; i++) {
    bs[i] = xcalloc(1, sizeof(body_t));
    for (int k = 0; k < 3; k++) bs[i]->pos[k] = (double)(rng_next(&r) % 1000000) / 1e6 - 0.5;
    bs[i]->mass = 1.0 / NB;
  }
  for (long s = 0; s < STEPS; s++) {
    double c0[3] = {0, 0, 0};
    cell_t* root = newcell(c0, 1.0);
    for (long i = 0; i < NB; i++) insert(root, bs[i], 0);
    for (long i = 0; i < NB; i++) {
      double* acc = xcalloc(3, sizeof(double));
      force(root, bs[i], acc);
      memcpy(bs[i]->acc, acc, 24);
      free(acc);
    }
    for (long i = 0; i < NB; i++)
      for (int k = 0; k < 3; k++) {
        bs[i]->vel[k] += 1e-5 * bs[i]->acc[k];
        bs[i]->pos[k] += 1e-3 * bs[i]->vel[k];
        if (bs[i]->pos[k] > 0.99) bs[i]->pos[k] = 0.99;
        if (bs[i]->pos[k] < -0.99) bs[i]->pos[k] = -0.99;
      }
    freetree(root);
  }
  double e = 0;
  for (long i = 0; i < NB; i++) {
    e += bs[i]->pos[0] + bs[i]->pos[1] * 3 + bs[i]->vel[2];
    free(bs[i]);
  }
  free(bs);
  printf("barnes-like checksum %.9e\n", e);
  return 0;
}
