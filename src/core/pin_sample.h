// This file contains PinSampler, the allocation sampling of TSLAB_PIN_SAMPLE=N:
// which code keeps an epoch from draining.
//
// About one allocation in N records its call site (the return addresses of its
// stack, captured with the unwinder, never allocating) with the block, slab,
// epoch, era and size, into a fixed table of records in OS memory, reused
// ring-wise once full. At each close the records of the closed epoch whose
// blocks are still live are grouped by call site, and the top sites become the
// slot's last-close pin report. Addresses stay raw here; they are named
// (dladdr) only when a report is read (stats/pin_report.cpp), never inside an
// allocation, which may be a malloc of the override.
//
// Off (N = 0) it costs the fast paths nothing: a heap of a sampling allocator
// marks its bins' eras (BIN_ERA_SAMPLED, heap/heap.h), so every allocation
// misses the fast path and the slow path takes the sample.
//
// Exactness: a site's figures are sampled blocks, and the estimate is sampled
// × N. With N = 1 every allocation is recorded and the counts are exact, as
// long as the table has not wrapped. A block freed and allocated again by an
// allocation that was not sampled still counts for its old record's site.
// Small blocks only: large spans (above 64 KiB) are not sampled.
#ifndef TSLAB_CORE_PIN_SAMPLE_H
#define TSLAB_CORE_PIN_SAMPLE_H

#include <cstddef>
#include <cstdint>

#include "heap/heap.h"
#include "platform/mutex.h"
#include "segment/slab.h"
#include "slab_alloc.h"

namespace tslab::detail {

inline constexpr std::uint32_t PIN_FRAMES = 12;      // return addresses a record keeps
inline constexpr std::uint32_t PIN_SITES = 8;        // sites a report keeps
inline constexpr std::uint32_t PIN_RECORDS = 16384;  // records in the table

struct PinSite {
  std::uint64_t sampled_blocks = 0;  // live sampled blocks of this call site
  std::uint64_t sampled_bytes = 0;   // their requested sizes summed
  std::uint32_t depth = 0;
  void* frames[PIN_FRAMES] = {};
};

// One epoch slot's report of its last close.
struct PinReport {
  std::uint64_t sample_every = 0;  // N; 0: sampling is off
  std::uint64_t era = 0;           // the activation closed; 0: no close sampled yet
  std::uint64_t live_sampled = 0;  // live sampled blocks, all sites
  std::uint64_t sites_total = 0;   // distinct sites, of which `sites` keeps the top
  std::uint32_t site_count = 0;
  PinSite sites[PIN_SITES];
};

class PinSampler {
 public:
  PinSampler() = default;
  PinSampler(const PinSampler&) = delete;
  PinSampler& operator=(const PinSampler&) = delete;
  ~PinSampler();

  // Maps the table for one sample in `every` allocations (0: off). False if
  // the OS refused memory; the sampler then stays off.
  bool start(std::uint32_t every) noexcept;
  bool on() const noexcept { return every_ != 0; }
  std::uint32_t every() const noexcept { return every_; }

  // A new heap's flag and countdown.
  void prepare(Heap& heap) const noexcept;
  // Owner, after a small allocation `block` of `heap` (outside its marker):
  // counts down, and records the allocation when the count reaches zero.
  void after_alloc(Heap& heap, void* block, std::uint32_t epoch, std::uint64_t era,
                   std::size_t size) noexcept {
    if (--heap.sample_countdown != 0) [[likely]]
      return;
    heap.sample_countdown = next_countdown(heap);
    record(block, epoch, era, size);
  }

  // A close of `epoch` ended activations up to `closed_era`: the slot's report
  // is rebuilt from the records still live. Caller holds the allocator lock, so
  // slab identities (epoch, era, state) and segment dormancy cannot change under
  // the walk.
  void on_close(std::uint32_t epoch, std::uint64_t closed_era) noexcept;
  // The slot's last report, copied.
  void report(std::uint32_t epoch, PinReport* out) noexcept;
  // Allocations recorded since start.
  std::uint64_t recorded() const noexcept;

  Mutex& mutex_for_fork() noexcept { return mutex_; }

 private:
  struct Record;
  struct Candidate;
  std::uint32_t next_countdown(Heap& heap) const noexcept;
  [[gnu::noinline]] void record(void* block, std::uint32_t epoch, std::uint64_t era,
                                std::size_t size) noexcept;

  std::uint32_t every_ = 0;
  mutable Mutex mutex_;  // the records, the reports and the scratch; a record path's only lock
  Record* records_ = nullptr;
  Candidate* scratch_ = nullptr;
  PinReport* reports_ = nullptr;  // one per epoch slot
  std::size_t mapped_bytes_ = 0;
  std::uint64_t next_ = 0;  // records written so far; the next goes to next_ % PIN_RECORDS
};

}  // namespace tslab::detail

#endif  // TSLAB_CORE_PIN_SAMPLE_H
