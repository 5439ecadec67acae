// This file contains the growth of a large span into a larger reservation, its
// committed pages moved along without a copy or a page fault
// (Platform::grow_into; mremap on Linux):
//   - a request no stashed or cached span fits grows the warmest smaller cached
//     one (grow_warm_span), whose pages would otherwise sit unused beside a new
//     span that faults all of its own in (not one carved out of a chunk, nor
//     one in a thread's stash: carved_span);
//   - a realloc beyond a live block's reservation grows the block's own span
//     (grow_live_span), where the block was copied into a new span, both
//     resident while the copy ran.
//
// Protocol. The destination is reserved and covered by the segment map first, so
// that binding a header to it cannot fail once the pages have moved. The span is the
// grower's alone meanwhile (`growing`; a fork's child gives such a header up): a
// free one out of the cache, a live one's block ended as a free ends it (the
// compare-exchange of its allocated bit, so that a racing free of its pointer or
// handle reads DOUBLE_FREE), UNUSED in every case. Validations still find the header
// in the map and refuse it without reading its range. A refused grow leaves the
// range as it was: a free span goes back to the cache, a live one's block is live
// again, its map entries set again, and the range is not asked to grow again. The
// old range's map entries are cleared under the allocator lock before the grow (once
// the range moved, the OS may give its addresses to another reservation), and the
// header is bound to the new range only while no validation pins it (seq_cst, after
// the clear: the binding protocol of core/span_release.cpp). A cached span's header
// still pinned then goes bare, and its pages back to the OS. A live block's is
// waited for: no validation held it when the grow began (checked after the
// compare-exchange), and one that found it since sees it UNUSED and lets go without
// waiting for anything.
#include <sched.h>

#include "core/allocator_core.h"
#include "handle/handle.h"
#include "handle/registry.h"
#include "heap/heap.h"
#include "platform/clock_rss.h"
#include "platform/freed_ranges.h"
#include "platform/span_chunks.h"
#include "segment/segment_map.h"

