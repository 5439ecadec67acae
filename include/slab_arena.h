/* This file contains tslab's arena C API: bump arenas for objects that are never
 * freed one by one (parse trees, per-request scratch, per-frame buffers) and go
 * away together when the arena is reset or destroyed.
 *
 *   SlabArenaOptions o;
 *   slab_arena_options_init(&o);               // TSLAB_ARENA_SIZE / _ZERO / _OVERFLOW
 *   SlabArena* scratch = slab_arena_create(alloc, &o);
 *   char* line = slab_arena_alloc(scratch, 256, 1);
 *   Node* n = slab_arena_alloc(scratch, sizeof(Node), _Alignof(Node));
 *   ...
 *   slab_arena_reset(scratch);                 // every block at once; used bytes zeroed
 *   slab_arena_destroy(scratch);
 *
 * Memory. An arena bump-allocates from chunks: an optional caller buffer first,
 * then chunks of `chunk_size` bytes it takes from a tslab allocator, in one epoch
 * of that allocator (one activation of it: all of an arena's chunks belong to the
 * era the epoch had when the arena was created). When a block does not fit the
 * current chunk, the overflow policy decides:
 *   TSLAB_ARENA_OVERFLOW_ERROR     the allocation fails with TSLAB_ERR_ARENA_FULL
 *   TSLAB_ARENA_OVERFLOW_GROW      a new chunk is taken (a block larger than a
 *                                  quarter of a chunk gets a chunk of its own)
 *   TSLAB_ARENA_OVERFLOW_FALLBACK  the block comes from the slab allocator; the
 *                                  arena frees it on reset and destroy
 * Reset keeps the arena's first chunk (the caller buffer if there is one) and
 * gives every other chunk and fallback block back to the allocator.
 *
 * Zeroing. With zero_on_reset (the default), every block the arena hands out
 * reads as zero, and only memory that may hold old bytes is written: reset zeroes
 * the bytes used since the previous reset, a caller buffer is zeroed when the
 * arena is created, and a chunk or fallback block of 64 KiB or less (carved from
 * a slab) when the arena takes it. A larger one is a span of its own, whose pages
 * come zero from the OS, so an arena with a large chunk_size is created without
 * touching the pages of its first chunk. The start of such a span is no block
 * of the program: a slab_free of it is refused (TSLAB_ERR_NOT_ALLOCATED), as a
 * free of one of the arena's blocks is (TSLAB_ERR_INTERIOR_POINTER).
 *
 * Requests. `alignment` must be a non-zero power of two up to
 * SLAB_ARENA_MAX_ALIGNMENT (else TSLAB_ERR_BAD_ALIGNMENT); a size above
 * SLAB_ARENA_MAX_REQUEST fails with TSLAB_ERR_SIZE_TOO_LARGE whatever the policy.
 * The arithmetic cannot wrap: a request that does not fit fails, never returns a
 * block outside its chunk. A size of 0 gets a unique 1-byte block.
 *
 * Threads. An arena created with `shared` takes slab_arena_alloc from any number
 * of threads at once: each block is reserved by one atomic compare-and-swap on
 * the chunk's offset, and only one thread installs the next chunk. Any other
 * arena is used by one thread at a time. Reset, stats while allocating (shared:
 * a snapshot) and destroy need the arena to themselves.
 *
 * Epoch arenas. With `close_epoch`, destroying the arena frees its chunks and
 * then closes its epoch if the slot is still at the arena's era
 * (epoch_close_era): the epoch's pages go back to the OS before
 * slab_arena_destroy returns.
 *
 * Thread-local arenas. slab_thread_arena() is the calling thread's arena,
 * created on first use from the TSLAB_ARENA_* options over a process-wide
 * allocator; it is destroyed when the thread exits or by
 * slab_thread_arena_destroy(), and created again by the next use.
 *
 * Failures return NULL / false and record the reason, readable with
 * slab_last_error(). The arena takes no memory from the system malloc. */
#ifndef TSLAB_SLAB_ARENA_H
#define TSLAB_SLAB_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slab_alloc.h"
#include "tslab/error.h"
#include "tslab/options.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SlabArenaOptions.epoch: the allocator's current epoch when the arena is created. */
#define SLAB_ARENA_CURRENT_EPOCH UINT32_MAX
/* Largest alignment an arena block can ask for (1 GiB). */
#define SLAB_ARENA_MAX_ALIGNMENT ((size_t)1 << 30)
/* Largest size an arena block can ask for (64 TiB less 2 GiB: with its chunk's
 * header and the largest alignment it is within what the allocator takes, 2^46). */
#define SLAB_ARENA_MAX_REQUEST (((size_t)1 << 46) - ((size_t)1 << 31))
/* Smallest and largest chunk_size of an arena with an allocator. */
#define SLAB_ARENA_MIN_CHUNK ((size_t)1024)
#define SLAB_ARENA_MAX_CHUNK ((size_t)1 << 36)

typedef struct SlabArena SlabArena; /* opaque */

typedef struct SlabArenaOptions {
  size_t chunk_size;           /* bytes per chunk taken from the allocator (header included) */
  TslabArenaOverflow overflow; /* what a full arena does */
  bool zero_on_reset;          /* blocks are handed out zeroed; reset zeroes the used bytes */
  bool shared;                 /* slab_arena_alloc may be called from many threads at once */
  EpochId epoch;               /* epoch of the chunks, or SLAB_ARENA_CURRENT_EPOCH */
  bool close_epoch;            /* epoch arena: destroy frees the chunks, then closes the epoch */
  void* buffer;                /* caller memory used before any chunk (never freed by the arena), or NULL */
  size_t buffer_size;          /* bytes at `buffer` (0 when buffer is NULL) */
} SlabArenaOptions;

