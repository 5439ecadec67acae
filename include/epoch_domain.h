/* This file contains tslab's epoch domains (C API), with temporal-slab's names.
 *
 * A domain binds one activation of an epoch: the slot `epoch_id` at era `era`.
 * Entering a domain makes it the calling thread's current domain
 * (epoch_domain_current) and holds the epoch (its refcount, see
 * slab_epoch_get_refcount, counts entered domains); exiting releases it.
 *
 *   EpochDomain* d = epoch_domain_create(alloc);   // binds epoch_current(alloc)
 *   epoch_domain_enter(d);
 *   void* p = slab_malloc_epoch(alloc, 64, d->epoch_id);
 *   ...
 *   epoch_domain_exit(d);      // last holder of an auto-close domain: the epoch closes
 *   epoch_domain_destroy(d);
 *
 * Rules:
 *   - Domains nest LIFO per thread, up to EPOCH_DOMAIN_MAX_DEPTH deep. The same
 *     domain may be entered again while entered on the same thread; a domain is
 *     entered on one thread at a time, and only that thread may exit it.
 *   - Auto-close: when an auto-close domain is exited for the last time and no
 *     other domain holds the epoch (refcount 0), the epoch is closed, but only if
 *     the slot is still at the domain's era: a ring that wrapped since (the slot
 *     was re-activated) is never closed on a stale domain's behalf.
 *   - A domain that names a past activation (stale era) cannot be entered or
 *     force-closed: TSLAB_ERR_STALE_EPOCH. It can still be exited and destroyed.
 *
 * Misuse is reported, never undefined behaviour: the call returns false / NULL
 * and slab_last_error() says why:
 *   TSLAB_ERR_INVALID_ARGUMENT  a NULL domain or allocator, a destroyed allocator,
 *                               or a domain already destroyed (a second destroy,
 *                               or any call after destroy: the domain's memory
 *                               stays tslab's and is reused only after many later
 *                               destroys, so such a call is recognised)
 *   TSLAB_ERR_EPOCH_OUT_OF_RANGE  epoch_domain_wrap with an epoch outside the ring
 *   TSLAB_ERR_DOMAIN_MISUSE     exit out of LIFO order or of a domain not entered,
 *                               enter/exit from a thread other than the one the
 *                               domain is entered on, destroy while entered,
 *                               nesting deeper than EPOCH_DOMAIN_MAX_DEPTH
 *   TSLAB_ERR_STALE_EPOCH       enter / force_close of a domain whose era is past
 * A refused call changes nothing.
 *
 * Assertions: when the library is compiled with TSLAB_DOMAIN_ASSERTS defined and
 * NDEBUG not defined, every misuse above except a stale era (which correct
 * programs meet when the ring wraps) also fails an assert(). Otherwise misuse is
 * only reported, in every build type, so that tests can exercise it.
 *
 * Domains live in memory of their own (never the system malloc). Every function
 * is thread-safe. A thread that ends with domains entered leaves them entered:
 * exit them first. */
#ifndef TSLAB_EPOCH_DOMAIN_H
#define TSLAB_EPOCH_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "slab_alloc.h"
#include "tslab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest number of domains entered at once on one thread. */
#define EPOCH_DOMAIN_MAX_DEPTH 64u

typedef struct EpochDomain {
  SlabAllocator* alloc; /* the allocator the epoch belongs to */
  EpochId epoch_id;     /* the bound epoch slot */
  uint64_t era;         /* the bound activation of that slot */
  bool auto_close;      /* close the epoch on the last exit (and on destroy) */
  bool closed;          /* read-only: a close by this domain succeeded */
  /* Private: managed by the library, never written by users. */
  uint32_t priv_depth;           /* times entered on the owning thread */
  uintptr_t priv_owner;          /* token of the thread it is entered on, 0 if none, 1 once destroyed */
  struct EpochDomain* priv_next; /* reserved */
  uint64_t priv_identity;        /* set by create, cleared by destroy */
} EpochDomain;

/* temporal-slab's name for the same type, so that its programs compile as they
 * are: epoch_domain_t* d = epoch_domain_create(alloc); ... d->epoch_id ... */
typedef EpochDomain epoch_domain_t;

/* A domain bound to the allocator's current epoch (and that activation's era),
 * auto_close = true. NULL with TSLAB_ERR_INVALID_ARGUMENT for a NULL allocator,
 * TSLAB_ERR_OUT_OF_MEMORY if no memory. */
EpochDomain* epoch_domain_create(SlabAllocator* alloc);
/* A domain bound to `epoch`'s current activation. */
EpochDomain* epoch_domain_wrap(SlabAllocator* alloc, EpochId epoch, bool auto_close);

/* Makes `d` the calling thread's current domain and holds its epoch. */
bool epoch_domain_enter(EpochDomain* d);
/* Leaves `d`, which must be the calling thread's innermost domain. */
bool epoch_domain_exit(EpochDomain* d);

/* The calling thread's innermost entered domain, or NULL. */
EpochDomain* epoch_domain_current(void);
/* The allocator of epoch_domain_current(), or NULL. */
SlabAllocator* epoch_domain_allocator(void);

/* Frees `d`; refused while it is entered on any thread. An auto-close domain
 * closes its epoch here if the era still matches and no domain holds it. A
 * destroy and an enter racing on two threads: exactly one of them succeeds
 * (the enter refused with TSLAB_ERR_INVALID_ARGUMENT, or the destroy with
 * TSLAB_ERR_DOMAIN_MISUSE), unless the enter is refused for a reason of its
 * own: an enter that the ring's advance makes stale while it runs may make
 * the destroy read the domain as entered, and both are refused. */
bool epoch_domain_destroy(EpochDomain* d);
/* Closes the bound epoch now, entered or not, if the era still matches. */
bool epoch_domain_force_close(EpochDomain* d);

/* The calls above under tslab's prefix, the same functions: the names
 * libtslab-malloc.so exports (it exports none of the seed API's unprefixed
 * names), and those tslab::EpochScope calls. */
EpochDomain* slab_epoch_domain_create(SlabAllocator* alloc);
EpochDomain* slab_epoch_domain_wrap(SlabAllocator* alloc, EpochId epoch, bool auto_close);
bool slab_epoch_domain_enter(EpochDomain* d);
bool slab_epoch_domain_exit(EpochDomain* d);
EpochDomain* slab_epoch_domain_current(void);
SlabAllocator* slab_epoch_domain_allocator(void);
bool slab_epoch_domain_destroy(EpochDomain* d);
bool slab_epoch_domain_force_close(EpochDomain* d);

#ifdef __cplusplus
}
#endif

#endif /* TSLAB_EPOCH_DOMAIN_H */
