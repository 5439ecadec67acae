// This file contains the allocator interface the mixed-size workloads share
// (steady-churn, phase-shift, thread-scaling, producer-consumer, and the preload
// group's stress shapes): malloc/free for the peers and tslab-malloc, tslab's
// pointer API in one epoch for tslab, with the phase hooks and purge call each
// workload may use, and the cache-line writer every workload applies to a
// fresh block.
#ifndef TSLAB_BENCH_WORKLOADS_OBJECT_OPS_HPP
#define TSLAB_BENCH_WORKLOADS_OBJECT_OPS_HPP

#include <cstdint>
#include <cstdlib>
#include <string>

#include "harness/allocators.hpp"
#include "harness/spec.hpp"

#ifdef TSLAB_BENCH_HAVE_TSLAB
#include "slab_alloc.h"
#endif

namespace bench {

// Writes one byte in every cache line the block overlaps, so its pages are
// resident and no allocation can be optimised away.
inline void touch_lines(void* p, std::size_t n, std::uint32_t v) {
  auto* q = static_cast<unsigned char*>(p);
  unsigned char* const end = q + n;
  while (q < end) {
    *reinterpret_cast<volatile unsigned char*>(q) = static_cast<unsigned char>(v);
    q = reinterpret_cast<unsigned char*>((reinterpret_cast<std::uintptr_t>(q) | 63u) + 1);
  }
}

struct MallocOps {
  PurgeFn purge_fn;
  void* alloc(std::size_t n) { return std::malloc(n); }
  bool release(void* p) {
    std::free(p);
    return true;
  }
  // A phase whose objects are all freed has ended (malloc: nothing to do).
  bool end_phase() { return true; }
  bool purge() { return purge_fn(); }
};

#ifdef TSLAB_BENCH_HAVE_TSLAB
struct TslabOps {
  SlabAllocator* a;
  EpochId epoch;
  void* alloc(std::size_t n) { return slab_malloc_epoch(a, n, epoch); }
  bool release(void* p) { return slab_free_checked(a, p); }
  // Closes the phase's epoch (its pages go back) and continues in the next one.
  bool end_phase() {
    const EpochId done = epoch;
    epoch = epoch_advance(a);
    return slab_epoch_state(a, done) == EPOCH_CLOSING;
  }
  bool purge() { return slab_collect(a), true; }
};
#endif

// Runs `body(ops)` with the allocator `spec.alloc` names (tslab: a fresh
// allocator, checked afterwards). False with `error` set on failure.
template <class Body>
bool with_object_ops(const ChildSpec& spec, std::string& error, Body body) {
  if (uses_malloc_api(spec.alloc)) {
    MallocOps ops{malloc_purge_fn(spec.alloc, error)};
    if (ops.purge_fn == nullptr) return false;
    if (!body(ops)) return error.empty() ? (error = "a free or purge failed", false) : false;
    return true;
  }
#ifdef TSLAB_BENCH_HAVE_TSLAB
  if (spec.alloc != "tslab") return error = spec.workload + " measures tslab, not " + spec.alloc, false;
  SlabAllocator* sa = slab_allocator_create();
  if (sa == nullptr) return error = "slab_allocator_create failed", false;
  TslabOps ops{sa, epoch_current(sa)};
  bool ok = body(ops);
  if (!ok && error.empty())
    error = std::string("a free or close failed (") + slab_error_string(slab_last_error()) + ")";
  char msg[256] = {};
  if (ok && !slab_check(sa, msg, sizeof msg)) {
    error = std::string("slab_check failed after the workload: ") + msg;
    ok = false;
  }
  slab_allocator_free(sa);
  return ok;
#else
  return error = spec.alloc + " is not built into this binary", false;
#endif
}

}  // namespace bench

#endif
