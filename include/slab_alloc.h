/* This file contains tslab's C API, source-compatible with the temporal-slab
 * names (alloc_obj_epoch, free_obj, epoch_advance, ...).
 *
 * An epoch is a lifetime phase (a request, a frame, a batch): objects allocated
 * into one epoch never share a slab with objects of another, so a phase's memory
 * drains together. Epochs form a ring of N slots (16 unless chosen otherwise).
 *
 * Every function here is thread-safe. Failures return NULL / false / 0 and record
 * the reason, readable with slab_last_error() (see tslab/error.h).
 *
 * Signals: like malloc, nothing here is async-signal-safe; do not call tslab from
 * a handler that may interrupt tslab on the same thread. epoch_advance,
 * epoch_close, epoch_close_era and slab_collect detect the case that would
 * otherwise hang (the thread is inside an allocation of that allocator, or holds
 * a tslab lock) and refuse with TSLAB_ERR_REENTRANT. A handler that interrupted
 * a free is not detected: such a call can corrupt the heap or crash.
 * fork: every tslab lock is held across fork(), so a child can go on using tslab;
 * the heaps of threads that do not exist in the child are set aside (their cached
 * memory stays reserved; their blocks can still be freed). */
#ifndef TSLAB_SLAB_ALLOC_H
#define TSLAB_SLAB_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tslab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes per slab: every slab holds objects of one size class of one epoch. */
#define SLAB_PAGE_SIZE 65536u

/* Default number of epochs in the ring. */
#define SLAB_DEFAULT_EPOCH_COUNT 16u
/* Largest number of epochs an allocator can be created with. */
#define SLAB_MAX_EPOCH_COUNT 256u
/* Returned by slab_epoch_open when no epoch could be opened. */
#define SLAB_NO_EPOCH UINT32_MAX

typedef struct SlabAllocator SlabAllocator; /* opaque */
typedef uint64_t SlabHandle;                /* 0 is never a valid handle */
typedef uint32_t EpochId;

typedef enum EpochLifecycleState { EPOCH_ACTIVE = 0, EPOCH_CLOSING = 1 } EpochLifecycleState;

typedef struct SlabAllocatorOptions {
  uint32_t epoch_count; /* 1..SLAB_MAX_EPOCH_COUNT; 0 means the default */
} SlabAllocatorOptions;

/* Slow-path counters of one size class, summed over all threads.
 * Names are temporal-slab's; meanings are tslab's:
 *   slow_path_hits            allocations that left the thread-local fast path
 *   new_slab_count            slabs carved from fresh segment memory
 *   list_move_partial_to_full a thread's current slab ran out and went to its full list
 *   list_move_full_to_partial a full slab got a block back (local or collected remote free)
 *   current_partial_null      slow path found no current slab in the (epoch, class) bin
 *   current_partial_full      slow path found the current slab exhausted
 *   empty_slab_recycled       a slab from the allocator's pool (recycled from an
 *                             earlier epoch) was taken up again, with no new OS memory
 *   empty_slab_overflowed     an empty slab left its epoch for the pool, its pages
 *                             returned to the OS */
typedef struct PerfCounters {
  uint64_t slow_path_hits;
  uint64_t new_slab_count;
  uint64_t list_move_partial_to_full;
  uint64_t list_move_full_to_partial;
  uint64_t current_partial_null;
  uint64_t current_partial_full;
  uint64_t empty_slab_recycled;
  uint64_t empty_slab_overflowed;
} PerfCounters;

/* --- allocator lifetime ------------------------------------------------- */
SlabAllocator* slab_allocator_create(void);
SlabAllocator* slab_allocator_create_with(const SlabAllocatorOptions* options);
/* Destroys the allocator and returns all its memory. Outstanding pointers and
 * handles become invalid. Must not race with other calls on the same allocator.
 * A second free, or any later call through the pointer, is refused with
 * TSLAB_ERR_INVALID_ARGUMENT (the record stays mapped and reads as dead; it is
 * reused, as a new allocator, only after 64 later destroys). */
void slab_allocator_free(SlabAllocator* alloc);

/* --- allocator name -------------------------------------------------------- */
/* Room for a name, its NUL included: names are at most 31 bytes. */
#define SLAB_ALLOCATOR_NAME_SIZE 32u

