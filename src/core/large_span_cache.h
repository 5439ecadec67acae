// This file contains LargeSpanCache, the allocator's free large spans kept in
// bins by reservation size, so that a lookup looks at a bounded number of spans
// however many are cached.
//
// A span's reservation is a whole number of 64 KiB granules (MAP_GRANULE;
// core/large_span.cpp). Reservations of 1 to EXACT_BINS granules have a bin
// each; above that every
// power of two is split into BINS_PER_DOUBLING bins, so the spans of one bin
// differ by less than a quarter. A bitmap marks the non-empty bins. A lookup
// first looks at up to PROBES spans of the bin its size falls in (that bin may
// hold smaller spans too), then takes from the next non-empty bins up, whose
// spans are all large enough. A bin keeps its spans that keep pages committed
// (warm) and those that keep none (cold) in two lists, each the last one in
// first out, and a lookup looks at up to PROBES of each, the warm ones first:
// it meets a warm span before any cold one, however many cold ones the bin
// holds. Across bins the warm spans are kept in the order they were cached,
// the cold ones in the order they went cold: the allocator returns the pages
// of the warm span cached longest first, and gives back the reservation of the
// span cold longest first (then of the oldest warm one). Every list is linked both ways: taking any span out,
// or moving one that went cold to the cold lists, costs the same however many are cached.
//
// Not thread-safe: the allocator lock guards it (core/allocator_core.h).
#ifndef TSLAB_CORE_LARGE_SPAN_CACHE_H
#define TSLAB_CORE_LARGE_SPAN_CACHE_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "segment/segment.h"

namespace tslab::detail {

class LargeSpanCache {
 public:
  static constexpr std::uint32_t EXACT_BINS = 8;
  static constexpr std::uint32_t BINS_PER_DOUBLING = 4;
  static constexpr std::uint32_t BIN_COUNT = 128;
  // Spans of each of a bin's two lists looked at by a lookup, at most.
  static constexpr std::uint32_t PROBES = 8;

  // The bin of a reservation of `granules` granules (at least 1).
  static std::uint32_t bin_of(std::size_t granules) noexcept;
  // The fewest granules a reservation in `bin` can have.
  static std::size_t bin_floor(std::uint32_t bin) noexcept;

  // Caches `seg`, warm or cold as its dirty_bytes say.
  void push(SegmentHeader* seg) noexcept;
  // The cached warm `seg` returned all its pages (dirty_bytes is 0 now): it
  // moves to the cold list of its bin and the cold order of age.
  void cooled(SegmentHeader* seg) noexcept;
  // Removes and returns a span of at least `bytes` whose base is a multiple of
  // `alignment`, from the lowest bin that has one; nullptr if none was found.
  // With `min_dirty`, only a span that keeps at least that many bytes committed;
  // with `max_bytes`, only one of at most that many; with `max_dirty`, only one
  // that keeps at most that many committed.
  SegmentHeader* take(std::size_t bytes, std::size_t alignment, std::size_t min_dirty = 0,
                      std::size_t max_bytes = SIZE_MAX, std::size_t max_dirty = SIZE_MAX) noexcept;
  bool contains(const SegmentHeader* seg) const noexcept { return seg->cached; }
  // Calls visit(seg) for every cached span while it returns true.
  template <class Visit>
  void for_each(Visit&& visit) const noexcept {
    for (std::uint32_t b = next_nonempty(0); b < BIN_COUNT; b = next_nonempty(b + 1))
      for (SegmentHeader* const* list : {&warm_bins_[b], &cold_bins_[b]})
        for (SegmentHeader* seg = *list; seg != nullptr; seg = seg->next_cached)
          if (!visit(seg)) return;
  }
  // Calls visit(seg) for every cached warm span, the one cached longest first,
  // while it returns true. visit may make `seg` cold (cooled) or take it out.
  template <class Visit>
  void for_each_warm_oldest_first(Visit&& visit) noexcept {
    for (SegmentHeader *seg = warm_.oldest, *next = nullptr; seg != nullptr; seg = next) {
      next = seg->newer_cached;
      if (!visit(seg)) return;
    }
  }
  // Removes and returns the span cold longest that no one pins, else the warm
  // one cached longest; nullptr if there is none. A pin may be a realloc
  // copying out of the span's range, whose block a racing free put here
  // (AllocatorCore::realloc_large): its range stays mapped until the pin goes.
  SegmentHeader* take_oldest() noexcept;
  // Of the PROBES warm spans cached last, removes and returns the one with the most
  // bytes kept committed (dirty_bytes) among those smaller than `bytes`, not
  // ungrowable, not carved out of a chunk (carved_span) and pinned by no
  // validation; nullptr if none has any.
  SegmentHeader* take_warmest(std::size_t bytes) noexcept;
  std::uint64_t size() const noexcept { return count_.load(std::memory_order_relaxed); }
  // Without the lock: whether a span was cached when last looked at, a hint
  // that spares a caller work (a system call) when the cache is empty.
  bool maybe_empty() const noexcept { return size() == 0; }
  // Reservation bytes of the cached spans. Without the lock: a hint, as maybe_empty.
  std::uint64_t reserved_bytes() const noexcept { return reserved_bytes_.load(std::memory_order_relaxed); }
  // Spans looked at by take() so far: at most 2 * PROBES per bin it tried.
  std::uint64_t spans_visited() const noexcept { return visited_; }
  // Cached spans that keep pages committed.
  std::uint64_t warm_count() const noexcept { return warm_count_; }
  // True if every span sits in the list of its kind in the bin of its size; the
  // bitmap marks exactly the non-empty bins; each order of age holds exactly
  // the spans of its kind; and size() counts the spans.
  bool consistent() const noexcept;

