/* This file contains the C test of the statistics and options headers
 * (slab_stats.h, tslab/options.h), compiled as C11: snapshots at the three
 * scopes, the renderings, the metrics endpoint and the options table. It
 * returns non-zero on the first failed check and prints where it is. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "slab_stats.h"
#include "tslab/options.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                                \
    }                                                                          \
  } while (0)

static int test_snapshots(void) {
  SlabAllocator* a = slab_allocator_create();
  CHECK(a != NULL);
  const EpochId e = epoch_current(a);
  void* blocks[100];
  for (int i = 0; i < 100; ++i) CHECK((blocks[i] = slab_malloc_epoch(a, 200, e)) != NULL);

  SlabGlobalStats g;
  memset(&g, 0, sizeof g);
  g.size = sizeof g;
  CHECK(slab_stats_global(a, &g));
  CHECK(g.version == SLAB_STATS_VERSION);
  CHECK(g.live_blocks == 100);
  CHECK(g.new_slabs_total == 1);

  const uint32_t cls = slab_size_class_of(200);
  SlabClassStats c;
  memset(&c, 0, sizeof c);
  CHECK(slab_stats_class(a, cls, &c));
  CHECK(c.live_blocks == 100);
  CHECK(c.live_bytes == 100 * c.block_size_bytes);
  CHECK(!slab_stats_class(a, slab_size_class_count(), &c));
  CHECK(slab_last_error() == TSLAB_ERR_INVALID_ARGUMENT);

  SlabEpochStats es;
  memset(&es, 0, sizeof es);
  CHECK(slab_stats_epoch(a, SLAB_STATS_ALL_CLASSES, e, &es));
  CHECK(es.live_blocks == 100);
  CHECK(es.state == EPOCH_ACTIVE);
  CHECK(!slab_stats_epoch(a, SLAB_STATS_ALL_CLASSES, slab_epoch_count(a), &es));
  CHECK(slab_last_error() == TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  CHECK(!slab_stats_global(NULL, &g));

  char text[1 << 16];
  const size_t json = slab_stats_json(a, text, sizeof text);
  CHECK(json > 0 && json < sizeof text && text[0] == '{' && strstr(text, "\"live_blocks\":100,") != NULL);
  const size_t prom = slab_stats_prometheus(a, text, sizeof text);
  CHECK(prom > 0 && prom < sizeof text && strstr(text, "# TYPE tslab_live_blocks gauge\n") != NULL);
  CHECK(slab_stats_summary(a, text, sizeof text) > 0 && strstr(text, "100 blocks") != NULL);
  CHECK(slab_stats_summary(a, NULL, 0) == strlen(text));

  for (int i = 0; i < 100; ++i) slab_free(a, blocks[i]);
  slab_allocator_free(a);
  return 0;
}

static int test_metrics_endpoint(void) {
  const uint16_t port = slab_metrics_start(0);
  CHECK(port != 0);
  CHECK(slab_metrics_port() == port);
  slab_metrics_stop();
  CHECK(slab_metrics_port() == 0);
  return 0;
}

static int test_options(void) {
  uint64_t v = 0;
  CHECK(!tslab_option_get("TSLAB_NO_SUCH_OPTION", &v));
  CHECK(slab_last_error() == TSLAB_ERR_UNKNOWN_OPTION);
  CHECK(!tslab_option_set("TSLAB_ARENA_SIZE", "12q"));
  CHECK(slab_last_error() == TSLAB_ERR_BAD_OPTION_VALUE);
  /* The table was read when the first allocator was created: too late to set. */
  CHECK(!tslab_option_set("TSLAB_ARENA_SIZE", "2m"));
  CHECK(slab_last_error() == TSLAB_ERR_OPTIONS_FROZEN);
  CHECK(tslab_option_get("TSLAB_METRICS_PORT", &v));
  CHECK(tslab_option_error("TSLAB_METRICS_PORT") == NULL);
  char table[2048];
  const size_t n = tslab_options_describe(table, sizeof table);
  CHECK(n > 0 && n < sizeof table && strstr(table, "TSLAB_ARENA_OVERFLOW") != NULL);
  return 0;
}

int main(void) {
  if (test_snapshots() != 0) return 1;
  if (test_metrics_endpoint() != 0) return 1;
  if (test_options() != 0) return 1;
  puts("c_stats_test: all checks passed");
  return 0;
}
