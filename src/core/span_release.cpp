// This file contains the return of large spans' reservations to the OS.
//
// A freed span waits in the cache (core/large_span_cache.h) with its address
// range still reserved. The cache holds at most MAX_CACHED_RESERVATION bytes of
// reservation and MAX_CACHED_SPANS spans: beyond either the span cold longest
// is released (munmap), or the oldest warm one if none is cold, and so
// is every cached span when the OS refuses a new reservation (an address
// space limit, RLIMIT_AS) or when collect() asks for everything back. A span
// whose id has no generation left is released at once, unless a validation
// still holds its header (a copy out of its range, for a realloc racing the
// free): then its range stays mapped until the next release finds the header
// let go (retired_held_).
//
// The header outlives the range. Headers live in the metadata arena and keep
// their kind, their place in the list of reservations and their registry id, so
// a released header is "bare": its range is no longer in the segment map, and
// the next span that needs a new reservation binds a bare header to it instead
// of taking new metadata and a new id. Handles of the old block keep naming the
// id: they read DOUBLE_FREE until the header is bound again, STALE_HANDLE from
// then on (the generation moves at the binding). Pointers into the old range
// read NOT_ALLOCATED.
//
// Binding protocol. A validation of a pointer finds the header in the segment
// map, pins it, and reads the map again (seq_cst, resolve_pointer); a release
// clears the map entries (seq_cst) before the header may be bound. Binding
// happens only when the header's pin is 0 (seq_cst). So either the validation's
// second read sees the entries gone and refuses without reading the header's
// range, or the binder sees the pin and leaves that header alone: `base`,
// `size` and the slab's `start` never change under a validation that reads them.
#include "core/allocator_core.h"
#include "handle/registry.h"
#include "segment/segment_map.h"

namespace tslab::detail {

namespace {

// Spans released per batch: their ranges are unmapped after the lock is dropped.
constexpr std::size_t RELEASE_BATCH = 8;

}  // namespace

ReleasedRange AllocatorCore::unbind_span_locked(SegmentHeader* seg) noexcept {
  // Linearization point of a span's release: from here its range is not
  // recognised (seq_cst, the releaser's half of the binding protocol).
  segment_map_clear(seg);
  seg->released = true;
  const ReleasedRange range{reinterpret_cast<void*>(seg->base), seg->size};
  if (seg->dirty_bytes != 0) {
    // Pages kept committed go back with the range.
    large_warm_bytes_ -= seg->dirty_bytes;
    decommitted_bytes_.fetch_add(seg->dirty_bytes, std::memory_order_relaxed);
    seg->dirty_bytes = 0;
  }
  counters_.spans_unmapped.add();
  // A header whose id has no generation left is never bound again (law 5).
  if (registry_current_generation(seg->slabs->id) < HANDLE_GEN_MASK) push_bare_span_locked(seg);
  return range;
}

void AllocatorCore::unmap(const ReleasedRange* ranges, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) platform_.release(ranges[i].base, ranges[i].size);
}

void AllocatorCore::release_span_cache_locked() noexcept {
  // A rare path (out of address space): the ranges go back under the lock.
  while (SegmentHeader* seg = large_cache_.take_oldest()) {
    const ReleasedRange range = unbind_span_locked(seg);
    unmap(&range, 1);
  }
}

void AllocatorCore::trim_span_cache(std::uint64_t keep) noexcept {
  ReleasedRange ranges[RELEASE_BATCH];
  for (std::size_t n = RELEASE_BATCH; n == RELEASE_BATCH;) {
    n = 0;
    {
      const CountedLock lock(mutex_, counters_);
      n = take_retired_let_go_locked(ranges, n);
      while (n < RELEASE_BATCH && (large_cache_.reserved_bytes() > keep ||
                                   (keep != 0 && large_cache_.size() > MAX_CACHED_SPANS))) {
        SegmentHeader* seg = large_cache_.take_oldest();
        if (seg == nullptr) break;  // every one left is pinned
        ranges[n++] = unbind_span_locked(seg);
      }
    }
    unmap(ranges, n);
  }
}

void AllocatorCore::retire_span(SegmentHeader* seg) noexcept {
  ReleasedRange ranges[RELEASE_BATCH];
  std::size_t n = 0;
  {
    const CountedLock lock(mutex_, counters_);
    const ReleasedRange range = unbind_span_locked(seg);
    // seq_cst, after the map's clear: the binding protocol's releaser half. A
    // validation that pinned the header before may be reading the range. One
    // pin is the caller's own: the free's validation.
    if (seg->pins[0].load(std::memory_order_seq_cst) > 1) {
      seg->next_cached = retired_held_;
      retired_held_ = seg;
    } else {
      ranges[n++] = range;
    }
    n = take_retired_let_go_locked(ranges, n);
  }
  unmap(ranges, n);
}

std::size_t AllocatorCore::take_retired_let_go_locked(ReleasedRange* ranges, std::size_t n) noexcept {
  for (SegmentHeader** link = &retired_held_; *link != nullptr && n < RELEASE_BATCH;) {
    SegmentHeader* seg = *link;
    if (seg->pins[0].load(std::memory_order_seq_cst) != 0) {
      link = &seg->next_cached;
      continue;
    }
    *link = seg->next_cached;
    seg->next_cached = nullptr;
    ranges[n++] = ReleasedRange{reinterpret_cast<void*>(seg->base), seg->size};
  }
  return n;
}

SegmentHeader* AllocatorCore::take_bare_span_locked() noexcept {
  for (SegmentHeader** link = &bare_spans_; *link != nullptr; link = &(*link)->next_cached) {
    SegmentHeader* seg = *link;
    // seq_cst: the binder's half of the binding protocol. A pin still held
    // belongs to a validation that found the header before its release.
    if (seg->pins[0].load(std::memory_order_seq_cst) != 0) continue;
    *link = seg->next_cached;
    seg->next_cached = nullptr;
    return seg;
  }
  return nullptr;
}

void AllocatorCore::push_bare_span_locked(SegmentHeader* seg) noexcept {
  seg->next_cached = bare_spans_;
  bare_spans_ = seg;
}

bool AllocatorCore::bind_span(SegmentHeader* seg, void* base, std::size_t reserve,
                              std::size_t dirty) noexcept {
  const auto start = reinterpret_cast<std::uintptr_t>(base);
  if (!segment_map_cover(start, reserve)) {
    const CountedLock lock(mutex_, counters_);
    push_bare_span_locked(seg);
    return false;
  }
  const CountedLock lock(mutex_, counters_);
  seg->base = start;
  seg->size = reserve;
  seg->dirty_bytes = dirty;
  seg->released = false;
  seg->ungrowable = false;
  seg->growing = false;
  seg->slabs->start = static_cast<char*>(base);
  // The old block's extent must not survive into the new range: a fork child's
  // repair clears a span not yet published up to this (core/fork.cpp).
  seg->slabs->large_usable.store(0, std::memory_order_relaxed);
  // Quiescence point of the old block's handles: it was freed before the span
  // was cached, so none is valid; from here they read STALE_HANDLE (law 5).
  registry_next_generation(seg->first_id);
  segment_map_set(seg);
  return true;
}

}  // namespace tslab::detail
