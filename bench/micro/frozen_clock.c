/* This file contains libtslab_frozen_clock.so, which bench/instructions.py
 * LD_PRELOADs into every callgrind run of tslab_icount: clock_gettime,
 * gettimeofday and time that return one fixed instant. Under callgrind a run
 * takes 50-100 times longer than natively, and allocators that purge on a
 * timer (jemalloc's decay, mimalloc's delayed decommit) then purge a different
 * amount of memory each run; with time standing still their timers never come
 * due, as in a native run shorter than their delays, and every count is the
 * same from run to run. */
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/time.h>
#include <time.h>

#define FROZEN_SECONDS 1000000L

int clock_gettime(clockid_t clock, struct timespec* ts) {
  (void)clock;
  ts->tv_sec = FROZEN_SECONDS;
  ts->tv_nsec = 0;
  return 0;
}

int gettimeofday(struct timeval* restrict tv, void* restrict tz) {
  (void)tz;
  tv->tv_sec = FROZEN_SECONDS; /* glibc declares tv non-null */
  tv->tv_usec = 0;
  return 0;
}

time_t time(time_t* t) {
  if (t != NULL) *t = FROZEN_SECONDS;
  return FROZEN_SECONDS;
}
