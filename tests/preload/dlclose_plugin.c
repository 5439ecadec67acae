/* This file contains a plugin linked with libtslab.so, for dlclose_host.c: it
 * makes an allocator, uses it (and the thread arena) on a thread of the host,
 * and destroys it, after which the host unloads it. */
#include <slab_alloc.h>
#include <slab_arena.h>

static SlabAllocator* allocator;

int plugin_init(void) {
  allocator = slab_allocator_create();
  return allocator != 0;
}

/* Called on a host thread: attaches it to the allocator and gives it a thread arena. */
int plugin_work(void) {
  void* p = slab_malloc_epoch(allocator, 100, 0);
  if (p == 0 || slab_thread_arena_alloc(10, 8) == 0) return 0;
  slab_free(allocator, p);
  return 1;
}

void plugin_fini(void) { slab_allocator_free(allocator); }
