/* This file contains process_rss_kib, the process's resident set in KiB from
 * /proc/self/statm, for the programs here that report their own RSS. */
#ifndef TSLAB_BENCH_PROCESS_RSS_H
#define TSLAB_BENCH_PROCESS_RSS_H

#include <stdio.h>

static inline long process_rss_kib(void) {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == NULL) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return resident * 4;
}

#endif