 private:
  static std::size_t granules_of(std::size_t bytes) noexcept;
  // The first non-empty bin at or above `from`; BIN_COUNT if none.
  std::uint32_t next_nonempty(std::uint32_t from) const noexcept;
  // Unlinks the first of PROBES spans of `bin`, warm ones first, that fits;
  // nullptr if none did.
  SegmentHeader* take_from(std::uint32_t bin, std::size_t bytes, std::size_t alignment, std::size_t min_dirty,
                           std::size_t max_bytes, std::size_t max_dirty) noexcept;
  struct AgeOrder {
    SegmentHeader* oldest = nullptr;
    SegmentHeader* newest = nullptr;
  };
  AgeOrder& age_order_of(const SegmentHeader* seg) noexcept { return seg->cached_cold ? cold_ : warm_; }
  SegmentHeader*& list_of(const SegmentHeader* seg, std::uint32_t bin) noexcept {
    return seg->cached_cold ? cold_bins_[bin] : warm_bins_[bin];
  }
  // Links `seg` first into its bin's list of its kind, and into its order of age
  // as the newest.
  void link(SegmentHeader* seg) noexcept;
  // Unlinks `seg` from its bin and its order of age.
  void unlink(SegmentHeader* seg) noexcept;
  // Takes the cached `seg` out of the cache, wherever it is in its bin.
  void take_out(SegmentHeader* seg) noexcept;
  // The oldest span of `order` that no one pins, taken out; nullptr if none.
  SegmentHeader* take_oldest_of(AgeOrder& order) noexcept;

  SegmentHeader* warm_bins_[BIN_COUNT] = {};
  SegmentHeader* cold_bins_[BIN_COUNT] = {};
  std::uint64_t nonempty_[BIN_COUNT / 64] = {};
  AgeOrder warm_;
  AgeOrder cold_;
  std::uint64_t warm_count_ = 0;
  // Written under the allocator lock only; atomic for maybe_empty().
  std::atomic<std::uint64_t> count_{0};
  // Written under the allocator lock only; atomic for the hint.
  std::atomic<std::uint64_t> reserved_bytes_{0};
  std::uint64_t visited_ = 0;
};

}  // namespace tslab::detail

#endif  // TSLAB_CORE_LARGE_SPAN_CACHE_H
