/* This file contains tslab's statistics snapshots: per allocator, per size class
 * and per epoch, with JSON, Prometheus text and a human-readable summary.
 *
 * Every field, JSON key and Prometheus metric comes from the field lists below
 * (SLAB_*_STATS_FIELDS): one X-macro row generates the struct member, the JSON
 * key and the metric. A row is X(name, type, unit, help):
 *   type  GAUGE (a level) or COUNTER (only grows; its metric name ends in _total,
 *         and so does its field name)
 *   unit  BYTES, COUNT, NANOSECONDS (exposed to Prometheus in seconds: the metric
 *         name has _seconds where the field has _ns), or STATE / ERA / EPOCH (a slot
 *         number) / TIMESTAMP_NS
 *
 * Cost: a snapshot walks the allocator's slab lists under its lock, reading the
 * block bitmaps (about 2 ms per GiB of slabs) for the live and committed
 * figures, and sums the threads' counters. Reclaimable slabs and bytes are not
 * walked: each thread keeps them per (epoch, class) as its slabs step between
 * empty and not (one owner-only count per slab on the fast paths; TSLAB_STATS=0
 * compiles it out). Snapshots are safe while other threads allocate and free; the
 * figures are then a consistent-enough moment, not an atomic cut.
 *
 * Drain report: every close (epoch_close, epoch_close_era, an epoch_advance or
 * epoch_open that ends an activation) counts, in the slabs it scans anyway, the
 * blocks still live in the slot's closed activations and the slabs (and their
 * committed bytes) those blocks pin. A close that finds none "drained" the epoch.
 * The drain rate is closes_drained_total / epoch_close_calls_total; the JSON and
 * Prometheus texts carry it as close_drain_rate, which is 1 while there was no
 * close (nothing was left behind), so an alert on a low rate stays quiet on an
 * idle allocator. Large spans are not counted: each goes back when it is freed.
 *
 * Versioning: each struct starts with `version` and `size`. Set `size` to
 * sizeof(the struct you compiled against) before the call (0 means "the current
 * size"); the library fills at most that many bytes and writes back the version
 * and size it filled. Fields are only ever appended (`reserved` is room for them). */
#ifndef TSLAB_SLAB_STATS_H
#define TSLAB_SLAB_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slab_alloc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SLAB_STATS_VERSION 1u
/* slab_stats_epoch: every size class (and large spans) of the epoch. */
#define SLAB_STATS_ALL_CLASSES UINT32_MAX

/* Occupancy, shared by the three scopes. */
#define SLAB_OCCUPANCY_FIELDS(X)                                                                       \
  X(live_blocks, GAUGE, COUNT, "Blocks allocated and not freed (large spans count one each)")          \
  X(live_bytes, GAUGE, BYTES, "Bytes of live blocks, at their block size")                             \
  X(committed_bytes, GAUGE, BYTES, "Bytes of slab and span pages in use and not handed back")          \
  X(slabs_partial, GAUGE, COUNT, "Slabs in use with live and free blocks")                             \
  X(slabs_full, GAUGE, COUNT, "Slabs in use whose every block is live")                                \
  X(slabs_empty, GAUGE, COUNT, "Slabs in use with no live block")                                      \
  X(reclaimable_slabs, GAUGE, COUNT,                                                                   \
    "Empty slabs of open epochs whose pages are still committed (remote frees count once collected)")  \
  X(reclaimable_bytes, GAUGE, BYTES, "Committed bytes of those slabs, returned by a close or collect") \
  X(fragmentation_bytes, GAUGE, BYTES, "Committed slab bytes not holding a live block")

