/* Uses tslab's C API from an installed package through the prefixed include
 * style (<tslab/slab_alloc.h>, ...), with temporal-slab's domain type name and
 * the version header. Exits non-zero on any failure. */
#include <stdio.h>
#include <string.h>
#include <tslab/epoch_domain.h>
#include <tslab/slab_alloc.h>
#include <tslab/slab_arena.h>
#include <tslab/slab_stats.h>
#include <tslab/version.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

int main(void) {
  CHECK(tslab_version() == TSLAB_VERSION);

  SlabAllocator* alloc = slab_allocator_create();
  CHECK(alloc != NULL);
  if (alloc == NULL) return 1;

  epoch_domain_t* request = epoch_domain_create(alloc);
  CHECK(request != NULL);
  if (request == NULL) return 1;
  CHECK(epoch_domain_enter(request));
  char* text = slab_malloc_epoch(alloc, 100, request->epoch_id);
  CHECK(text != NULL);
  if (text != NULL) strcpy(text, "request");
  CHECK(slab_malloc_epoch(alloc, 0, request->epoch_id) == NULL);
  CHECK(slab_last_error() == TSLAB_ERR_SIZE_ZERO);
  const EpochId epoch = request->epoch_id;
  CHECK(epoch_domain_exit(request));
  CHECK(slab_epoch_state(alloc, epoch) == EPOCH_CLOSING);
  CHECK(epoch_domain_destroy(request));
  CHECK(slab_free_checked(alloc, text));

  SlabGlobalStats stats = {.size = sizeof stats}; /* the versioning contract: say what you have */
  CHECK(slab_stats_global(alloc, &stats));
  CHECK(stats.size == sizeof stats);
  slab_allocator_free(alloc);

  if (failures != 0) {
    fprintf(stderr, "consumer (C, <tslab/...> headers): %d check(s) failed\n", failures);
    return 1;
  }
  printf("consumer (C, <tslab/...> headers, tslab %s): ok\n", TSLAB_VERSION_STRING);
  return 0;
}
