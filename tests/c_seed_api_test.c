/* This file contains the temporal-slab compatibility test, compiled as C11: the
 * usage temporal-slab documents for epoch domains (the type epoch_domain_t, its
 * fields read directly, enter/exit/destroy called as statements) and the
 * contract of its malloc-style wrapper (slab_malloc_epoch with size 0 returns
 * NULL; slab_free of NULL does nothing), written as its programs write them, with
 * checks of what tslab did. It returns non-zero on the first failed check. */
#include <stdio.h>
#include <string.h>

#include "epoch_domain.h"
#include "slab_alloc.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                                \
    }                                                                          \
  } while (0)

/* A request's allocations in a domain of their own; exiting it closes the epoch. */
static int request_scope(SlabAllocator* alloc) {
  epoch_domain_t* request = epoch_domain_create(alloc);
  CHECK(request != NULL);
  EpochDomain* same_type = request; /* one type under two names */
  CHECK(same_type->alloc == alloc);

  epoch_domain_enter(request);
  {
    char* session = slab_malloc_epoch(alloc, 128, request->epoch_id);
    char* cache_entry = slab_malloc_epoch(alloc, 256, request->epoch_id);
    char* response_buffer = slab_malloc_epoch(alloc, 504, request->epoch_id);
    CHECK(session != NULL && cache_entry != NULL && response_buffer != NULL);
    strcpy(session, "user_session");
    CHECK(strcmp(session, "user_session") == 0);
    CHECK(slab_epoch_get_refcount(alloc, request->epoch_id) == 1);
  }
  const EpochId epoch = request->epoch_id;
  epoch_domain_exit(request); /* the last holder: the request's epoch closes */
  CHECK(slab_epoch_state(alloc, epoch) == EPOCH_CLOSING);
  CHECK(request->closed);
  epoch_domain_destroy(request);
  return 0;
}

/* One domain reused for every frame, closed by hand at the end. */
static int reusable_frame(SlabAllocator* alloc) {
  epoch_advance(alloc);
  EpochId frame_epoch = epoch_current(alloc);
  epoch_domain_t* frame = epoch_domain_wrap(alloc, frame_epoch, false);
  CHECK(frame != NULL);
  CHECK(frame->epoch_id == frame_epoch && !frame->auto_close);

  for (int i = 0; i < 3; i++) {
    epoch_domain_enter(frame);
    {
      char* render_data = slab_malloc_epoch(alloc, 384, frame->epoch_id);
      char* debug_info = slab_malloc_epoch(alloc, 128, frame->epoch_id);
      CHECK(render_data != NULL && debug_info != NULL);
      snprintf(debug_info, 128, "frame %d rendered", i);
    }
    epoch_domain_exit(frame);
    CHECK(slab_epoch_state(alloc, frame_epoch) == EPOCH_ACTIVE); /* no auto-close */
  }

  epoch_domain_force_close(frame);
  CHECK(slab_epoch_state(alloc, frame_epoch) == EPOCH_CLOSING);
  epoch_domain_destroy(frame);
  return 0;
}

/* A query domain inside a transaction domain, both on the current epoch: the
 * query's exit leaves the epoch open because the transaction still holds it. */
static int execute_query(epoch_domain_t* query_domain) {
  epoch_domain_enter(query_domain);
  {
    char* result_set = slab_malloc_epoch(query_domain->alloc, 256, query_domain->epoch_id);
    char* index_buffer = slab_malloc_epoch(query_domain->alloc, 256, query_domain->epoch_id);
    CHECK(result_set != NULL && index_buffer != NULL);
    strcpy(result_set, "SELECT * FROM users");
    snprintf(index_buffer, 256, "index_data");
  }
  epoch_domain_exit(query_domain);
  return 0;
}

static int nested_domains(SlabAllocator* alloc) {
  epoch_advance(alloc);
  epoch_domain_t* transaction = epoch_domain_create(alloc);
  CHECK(transaction != NULL);

  epoch_domain_enter(transaction);
  {
    char* txn_log = slab_malloc_epoch(alloc, 512, transaction->epoch_id);
    CHECK(txn_log != NULL);
    strcpy(txn_log, "BEGIN");

    epoch_domain_t* query = epoch_domain_create(alloc);
    CHECK(query != NULL && query->epoch_id == transaction->epoch_id);
    CHECK(execute_query(query) == 0);
    epoch_domain_destroy(query);
    CHECK(slab_epoch_state(alloc, transaction->epoch_id) == EPOCH_ACTIVE);

    char* commit_data = slab_malloc_epoch(alloc, 256, transaction->epoch_id);
    CHECK(commit_data != NULL);
    strcpy(commit_data, "COMMIT");
  }
  const EpochId epoch = transaction->epoch_id;
  epoch_domain_exit(transaction);
  CHECK(slab_epoch_state(alloc, epoch) == EPOCH_CLOSING);
  epoch_domain_destroy(transaction);
  return 0;
}

/* The malloc-style wrapper's contract. */
static int malloc_wrapper(SlabAllocator* a) {
  epoch_advance(a);
  const EpochId e = epoch_current(a);

  void* p1 = slab_malloc_epoch(a, 64, e);
  CHECK(p1 != NULL);
  memset(p1, 0xAA, 64);
  slab_free(a, p1);

  void* ptrs[100];
  for (int i = 0; i < 100; i++) {
    ptrs[i] = slab_malloc_epoch(a, 128, e);
    CHECK(ptrs[i] != NULL);
    *(int*)ptrs[i] = i;
  }
  for (int i = 0; i < 100; i++) {
    CHECK(*(int*)ptrs[i] == i);
    slab_free(a, ptrs[i]);
  }

  slab_free(a, NULL); /* does nothing */
  void* p_zero = slab_malloc_epoch(a, 0, e);
  CHECK(p_zero == NULL);
  CHECK(slab_last_error() == TSLAB_ERR_SIZE_ZERO);
  void* p_max = slab_malloc_epoch(a, 504, e);
  CHECK(p_max != NULL);
  slab_free(a, p_max);

  void* pm = slab_malloc_epoch(a, 100, e);
  SlabHandle h;
  void* ph = alloc_obj_epoch(a, 100, e, &h);
  CHECK(pm != NULL && ph != NULL);
  slab_free(a, pm);
  CHECK(free_obj(a, h));
  return 0;
}

int main(void) {
  SlabAllocator* alloc = slab_allocator_create();
  CHECK(alloc != NULL);

  CHECK(request_scope(alloc) == 0);
  CHECK(reusable_frame(alloc) == 0);
  CHECK(nested_domains(alloc) == 0);
  CHECK(malloc_wrapper(alloc) == 0);

  char message[256] = {0};
  CHECK(slab_check(alloc, message, sizeof message));
  slab_allocator_free(alloc);
  printf("temporal-slab usage: ok\n");
  return 0;
}