typedef struct SlabArenaStats {
  uint64_t bytes_used;      /* bytes handed out since the last reset (fallback blocks included) */
  uint64_t padding_bytes;   /* bytes skipped to align blocks since the last reset */
  uint64_t high_water;      /* the largest bytes_used + padding_bytes ever reached */
  uint64_t capacity;        /* bytes of chunk space held now (the caller buffer included) */
  uint64_t chunks;          /* chunks held now (the caller buffer counts as one) */
  uint64_t fallback_blocks; /* blocks taken from the slab allocator since the last reset */
  uint64_t overflows;       /* allocations that did not fit the current chunk, ever */
  uint64_t resets;          /* resets, ever */
} SlabArenaStats;

/* Fills *out from the TSLAB_ARENA_SIZE, TSLAB_ARENA_ZERO and TSLAB_ARENA_OVERFLOW
 * options (read once per process, see tslab/options.h); epoch is
 * SLAB_ARENA_CURRENT_EPOCH, everything else off. If one of them is invalid it
 * returns false with TSLAB_ERR_BAD_OPTION_VALUE (*out then holds the built-in
 * default for it) and slab_arena_config_error() names the variable. */
bool slab_arena_options_init(SlabArenaOptions* out);
/* The message of the first invalid TSLAB_ARENA_* option, naming it, or NULL. */
const char* slab_arena_config_error(void);

/* A new arena. `options` NULL means slab_arena_options_init's values (and fails
 * like it). `alloc` may be NULL only for an arena over a caller buffer with the
 * error policy. Fails with TSLAB_ERR_INVALID_ARGUMENT (inconsistent options, a
 * chunk_size outside SLAB_ARENA_MIN_CHUNK..SLAB_ARENA_MAX_CHUNK, a buffer that
 * wraps the address space), TSLAB_ERR_EPOCH_OUT_OF_RANGE, TSLAB_ERR_EPOCH_CLOSING
 * or TSLAB_ERR_OUT_OF_MEMORY (the first chunk is taken here). An arena lives no
 * longer than its allocator: slab_allocator_free ends it with the memory of its
 * chunks, and every later call on it is refused (TSLAB_ERR_INVALID_ARGUMENT)
 * but slab_arena_destroy, which frees what is left. Nor longer than the blocks
 * of its epoch activation: slab_epoch_destroy of that epoch frees its chunks
 * and fallback blocks with the epoch's other blocks and ends it the same way,
 * later calls then refused with TSLAB_ERR_STALE_EPOCH (an arena over a caller
 * buffer with the error policy holds no such block and goes on), and an arena
 * whose creation raced that destroy is not created (TSLAB_ERR_STALE_EPOCH) or
 * made and ended. A call on the arena that races the destroy finishes before
 * the destroy releases the chunks, or is refused: the arena never reads or
 * writes released memory (a block it handed out just before dies with the
 * epoch, as any block of it does). */
SlabArena* slab_arena_create(SlabAllocator* alloc, const SlabArenaOptions* options);
/* Frees every chunk and fallback block; an epoch arena then closes its epoch.
 * False with the close's error if that fails (the arena is destroyed all the
 * same): TSLAB_ERR_STALE_EPOCH if the epoch was re-activated meanwhile,
 * TSLAB_ERR_PERMANENT for an epoch of the malloc override's process allocator,
 * TSLAB_ERR_REENTRANT as epoch_close_era; with TSLAB_ERR_INVALID_ARGUMENT for NULL, a
 * destroyed arena or a thread-local arena (use slab_thread_arena_destroy). An
 * arena whose allocator was freed is destroyed too: only its record is left. */
bool slab_arena_destroy(SlabArena* arena);

/* `size` bytes aligned to `alignment`, or NULL: TSLAB_ERR_BAD_ALIGNMENT,
 * TSLAB_ERR_SIZE_TOO_LARGE, TSLAB_ERR_ARENA_FULL (error policy), or what the
 * allocator reported for a new chunk or fallback block (TSLAB_ERR_OUT_OF_MEMORY,
 * TSLAB_ERR_EPOCH_CLOSING, TSLAB_ERR_STALE_EPOCH). */
void* slab_arena_alloc(SlabArena* arena, size_t size, size_t alignment);
/* Every block at once: see "Memory" and "Zeroing" above. */
bool slab_arena_reset(SlabArena* arena);
bool slab_arena_stats(const SlabArena* arena, SlabArenaStats* out);

/* --- thread-local arenas --------------------------------------------------- */
/* The calling thread's arena, created on first use. NULL with
 * TSLAB_ERR_BAD_OPTION_VALUE if a TSLAB_ARENA_* option is invalid, with
 * TSLAB_ERR_REENTRANT (and a message on stderr) if called while this thread's
 * arena is being created, or TSLAB_ERR_OUT_OF_MEMORY. */
SlabArena* slab_thread_arena(void);
/* slab_arena_alloc on slab_thread_arena(). */
void* slab_thread_arena_alloc(size_t size, size_t alignment);
/* Resets the calling thread's arena, if it has one. */
bool slab_thread_arena_reset(void);
/* Destroys the calling thread's arena, if it has one; the next use creates a new one. */
bool slab_thread_arena_destroy(void);

#ifdef __cplusplus
}
#endif

#endif /* TSLAB_SLAB_ARENA_H */
