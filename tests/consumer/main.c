/* Uses tslab's C API from an installed package. Exits non-zero on any failure. */
#include <slab_alloc.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

int main(void) {
  SlabAllocator* alloc = slab_allocator_create();
  CHECK(alloc != NULL);
  if (alloc == NULL) return 1;
  CHECK(slab_epoch_count(alloc) == SLAB_DEFAULT_EPOCH_COUNT);

  EpochId epoch = epoch_current(alloc);
  CHECK(slab_epoch_state(alloc, epoch) == EPOCH_ACTIVE);

  /* Handle API: allocate, write, look up, free once. */
  SlabHandle handle = 0;
  unsigned char* obj = alloc_obj_epoch(alloc, 128, epoch, &handle);
  CHECK(obj != NULL);
  CHECK(handle != 0);
  if (obj != NULL) {
    memset(obj, 0x5a, 128);
    CHECK(obj[0] == 0x5a && obj[127] == 0x5a);
  }
  CHECK(slab_handle_to_ptr(alloc, handle) == obj);
  CHECK(free_obj(alloc, handle));
  CHECK(!free_obj(alloc, handle)); /* already freed */

  /* Pointer API. */
  char* text = slab_malloc_epoch(alloc, 200, epoch);
  CHECK(text != NULL);
  if (text != NULL) {
    strcpy(text, "tslab");
    CHECK(strcmp(text, "tslab") == 0);
  }
  CHECK(slab_usable_size(alloc, text) >= 200);
  CHECK(slab_free_checked(alloc, text));

  /* Epochs: advancing closes the current one. */
  EpochId next = epoch_advance(alloc);
  CHECK(next != epoch);
  CHECK(epoch_current(alloc) == next);
  CHECK(slab_epoch_state(alloc, epoch) == EPOCH_CLOSING);
  CHECK(alloc_obj_epoch(alloc, 16, epoch, NULL) == NULL);
  CHECK(slab_last_error() == TSLAB_ERR_EPOCH_CLOSING);
  CHECK(slab_error_string(TSLAB_ERR_EPOCH_CLOSING) != NULL);

  char message[256] = {0};
  CHECK(slab_check(alloc, message, sizeof message));
  slab_allocator_free(alloc);

  if (failures != 0) {
    fprintf(stderr, "consumer (C): %d check(s) failed\n", failures);
    return 1;
  }
  printf("consumer (C): ok\n");
  return 0;
}
