/* This file contains live-blocks, a C program for what an allocator's blocks cost
 * the process under LD_PRELOAD beyond their bytes: address space, page tables and
 * mappings (docs/BENCHMARKS.md, "Large spans in 64 KiB granules").
 *
 *   live_blocks COUNT SIZE   allocates COUNT blocks of SIZE bytes, writes the first
 *                            64 bytes of each, and prints VmSize, VmRSS and VmPTE
 *                            (kB) and the number of mappings while all are live
 *   live_blocks fill SIZE    allocates blocks of SIZE bytes until malloc fails (run
 *                            it under `ulimit -v`) and prints how many fit
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_status(void) {
  char line[256];
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "VmSize", 6) == 0 || strncmp(line, "VmRSS", 5) == 0 || strncmp(line, "VmPTE", 5) == 0) {
      line[strcspn(line, "\n")] = '\0';
      printf("%s  ", line);
    }
  fclose(f);
  int mappings = 0, c;
  f = fopen("/proc/self/maps", "r");
  if (f == NULL) return;
  while ((c = fgetc(f)) != EOF) mappings += c == '\n';
  fclose(f);
  printf("mappings: %d\n", mappings);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: live_blocks COUNT SIZE | live_blocks fill SIZE\n");
    return 2;
  }
  const size_t size = strtoul(argv[2], NULL, 10);
  if (size < sizeof(void*)) return 2;
  if (strcmp(argv[1], "fill") == 0) {
    void* chain = NULL;  // each block holds the previous one: no other memory needed
    size_t n = 0;
    for (void** p; (p = malloc(size)) != NULL; ++n) {
      *p = chain;
      chain = p;
    }
    printf("%zu blocks of %zu bytes\n", n, size);
    while (chain != NULL) {
      void* next = *(void**)chain;
      free(chain);
      chain = next;
    }
    return 0;
  }
  const size_t count = strtoul(argv[1], NULL, 10);
  if (count == 0 || count > SIZE_MAX / sizeof(char*)) return 2;  // no product that wraps
  char** blocks = malloc(count * sizeof *blocks);
  if (blocks == NULL) return 1;
  for (size_t i = 0; i < count; ++i) {
    blocks[i] = malloc(size);
    if (blocks[i] == NULL) {
      printf("malloc failed at block %zu\n", i);
      return 1;
    }
    memset(blocks[i], 1, size < 64 ? size : 64);
  }
  print_status();
  for (size_t i = 0; i < count; ++i) free(blocks[i]);
  free(blocks);
  return 0;
}