/* Names the allocator for people reading its statistics: the JSON rendering
 * carries it as "name", the Prometheus text as the label name="..." of
 * tslab_allocator_info. The name is copied. NULL or "" clears it. Refused
 * (false, TSLAB_ERR_INVALID_ARGUMENT, the old name kept) for a bad allocator, a
 * name longer than 31 bytes, or one holding a control character (a byte below
 * 0x20, or 0x7f). Other bytes are kept as given; a rendering replaces bytes
 * that are not UTF-8. The process allocator of the malloc override is named
 * "malloc". */
bool slab_allocator_set_name(SlabAllocator* alloc, const char* name);
/* Writes the allocator's name, NUL-terminated and truncated to out_size (out
 * may be NULL when out_size is 0), and returns its length, like snprintf; ""
 * for an allocator never named. 0, with empty text and TSLAB_ERR_INVALID_ARGUMENT,
 * for a bad allocator. */
size_t slab_allocator_name(SlabAllocator* alloc, char* out, size_t out_size);

/* --- handle API ---------------------------------------------------------- */
/* Allocates `size` bytes (>= 1) in epoch `epoch`; stores a handle in *out (may be
 * NULL). Returns NULL for size 0, an out-of-range or CLOSING epoch, or no memory. */
void* alloc_obj_epoch(SlabAllocator* alloc, uint32_t size, EpochId epoch, SlabHandle* out);
/* Frees by handle. Returns false, and never crashes or corrupts, for a zero,
 * malformed, stale, already-freed or another allocator's handle (but for the
 * one race slab_free describes). An already-freed handle whose slot was handed
 * out again in the same life of its slab is the new block's handle: the
 * generation is the slab's, so it frees the new block, as a pointer would. */
bool free_obj(SlabAllocator* alloc, SlabHandle handle);
/* The block a live handle names, or NULL. */
void* slab_handle_to_ptr(SlabAllocator* alloc, SlabHandle handle);
/* The handle of a live block, or 0. */
SlabHandle slab_ptr_to_handle(SlabAllocator* alloc, const void* ptr);

/* --- pointer API --------------------------------------------------------- */
/* malloc-style, no header. A size of 0 returns NULL with TSLAB_ERR_SIZE_ZERO
 * (temporal-slab's contract; the malloc override's malloc(0), the C++
 * Allocator::allocate(0) and slab_malloc_aligned_epoch with size 0 return a
 * unique minimum-size block instead). */
void* slab_malloc_epoch(SlabAllocator* alloc, size_t size, EpochId epoch);
/* `alignment` must be a non-zero power of two. A size of 0 returns a unique
 * minimum-size block. */
void* slab_malloc_aligned_epoch(SlabAllocator* alloc, size_t size, size_t alignment, EpochId epoch);
/* NULL is a no-op. Reports (via slab_last_error) a pointer never returned, an
 * interior pointer or a double free; never corrupts. One race is not reported:
 * two frees of one block (by pointer or handle) may both succeed when they race
 * each other from different threads and one of them is the owner thread's (the
 * thread whose allocation made the block), or when the owner thread collects
 * the first one while the second runs (from any thread but the owner, the
 * first's own included: a collection lands between the second's check and its
 * mark); the block is still never handed out twice. The owner thread's frees,
 * one after the other, always report the second, and so does any free once the
 * owner's next collection after the first has ended. */
void slab_free(SlabAllocator* alloc, void* ptr);
/* Like slab_free, but says whether the pointer was freed. NULL returns true. */
bool slab_free_checked(SlabAllocator* alloc, void* ptr);
/* Bytes usable at a live block, or 0 if `ptr` is not one. */
size_t slab_usable_size(SlabAllocator* alloc, const void* ptr);

/* --- epochs -------------------------------------------------------------- */
EpochId epoch_current(SlabAllocator* alloc);
/* Marks the current epoch CLOSING and activates the next ring slot that is not
 * held (slab_epoch_open) with a new era; if every other slot is held, the current
 * slot itself is re-activated with a new era. Returns the new current epoch; on
 * TSLAB_ERR_REENTRANT (see the top of this file) the current epoch, unmoved. */
EpochId epoch_advance(SlabAllocator* alloc);
/* Mixed lifetimes in one allocator: activates an epoch slot with a new era and
 * holds it outside the rotation, for long-lived objects (a cache, a session) next
 * to rotating short epochs. epoch_advance never closes or re-activates a held
 * slot; epoch_close / epoch_close_era on it close it and end the hold (the slot
 * rejoins the rotation). The slot taken is the one epoch_advance would reach
 * last, preferring a CLOSING one; if its previous activation was still open, that
 * activation ends here, as a close would end it. Returns SLAB_NO_EPOCH with
 * TSLAB_ERR_NO_FREE_EPOCH when every slot but the current one is held, and with
 * TSLAB_ERR_REENTRANT like epoch_advance. */
