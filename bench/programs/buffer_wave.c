/* This file contains buffer-wave, a C program for a wave of large buffers
 * freed together and allocated again under LD_PRELOAD (a server's per-request
 * buffers at a burst's end, a batch's working buffers): each round allocates
 * `count` buffers of `size` bytes, writes every byte, and then frees them all.
 * Prints a checksum of bytes read back, the same under every allocator
 * (docs/BENCHMARKS.md, "A wave of buffers freed together").
 *
 *   buffer_wave [buffers (default 600)] [rounds (200)] [size (65544)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  const int count = argc > 1 ? atoi(argv[1]) : 600;
  const int rounds = argc > 2 ? atoi(argv[2]) : 200;
  const size_t size = argc > 3 ? (size_t)atol(argv[3]) : 65544;
  if (count < 1 || rounds < 1 || size < 2) return 2;
  unsigned char** buffers = calloc((size_t)count, sizeof(unsigned char*));
  if (buffers == NULL) return 1;
  unsigned long sum = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < count; ++i) {
      buffers[i] = malloc(size);
      if (buffers[i] == NULL) return 1;
      memset(buffers[i], i + r, size);
    }
    for (int i = 0; i < count; ++i) {
      sum += buffers[i][size / 2];
      free(buffers[i]);
    }
  }
  printf("%lu\n", sum);
  free(buffers);
  return 0;
}
