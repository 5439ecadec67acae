// This file contains the model of `tslab stats --url` and `tslab watch`: one
// scrape of a /metrics endpoint arranged per allocator and per epoch slot, and
// the change of any field between two scrapes. It is generic over metric names:
// every tslab_ sample with an allocator label becomes a field of that
// allocator (or, with an epoch label, of that epoch slot), named after the
// metric without "tslab_" (or "tslab_epoch_"), so fields added to the library
// appear without a change here.
#ifndef TSLAB_CLI_METRICS_MODEL_HPP
#define TSLAB_CLI_METRICS_MODEL_HPP

#include <map>
#include <string>
#include <vector>

#include "cli/exposition.hpp"

namespace bench {

// Field name -> value. A sample's labels other than allocator and epoch are
// part of its field name, as in close_seconds_bucket{le="0.001"}.
using Fields = std::map<std::string, double>;

struct EpochView {
  unsigned slot = 0;
  std::string label;  // from tslab_epoch_info
  std::string state;  // "active" or "closing"; "" if not given
  Fields fields;      // live_bytes, closes_total, era, ...
};

struct AllocatorView {
  std::string uid;   // the allocator label
  std::string name;  // from tslab_allocator_info; "" when unnamed or not given
  Fields fields;     // live_bytes, resident_bytes, epoch_close_calls_total, ...
  std::map<unsigned, EpochView> epochs;
};

struct Scrape {
  double time_s = 0;                      // when it was taken (any monotonic clock)
  std::vector<AllocatorView> allocators;  // by uid, numerically
  Fields process;                         // tslab_ samples without an allocator label
};

// Arranges a parsed exposition. Samples with a class label (per size class)
// are left out.
Scrape build_scrape(const Exposition& text, double time_s);

const AllocatorView* find_allocator(const Scrape& scrape, const std::string& uid);
// A field's value, or nullptr.
const double* find_field(const Fields& fields, const std::string& name);

// How a field moved between two scrapes of the same allocator (and slot).
struct Change {
  bool known = false;  // both scrapes have it, time moved, and no counter went back
  double delta = 0;
  double per_second = 0;
};
// `epoch` < 0: the allocator's own field. A counter (name ending in _total)
// that went back (the process restarted) is not known.
Change change_of(const Scrape* previous, const Scrape& current, const std::string& uid, int epoch,
                 const std::string& field);

}  // namespace bench

#endif
