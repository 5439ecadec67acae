/* A program linked with tslab-malloc (pkg-config tslab-malloc): its plain
 * malloc is tslab's, and the process allocator behind it is reachable. */
#include <slab_alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tslab/malloc.h>

int main(void) {
  char* p = malloc(100);
  SlabAllocator* process = tslab_malloc_allocator();
  if (p == NULL || process == NULL) return 1;
  memset(p, 1, 100);
  /* The block is the process allocator's: it knows the block's size. */
  if (slab_usable_size(process, p) < 100) {
    fprintf(stderr, "malloc was not served by tslab\n");
    return 2;
  }
  free(p);
  printf("malloc served by tslab\n");
  return 0;
}
