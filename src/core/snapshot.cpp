// This file contains AllocatorCore::snapshot: occupancy read from the slab
// bitmaps under the allocator lock, and counters merged from the heaps.
//
// Nothing here writes allocator state, and the fast paths are not involved: a
// snapshot costs the threads that allocate only the allocator lock it holds
// while it walks (slow paths that need a slab wait for it).
#include "core/snapshot.h"

#include <cstring>

#include "core/allocator_core.h"

namespace tslab::detail {

namespace {

// Adds one in-use slab to `occ` (all but the reclaimable figures, which the
// heaps keep). Reads only atomics and fields fixed while the slab is in use (set
// under the allocator lock, which the caller holds).
void account_slab(const Slab& s, Occupancy& occ) noexcept {
  const std::uint64_t live = s.live_blocks();
  const std::uint64_t live_bytes = live * s.obj_size;
  const std::uint64_t committed = s.committed_bytes();
  occ.live_blocks += live;
  occ.live_bytes += live_bytes;
  occ.committed_bytes += committed;
  if (live == 0) {
    ++occ.slabs_empty;
  } else if (live == s.capacity) {
    ++occ.slabs_full;
  } else {
    ++occ.slabs_partial;
  }
  occ.fragmentation_bytes += committed > live_bytes ? committed - live_bytes : 0;
}

}  // namespace

void AllocatorCore::snapshot(CoreSnapshot& out, std::uint32_t only_class,
                             bool measure_resident) const noexcept {
  out.uid = uid_;
  out.epoch_count = epoch_count_;
  out.current_epoch = epochs_.current();
  for (std::uint32_t e = 0; e < epoch_count_; ++e) {
    EpochSnapshot& es = out.epochs[e];
    es.state = epochs_.state(e);
    es.era = epochs_.era(e);
    es.open_since_ns = epochs_.open_since_ns(e);
    es.refcount = epochs_.refcount(e);
    epochs_.label(e, es.label, sizeof es.label);
    const EpochCounters& ec = epoch_counters_[e];
    es.closes = ec.closes.get();
    es.closing_rejections = ec.closing_rejections.get();
    es.last_close_ns = ec.last_close_ns.get();
    es.last_close_slabs_returned = ec.last_close_slabs_returned.get();
    es.closes_drained = ec.closes_drained.get();
    es.last_close_live_blocks = ec.last_close_live_blocks.get();
    es.last_close_pinned_slabs = ec.last_close_pinned_slabs.get();
    es.last_close_pinned_bytes = ec.last_close_pinned_bytes.get();
    es.last_close_drained = ec.last_close_drained.get();
    es.rss_before_last_close = rss_before_close_[e].load(std::memory_order_relaxed);
    es.rss_after_last_close = rss_after_close_[e].load(std::memory_order_relaxed);
    if (es.state == EPOCH_ACTIVE) ++out.epochs_active;
  }
  for (std::uint32_t c = 0; c < NUM_CLASSES; ++c) {
    ClassCounts& cc = out.class_counts[c];
    cc.new_slabs = new_slabs_[c].load(std::memory_order_relaxed);
    cc.slabs_reused = slabs_reused_[c].load(std::memory_order_relaxed);
    cc.slabs_recycled = slabs_recycled_[c].load(std::memory_order_relaxed);
  }
  // Resident bytes take the lock themselves (and read the page tables).
  if (measure_resident) out.resident_bytes = resident_bytes();

  // Not counted (CountedLock): reading the statistics leaves them as they were.
  const LockGuard lock(mutex_);
  static_assert(sizeof out.name == sizeof name_);
  std::memcpy(out.name, name_, sizeof name_);
  for (std::uint32_t e = 0; e < epoch_count_; ++e) {
    for_each_epoch_slab_locked(e, [&](const Slab& s) {
      if (only_class < NUM_CLASSES && s.size_class != only_class) return;
      Occupancy one{};
      account_slab(s, one);
      out.per_class[s.size_class].add(one);
      out.epochs[e].occupancy.add(one);
      out.total.add(one);
    });
  }
  for (SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next) {
    if (seg->released) continue;  // a bare header: its range went back
    out.reserved_bytes += seg->size;
    if (seg->kind != SlabKind::large) continue;
    // Pinned: a span seen in use stays in that life while its extent and epoch
    // are read (its next taker, from the cache or a stash, skips a pinned span).
    SlabPin pin;
    pin.pin(seg->pins[0]);
    const Slab& s = seg->slabs[0];
    if (s.state.load(std::memory_order_seq_cst) != SLAB_IN_USE ||
        (s.bits[0].allocated.load(std::memory_order_acquire) & 1) == 0)
      continue;  // cached: its pages went back when it was freed
    const std::uint64_t bytes = s.large_usable.load(std::memory_order_relaxed);
    ++out.large_spans_live;
    out.large_live_bytes += bytes;
    Occupancy one{};
    one.live_blocks = 1;
    one.live_bytes = bytes;
    one.committed_bytes = bytes;
    if (only_class < NUM_CLASSES) continue;  // a class-restricted snapshot counts no span
    out.total.add(one);
    if (s.epoch < epoch_count_) out.epochs[s.epoch].occupancy.add(one);
  }
  // Without measure_resident (mallinfo2) no page table is read at all.
  out.metadata_bytes = metadata_bytes_locked(measure_resident);
  // Reclaimable memory: O(1) per bin, from the counts the heaps keep at each
  // slab's 0 <-> 1 live step; only bins of an activation still open count (those
  // of a closed one are returned by the close itself).
  for (const Heap* h = heaps_; h != nullptr; h = h->next_all) {
    for (std::uint32_t e = 0; e < epoch_count_; ++e) {
      const std::uint64_t open = epochs_.open_era(e);
      if (open == 0 || !h->uses_epoch(e)) continue;
      for (std::uint32_t c = 0; c < NUM_CLASSES; ++c) {
        if (only_class < NUM_CLASSES && c != only_class) continue;
        const ReclaimCount& r = h->reclaim(e * NUM_CLASSES + c);
        if (r.era.load(std::memory_order_relaxed) != open) continue;
        Occupancy one{};
        one.reclaimable_slabs = r.slabs.load(std::memory_order_relaxed);
        one.reclaimable_bytes = r.bytes.load(std::memory_order_relaxed);
        out.per_class[c].add(one);
        out.epochs[e].occupancy.add(one);
        out.total.add(one);
      }
    }
  }
  for (const Heap* h = heaps_; h != nullptr; h = h->next_all) {
    if (h->owner_tid.load(std::memory_order_relaxed) != 0) ++out.threads_attached;
    for (std::uint32_t c = 0; c < NUM_CLASSES; ++c) {
      const HeapClassCounters& hc = h->counters(c);
      out.class_counts[c].slow_path += hc.slow_path_hits.get();
      out.class_counts[c].remote_frees_collected += hc.remote_blocks.get();
    }
  }
  for (const Heap* h = abandoned_; h != nullptr; h = h->next_abandoned) ++out.heaps_abandoned;

  const CoreCounters& k = counters_;
  out.decommit_calls = k.decommit_calls.get();
  out.decommit_bytes = k.decommit_bytes.get();
  out.decommit_failures = k.decommit_failures.get();
  out.epoch_closes = k.epoch_closes.get();
  out.close_slabs_scanned = k.close_slabs_scanned.get();
  out.close_slabs_returned = k.close_slabs_returned.get();
  out.close_ns = k.close_ns.get();
  out.collect_calls = k.collect_calls.get();
  out.closing_rejections = k.closing_rejections.get();
  out.invalid_frees = k.invalid_frees.get();
  out.destroyed_blocks = k.destroyed_blocks.get();
  out.thread_adoptions = k.thread_adoptions.get();
  out.lock_acquisitions = k.lock_acquisitions.get();
  out.lock_waits = k.lock_waits.get();
  out.warm_reserve_bytes = std::uint64_t{warm_count_} * SLAB_SIZE + large_warm_bytes_ +
                           stashed_bytes_.load(std::memory_order_relaxed);
  out.quiescence_waits = k.quiescence_waits.get();
  out.closes_drained = k.closes_drained.get();
  out.spans_unmapped = k.spans_unmapped.get();
  out.spans_grown = k.spans_grown.get();
  for (std::size_t b = 0; b < CLOSE_LATENCY_BUCKETS; ++b)
    out.close_latency[b] = k.close_latency.buckets[b].get();
}

}  // namespace tslab::detail
