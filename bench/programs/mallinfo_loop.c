/* This file contains mallinfo-loop, a C program for the cost of mallinfo2 under
 * LD_PRELOAD (some programs call it at every timer they start or stop: clang's
 * -ftime-report with memory tracking): it keeps 1,000 small blocks live and
 * calls mallinfo2 `calls` times. Prints the mean of the in-use bytes reported
 * (docs/BENCHMARKS.md, "Statistics").
 *
 *   mallinfo_loop [calls (default 100000)]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  const int calls = argc > 1 ? atoi(argv[1]) : 100000;
  if (calls < 1) return 2;
  void* live[1000];
  for (int i = 0; i < 1000; ++i) {
    live[i] = malloc(16 + (size_t)(i % 50) * 16);
    if (live[i] == NULL) return 1;
  }
  size_t sum = 0;
  for (int i = 0; i < calls; ++i) sum += mallinfo2().uordblks;
  printf("%zu\n", sum / (size_t)calls);
  for (int i = 0; i < 1000; ++i) free(live[i]);
  return 0;
}
