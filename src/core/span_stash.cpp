// This file contains the span stash: freed large spans of up to 1 MiB kept in
// the freeing thread's heap, eight at most (Heap::SPAN_STASH_SLOTS), for that
// thread's next large blocks. Two threads replacing 128 KiB buffers among 16-128
// KiB ones took the lock 445,028 times a run with two slots, 260,790 with four,
// 144,344 with eight and 76,381 with sixteen; eight was the fastest of these.
// (A thread has a heap in an allocator once it allocated a small block there.)
//
// A program that frees and allocates buffers of 64 KiB to 1 MiB (a server's
// per-connection buffers) otherwise takes the allocator lock twice per buffer,
// to cache the span and to take it again; with two threads doing so the lock
// and the cache's lines move between cores on every call. A stashed span keeps
// its pages, its reservation and its header, as a cached one does, and its
// bytes count in the warm reserve: a span is stashed only while the stashes of
// all heaps and the cached spans together keep at most TSLAB_WARM_RESERVE +
// TSLAB_LARGE_RETAIN bytes committed (with both 0 nothing is stashed). Unlike
// a cached span beyond the reserve, a stashed one does not go back after a
// second unused: its thread's exit, an epoch close, a collect (malloc_trim), a
// refused reservation or a change of either bound moves it to the cache.
//
// Protocol. A span enters a stash after its free's compare-exchange cleared its
// allocated bit (free_large): its state becomes UNUSED (seq_cst, the freer's
// half of the pin protocol) and only then is it stored in a slot. Only the
// heap's owner fills slots. Whoever empties a slot does so by exchange: the
// owner taking a span for an allocation, or, under the allocator lock, one of
// the moves to the cache above. The owner checks the span's pin before it hands
// it out again (seq_cst, as LargeSpanCache::take_from does) and moves its generation on;
// a span that does not fit goes back to its slot, so a move that ran in between
// leaves it stashed until the thread's next take or its exit.
// The bound is checked without the lock against the cache's bytes, and the
// cache's against the stashes': two racing frees may pass it by one span.
#include <algorithm>

#include "core/allocator_core.h"
#include "handle/registry.h"
#include "heap/heap.h"
#include "platform/clock_rss.h"
#include "platform/fork_hooks.h"
#include "segment/segment.h"

