/* This file contains a plugin linked with libtslab-malloc.so, loaded with dlopen
 * by a program that did not preload it (dlopen_malloc_host.c): the library's
 * initial-exec thread-local storage must fit in what the C library keeps for
 * libraries loaded later. The process's malloc stays the C library's; the
 * plugin uses tslab's API, lifetime scopes included, on threads of its own. */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "slab_alloc.h"
#include "tslab/malloc.h"

static bool allocator_round_trip(void) {
  SlabAllocator* a = slab_allocator_create();
  if (a == NULL) return false;
  bool ok = true;
  for (int i = 0; i < 1000 && ok; ++i) {
    void* p = slab_malloc_epoch(a, (size_t)(16 + i % 200), 0);
    ok = p != NULL && slab_free_checked(a, p) && !slab_free_checked(a, p);
  }
  slab_allocator_free(a);
  return ok;
}

/* Scopes nest on the calling thread; the innermost two stay open for the
 * thread's exit to end. */
static bool scopes(void) {
  const uint32_t depth = tslab_scope_depth();
  for (int i = 0; i < 100; ++i) {
    tslab_scope_begin("plugin");
    tslab_scope_begin("plugin inner");
    if (tslab_scope_depth() != depth + 2 || !tslab_scope_end() || !tslab_scope_end()) return false;
  }
  tslab_scope_begin("left open");
  tslab_scope_begin("left open too");
  return tslab_scope_depth() == depth + 2;
}

static void* thread_work(void* arg) {
  *(bool*)arg = allocator_round_trip() && scopes();
  return NULL;
}

int plugin_run(void) {
  if (!allocator_round_trip() || !scopes() || !tslab_scope_end() || !tslab_scope_end()) return 0;
  for (int i = 0; i < 8; ++i) {
    bool ok = false;
    pthread_t t;
    if (pthread_create(&t, NULL, thread_work, &ok) != 0 || pthread_join(t, NULL) != 0 || !ok) return 0;
  }
  /* The threads' exits ended the scopes they left open. */
  TslabScopeCounters c;
  tslab_scope_counters(&c);
  return c.begun == c.closed && c.shared == 0 && tslab_scope_depth() == 0;
}
