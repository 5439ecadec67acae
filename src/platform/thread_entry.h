// This file contains the calling thread's entry word: whether the thread is
// inside tslab right now, for a signal handler that runs on it to read before
// it enters tslab's core, and the malloc override's flag for frees such a
// handler queued. The override's fast paths test both before they enter the
// core (override/process_malloc.h).
//
// Both fields are written by their thread and by signal handlers running on
// it, never by another thread. `inside` is a count that every writer puts back
// as it found it before the interrupted code resumes, so a plain increment
// (not atomic) is enough; signal fences keep the compiler from moving the
// writes across the work they mark.
#ifndef TSLAB_PLATFORM_THREAD_ENTRY_H
#define TSLAB_PLATFORM_THREAD_ENTRY_H

#include <atomic>
#include <cstdint>

namespace tslab::detail {

struct ThreadEntry {
  // How many times the thread is inside tslab now: one while it holds or is
  // taking any tslab lock, however many (platform/mutex.h), one while malloc,
  // free or a scope is in the core on its behalf (override/process_malloc.h).
  std::uint8_t inside;
  // A signal handler queued a free for the thread to carry out (override).
  bool malloc_frees_queued;
};
static_assert(sizeof(ThreadEntry) == sizeof(std::uint16_t));

[[gnu::tls_model("initial-exec")]] extern thread_local constinit ThreadEntry tl_entry;

// True while the calling thread is not inside tslab and has no queued frees.
// Two byte loads, not one 16-bit load of both: the previous malloc or free
// stored `inside` a byte wide (leave_tslab) a few instructions earlier, and a
// load wider than that store cannot take its value from the store buffer; it
// waits for the store to reach the cache. Measured on a loop of malloc(16) and
// free (1 thread, medians of 6 runs): 22.4 ns per pair with the 16-bit load,
// 19.3 with two byte loads.
[[gnu::always_inline]] inline bool thread_entry_clear() noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);  // read now, not hoisted
  const std::uint8_t inside = tl_entry.inside;
  // Also keeps the compiler from merging the two loads into one.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return (inside | static_cast<std::uint8_t>(tl_entry.malloc_frees_queued)) == 0;
}

// True while the calling thread is inside tslab: a signal handler that finds
// it so interrupted tslab, whose locks may be this thread's own.
[[gnu::always_inline]] inline bool thread_inside_tslab() noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return tl_entry.inside != 0;
}

// Marks the calling thread inside tslab: the count goes up before the work it
// marks and down after it, so a signal landing at either edge errs on the side
// of "inside".
[[gnu::always_inline]] inline void enter_tslab() noexcept {
  ++tl_entry.inside;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}
[[gnu::always_inline]] inline void leave_tslab() noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  --tl_entry.inside;
}

// Marks the calling thread inside tslab while it lives (enter_tslab). The
// compiler keeps the marked work between the count's two writes (signal
// fences): a handler that interrupts anywhere in between finds it raised.
// Around every piece of work on the thread's own heap outside an allocation's
// or a free's fast path, so that the malloc override serves a handler that
// interrupts it from its reserve, never from that half-updated heap.
class InsideTslab {
 public:
  [[gnu::always_inline]] InsideTslab() noexcept { enter_tslab(); }
  [[gnu::always_inline]] ~InsideTslab() { leave_tslab(); }
  InsideTslab(const InsideTslab&) = delete;
  InsideTslab& operator=(const InsideTslab&) = delete;
};

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_THREAD_ENTRY_H