namespace tslab::detail {

namespace {

// The platform records only ranges of whole granules for reuse, and carves only
// whole granules: spans' ranges.
static_assert(FreedRanges::GRANULE == MAP_GRANULE && SpanChunks::GRANULE == MAP_GRANULE);

// A reservation's size: whole units of span_unit.
constexpr std::size_t whole_units(std::size_t bytes) {
  return (bytes + span_unit(bytes) - 1) & ~(span_unit(bytes) - 1);
}

}  // namespace

void* AllocatorCore::reserve_covered_span(std::size_t size) noexcept {
  void* base = reserve_span(size, span_unit(size));
  if (base != nullptr && !segment_map_cover(reinterpret_cast<std::uintptr_t>(base), size)) {
    platform_.release(base, size);
    return nullptr;
  }
  return base;
}

void AllocatorCore::forget_range_locked(SegmentHeader* seg) noexcept {
  // Linearization point of the old range's release: from here no validation
  // finds the span there (seq_cst, the releaser's half of the protocol). Before
  // the grow: once the range moved, the OS may hand its addresses to another
  // reservation, whose map entries a later clear would wipe out.
  segment_map_clear(seg);
  seg->released = true;
}

void AllocatorCore::keep_range_locked(SegmentHeader* seg) noexcept {
  // The grow was refused and the range is as it was, still this span's: no other
  // reservation can have been given its addresses. Validations that read the map
  // meanwhile found nothing there, as they would find the span UNUSED now.
  seg->released = false;
  segment_map_set(seg);
}

bool AllocatorCore::release_grown_range(SegmentHeader* seg, bool keep_held) noexcept {
  bool held = false;
  {
    const CountedLock lock(mutex_, counters_);
    // seq_cst: the binder's half, after the clear (forget_range_locked).
    held = seg->pins[0].load(std::memory_order_seq_cst) != 0;
    if (held && !keep_held) {
      seg->growing = false;
      push_bare_span_locked(seg);  // bound again once unpinned (take_bare_span_locked)
    }
  }
  counters_.spans_unmapped.add();                       // the old range went back, its pages moved out first
  if (!held || keep_held) counters_.spans_grown.add();  // else the pages go back too
  return held;
}

SegmentHeader* AllocatorCore::grow_warm_span(std::size_t reserve, std::size_t alignment) noexcept {
  // `to` is aligned to its unit (span_unit). With no span cached nothing is
  // asked of the OS (can_grow reads the address-space limit); take_warmest
  // checks again under the lock. The threads' stashed spans are left alone:
  // most are carved out of chunks, which no free span grows out of (carved_span).
  if (alignment > span_unit(reserve) || carved_span(reserve) || large_cache_.maybe_empty()) return nullptr;
  const bool can_grow = platform_.can_grow();
  address_space_capped_.store(!can_grow, std::memory_order_relaxed);  // read anyway: kept
  if (!can_grow) return nullptr;
  SegmentHeader* seg = nullptr;
  std::size_t dirty = 0;
  {
    const CountedLock lock(mutex_, counters_);
    seg = large_cache_.take_warmest(reserve);
    if (seg == nullptr) return nullptr;
    large_warm_bytes_ -= seg->dirty_bytes;
    seg->growing = true;
    dirty = seg->dirty_bytes;
    seg->dirty_bytes = 0;
  }
  void* to = reserve_covered_span(reserve);
  if (to != nullptr) {
    const CountedLock lock(mutex_, counters_);
    forget_range_locked(seg);
  }
  if (to == nullptr || !platform_.grow_into(reinterpret_cast<void*>(seg->base), seg->size, to, reserve)) {
    // The range is as it was: into the cache, warm, the newest.
    {
      const CountedLock lock(mutex_, counters_);
      if (to != nullptr) keep_range_locked(seg);
      seg->growing = false;
      seg->ungrowable = to != nullptr;
      seg->dirty_bytes = dirty;
      large_warm_bytes_ += dirty;
      seg->cached_ns = monotonic_ns();  // under the lock: the cache stays in order of age
      large_cache_.push(seg);
      release_large_decayed_locked();
    }
    return nullptr;
  }
  if (release_grown_range(seg, false)) {
    // A validation holds the old header: the pages go back, the caller takes a new span.
    platform_.release(to, reserve);
    decommitted_bytes_.fetch_add(dirty, std::memory_order_relaxed);
    return nullptr;
  }
  bind_span(seg, to, reserve, dirty);  // the map covers `to`: it binds
  return seg;
}

void* AllocatorCore::grow_live_span(void* p, std::size_t need, std::size_t room, std::uint32_t epoch,
                                    std::uint64_t era, bool* gone) noexcept {
  std::size_t size = whole_units(need > room ? need : room);
  if (!platform_.can_grow() || carved_span(size)) return nullptr;
  void* to = reserve_covered_span(size);
  // No address space for the room asked (a block of half the memory the OS
  // lets the process reserve): a range for the block alone, still moved, where
  // a copy would need the old and the new pages at once.
  if (to == nullptr && size > whole_units(need) && !carved_span(whole_units(need))) {
    size = whole_units(need);
    to = reserve_covered_span(size);
  }
  if (to == nullptr) return nullptr;
  Slab* s = nullptr;
  std::uint64_t word = 0;
  {
    SlabPin pin;
    s = live_large_span(p, pin);
    if (s != nullptr) {
      word = s->bits[0].allocated.load(std::memory_order_acquire);
      // Linearization point of the old block's end, as a free's (free_large):
      // of racing frees of `p` or its handle, none succeeds from here.
      while ((word & Slab::LARGE_LIVE) != 0 && (word & Slab::LARGE_RESIZING) == 0 &&
             !s->bits[0].allocated.compare_exchange_weak(word, word & ~Slab::LARGE_LIVE,
                                                         std::memory_order_acq_rel)) {
      }
      if ((word & Slab::LARGE_LIVE) == 0) {
        set_error(TSLAB_ERR_DOUBLE_FREE);
        s = nullptr;
      } else if ((word & Slab::LARGE_RESIZING) != 0) {
        // Another realloc resizes it in place: it comes first, this one copies.
        platform_.release(to, size);
        return nullptr;
      }
    }
  }
  if (s == nullptr) {
    platform_.release(to, size);
    *gone = true;
    return nullptr;
  }
  // The block is the caller's, ended by it: no other thread takes its span.
  SegmentHeader* seg = segment_map_lookup(p);
  std::size_t dirty = 0;
  bool growable = false;
  {
    const CountedLock lock(mutex_, counters_);
    // seq_cst: as a free's state store; validations read UNUSED from here.
    s->state.store(SLAB_UNUSED, std::memory_order_seq_cst);
    const std::size_t usable = s->large_usable.load(std::memory_order_relaxed);
    dirty = usable > seg->dirty_bytes ? usable : seg->dirty_bytes;
    // Not while a validation holds the header (a signal handler's caller may be
    // one, on this very thread). A span with no generation left is not bound
    // again (law 5): it is copied, and retired when freed.
    growable = !seg->ungrowable && seg->size < size && registry_current_generation(s->id) < HANDLE_GEN_MASK &&
               seg->pins[0].load(std::memory_order_seq_cst) == 0;
    seg->growing = growable;
    if (growable) forget_range_locked(seg);
  }
  if (!growable) platform_.release(to, size);
  if (!growable || !platform_.grow_into(reinterpret_cast<void*>(seg->base), seg->size, to, size)) {
    // `p` is live again, as it was; the caller copies it.
    const CountedLock lock(mutex_, counters_);
    if (growable) {
      keep_range_locked(seg);
      seg->ungrowable = true;  // the platform refused
    }
    seg->growing = false;
    s->bits[0].allocated.store(word, std::memory_order_relaxed);
    s->state.store(SLAB_IN_USE, std::memory_order_release);
    return nullptr;
  }
  // Pins taken since the check above belong to validations that find the span
  // UNUSED and let go at once, waiting for nothing: wait for them rather than
  // lose the block.
  if (release_grown_range(seg, true))
    while (seg->pins[0].load(std::memory_order_seq_cst) != 0) sched_yield();
  bind_span(seg, to, size, dirty);  // the map covers `to`: it binds; old handles read STALE_HANDLE
  if (need > dirty) large_excess_makes_way(need - dirty);  // pages the grown block will fault in
  return publish_span(seg, need, epoch, era);
}

}  // namespace tslab::detail