#define SLAB_GLOBAL_STATS_FIELDS(X)                                                                          \
  SLAB_OCCUPANCY_FIELDS(X)                                                                                   \
  X(resident_bytes, GAUGE, BYTES, "Resident bytes of the allocator's own ranges (slabs, spans, metadata)")   \
  X(reserved_bytes, GAUGE, BYTES, "Address space reserved for slabs and spans")                              \
  X(metadata_bytes, GAUGE, BYTES, "Bytes of slab metadata, heaps and the registry in use")                   \
  X(large_spans_live, GAUGE, COUNT, "Live allocations above the largest size class")                         \
  X(large_live_bytes, GAUGE, BYTES, "Bytes of live large spans")                                             \
  X(epochs_active, GAUGE, COUNT, "Epoch slots taking allocations")                                           \
  X(threads_attached, GAUGE, COUNT, "Thread heaps owned by a live thread")                                   \
  X(heaps_abandoned, GAUGE, COUNT, "Thread heaps of exited threads, waiting for adoption")                   \
  X(decommit_calls_total, COUNTER, COUNT, "Calls handing pages back to the OS (madvise)")                    \
  X(decommit_bytes_total, COUNTER, BYTES, "Bytes handed back to the OS")                                     \
  X(decommit_failures_total, COUNTER, COUNT, "Calls handing pages back that the OS refused")                 \
  X(epoch_close_calls_total, COUNTER, COUNT,                                                                 \
    "epoch_close, epoch_close_era and epoch_advance calls that closed a slot")                               \
  X(close_slabs_scanned_total, COUNTER, COUNT, "Slabs examined by closes")                                   \
  X(close_slabs_returned_total, COUNTER, COUNT, "Slabs whose pages a close handed back")                     \
  X(close_ns_total, COUNTER, NANOSECONDS, "Time spent closing epochs")                                       \
  X(collect_calls_total, COUNTER, COUNT, "slab_collect calls")                                               \
  X(slow_path_total, COUNTER, COUNT, "Small allocations that left the fast path")                            \
  X(new_slabs_total, COUNTER, COUNT, "Slabs taken from fresh OS memory")                                     \
  X(slabs_reused_total, COUNTER, COUNT, "Slabs reused from the pool of returned slabs")                      \
  X(slabs_recycled_total, COUNTER, COUNT, "Empty slabs put back into the pool")                              \
  X(remote_frees_collected_total, COUNTER, COUNT,                                                            \
    "Blocks freed by other threads and collected by their owner")                                            \
  X(closing_rejections_total, COUNTER, COUNT, "Allocations refused because their epoch was closing")         \
  X(invalid_frees_total, COUNTER, COUNT,                                                                     \
    "Frees refused: double, stale, foreign, interior or never allocated")                                    \
  X(destroyed_blocks_total, COUNTER, COUNT, "Live blocks freed by epoch_destroy")                            \
  X(thread_adoptions_total, COUNTER, COUNT, "Heaps of exited threads adopted by another thread")             \
  X(lock_acquisitions_total, COUNTER, COUNT,                                                                 \
    "Acquisitions of the allocator lock by allocation, free and epoch calls (not by statistics)")            \
  X(lock_waits_total, COUNTER, COUNT, "Acquisitions of the allocator lock that had to wait")                 \
  X(warm_reserve_bytes, GAUGE, BYTES,                                                                        \
    "Bytes kept committed for reuse: empty slabs (warm reserve, retention) and free large spans' pages")     \
  X(quiescence_waits_total, COUNTER, COUNT,                                                                  \
    "Closes and returns that waited out allocations in flight (a process-wide fence)")                       \
  X(closes_drained_total, COUNTER, COUNT,                                                                    \
    "Closes that found no live block left in the slot's closed activations")                                 \
  X(spans_unmapped_total, COUNTER, COUNT, "Reservations of free large spans handed back to the OS (munmap)") \
  X(spans_grown_total, COUNTER, COUNT,                                                                       \
    "Large spans grown into a larger range with their pages (mremap): free ones for a larger block, live "   \
    "ones by realloc")                                                                                       \
  X(current_epoch, GAUGE, EPOCH, "The epoch slot epoch_current() returns")

#define SLAB_CLASS_STATS_FIELDS(X)                                                           \
  X(block_size_bytes, GAUGE, BYTES, "Block size of the class")                               \
  X(blocks_per_slab, GAUGE, COUNT, "Blocks in one slab of the class")                        \
  SLAB_OCCUPANCY_FIELDS(X)                                                                   \
  X(slow_path_total, COUNTER, COUNT, "Allocations of the class that left the fast path")     \
  X(new_slabs_total, COUNTER, COUNT, "Slabs of the class taken from fresh OS memory")        \
  X(slabs_reused_total, COUNTER, COUNT, "Slabs of the class reused from the pool")           \
  X(slabs_recycled_total, COUNTER, COUNT, "Empty slabs of the class put back into the pool") \
  X(remote_frees_collected_total, COUNTER, COUNT, "Blocks of the class freed by other threads and collected")

#define SLAB_EPOCH_STATS_FIELDS(X)                                                                  \
  X(state, GAUGE, STATE, "Epoch slot state: 0 active, 1 closing")                                   \
  X(era, GAUGE, ERA, "Activation number of the slot (monotonic)")                                   \
  X(open_since_ns, GAUGE, TIMESTAMP_NS, "Monotonic time the activation opened")                     \
  X(refcount, GAUGE, COUNT, "Epoch domains holding the slot")                                       \
  SLAB_OCCUPANCY_FIELDS(X)                                                                          \
  X(closes_total, COUNTER, COUNT, "Closes of the slot")                                             \
  X(closing_rejections_total, COUNTER, COUNT, "Allocations into the slot refused while closing")    \
  X(last_close_ns, GAUGE, NANOSECONDS, "Duration of the slot's last close")                         \
  X(last_close_slabs_returned, GAUGE, COUNT, "Slabs whose pages the slot's last close handed back") \
  X(rss_before_last_close_bytes, GAUGE, BYTES,                                                      \
    "Process RSS just before the slot's last close (TSLAB_CLOSE_RSS=1, else 0)")                    \
  X(rss_after_last_close_bytes, GAUGE, BYTES,                                                       \
    "Process RSS just after the slot's last close (TSLAB_CLOSE_RSS=1, else 0)")                     \
  X(closes_drained_total, COUNTER, COUNT, "Closes of the slot that found no live block left")       \
  X(last_close_live_blocks, GAUGE, COUNT,                                                           \
    "Blocks still live in the slot's closed activations at its last close (large spans excluded)")  \
  X(last_close_pinned_slabs, GAUGE, COUNT,                                                          \
    "Slabs the slot's last close could not hand back because they held live blocks")                \
  X(last_close_pinned_bytes, GAUGE, BYTES,                                                          \
    "Committed bytes of the slabs the slot's last close found pinned")                              \
  X(last_close_drained, GAUGE, COUNT,                                                               \
    "1 if the slot's last close found no live block left, else 0 (0 before any close)")

