/* This file contains phase-sizes, a C program for the pages an allocator returns
 * and faults in again under LD_PRELOAD when a program's phases each use one size
 * class: a phase allocates `mib` MiB of blocks of one size (48 B to 40 KB, a
 * different size each phase), writes every byte, and frees them all. Prints the
 * process RSS after each phase's allocation and after its frees
 * (docs/BENCHMARKS.md, "Phases that free hundreds of MiB of one size class").
 *
 *   phase_sizes [MiB per phase (default 512)] [phases (default 10)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process_rss.h"

int main(int argc, char** argv) {
  const size_t total = (size_t)(argc > 1 ? atol(argv[1]) : 512) << 20;
  const int phases = argc > 2 ? atoi(argv[2]) : 10;
  static const size_t sizes[] = {48, 200, 1000, 24, 3000, 96, 500, 16000, 40000, 64};
  for (int phase = 0; phase < phases; ++phase) {
    const size_t size = sizes[phase % 10], n = total / size;
    void** blocks = malloc(n * sizeof(void*));
    if (blocks == NULL) return 1;
    for (size_t i = 0; i < n; ++i) {
      blocks[i] = malloc(size);
      if (blocks[i] == NULL) return 1;
      memset(blocks[i], phase, size);
    }
    const long filled = process_rss_kib();
    for (size_t i = 0; i < n; ++i) free(blocks[i]);
    free(blocks);
    printf("phase %d, %zu B: RSS %ld MiB, after the frees %ld MiB\n", phase, size, filled >> 10,
           process_rss_kib() >> 10);
  }
  return 0;
}
