/* This file contains the C API of tslab's malloc override, libtslab-malloc:
 * tslab as the process's malloc, free, realloc and operator new/delete, for
 * programs that were not written for it, and lifetime scopes that route a
 * thread's plain allocations into an epoch of their own.
 *
 * Using it:
 *   LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtslab-malloc.so ./program
 *   or link with -ltslab-malloc (before -lc), or link the CMake target
 *   tslab::malloc_override (object files: link-time replacement, static too).
 *
 * Every malloc family function and every form of operator new and delete then
 * goes to one tslab allocator, the process allocator (tslab_malloc_allocator()),
 * with SLAB_MALLOC_EPOCHS epoch slots. Epoch 0 takes every allocation made
 * outside a scope and is permanent: slab_epoch_close, slab_epoch_close_era and
 * slab_epoch_destroy of it fail with TSLAB_ERR_PERMANENT, and slab_epoch_advance
 * leaves it open (the ring's current slot moves on to a free slot, if any). The
 * epoch API's unprefixed names (epoch_close, ...) are libtslab.so's only; this
 * library exports the slab_epoch_* forms.
 * slab_allocator_free of the process allocator fails the same way, and so does
 * slab_epoch_destroy of any of its epochs: a scope's blocks may belong to code
 * that knows nothing of the scope (libc's own buffers). malloc(0) returns a unique pointer;
 * failures set errno to ENOMEM (EINVAL for a bad alignment); realloc(p, 0)
 * frees p and returns NULL, as glibc's does. A realloc of a pointer that free
 * would refuse (below) is reported as free reports it and returns NULL with
 * errno EINVAL, p untouched.
 *
 * A free tslab refuses (a double free, a pointer into a block, a pointer
 * tslab never returned) prints one line on stderr and is ignored; with
 * TSLAB_BAD_FREE=abort the line is followed by abort().
 *
 * Lifetime scopes. Between tslab_scope_begin() and tslab_scope_end() every
 * plain malloc and operator new of the calling thread goes into a fresh epoch,
 * opened for the scope (slab_epoch_open). The end closes it: the pages of what
 * died in the scope go back to the OS at once, and what survives (an object a
 * library keeps in a global cache, say) stays valid, may be freed from any
 * thread, and returns its pages when freed. Scopes nest, last in first out,
 * per thread. When no epoch slot is free (more scopes at once than slots) or
 * a thread nests deeper than TSLAB_SCOPE_MAX_DEPTH, a new scope shares the
 * epoch of the enclosing one (epoch 0 outside any), and
 * tslab_scope_counters() counts it: malloc never fails because of scopes.
 * A thread that exits inside scopes ends them.
 *
 * These functions are defined in libtslab-malloc (and tslab::malloc_override)
 * only; while another malloc serves the process they still work, on the
 * process allocator, but plain malloc does not go there. */
#ifndef TSLAB_MALLOC_H
#define TSLAB_MALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slab_alloc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Epoch slots of the process allocator: slot 0 plus one per scope open at once. */
#define SLAB_MALLOC_EPOCHS 64u
/* Scopes one thread may nest before a new one shares its parent's epoch. */
#define TSLAB_SCOPE_MAX_DEPTH 64u

/* The allocator plain malloc uses (created at its first use), for statistics,
 * slab_collect and the epoch API. Never destroy it. NULL if the OS refused. */
SlabAllocator* tslab_malloc_allocator(void);

/* Begins a scope on the calling thread; `label` (may be NULL) names its epoch
 * in statistics. Returns the epoch the scope's allocations go to: a new one,
 * or the enclosing scope's if the scope had to share. */
EpochId tslab_scope_begin(const char* label);

/* Ends the calling thread's innermost scope and, if it had an epoch of its
 * own, closes that epoch (then ends each enclosing scope whose end came early,
 * tslab_scope_end_checked). False (TSLAB_ERR_DOMAIN_MISUSE) if the thread has no
 * scope open, and (TSLAB_ERR_REENTRANT, the scope stays) from a signal handler
 * that interrupted malloc or free. A scope begun from such a handler, or from
 * one that interrupted a scope's begin or end, shares the epoch the thread
 * allocates into; a handler's scopes otherwise nest inside the thread's, and
 * the thread's scopes are as they were once the handler has ended its own (but
 * for a scope of the thread whose end came early and which the handler's end
 * left innermost: that end ends it, as any end does). */
bool tslab_scope_end(void);

/* The calling thread's innermost scope: a number no other scope of the process
 * has had (a scope begun beyond TSLAB_SCOPE_MAX_DEPTH or from a signal handler,
 * which shares its epoch, has one too), or 0 if the thread has no scope open.
 * A scope begun beyond the depth ends only as the innermost one: ended early,
 * tslab_scope_end_checked of it fails and it stays open. */
uint64_t tslab_scope_innermost(void);

/* Ends scope `scope` (tslab_scope_innermost() right after its begin) if it is
 * the calling thread's innermost one, as tslab_scope_end does, then each
 * enclosing scope whose end came early (below). Otherwise ends nothing and
 * returns false with TSLAB_ERR_DOMAIN_MISUSE: a scope of this thread with
 * scopes nested in it still open ends when the last of them does (until then
 * its epoch stays open and the thread allocates into the innermost one); a
 * scope of another thread, or one that ended, is left alone. tslab::MallocScope
 * ends its scope this way. */
bool tslab_scope_end_checked(uint64_t scope);

/* Scopes open on the calling thread. */
uint32_t tslab_scope_depth(void);

/* The epoch plain malloc of the calling thread goes to now. */
EpochId tslab_scope_epoch(void);

typedef struct TslabScopeCounters {
  uint64_t begun;  /* scopes begun, process-wide */
  uint64_t shared; /* of those, scopes that shared their parent's epoch */
  uint64_t closed; /* epochs closed by a scope's end */
} TslabScopeCounters;

/* Process-wide scope counters. */
void tslab_scope_counters(TslabScopeCounters* out);

/* Calls made while the calling thread was already inside tslab: inside malloc
 * or free, or inside any tslab call holding a tslab lock (a signal handler that
 * interrupted them). Such an allocation comes from a 1 MiB static reserve,
 * whose blocks are reused once freed (each block's capacity is a power of two;
 * free neighbours merge again when a larger block is wanted), and fails with
 * ENOMEM only while the blocks in use leave no room, or while a merge of the
 * free blocks is under way (on any thread) or a fork is; such a free
 * of a tslab block is queued (up to TSLAB_REENTRANT_FREE_QUEUE per thread) and
 * carried out at the thread's next allocation slow path; beyond that the block
 * stays allocated. */
#define TSLAB_REENTRANT_FREE_QUEUE 16u
typedef struct TslabMallocCounters {
  uint64_t reentrant_allocations;         /* served from the reserve */
  uint64_t reentrant_allocations_refused; /* the reserve had no room: NULL, ENOMEM */
  uint64_t reentrant_frees_deferred;      /* queued */
  uint64_t reentrant_frees_queued;        /* queued now, not yet carried out */
  uint64_t reentrant_frees_dropped;       /* the queue was full: the block stays allocated */
  uint64_t bad_frees;                     /* frees refused and reported (double, interior, foreign) */
} TslabMallocCounters;

/* Process-wide counters of the malloc override. */
void tslab_malloc_counters(TslabMallocCounters* out);

#ifdef __cplusplus
}
#endif

#endif /* TSLAB_MALLOC_H */
