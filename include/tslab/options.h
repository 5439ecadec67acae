/* This file contains the options table: every TSLAB_* environment variable the
 * library reads, with one parser.
 *
 *   TSLAB_METRICS_PORT    0..65535, default 0 (off): serve Prometheus text on
 *                         http://127.0.0.1:PORT/metrics from the first allocator created
 *   TSLAB_VERBOSE         bool, default 0: report metrics-server events on stderr
 *   TSLAB_SHOW_STATS      bool, default 0: print an allocator's summary on stderr when it is
 *                         freed, and of every allocator still alive at exit
 *   TSLAB_ARENA_SIZE      size, 4k..1g, default 1M: chunk size of thread-local and new
 *                         arenas (each thread's arena takes one chunk at first use)
 *   TSLAB_ARENA_ZERO      bool, default 1: arenas zero used memory on reset
 *   TSLAB_ARENA_OVERFLOW  error|grow|fallback, default grow: what a full arena does
 *   TSLAB_WARM_RESERVE    size, 0..1g, default 6M: committed empty slabs each allocator
 *                         keeps across epoch closes, reused first by later epochs
 *                         (no madvise, no page faults), and as much again of freed
 *                         large spans; slab_collect returns them too
 *   TSLAB_BAD_FREE        warn|abort, default warn: what the malloc override
 *                         (libtslab-malloc) does on a double, interior or foreign
 *                         free: one line on stderr and go on, or abort()
 *   TSLAB_CLOSE_RSS       bool, default 0: read the process RSS (/proc/self/statm)
 *                         before and after every epoch close, for slab_epoch_info's
 *                         rss_before_close / rss_after_close (0 when off)
 *   TSLAB_PIN_SAMPLE      unsigned, default 0 (off), at most 2^30: about one
 *                         allocation in N records its call stack, and each epoch
 *                         close keeps the call sites whose sampled blocks are still
 *                         live (slab_drain_report). Read when an allocator is
 *                         created. On, every allocation of that allocator takes the
 *                         slow path; off costs nothing
 *
 * A variable set to nothing counts as unset.
 * bool: 0/1, true/false, yes/no, on/off. size: digits with an optional k, m or g
 * suffix (powers of 1024, "KiB"/"kb" spellings too).
 *
 * The table is read once, at the first use of any option, even when many threads
 * get there together; every thread then sees the same, complete values. Before that
 * first use, tslab_option_set() overrides the environment. A value that does not
 * parse, or lies outside its range, is never replaced by the default silently:
 * the option reads as invalid, the message names the variable and the allowed
 * values or range (tslab_option_error), and it is printed on stderr once. A
 * message shows the value as printable ASCII only: any other byte appears as
 * \xHH, a quote or backslash behind a backslash, and a value longer than 64
 * characters so shown is cut, followed by "... (N bytes)". */
#ifndef TSLAB_OPTIONS_H
#define TSLAB_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tslab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the malloc override does on a bad free (TSLAB_BAD_FREE). */
enum {
  TSLAB_BAD_FREE_WARN = 0, /* one line on stderr; the free is ignored and the program goes on */
  TSLAB_BAD_FREE_ABORT = 1 /* the same line, then abort() */
};

/* Arena overflow policies (TSLAB_ARENA_OVERFLOW). */
typedef enum TslabArenaOverflow TSLAB_ENUM_INT {
  TSLAB_ARENA_OVERFLOW_ERROR = 0,   /* the allocation fails with TSLAB_ERR_ARENA_FULL */
  TSLAB_ARENA_OVERFLOW_GROW = 1,    /* a new chunk is added */
  TSLAB_ARENA_OVERFLOW_FALLBACK = 2 /* the block comes from the slab allocator */
} TslabArenaOverflow;

/* Sets option `name` ("TSLAB_ARENA_SIZE") from text, as if it were the environment:
 * "" is the default, whatever the environment says. Only before the table is
 * first read: afterwards TSLAB_ERR_OPTIONS_FROZEN. An
 * unknown name is TSLAB_ERR_UNKNOWN_OPTION and a bad value TSLAB_ERR_BAD_OPTION_VALUE
 * (nothing is changed then). */
bool tslab_option_set(const char* name, const char* value);

/* The value of option `name` (enums as their TslabArenaOverflow value, bools as 0/1).
 * Reads the table on first use. False if the name is unknown or its value invalid. */
bool tslab_option_get(const char* name, uint64_t* value);

/* The message explaining why option `name` is invalid, or NULL if it is valid. */
const char* tslab_option_error(const char* name);

/* Writes the table (name, value, source, meaning), one option per line, NUL-
 * terminated and truncated to out_size. Returns the length it needed. */
size_t tslab_options_describe(char* out, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif /* TSLAB_OPTIONS_H */