namespace tslab::detail {

bool AllocatorCore::stash_span(Heap* mine, SegmentHeader* seg, Slab* s) noexcept {
  const std::size_t dirty = std::max(s->large_usable.load(std::memory_order_relaxed), seg->dirty_bytes);
  // A span with no generation left is retired by the cache path (law 5).
  // One segment's reservation at most: a stashed range is out of the reach of
  // the cache's trims (an address-space cap, the 1 GiB of cached reservations).
  if (dirty > STASH_SPAN_BYTES || seg->size > SEGMENT_SIZE ||
      registry_current_generation(s->id) >= HANDLE_GEN_MASK)
    return false;
  for (std::atomic<SegmentHeader*>& slot : mine->span_stash) {
    if (slot.load(std::memory_order_relaxed) != nullptr) continue;
    // The bytes are counted before the span can be seen in the stash. With the
    // cached spans' they stay within the warm reserve and the retention, so the
    // stashes add nothing to what those keep committed.
    if (stashed_bytes_.fetch_add(dirty, std::memory_order_relaxed) + dirty +
            large_warm_bytes_.load(std::memory_order_relaxed) +
            retained_slab_bytes_.load(std::memory_order_relaxed) >
        stash_limit_.load(std::memory_order_relaxed)) {
      stashed_bytes_.fetch_sub(dirty, std::memory_order_relaxed);
      return false;
    }
    seg->dirty_bytes = dirty;
    // seq_cst: the freer's half of the pin protocol, as in free_large.
    s->state.store(SLAB_UNUSED, std::memory_order_seq_cst);
    // Linearization point of a stashed free's end: the span is the stash's from
    // here (release: whoever empties the slot sees its dirty bytes). Only the
    // owner fills a slot, so it is still empty unless a signal handler on this
    // thread filled it meanwhile; then the span takes the cache path.
    SegmentHeader* empty = nullptr;
    if (slot.compare_exchange_strong(empty, seg, std::memory_order_release, std::memory_order_relaxed))
      return true;
    stashed_bytes_.fetch_sub(dirty, std::memory_order_relaxed);
    return false;
  }
  return false;
}

SegmentHeader* AllocatorCore::take_stashed_span(std::size_t reserve, std::size_t need, std::size_t alignment,
                                                bool resident, std::size_t at_most) noexcept {
  // No stashed range is larger than a segment: a larger request leaves the
  // slots alone (and never hides a span from a collect that empties them).
  Heap* mine = reserve <= SEGMENT_SIZE ? own_heap() : nullptr;
  if (mine == nullptr) return nullptr;
  for (std::atomic<SegmentHeader*>& slot : mine->span_stash) {
    if (slot.load(std::memory_order_relaxed) == nullptr) continue;
    SegmentHeader* seg = slot.exchange(nullptr, std::memory_order_acq_rel);
    if (seg == nullptr) continue;  // a collect or a lower reserve took it to the cache
    // seq_cst: the taker's half of the pin protocol. A pin belongs to a validation
    // that may have seen the previous block live: the span stays as it is.
    if (seg->size < reserve || seg->size > at_most || seg->base % alignment != 0 ||
        (resident && (seg->dirty_bytes < need || seg->size > MAX_RESIDENT_SPAN_GROWTH * reserve)) ||
        seg->pins[0].load(std::memory_order_seq_cst) != 0 ||
        !platform_.commit(reinterpret_cast<void*>(seg->base), need)) {
      restash(slot, seg);
      continue;
    }
    stashed_bytes_.fetch_sub(seg->dirty_bytes, std::memory_order_relaxed);
    // Quiescence point of the span, as in take_cached_span: its previous block
    // was freed, so no valid handle to it exists; stale ones read STALE_HANDLE.
    registry_next_generation(seg->first_id);
    return seg;
  }
  return nullptr;
}

void AllocatorCore::restash(std::atomic<SegmentHeader*>& slot, SegmentHeader* seg) noexcept {
  // Back, still counted; to the cache if the slot was filled meanwhile (a signal
  // handler's free on this thread).
  SegmentHeader* empty = nullptr;
  if (slot.compare_exchange_strong(empty, seg, std::memory_order_release, std::memory_order_relaxed)) return;
  const CountedLock lock(mutex_, counters_);
  stashed_bytes_.fetch_sub(seg->dirty_bytes, std::memory_order_relaxed);
  seg->cached_ns = monotonic_ns();
  large_warm_bytes_ += seg->dirty_bytes;
  large_cache_.push(seg);
}

void AllocatorCore::take_stash_locked(Heap* heap) noexcept {
  for (std::atomic<SegmentHeader*>& slot : heap->span_stash) {
    // A look first: most slots of most heaps are empty, and an exchange of each
    // (with two clock reads and a bound's walk per heap) was 9,700 instructions
    // a close with 64 threads. A span stashed after the look was stashed after
    // this call, as far as the caller can tell.
    if (slot.load(std::memory_order_relaxed) == nullptr) continue;
    SegmentHeader* seg = slot.exchange(nullptr, std::memory_order_acq_rel);
    if (seg == nullptr) continue;
    stashed_bytes_.fetch_sub(seg->dirty_bytes, std::memory_order_relaxed);
    seg->cached_ns = monotonic_ns();
    large_warm_bytes_ += seg->dirty_bytes;
    large_cache_.push(seg);
  }
}

void AllocatorCore::hold_unstashed_to_bound_locked() noexcept {
  // Kept committed within the bounds the cache keeps to, and the excess a free
  // may keep beyond them (a thread's exit does not end a wave); the rest goes back.
  release_large_warm_locked(std::uint64_t{warm_limit_} * SLAB_SIZE + large_retain_ +
                            large_excess_allowed_locked(monotonic_ns()));
}

void AllocatorCore::unstash_locked(Heap* heap) noexcept {
  take_stash_locked(heap);
  hold_unstashed_to_bound_locked();
}

void AllocatorCore::unstash_all_locked() noexcept {
  for (Heap* h = heaps_; h != nullptr; h = h->next_all) take_stash_locked(h);
  hold_unstashed_to_bound_locked();
}

TSLAB_FORK_STEP void AllocatorCore::forget_stashes_after_fork(const Heap* mine) noexcept {
  // A vanished thread may have been halfway through a slot's exchange; the
  // forking thread was in fork(). Written only where set: a store to every
  // heap would copy each heap's page (a page fault in the child per heap).
  std::uint64_t kept = 0;
  for (Heap* h = heaps_; h != nullptr; h = h->next_all)
    for (std::atomic<SegmentHeader*>& slot : h->span_stash) {
      const SegmentHeader* seg = slot.load(std::memory_order_relaxed);
      if (seg == nullptr) continue;
      if (h == mine)
        kept += seg->dirty_bytes;
      else
        slot.store(nullptr, std::memory_order_relaxed);
    }
  if (stashed_bytes_.load(std::memory_order_relaxed) != kept)
    stashed_bytes_.store(kept, std::memory_order_relaxed);
}

bool AllocatorCore::stashed_in(const Heap* heap, const SegmentHeader* seg) noexcept {
  if (heap == nullptr) return false;
  for (const std::atomic<SegmentHeader*>& slot : heap->span_stash)
    if (slot.load(std::memory_order_relaxed) == seg) return true;
  return false;
}

}  // namespace tslab::detail
