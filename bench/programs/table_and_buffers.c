/* This file contains table-and-buffers, a C program for measuring under
 * LD_PRELOAD what an allocator keeps of large blocks a program frees and
 * allocates again together: each round allocates a large table it barely
 * writes (a byte every 64 KiB) and two buffers it writes whole, then frees the
 * table first and the buffers after it, as a compressor's encoder does at its
 * end (liblzma's preset 6: a 64 MiB match-finder table, buffers of 16.3 and
 * 12.5 MiB). It prints the time and minor page faults per round.
 *
 *   table_and_buffers [rounds (default 300)] [table MiB (default 64)]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static long minor_faults(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

/* Called through a volatile pointer: the compiler may not drop the writes to
 * blocks freed right after them. */
static void* (*volatile write_bytes)(void*, int, size_t) = memset;

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 300;
  const size_t table_mib = argc > 2 ? (size_t)atoi(argv[2]) : 64;
  if (rounds < 1 || table_mib < 1) return 2;
  const size_t table_bytes = (table_mib << 20) + 4096;
  const size_t first_bytes = 17043456;  /* 16.3 MiB */
  const size_t second_bytes = 13123584; /* 12.5 MiB */
  unsigned long checksum = 0;
  const long faults_before = minor_faults();
  const double start = now_seconds();
  for (int r = 0; r < rounds; ++r) {
    unsigned char* table = malloc(table_bytes);
    unsigned char* first = malloc(first_bytes);
    unsigned char* second = malloc(second_bytes);
    if (table == NULL || first == NULL || second == NULL) return 1;
    for (size_t i = 0; i < table_bytes; i += 65536) write_bytes(table + i, r & 0xff, 1);
    write_bytes(first, r & 0xff, first_bytes);
    write_bytes(second, (r + 1) & 0xff, second_bytes);
    checksum += table[65536] + first[first_bytes - 1] + second[second_bytes / 2];
    free(table);
    free(first);
    free(second);
  }
  const double seconds = now_seconds() - start;
  const long faults = minor_faults() - faults_before;
  printf("table-and-buffers: %d rounds, %.3f ms/round, %.1f minor faults/round (checksum %lu)\n", rounds,
         seconds * 1e3 / rounds, (double)faults / rounds, checksum);
  return 0;
}
