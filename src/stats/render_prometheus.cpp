// This file contains the Prometheus text exposition (format 0.0.4) of one or
// more snapshots. A row X(name, type, unit, help) of a field list becomes the
// family tslab_[class_|epoch_]<name>, with "_ns" turned into "_seconds" (and the
// value into seconds); counters' names already end in _total. Labels:
// allocator="<id>", and class="<block size>" (classes ever used) or epoch="<slot>"
// (every slot), so cardinality is bounded by 80 classes and the epoch count.
// Besides the field lists: tslab_build_info (the version, once per text), the
// drain rate, the close-latency histogram tslab_epoch_close_seconds and
// tslab_epoch_info. The allocator's name is a label of tslab_allocator_info only.
#include <cstring>
#include <iterator>

#include "size_class/size_classes.h"
#include "stats/public_stats.h"
#include "stats/render.h"
#include "tslab/version.h"

namespace tslab::detail {

namespace {

// The tokens of the field lists' type and unit columns.
enum Type { GAUGE, COUNTER };
enum Unit { BYTES, COUNT, NANOSECONDS, STATE, ERA, EPOCH, TIMESTAMP_NS };

struct Family {
  const char* scope;  // "", "class_" or "epoch_"
  const char* field;
  Type type;
  Unit unit;
  const char* help;
};

void write_name(const Family& f, TextWriter& w) noexcept {
  w.printf("tslab_%s", f.scope);
  const char* s = f.field;
  const char* ns = std::strstr(s, "_ns");
  if (ns != nullptr && (ns[3] == '\0' || ns[3] == '_')) {
    w.printf("%.*s_seconds%s", static_cast<int>(ns - s), s, ns + 3);
  } else {
    w.puts(s);
  }
}

void write_header(const Family& f, TextWriter& w) noexcept {
  w.puts("# HELP ");
  write_name(f, w);
  w.printf(" %s\n# TYPE ", f.help);
  write_name(f, w);
  w.puts(f.type == COUNTER ? " counter\n" : " gauge\n");
}

void write_value(const Family& f, std::uint64_t v, TextWriter& w) noexcept {
  if (f.unit == NANOSECONDS || f.unit == TIMESTAMP_NS)
    w.printf(" %.9f\n", static_cast<double>(v) / 1e9);
  else
    w.printf(" %llu\n", static_cast<unsigned long long>(v));
}

void global_families(const CoreSnapshot* snaps, std::size_t n, TextWriter& w) noexcept {
#define TSLAB_FAMILY_(name, type, unit, help)                                          \
  {                                                                                    \
    const Family f{"", #name, type, unit, help};                                       \
    write_header(f, w);                                                                \
    for (std::size_t i = 0; i < n; ++i) {                                              \
      SlabGlobalStats s;                                                               \
      fill_global(snaps[i], s);                                                        \
      write_name(f, w);                                                                \
      w.printf("{allocator=\"%llu\"}", static_cast<unsigned long long>(snaps[i].uid)); \
      write_value(f, s.name, w);                                                       \
    }                                                                                  \
  }
  SLAB_GLOBAL_STATS_FIELDS(TSLAB_FAMILY_)
#undef TSLAB_FAMILY_
  // Derived from two counters above (slab_stats.h, "Drain report").
  w.puts(
      "# HELP tslab_close_drain_rate Closes that found the epoch drained, over all closes (1 before any "
      "close)\n# TYPE tslab_close_drain_rate gauge\n");
  for (std::size_t i = 0; i < n; ++i) {
    SlabGlobalStats s;
    fill_global(snaps[i], s);
    w.printf("tslab_close_drain_rate{allocator=\"%llu\"} %.6g\n",
             static_cast<unsigned long long>(snaps[i].uid), close_drain_rate(s));
  }
}

void class_families(const CoreSnapshot* snaps, std::size_t n, TextWriter& w) noexcept {
#define TSLAB_FAMILY_(name, type, unit, help)                                                        \
  {                                                                                                  \
    const Family f{"class_", #name, type, unit, help};                                               \
    write_header(f, w);                                                                              \
    for (std::size_t i = 0; i < n; ++i)                                                              \
      for (std::uint32_t c = 0; c < NUM_CLASSES; ++c) {                                              \
        if (!class_in_use(snaps[i], c)) continue;                                                    \
        SlabClassStats s;                                                                            \
        fill_class(snaps[i], c, s);                                                                  \
        write_name(f, w);                                                                            \
        w.printf("{allocator=\"%llu\",class=\"%u\"}", static_cast<unsigned long long>(snaps[i].uid), \
                 class_block_size(c));                                                               \
        write_value(f, s.name, w);                                                                   \
      }                                                                                              \
  }
  SLAB_CLASS_STATS_FIELDS(TSLAB_FAMILY_)
#undef TSLAB_FAMILY_
}

void epoch_families(const CoreSnapshot* snaps, std::size_t n, TextWriter& w) noexcept {
#define TSLAB_FAMILY_(name, type, unit, help)                                                            \
  {                                                                                                      \
    const Family f{"epoch_", #name, type, unit, help};                                                   \
    write_header(f, w);                                                                                  \
    for (std::size_t i = 0; i < n; ++i)                                                                  \
      for (std::uint32_t e = 0; e < snaps[i].epoch_count; ++e) {                                         \
        SlabEpochStats s;                                                                                \
        fill_epoch(snaps[i], e, SLAB_STATS_ALL_CLASSES, s);                                              \
        write_name(f, w);                                                                                \
        w.printf("{allocator=\"%llu\",epoch=\"%u\"}", static_cast<unsigned long long>(snaps[i].uid), e); \
        write_value(f, s.name, w);                                                                       \
      }                                                                                                  \
  }
  SLAB_EPOCH_STATS_FIELDS(TSLAB_FAMILY_)
#undef TSLAB_FAMILY_
  // The label and state as labels of an info metric (value 1).
  w.puts("# HELP tslab_epoch_info Epoch slot label and state\n# TYPE tslab_epoch_info gauge\n");
  for (std::size_t i = 0; i < n; ++i)
    for (std::uint32_t e = 0; e < snaps[i].epoch_count; ++e) {
      const EpochSnapshot& es = snaps[i].epochs[e];
      w.printf("tslab_epoch_info{allocator=\"%llu\",epoch=\"%u\",label=\"",
               static_cast<unsigned long long>(snaps[i].uid), e);
      w.label_value(es.label);
      w.printf("\",state=\"%s\"} 1\n", es.state == EPOCH_ACTIVE ? "active" : "closing");
    }
}

// The allocator's name as a label of an info metric (value 1), so that the
// other series keep the allocator label alone.
void allocator_info(const CoreSnapshot* snaps, std::size_t n, TextWriter& w) noexcept {
  w.puts("# HELP tslab_allocator_info Allocator name (slab_allocator_set_name)\n");
  w.puts("# TYPE tslab_allocator_info gauge\n");
  for (std::size_t i = 0; i < n; ++i) {
    w.printf("tslab_allocator_info{allocator=\"%llu\",name=\"",
             static_cast<unsigned long long>(snaps[i].uid));
    w.label_value(snaps[i].name);
    w.puts("\"} 1\n");
  }
}

void build_info(TextWriter& w) noexcept {
  w.puts(
      "# HELP tslab_build_info The tslab version this library was built as\n# TYPE tslab_build_info gauge\n");
  w.puts("tslab_build_info{version=\"" TSLAB_VERSION_STRING "\"} 1\n");
}

// Cumulative bucket counts, as the format wants them; the sum is the time
// closes took (close_ns_total), the count that of the +Inf bucket.
void close_histogram(const CoreSnapshot* snaps, std::size_t n, TextWriter& w) noexcept {
  w.puts(
      "# HELP tslab_epoch_close_seconds Duration of epoch closes\n"
      "# TYPE tslab_epoch_close_seconds histogram\n");
  for (std::size_t i = 0; i < n; ++i) {
    const auto uid = static_cast<unsigned long long>(snaps[i].uid);
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < CLOSE_LATENCY_BUCKETS; ++b) {
      cumulative += snaps[i].close_latency[b];
      w.printf("tslab_epoch_close_seconds_bucket{allocator=\"%llu\",le=\"", uid);
      if (b < std::size(CLOSE_LATENCY_BOUNDS_NS)) {
        w.printf("%g", static_cast<double>(CLOSE_LATENCY_BOUNDS_NS[b]) / 1e9);
      } else {
        w.puts("+Inf");
      }
      w.printf("\"} %llu\n", static_cast<unsigned long long>(cumulative));
    }
    w.printf("tslab_epoch_close_seconds_sum{allocator=\"%llu\"} %.9f\n", uid,
             static_cast<double>(snaps[i].close_ns) / 1e9);
    w.printf("tslab_epoch_close_seconds_count{allocator=\"%llu\"} %llu\n", uid,
             static_cast<unsigned long long>(cumulative));
  }
}

}  // namespace

void render_prometheus(const CoreSnapshot* snaps, std::size_t count, TextWriter& w) noexcept {
  build_info(w);
  allocator_info(snaps, count, w);
  global_families(snaps, count, w);
  close_histogram(snaps, count, w);
  class_families(snaps, count, w);
  epoch_families(snaps, count, w);
}

}  // namespace tslab::detail
