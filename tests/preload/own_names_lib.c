/* This file contains a library of the program's own that defines and calls
 * functions whose names tslab's seed API also has (epoch_advance, free_obj,
 * now_ns, ...), with signatures of its own. Under the preload its calls must
 * reach its own definitions: a preloaded library's export would take them
 * over (own_names_host.c). */
#include <stdint.h>

struct own_object {
  int refs;
};

/* Each returns a value tslab's function of the same name never would. */
uint64_t now_ns(void) { return 4242; }
int free_obj(struct own_object* o) { return o->refs + 1000; }
int epoch_advance(int phase) { return phase + 7; }
int epoch_close(int phase) { return phase + 9; }
int alloc_obj_epoch(int n) { return n * 3; }
int read_rss_bytes_linux(void) { return -77; }
int get_perf_counters(int n) { return n - 5; }
int epoch_domain_create(int n) { return n + 11; }

/* The number of calls that did not reach this library's own function. */
int own_names_wrong(void) {
  struct own_object o = {5};
  int wrong = 0;
  wrong += now_ns() != 4242;
  wrong += free_obj(&o) != 1005;
  wrong += epoch_advance(1) != 8;
  wrong += epoch_close(1) != 10;
  wrong += alloc_obj_epoch(2) != 6;
  wrong += read_rss_bytes_linux() != -77;
  wrong += get_perf_counters(9) != 4;
  wrong += epoch_domain_create(1) != 12;
  return wrong;
}
