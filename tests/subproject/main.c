/* A C program of the parent project: both include styles of the tslab tree. */
#include <epoch_domain.h>
#include <stdio.h>
#include <tslab/slab_alloc.h>
#include <tslab/version.h>

int main(void) {
  if (tslab_version() != TSLAB_VERSION) return 1;
  SlabAllocator* alloc = slab_allocator_create();
  if (alloc == NULL) return 1;
  epoch_domain_t* d = epoch_domain_create(alloc);
  if (d == NULL || !epoch_domain_enter(d)) return 1;
  void* p = slab_malloc_epoch(alloc, 64, d->epoch_id);
  if (p == NULL || !slab_free_checked(alloc, p)) return 1;
  if (!epoch_domain_exit(d) || !epoch_domain_destroy(d)) return 1;
  slab_allocator_free(alloc);
  printf("parent (C): tslab %s ok\n", TSLAB_VERSION_STRING);
  return 0;
}