EpochId slab_epoch_open(SlabAllocator* alloc);
/* The warm reserve: up to `bytes` of empty slabs (rounded down to whole slabs)
 * that an allocator keeps committed across epoch closes, and that later epochs
 * take first, with no madvise and no page fault. The default is the option
 * TSLAB_WARM_RESERVE (6 MiB). After a close, every empty slab beyond the reserve
 * has handed its pages back; slab_collect returns the reserve too. Lowering it
 * below what is held returns the reserve at once. False (TSLAB_ERR_INVALID_ARGUMENT)
 * for a bad allocator or more than 1 GiB. */
bool slab_set_warm_reserve(SlabAllocator* alloc, size_t bytes);
size_t slab_warm_reserve(SlabAllocator* alloc);
/* Retention: up to `bytes` of freed blocks above the largest size class, and
 * of empty slabs a thread hands back outside any close (when it exits, or when
 * its size mix moved and it would grow), that an allocator keeps committed
 * beyond the warm reserve, so that a loop over large buffers, or the next
 * thread, reuses their pages without a page fault. Pages kept this way go back
 * to the OS once unused for about a second (checked whenever a large block is
 * allocated or freed and whenever slabs are handed back), at every epoch close
 * and at slab_collect.
 * The default is the option TSLAB_LARGE_RETAIN (64 MiB); 0 returns every freed
 * span beyond the warm reserve at once. Lowering it returns the excess at once.
 * False (TSLAB_ERR_INVALID_ARGUMENT) for a bad allocator or more than 1 GiB. */
bool slab_set_large_retain(SlabAllocator* alloc, size_t bytes);
size_t slab_large_retain(SlabAllocator* alloc);
/* True while `epoch` is held by slab_epoch_open (false for a bad allocator or epoch). */
bool slab_epoch_is_held(SlabAllocator* alloc, EpochId epoch);
/* Marks `epoch` CLOSING: it takes no new allocations; frees into it succeed.
 * Before it returns, the pages of every empty slab of the epoch, whichever thread
 * allocated it, go back to the OS; a slab that empties later gives its pages back
 * with its last free. Returns false for an out-of-range epoch, and with
 * TSLAB_ERR_REENTRANT (see the top of this file). */
bool epoch_close(SlabAllocator* alloc, EpochId epoch);
/* Closes `epoch` only if its current activation is `era` (from slab_epoch_era):
 * false with TSLAB_ERR_STALE_EPOCH if the slot has been re-activated since. */
bool epoch_close_era(SlabAllocator* alloc, EpochId epoch, uint64_t era);
/* The four calls above under tslab's prefix, the same functions: the names
 * libtslab-malloc.so exports (it exports none of the seed API's unprefixed
 * names, so that a preloaded tslab never takes over a program's own). */
EpochId slab_epoch_current(SlabAllocator* alloc);
EpochId slab_epoch_advance(SlabAllocator* alloc);
bool slab_epoch_close(SlabAllocator* alloc, EpochId epoch);
bool slab_epoch_close_era(SlabAllocator* alloc, EpochId epoch, uint64_t era);
/* The end of a phase for code that never frees its objects one by one: closes
 * `epoch` (if it is open) and frees every block still live in it, in this and
 * every earlier activation of the slot, whichever thread allocated it; a slot
 * re-activated meanwhile keeps its new blocks. Every pointer and handle to a
 * block so freed is then refused by slab_free / free_obj (as a double free, or
 * as never allocated once its slab's pages went back)
 * until its slab is reused for new blocks; after that a stale pointer may name
 * a new block, as after any free. A free racing the destroy's free of the same
 * block may also report success (a free by another thread cannot tell which of
 * two racing frees was first), and nothing is corrupted. The pages go back as a
 * close returns them (beyond the warm reserve). Never use it while some code may still use such
 * a block: that is a use after free. An arena whose chunks are blocks of such
 * an activation ends with them (slab_arena.h). *released (may be NULL): the
 * blocks freed, the arenas' chunks and fallback blocks included.
 * False for a bad allocator or epoch, with TSLAB_ERR_REENTRANT, and with
 * TSLAB_ERR_PERMANENT for every epoch of the malloc override's process
 * allocator (its blocks may be any code's; survivors may still be referenced),
 * *released then left as it was. */
