// This file contains the allocator's own event counters: memory return, closes,
// rejections, adoption and lock waits. They are bumped on slow paths only (the
// fast paths carry no counter); per-thread counters live in the heaps
// (heap/heap.h) and statistics merge both on read.
//
// Building with -DTSLAB_STATS=0 compiles every bump out (the benchmark
// bench/micro compares the two builds).
#ifndef TSLAB_CORE_COUNTERS_H
#define TSLAB_CORE_COUNTERS_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>

#include "platform/mutex.h"
#include "slab_alloc.h"

#ifndef TSLAB_STATS
#define TSLAB_STATS 1
#endif

namespace tslab::detail {

inline constexpr bool STATS_ENABLED = TSLAB_STATS != 0;

// An event count bumped by any thread (relaxed: a statistic orders nothing).
struct EventCounter {
  std::atomic<std::uint64_t> value{0};
  void add(std::uint64_t n = 1) noexcept {
    if constexpr (STATS_ENABLED) value.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

// A level written by one thread at a time (under the allocator lock).
struct Level {
  std::atomic<std::uint64_t> value{0};
  void set(std::uint64_t v) noexcept {
    if constexpr (STATS_ENABLED) value.store(v, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

// Upper bounds of the close-latency histogram's buckets, in nanoseconds: 10 us
// to 1 s by decades. One more bucket, past the last bound, is +Inf.
inline constexpr std::uint64_t CLOSE_LATENCY_BOUNDS_NS[] = {10'000,     100'000,     1'000'000,
                                                            10'000'000, 100'000'000, 1'000'000'000};
inline constexpr std::size_t CLOSE_LATENCY_BUCKETS = std::size(CLOSE_LATENCY_BOUNDS_NS) + 1;

// Closes by duration, one count per bucket (not cumulative). Written by the
// close path only.
struct CloseLatency {
  EventCounter buckets[CLOSE_LATENCY_BUCKETS];
  void record(std::uint64_t ns) noexcept {
    std::size_t b = 0;
    while (b < std::size(CLOSE_LATENCY_BOUNDS_NS) && ns > CLOSE_LATENCY_BOUNDS_NS[b]) ++b;
    buckets[b].add();
  }
};

struct CoreCounters {
  EventCounter decommit_calls;
  EventCounter decommit_bytes;
  EventCounter decommit_failures;
  EventCounter epoch_closes;
  EventCounter close_slabs_scanned;
  EventCounter close_slabs_returned;
  EventCounter close_ns;
  EventCounter collect_calls;
  EventCounter closing_rejections;
  EventCounter invalid_frees;
  EventCounter destroyed_blocks;  // live blocks freed by epoch_destroy
  EventCounter thread_adoptions;
  EventCounter slabs_retired;     // slabs whose id ran out of generations
  EventCounter quiescence_waits;  // quiesce_allocations calls that fenced
  EventCounter closes_drained;    // closes that found no live block left
  EventCounter spans_unmapped;    // large-span reservations handed back to the OS
  EventCounter spans_grown;       // large spans grown into a larger reservation, pages and all
  CloseLatency close_latency;
  alignas(64) EventCounter lock_acquisitions;  // its own line: bumped on every slow path
  EventCounter lock_waits;
};

struct EpochCounters {
  EventCounter closes;
  EventCounter closing_rejections;
  EventCounter closes_drained;
  Level last_close_ns;
  Level last_close_slabs_returned;
  Level last_close_live_blocks;
  Level last_close_pinned_slabs;
  Level last_close_pinned_bytes;
  Level last_close_drained;
};

// std::lock_guard for the allocator lock that counts acquisitions and waits.
class CountedLock {
 public:
  CountedLock(Mutex& m, CoreCounters& c) noexcept : m_(m) {
    if (!m_.try_lock()) {
      c.lock_waits.add();
      m_.lock();
    }
    c.lock_acquisitions.add();
  }
  ~CountedLock() { m_.unlock(); }
  CountedLock(const CountedLock&) = delete;
  CountedLock& operator=(const CountedLock&) = delete;

 private:
  Mutex& m_;
};

}  // namespace tslab::detail

#endif  // TSLAB_CORE_COUNTERS_H
