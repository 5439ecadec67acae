// This file contains the JSON rendering of a snapshot:
//   {"version":1,"allocator":N,"name":"...","global":{...},"classes":[{...}],"epochs":[{...}]}
// with the field names of slab_stats.h, and in "global" the derived
// close_drain_rate and the close-latency histogram close_seconds. Classes never
// used are left out.
#include <iterator>

#include "size_class/size_classes.h"
#include "stats/public_stats.h"
#include "stats/render.h"

namespace tslab::detail {

namespace {

#define TSLAB_JSON_FIELD_(name, type, unit, help) \
  w.printf(",\"" #name "\":%llu", static_cast<unsigned long long>(s.name));

// {"buckets":[{"le":1e-05,"count":N},...,{"le":"+Inf","count":N}],"sum":S,"count":N}:
// the Prometheus histogram's figures, counts cumulative, seconds.
void close_seconds_object(const CoreSnapshot& snap, TextWriter& w) noexcept {
  w.puts("{\"buckets\":[");
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < CLOSE_LATENCY_BUCKETS; ++b) {
    cumulative += snap.close_latency[b];
    if (b != 0) w.put(',');
    if (b < std::size(CLOSE_LATENCY_BOUNDS_NS)) {
      w.printf("{\"le\":%g", static_cast<double>(CLOSE_LATENCY_BOUNDS_NS[b]) / 1e9);
    } else {
      w.puts("{\"le\":\"+Inf\"");
    }
    w.printf(",\"count\":%llu}", static_cast<unsigned long long>(cumulative));
  }
  w.printf("],\"sum\":%.9f,\"count\":%llu}", static_cast<double>(snap.close_ns) / 1e9,
           static_cast<unsigned long long>(cumulative));
}

void global_object(const CoreSnapshot& snap, const SlabGlobalStats& s, TextWriter& w) noexcept {
  w.printf("{\"epoch_count\":%u,\"size_class_count\":%u", s.epoch_count, s.size_class_count);
  SLAB_GLOBAL_STATS_FIELDS(TSLAB_JSON_FIELD_)
  // Derived from two counters above (slab_stats.h, "Drain report").
  w.printf(",\"close_drain_rate\":%.6g", close_drain_rate(s));
  w.puts(",\"close_seconds\":");
  close_seconds_object(snap, w);
  w.put('}');
}

void class_object(const SlabClassStats& s, TextWriter& w) noexcept {
  w.printf("{\"size_class\":%u", s.size_class);
  SLAB_CLASS_STATS_FIELDS(TSLAB_JSON_FIELD_)
  w.put('}');
}

void epoch_object(const SlabEpochStats& s, TextWriter& w) noexcept {
  w.printf("{\"epoch\":%u,\"label\":", s.epoch);
  w.json_string(s.label);
  w.puts(",\"state_name\":");
  w.json_string(s.state == EPOCH_ACTIVE ? "active" : "closing");
  SLAB_EPOCH_STATS_FIELDS(TSLAB_JSON_FIELD_)
  w.put('}');
}

#undef TSLAB_JSON_FIELD_

}  // namespace

void render_json(const CoreSnapshot& snap, TextWriter& w) noexcept {
  w.printf("{\"version\":%u,\"allocator\":%llu,\"name\":", SLAB_STATS_VERSION,
           static_cast<unsigned long long>(snap.uid));
  w.json_string(snap.name);
  w.puts(",\"global\":");
  SlabGlobalStats g;
  fill_global(snap, g);
  global_object(snap, g, w);
  w.puts(",\"classes\":[");
  bool first = true;
  for (std::uint32_t c = 0; c < NUM_CLASSES; ++c) {
    if (!class_in_use(snap, c)) continue;
    if (!first) w.put(',');
    first = false;
    SlabClassStats cs;
    fill_class(snap, c, cs);
    class_object(cs, w);
  }
  w.puts("],\"epochs\":[");
  for (std::uint32_t e = 0; e < snap.epoch_count; ++e) {
    if (e != 0) w.put(',');
    SlabEpochStats es;
    fill_epoch(snap, e, SLAB_STATS_ALL_CLASSES, es);
    epoch_object(es, w);
  }
  w.puts("]}");
}

}  // namespace tslab::detail