bool slab_epoch_destroy(SlabAllocator* alloc, EpochId epoch, uint64_t* released);
/* EPOCH_ACTIVE while the slot's activation is open, else EPOCH_CLOSING. For a
 * bad allocator or an epoch out of range: EPOCH_CLOSING (nothing can be
 * allocated there), with the error in slab_last_error(). */
EpochLifecycleState slab_epoch_state(SlabAllocator* alloc, EpochId epoch);
/* The era of the slot's current activation, 0 if out of range. Eras grow with
 * each activation and are unique in the process: an era of a destroyed allocator
 * is stale to every allocator made since, also one at the same address. */
uint64_t slab_epoch_era(SlabAllocator* alloc, EpochId epoch);
uint32_t slab_epoch_count(SlabAllocator* alloc);

/* --- per-epoch metadata --------------------------------------------------- */
#define SLAB_EPOCH_LABEL_SIZE 32u

typedef struct SlabEpochInfo {
  EpochLifecycleState state;
  uint64_t era;              /* current activation of the slot */
  uint64_t open_since_ns;    /* now_ns() when that activation opened */
  uint64_t live_count;       /* live blocks of the slot, all activations */
  uint32_t refcount;         /* domain references */
  uint64_t rss_before_close; /* process RSS before the last close of the slot (TSLAB_CLOSE_RSS=1; else 0) */
  uint64_t rss_after_close;  /* ... and after it returned the slot's empty slabs */
  char label[SLAB_EPOCH_LABEL_SIZE];
} SlabEpochInfo;

/* Labels the slot's current activation (truncated to 31 characters; NULL clears). */
bool slab_epoch_set_label(SlabAllocator* alloc, EpochId epoch, const char* label);
/* Domain reference counts (reset when the slot is re-activated). dec never goes
 * below 0; inc never wraps: at UINT32_MAX it returns 0, with TSLAB_ERR_INVALID_ARGUMENT. */
uint32_t slab_epoch_inc_refcount(SlabAllocator* alloc, EpochId epoch);
uint32_t slab_epoch_dec_refcount(SlabAllocator* alloc, EpochId epoch);
uint32_t slab_epoch_get_refcount(SlabAllocator* alloc, EpochId epoch);
/* Everything above in one call; false for an out-of-range epoch or NULL output. */
bool slab_epoch_info(SlabAllocator* alloc, EpochId epoch, SlabEpochInfo* out);

/* --- memory return -------------------------------------------------------- */
/* Returns to the OS the pages of every empty slab in every epoch that no live
 * thread's cache still holds (this thread's and abandoned heaps' caches are
 * emptied now; other threads hand theirs back the next time they need a slab).
 * Returns the bytes handed back (0, with TSLAB_ERR_REENTRANT, from a thread that
 * is inside an allocation of this allocator or holds a tslab lock: see the top
 * of this file). */
uint64_t slab_collect(SlabAllocator* alloc);
/* Bytes of the allocator's own memory (slabs, spans, metadata) resident now. */
uint64_t slab_resident_bytes(SlabAllocator* alloc);

/* --- size classes, counters, checks -------------------------------------- */
uint32_t slab_size_class_count(void);
/* Block size of class `size_class`, or 0 if out of range. */
uint32_t slab_class_size(uint32_t size_class);
/* The class serving `size`, or slab_size_class_count() if `size` gets a span of its own. */
uint32_t slab_size_class_of(size_t size);
/* Objects per slab for the class serving `size`; 0 for 0 or a size with its own span. */
uint32_t slab_object_count(uint32_t size);
/* Returns false for a NULL allocator or counters pointer or an out-of-range class. */
bool get_perf_counters(SlabAllocator* alloc, uint32_t size_class, PerfCounters* out);
/* Walks every slab and verifies the allocator's invariants. Returns true if all
 * hold; otherwise writes the first violation into `message` (if not NULL). Call
 * it while no other thread uses the allocator. */
bool slab_check(SlabAllocator* alloc, char* message, size_t message_size);

/* --- utilities ----------------------------------------------------------- */
/* Resident set size of this process in bytes (0 if unavailable). */
uint64_t read_rss_bytes_linux(void);
/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* TSLAB_SLAB_ALLOC_H */
