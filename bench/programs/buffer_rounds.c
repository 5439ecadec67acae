/* This file contains buffer-rounds, a C program for the pages an allocator returns
 * and faults in again under LD_PRELOAD when a program frees a whole generation of
 * blocks at a time (a collector freeing the last generation): each round allocates
 * `count` blocks of 100 B to `largest` B (every 97th about 1 MiB), writes every
 * byte, and then frees the round before's blocks. Prints a checksum of the bytes
 * read back, the same under every allocator (docs/BENCHMARKS.md, "Phases that
 * free hundreds of MiB of one size class").
 *
 *   buffer_rounds [rounds (default 40)] [blocks per round (4000)] [largest (60000)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 40;
  const int count = argc > 2 ? atoi(argv[2]) : 4000;
  const size_t largest = argc > 3 ? (size_t)atol(argv[3]) : 60000;
  if (rounds < 1 || count < 1 || largest < 1) return 2;
  char** previous = calloc((size_t)count, sizeof(char*));
  char** current = calloc((size_t)count, sizeof(char*));
  if (previous == NULL || current == NULL) return 1;
  unsigned long sum = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < count; ++i) {
      const size_t size = i % 97 == 0 ? ((size_t)1 << 20) + (size_t)i * 13
                                      : 100 + ((size_t)i * 7919 + (size_t)r * 31) % largest;
      current[i] = malloc(size);
      if (current[i] == NULL) return 1;
      memset(current[i], i, size);
      sum += (unsigned char)current[i][size - 1];
    }
    for (int i = 0; i < count; ++i) free(previous[i]);
    char** t = previous;
    previous = current;
    current = t;
  }
  for (int i = 0; i < count; ++i) free(previous[i]);
  free(previous);
  free(current);
  printf("buffer-rounds checksum %lu\n", sum);
  return 0;
}