#define SLAB_STATS_MEMBER_(name, type, unit, help) uint64_t name;

typedef struct SlabGlobalStats {
  uint32_t version; /* SLAB_STATS_VERSION of the filled struct */
  uint32_t size;    /* in: sizeof what the caller has (0: current); out: bytes filled */
  uint32_t epoch_count;
  uint32_t size_class_count;
  SLAB_GLOBAL_STATS_FIELDS(SLAB_STATS_MEMBER_)
  uint64_t reserved[12];
} SlabGlobalStats;

typedef struct SlabClassStats {
  uint32_t version;
  uint32_t size;
  uint32_t size_class;
  uint32_t reserved0;
  SLAB_CLASS_STATS_FIELDS(SLAB_STATS_MEMBER_)
  uint64_t reserved[16];
} SlabClassStats;

typedef struct SlabEpochStats {
  uint32_t version;
  uint32_t size;
  uint32_t epoch;
  uint32_t size_class; /* SLAB_STATS_ALL_CLASSES: the whole epoch, large spans included */
  char label[32];
  SLAB_EPOCH_STATS_FIELDS(SLAB_STATS_MEMBER_)
  uint64_t reserved[11];
} SlabEpochStats;

/* Snapshots. False, with slab_last_error() set, for a NULL argument, a `size`
 * smaller than version 1's or a class >= SlabGlobalStats.size_class_count
 * (TSLAB_ERR_INVALID_ARGUMENT), an epoch out of range
 * (TSLAB_ERR_EPOCH_OUT_OF_RANGE), or when the OS refuses the pages the
 * snapshot is taken into, as under an address-space limit the program has
 * reached (TSLAB_ERR_OUT_OF_MEMORY). */
bool slab_stats_global(SlabAllocator* alloc, SlabGlobalStats* out);
bool slab_stats_class(SlabAllocator* alloc, uint32_t size_class, SlabClassStats* out);
bool slab_stats_epoch(SlabAllocator* alloc, uint32_t size_class, EpochId epoch, SlabEpochStats* out);

/* Renderings of a full snapshot (global, every class in use, every epoch). Each
 * writes NUL-terminated text truncated to out_size (out may be NULL when out_size
 * is 0) and returns the length it needed, like snprintf; 0, with empty text and
 * slab_last_error() set, for a NULL allocator or when the OS refuses memory. */
size_t slab_stats_json(SlabAllocator* alloc, char* out, size_t out_size);
/* Prometheus text exposition format 0.0.4: metrics prefixed tslab_, base units,
 * HELP and TYPE lines, labels allocator="<id>" and class="<block size>" or epoch="<slot>". */
size_t slab_stats_prometheus(SlabAllocator* alloc, char* out, size_t out_size);
/* A few lines for people: memory, reclamation, slow paths, busiest epochs. */
size_t slab_stats_summary(SlabAllocator* alloc, char* out, size_t out_size);

/* The last-close pin report of `epoch` (TSLAB_PIN_SAMPLE=N): at the slot's
 * last close, the call sites whose sampled allocations were still live in it,
 * the top 8 by live sampled blocks, each with its counts, the estimate (sampled
 * × N) and its stack named with dladdr (symbol+offset, object file; frames inside
 * tslab left out). With sampling off, a line saying so. Returns the length the
 * whole text needs (without the NUL), like snprintf; 0 with the reason in
 * slab_last_error() for a null or destroyed allocator or an epoch out of range. */
size_t slab_drain_report(SlabAllocator* alloc, EpochId epoch, char* out, size_t out_size);

/* The built-in metrics endpoint: an HTTP server on 127.0.0.1 serving the
 * Prometheus text of every live allocator at GET /metrics, on its own thread.
 * Off by default; TSLAB_METRICS_PORT starts it when the first allocator is
 * created. Port 0 picks a free port. Returns the port it listens on, or 0 with
 * slab_last_error() set (TSLAB_ERR_SYSTEM if the socket or thread could not be
 * made; TSLAB_ERR_INVALID_ARGUMENT if a server already runs on another port). */
uint16_t slab_metrics_start(uint16_t port);
/* Stops the endpoint and joins its thread; a no-op when none runs. */
void slab_metrics_stop(void);
/* The port the endpoint listens on, 0 when it is not running. */
uint16_t slab_metrics_port(void);

#ifdef __cplusplus
}
#endif

#endif /* TSLAB_SLAB_STATS_H */
