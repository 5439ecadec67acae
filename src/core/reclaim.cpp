// This file contains memory return: closing an epoch, returning the pages of
// empty slabs, recycling slabs into the pool, collect(), and per-epoch metadata.
//
// A slab's pages go back to the OS (decommit) only once no allocation path can
// reach it (law 4):
//   - a closed activation takes no new allocation: every allocation reads the
//     slot's open era inside its heap's quiescence marker (Heap::begin_alloc), and
//     a close waits, after a process-wide fence, for every allocation that was
//     inside its marker (quiesce_allocations); only then are slabs of that era
//     eligible (quiesced_era_). Blocks of a closed activation are never put on a
//     free list again (fast_path.h, Heap::collect);
//   - a slab leaves its owner's lists (Heap::take_empty_slabs) before it is
//     recycled, and it enters the pool only after its pages went back.
// Every decommit of a whole slab happens under the allocator lock, so that it can
// never overlap the slab's reuse from the pool. Pages purged inside a live slab
// (collect, Heap::purge_free_pages) are returned by the slab's owner, the only
// thread that can recycle it (or under the lock, for an abandoned heap). Generations move only when a slab is
// recycled: it is empty and unreachable, so no valid handle to it exists (law 5).
// Without a process-wide fence from the OS, a close returns only what owners
// and abandoned heaps hand back; nothing else is decommitted early.
//
// Nothing writes into a slab after its pages may have gone back: an owner links
// a freed block before the block's bit clears (Slab::free_local), and every
// other owner write into free blocks (carving, collecting remote frees, catch-up,
// purge) runs inside the allocation marker, which a close waits out. So a slab's
// pages go back once, at its close or at its recycling, never twice; only the free
// pages of a slab that live blocks pin past its close go back before (a close's
// second look: purge_pinned_candidates_locked), and again with the whole slab.
//
// The warm reserve (TSLAB_WARM_RESERVE) keeps up to that many bytes of empty
// slabs committed across closes. A close leaves as many of its empty slabs as
// the reserve has room for to their owners (keep_warm; they count against the
// reserve meanwhile), who pool them warm when they recycle them, and the next
// epoch takes them first. A close whose empty
// slabs all fit makes no system call at all: nothing goes back, so nothing needs
// waiting out. Slabs beyond the reserve need the quiescence wait and a madvise,
// one per contiguous run; so do slabs left to an owner that has not recycled
// them by the slot's next close. collect() returns the reserve too.
//
// Beyond the reserve, empty slabs a heap hands back outside any close (its size
// mix moved, its thread exited) stay committed within TSLAB_LARGE_RETAIN, shared
// with the cached large spans, until the excess went unused for about a second
// (release_warm_decayed_locked, checked at each hand-back and large allocation or
// free); a close and collect() return it at once. Those a heap on its slow path
// hands back (its size mix moved: HandBack::moving) stay beyond the retention
// too while slabs are taken from the pool: in windows of HAND_BACK_GRACE_NS, each
// keeping at most GRACE_KEEP_PER_TAKEN times the slabs taken in it (looked at on
// every heap's slow path too: end_hand_back_grace).
#include <algorithm>
#include <cstring>
#include <new>
#include <thread>

#include "core/allocator_core.h"
#include "core/thread_cache.h"
#include "handle/registry.h"
#include "platform/clock_rss.h"
#include "platform/process_fence.h"
#include "segment/segment_map.h"

namespace tslab::detail {

bool AllocatorCore::decommit_counted(void* p, std::size_t size) noexcept {
  counters_.decommit_calls.add();
  if (!platform_.decommit(p, size)) {
    counters_.decommit_failures.add();
    return false;
  }
  counters_.decommit_bytes.add(size);
  return true;
}

bool AllocatorCore::decommit_slab_locked(Slab* s) noexcept {
  if (s->decommitted.exchange(true, std::memory_order_acq_rel)) return false;
  if (decommit_counted(s->start, SLAB_SIZE)) {
    decommitted_bytes_.fetch_add(s->unpurged_bytes(), std::memory_order_relaxed);
    return true;
  }
  s->decommitted.store(false, std::memory_order_relaxed);  // refused: the pages stay
  return false;
}

void AllocatorCore::recycle_slab_locked(Slab* s, bool retain) noexcept {
  unlink_epoch_slab_locked(s);
  // The slab leaves its heap here, not when the recycling finishes: a deferred
  // slab's recycling is finished by whichever thread retries it, and the slab
  // may then be taken by another heap at once, while the old owner's free fast
  // path, which trusts a slab naming the caller's heap, may be freeing a stale
  // pointer into it. The owner (or, for an abandoned heap, the lock holder)
  // recycles, so its own later frees see null. A validation under way that
  // reads null finds the slab empty: its free is refused (free_remote_slot).
  s->heap.store(nullptr, std::memory_order_relaxed);
  // seq_cst: the recycler's half of the pin protocol (core/blocks.cpp). From here
  // a validation that starts refuses the slab; one already under way holds a pin.
  s->state.store(SLAB_UNUSED, std::memory_order_seq_cst);
  if (still_reached(s)) {
    s->epoch_next = deferred_;  // finished once nothing reaches it
    deferred_ = s;
    return;
  }
  finish_recycle_locked(s, retain);
}

bool AllocatorCore::still_reached(Slab* s) noexcept {
  // A slab enters the pool only when nothing outside the lock reaches it: no
  // validation holds a pin, and no heap's remote-free queue holds an entry whose
  // link would be read from it (a pooled slab's metadata pages may go back with
  // its segment: make_dormant_locked). The free that queues a slab holds its pin
  // until after the flag is set, so a pin count read as zero (acquire, from the
  // unpin's release sequence) shows that flag; a free that pins later sees the
  // slab UNUSED and queues nothing. The owner's drain clears the flag
  // (Heap::drain_remote) and its next recycling or collect() retries.
  if (segment_map_lookup(s->start)->pins_of(s).load(std::memory_order_seq_cst) != 0 ||
      s->remote_queued.load(std::memory_order_seq_cst))
    return true;
  // Nor the unsettled stack (Slab::unsettle), for the same reason: a slab on it
  // leaves it here. A remote freer that pushed it held its pin until after the
  // push, and the owner's own push is over, unless a signal handler on its
  // thread interrupted it and ended up here (the flag set, the push not made):
  // then the slab waits, as a pinned one does.
  if (!s->unsettle_queued.load(std::memory_order_acquire)) return false;
  sweep_unsettled_locked();
  return s->unsettle_queued.load(std::memory_order_acquire);
}

void AllocatorCore::retry_deferred_locked() noexcept {
  Slab** link = &deferred_;
  while (*link != nullptr) {
    Slab* s = *link;
    if (!still_reached(s)) {
      *link = s->epoch_next;
      s->epoch_next = nullptr;
      finish_recycle_locked(s);
    } else {
      link = &s->epoch_next;
    }
  }
}

std::uint32_t AllocatorCore::warm_room_locked() const noexcept {
  const std::uint32_t used = warm_count_ + warm_left_;
  return used < warm_limit_ ? warm_limit_ - used : 0;
}

void AllocatorCore::set_keep_warm_locked(Slab* s, bool keep) noexcept {
  if (s->keep_warm == keep) return;
  s->keep_warm = keep;
  if (keep)
    ++warm_left_;
  else
    --warm_left_;
}

std::uint32_t AllocatorCore::decommit_slabs_locked(Slab** slabs, std::uint32_t n) noexcept {
  std::uint32_t k = 0;
  for (std::uint32_t i = 0; i < n; ++i)  // claim each slab's return once
    if (!slabs[i]->decommitted.exchange(true, std::memory_order_acq_rel)) slabs[k++] = slabs[i];
  std::sort(slabs, slabs + k, [](const Slab* a, const Slab* b) { return a->start < b->start; });
  std::uint32_t returned = 0;
  for (std::uint32_t first = 0; first < k;) {
    std::uint32_t end = first + 1;
    while (end < k && slabs[end]->start == slabs[end - 1]->start + SLAB_SIZE) ++end;
    const std::size_t bytes = std::size_t{end - first} * SLAB_SIZE;
    if (decommit_counted(slabs[first]->start, bytes)) {
      for (std::uint32_t i = first; i < end; ++i)
        decommitted_bytes_.fetch_add(slabs[i]->unpurged_bytes(), std::memory_order_relaxed);
      returned += end - first;
    } else {
      for (std::uint32_t i = first; i < end; ++i)  // refused: the pages stay
        slabs[i]->decommitted.store(false, std::memory_order_relaxed);
    }
    first = end;
  }
  return returned;
}

std::uint32_t AllocatorCore::retained_bound_locked() const noexcept {
  // Freed spans, cached or stashed, are kept within the same bounds.
  const std::uint64_t reserve = std::uint64_t{warm_limit_} * SLAB_SIZE;
  const std::uint64_t freed = large_warm_bytes_ + stashed_bytes_.load(std::memory_order_relaxed);
  const std::uint64_t spans = freed > reserve ? freed - reserve : 0;
  // At most 1 GiB of slabs (set_large_retain's bound): fits the count.
  const auto room =
      static_cast<std::uint32_t>(large_retain_ > spans ? (large_retain_ - spans) / SLAB_SIZE : 0);
  // The reserve's room is what slabs left to their owners (warm_left_) do not hold.
  const std::uint32_t reserve_room = warm_limit_ > warm_left_ ? warm_limit_ - warm_left_ : 0;
  return reserve_room + room;
}

void AllocatorCore::release_warm_decayed_locked() noexcept {
  const std::uint64_t grace = hand_back_grace_ns_.load(std::memory_order_relaxed);
  if (warm_excess_locked() == 0 && grace == 0) return;
  const std::uint64_t now = monotonic_ns();
  if (grace != 0 && now - grace >= HAND_BACK_GRACE_NS) {
    // A window of the grace ended: beyond the retention's bound, what GRACE_KEEP_PER_TAKEN
    // times the slabs taken in it would serve stays for the next window; the rest
    // goes back (one madvise per contiguous run). So slabs no one takes go back
    // within a window or two whatever else the pool serves.
    const std::uint32_t bound = retained_bound_locked();
    const std::uint64_t keep = bound + std::uint64_t{GRACE_KEEP_PER_TAKEN} * grace_taken_;
    if (warm_count_ > keep) release_warm_locked(static_cast<std::uint32_t>(keep));
    grace_taken_ = 0;
    hand_back_grace_ns_.store(warm_count_ > bound ? now : 0, std::memory_order_relaxed);
  }
  if (warm_excess_locked() != 0 && now - warm_excess_used_ns_ >= LARGE_RETAIN_NS)
    release_warm_locked(warm_limit_);
}

void AllocatorCore::end_hand_back_grace() noexcept {
  const std::uint64_t used = hand_back_grace_ns_.load(std::memory_order_relaxed);
  const std::uint64_t excess = large_excess_ns_.load(std::memory_order_relaxed);
  if ((used | excess) == 0) [[likely]]
    return;
  const std::uint64_t now = monotonic_ns();
  if ((used == 0 || now - used < HAND_BACK_GRACE_NS) && (excess == 0 || now - excess < LARGE_RETAIN_NS))
    return;
  const CountedLock lock(mutex_, counters_);
  release_large_decayed_locked();  // the slabs' grace first, then spans unused for LARGE_RETAIN_NS
  // Spans freed less than LARGE_RETAIN_NS ago stay: looked at again that much later.
  if (large_excess_locked() != 0) large_excess_ns_.store(now, std::memory_order_relaxed);
}

void AllocatorCore::finish_recycle_locked(Slab* s, bool retain) noexcept {
  SegmentHeader* seg = segment_map_lookup(s->start);
  // Quiescence point of the slab: it is empty, unreachable and unpinned, so no
  // valid handle names it; old handles read STALE from here (seed 000, bug 2).
  // A slab whose id has no generation left is retired: never used again, so no
  // handle it issued can ever be accepted again (law 5).
  const bool retire = registry_next_generation(s->id) == GEN_RETIRED;
  // A slab some write may have reached after its pages went back (a misuse: a
  // double free racing the owner's free) is handed back again.
  if (s->rewritten) s->decommitted.store(false, std::memory_order_relaxed);
  s->rewritten = false;
  set_keep_warm_locked(s, false);
  const bool committed = !s->decommitted.load(std::memory_order_relaxed);
  // Only a whole slab is kept warm: one with pages already returned (its free
  // pages purged while objects outlived their activation) goes back whole.
  // Handed back outside a close (retain), it goes warm whatever the room: the
  // caller then trims the warm slabs to the reserve and the retention
  // (trim_retained_locked), returning what is beyond in runs.
  const bool warm = committed && s->purged_pages.load(std::memory_order_relaxed) == 0 && !retire &&
                    (retain || warm_room_locked() > 0);
  // Pages next, while the slab is reachable from nowhere (seed 000, bug 1); only
  // if they are still here: nothing wrote the slab since they went back.
  if (!warm && committed) decommit_slab_locked(s);
  if (warm && warm_count_ >= warm_limit_) warm_excess_used_ns_ = monotonic_ns();  // the excess grows
  // Words past its capacity are zero already: no bit beyond the last block is
  // ever set (a free of such a slot is refused before any write).
  for (std::uint32_t w = 0; w < s->bitmap_words(); ++w) {
    s->bits[w].allocated.store(0, std::memory_order_relaxed);
    s->bits[w].remote.store(0, std::memory_order_relaxed);
  }
  s->carved.store(0, std::memory_order_relaxed);
  s->purged_pages.store(0, std::memory_order_relaxed);
  s->list = SlabList::none;  // (its heap went at recycle_slab_locked)
  s->prev = s->next = nullptr;
  slabs_recycled_[s->size_class].fetch_add(1, std::memory_order_relaxed);
  if (warm) {
    // Linearization point of the pool entry: take_slab may hand it out from here.
    // A warm slab does not count as pooled: its segment stays awake.
    SlabChain::push(warm_slabs_, s);
    ++warm_count_;
    note_warm_locked();
    return;
  }
  if (!retire) {
    // Linearization point of the pool entry: take_slab may hand it out from here.
    SlabChain::push(free_slabs_, s);
  } else {
    counters_.slabs_retired.add();
  }
  // pooled counts retired slabs too: a segment whose slabs are all pooled or
  // retired holds nothing and goes dormant.
  if (++seg->pooled == seg->slab_count && seg->slabs_taken == seg->slab_count) make_dormant_locked(seg);
}

bool AllocatorCore::retired(const Slab* s) noexcept {
  return registry_current_generation(s->id) == GEN_RETIRED;
}

void AllocatorCore::unlink_pooled_locked(Slab* s) noexcept {
  SlabChain::remove(free_slabs_, s);
  --segment_map_lookup(s->start)->pooled;
}

void AllocatorCore::make_dormant_locked(SegmentHeader* seg) noexcept {
  // Every slab is in the pool (or retired), its pages already returned: take them
  // all out of the pool and return the metadata pages. Nothing reads them but
  // validation of stale pointers and handles, which finds zero (SLAB_UNUSED)
  // there and refuses them; the pins validation writes are in the header, which
  // stays (segment/segment.h). Generations are the registry's: nothing to keep.
  for (std::uint32_t i = 0; i < seg->slab_count; ++i)
    if (!retired(&seg->slabs[i])) unlink_pooled_locked(&seg->slabs[i]);
  const std::size_t page = platform_.page_size();
  const auto first = (reinterpret_cast<std::uintptr_t>(seg->slabs) + page - 1) & ~(page - 1);
  const auto last = reinterpret_cast<std::uintptr_t>(seg->slabs + seg->slab_count) & ~(page - 1);
  if (last > first) decommit_counted(reinterpret_cast<void*>(first), last - first);
  seg->dormant = true;
  seg->next_dormant = dormant_;
  dormant_ = seg;
}

bool AllocatorCore::release_dormant_ranges_locked() noexcept {
  // Nothing reads a dormant segment's range: its slabs are all pooled, so no
  // bin lists a block of it and every validation refuses its addresses from the
  // metadata (UNUSED) without touching them. The map forgets the range first,
  // so from here its addresses read as no allocator's. The header keeps its
  // slabs' ids and takes the range back at the same address when it wakes
  // (never another: a validation may still hold a pointer found in the map
  // before, whose slab is then the same slab). Only with a platform that can
  // reserve a given range: another would lose the header.
  if (dormant_ == nullptr || !platform_.can_reserve_at()) return false;
  while (SegmentHeader* seg = dormant_) {
    dormant_ = seg->next_dormant;
    segment_map_clear(seg);
    seg->released = true;
    platform_.release(reinterpret_cast<void*>(seg->base), seg->size);
    append_released_locked(seg);
  }
  return true;
}

void AllocatorCore::append_released_locked(SegmentHeader* seg) noexcept {
  seg->next_dormant = nullptr;
  if (released_tail_ != nullptr)
    released_tail_->next_dormant = seg;
  else
    released_dormant_ = seg;
  released_tail_ = seg;
}

bool AllocatorCore::take_range_back_locked(SegmentHeader* seg) noexcept {
  void* const base = reinterpret_cast<void*>(seg->base);
  bool got = platform_.reserve_at(base, seg->size) == base;
  if (!got && address_space_capped_.load(std::memory_order_relaxed) &&
      (large_cache_.reserved_bytes() != 0 || stashed_bytes_.load(std::memory_order_relaxed) != 0)) {
    // Refused under an address-space cap, perhaps for want of room rather than
    // because the range is taken: what free spans hold goes back first.
    unstash_all_locked();
    release_span_cache_locked();
    got = platform_.reserve_at(base, seg->size) == base;
  }
  if (!got) return false;
  seg->released = false;
  segment_map_set(seg);
  return true;
}

SegmentHeader* AllocatorCore::take_dormant_locked() noexcept {
  if (SegmentHeader* seg = dormant_) {
    dormant_ = seg->next_dormant;
    return seg;
  }
  // Released ones, a few per call: one whose range another mapping holds now
  // (or that the cap refuses) goes to the back and is tried again later.
  for (int tries = 0; tries < RELEASED_TRIES && released_dormant_ != nullptr; ++tries) {
    SegmentHeader* seg = released_dormant_;
    released_dormant_ = seg->next_dormant;
    if (released_dormant_ == nullptr) released_tail_ = nullptr;
    if (take_range_back_locked(seg)) return seg;
    append_released_locked(seg);
  }
  return nullptr;
}

void AllocatorCore::wake_dormant_locked() noexcept {
  SegmentHeader* seg = take_dormant_locked();
  if (seg == nullptr) return;
  seg->next_dormant = nullptr;
  seg->dormant = false;
  // The slabs are not constructed again: another thread may be validating a stale
  // pointer or handle into one of them right now. Their metadata reads as zero
  // (or as the pool state, on pages that were kept), which is a pooled slab's
  // state but for these fields; validation reads none of them before it has seen
  // a slab IN_USE, which only take_slab publishes.
  for (std::uint32_t i = 0; i < seg->slab_count; ++i) {
    Slab* s = &seg->slabs[i];
    s->start = reinterpret_cast<char*>(seg->base) + std::size_t{i} * SLAB_SIZE;
    s->id = seg->first_id + i;
    s->decommitted.store(true, std::memory_order_relaxed);
    if (retired(s)) continue;  // still counted in pooled
    SlabChain::push(free_slabs_, s);
    ++seg->pooled;
  }
}

bool AllocatorCore::decommit_returned(void* p, std::size_t size) noexcept {
  if (!decommit_counted(p, size)) return false;
  decommitted_bytes_.fetch_add(size, std::memory_order_relaxed);
  return true;
}

void AllocatorCore::release_pages(void* p, std::size_t size) noexcept { decommit_returned(p, size); }

void AllocatorCore::recycle_slabs(Slab* list, HandBack why) noexcept {
  const CountedLock lock(mutex_, counters_);
  retry_deferred_locked();
  recycle_list_locked(list, why);
}

void AllocatorCore::recycle_list_locked(Slab* list, HandBack why) noexcept {
  release_warm_decayed_locked();
  while (list != nullptr) {
    Slab* next = list->next;
    recycle_slab_locked(list, why != HandBack::reclaim);
    list = next;
  }
  if (why == HandBack::idle || (why == HandBack::moving && large_retain_ == 0)) {
    trim_retained_locked();
  } else if (why == HandBack::moving && warm_count_ > retained_bound_locked() &&
             hand_back_grace_ns_.load(std::memory_order_relaxed) == 0) {
    // The heap's next slabs come from these while it grows again: a phase that
    // fills one size class after freeing another faults none of them in again.
    // The grace runs in windows of HAND_BACK_GRACE_NS, each keeping only what
    // the slabs taken in the one before suggest (release_warm_decayed_locked,
    // at the next slow path of any heap once a window ended).
    grace_taken_ = 0;
    hand_back_grace_ns_.store(monotonic_ns(), std::memory_order_relaxed);
  }
}

void AllocatorCore::return_if_empty(Slab* s, std::uint64_t era) noexcept {
  s->unsettle();
  // Not from a signal handler that interrupted this thread inside tslab: the
  // lock below may be its own. The slab then waits for its owner's recycling.
  if (thread_holds_tslab_lock()) return;
  if (!s->is_empty() || s->decommitted.load(std::memory_order_acquire)) return;
  const std::uint32_t epoch = s->epoch;
  // Still the same activation's slab (not recycled and reused meanwhile), still
  // empty: read under the lock, where recycling happens.
  const auto still_empty = [&] {
    return s->state.load(std::memory_order_acquire) == SLAB_IN_USE && s->era == era &&
           era != open_era(epoch) && s->is_empty() && !s->decommitted.load(std::memory_order_relaxed);
  };
  {
    const CountedLock lock(mutex_, counters_);
    if (!still_empty() || s->keep_warm) return;
    // Left to its owner for the reserve instead (a whole slab only: one whose
    // free pages went back while it was pinned does not stay warm).
    if (warm_room_locked() > 0 && s->purged_pages.load(std::memory_order_relaxed) == 0) {
      set_keep_warm_locked(s, true);
      return;
    }
  }
  // Beyond the reserve the pages go back, once every allocation that may have
  // seen this era open is over (a close that had nothing to return did not wait).
  if (era > quiesced_era_[epoch].load(std::memory_order_acquire) && !quiesce_epoch(epoch, era)) return;
  const CountedLock lock(mutex_, counters_);
  if (still_empty() && !s->keep_warm) decommit_slab_locked(s);
}

bool AllocatorCore::quiesce_epoch(std::uint32_t epoch, std::uint64_t era) noexcept {
  // Not from inside tslab on this thread (a signal handler): the wait could be for
  // this very thread. The slab then waits for its owner's recycling.
  if (thread_holds_tslab_lock()) return false;
  if (const Heap* mine = own_heap(); mine != nullptr && (mine->alloc_seq.load(std::memory_order_relaxed) & 1))
    return false;
  if (!quiesce_allocations()) return false;
  mark_quiesced(epoch, era);
  return true;
}

void AllocatorCore::mark_quiesced(std::uint32_t epoch, std::uint64_t era) noexcept {
  std::uint64_t q = quiesced_era_[epoch].load(std::memory_order_relaxed);
  while (q < era && !quiesced_era_[epoch].compare_exchange_weak(q, era, std::memory_order_acq_rel)) {
  }
}

void AllocatorCore::purge_closed_pages_locked(Slab* s, std::uint16_t mask) noexcept {
  std::uint16_t done = 0;
  Slab::for_each_page_run(mask, [&](std::uint32_t first, std::uint32_t count) {
    if (decommit_counted(s->start + first * Slab::PAGE, count * Slab::PAGE))
      done = static_cast<std::uint16_t>(done | (((1u << count) - 1) << first));
  });
  decommitted_bytes_.fetch_add(std::uint64_t{bit_count(done)} * Slab::PAGE, std::memory_order_relaxed);
  s->purged_pages.store(static_cast<std::uint16_t>(s->purged_pages.load(std::memory_order_relaxed) | done),
                        std::memory_order_relaxed);
}

std::uint32_t AllocatorCore::reclaim_closed_locked(std::uint32_t epoch, std::uint64_t closing_era,
                                                   std::uint32_t* over, ClosePins* pins) noexcept {
  const std::uint64_t open = epochs_.open_era(epoch);
  const std::uint64_t quiesced = quiesced_era_[epoch].load(std::memory_order_acquire);
  constexpr std::uint32_t BATCH = 64;
  Slab* batch[BATCH];
  std::uint32_t n = 0, scanned = 0, returned = 0, waiting = 0;
  sweep_unsettled_locked();
  const ClosePins settled = settled_pins_[epoch];  // those that settle in this walk count in it
  for (Slab *s = epoch_slabs_[epoch], *next = nullptr; s != nullptr; s = next) {
    next = s->epoch_next;
    ++scanned;
    if (s->era == open || s->decommitted.load(std::memory_order_relaxed)) continue;
    // A slab of a waited-out activation may settle: marked before its bitmap is read.
    const bool settling = s->era <= quiesced;
    if (settling) try_settle_begin(s);
    if (!s->is_empty_in_use()) {
      set_keep_warm_locked(s, false);  // refilled by an allocation that raced the close
      // A slab that objects outlive their activation in keeps only the pages
      // they are on: the others go back as an empty slab's would, once waited
      // out; at the second look (a request in flight at the close drains first).
      if (const std::uint16_t free = s->free_pages_of_closed(); free != 0) {
        if (closing_era != 0 && s->era >= closing_era) {
          if (over != nullptr) add_pinned_candidate_locked(s);
        } else if (s->era > quiesced) {
          ++waiting;
        } else {
          purge_closed_pages_locked(s, free);
        }
      }
      const std::uint32_t live = pins != nullptr || settling ? s->live_blocks() : 0;
      if (pins != nullptr) {  // the drain report: only slabs that hold blocks pay the count
        pins->live_blocks += live;
        ++pins->slabs;
        pins->bytes += s->committed_bytes();
      }
      if (settling) try_settle_end(s, live);
      continue;
    }
    if (settling) s->settled.exchange(SETTLE_NONE, std::memory_order_acq_rel);  // an RMW: Slab::unsettle
    // Slabs of the activation closing now may stay for the reserve; those of
    // older ones had their chance (their owner did not recycle them since).
    if (closing_era != 0 && s->era >= closing_era) {
      if (s->keep_warm) {
        if (warm_count_ + warm_left_ <= warm_limit_) continue;
        set_keep_warm_locked(s, false);  // the bound was lowered since: it goes back
      } else if (warm_room_locked() > 0 && s->purged_pages.load(std::memory_order_relaxed) == 0) {
        set_keep_warm_locked(s, true);  // left to its owner, who pools it warm
        continue;
      }
    }
    if (s->era > quiesced) {
      ++waiting;
      continue;
    }
    set_keep_warm_locked(s, false);
    batch[n++] = s;
    if (n == BATCH) {
      returned += decommit_slabs_locked(batch, n);
      n = 0;
    }
  }
  returned += decommit_slabs_locked(batch, n);
  if (pins != nullptr) {  // the settled slabs, as they were when they settled
    pins->live_blocks += settled.live_blocks;
    pins->slabs += settled.slabs;
    pins->bytes += settled.bytes;
  }
  counters_.close_slabs_scanned.add(scanned);
  counters_.close_slabs_returned.add(returned);
  if (over != nullptr) *over = waiting;
  return returned;
}

void AllocatorCore::add_pinned_candidate_locked(Slab* s) noexcept {
  // Two closes of one slot, racing, may both find the slab: listed once.
  for (std::uint32_t i = 0; i < pinned_count_; ++i)
    if (pinned_[i].slab == s && pinned_[i].era == s->era) return;
  if (pinned_count_ < PINNED_CANDIDATES)
    pinned_[pinned_count_++] = PinnedCandidate{s, s->epoch, s->era, closes_seen_};
}

std::uint32_t AllocatorCore::purge_pinned_candidates_locked(std::uint64_t this_close) noexcept {
  std::uint32_t kept = 0, waiting = 0;
  for (std::uint32_t i = 0; i < pinned_count_; ++i) {
    const PinnedCandidate c = pinned_[i];
    Slab* s = c.slab;
    // Still the life it was found in (its metadata stays readable: a dormant
    // segment's reads as zero, UNUSED), closed, holding blocks and free pages.
    const bool same = s->state.load(std::memory_order_acquire) == SLAB_IN_USE && s->era == c.era &&
                      s->epoch == c.epoch && c.era != open_era(c.epoch) &&
                      !s->decommitted.load(std::memory_order_relaxed) && !s->is_empty_in_use();
    const std::uint16_t free = same ? s->free_pages_of_closed() : 0;
    if (free == 0) continue;
    if (c.close >= this_close) {  // found by this close (or a later one): its first look
      pinned_[kept++] = c;
    } else if (c.era > quiesced_era_[c.epoch].load(std::memory_order_acquire)) {
      pinned_[kept++] = c;
      ++waiting;
    } else {
      purge_closed_pages_locked(s, free);
    }
  }
  pinned_count_ = kept;
  return waiting;
}

void AllocatorCore::mark_candidates_quiesced_locked(std::uint64_t fenced_close) noexcept {
  // After a process-wide wait that began after close `fenced_close` had counted
  // itself: the candidates found by it or earlier closes had their era closed by then.
  for (std::uint32_t i = 0; i < pinned_count_; ++i)
    if (pinned_[i].close <= fenced_close) mark_quiesced(pinned_[i].epoch, pinned_[i].era);
}

void AllocatorCore::release_warm_locked(std::uint32_t keep) noexcept {
  constexpr std::uint32_t BATCH = 64;
  Slab* batch[BATCH];
  Slab* returning[BATCH];
  while (warm_count_ > keep) {
    std::uint32_t n = 0;
    for (Slab* s = warm_slabs_; s != nullptr && n < BATCH && n < warm_count_ - keep; s = s->epoch_next)
      batch[n++] = s;
    std::copy(batch, batch + n, returning);
    decommit_slabs_locked(returning, n);
    std::uint32_t moved = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      Slab* s = batch[i];
      // Refused by the OS: the slab stays in the reserve, its pages committed.
      if (!s->decommitted.load(std::memory_order_relaxed)) continue;
      ++moved;
      SlabChain::remove(warm_slabs_, s);
      --warm_count_;
      note_warm_locked();
      SlabChain::push(free_slabs_, s);
      SegmentHeader* seg = segment_map_lookup(s->start);
      if (++seg->pooled == seg->slab_count && seg->slabs_taken == seg->slab_count) make_dormant_locked(seg);
    }
    if (moved == 0) return;  // the OS refuses: what is left stays warm
  }
}

bool AllocatorCore::quiesce_allocations() noexcept {
  // Quiescence point of a close. The fence orders the close's store of the open
  // era against every thread's plain marker store: an allocation either reads the
  // closed era, or its odd sequence is visible below and we wait for it to end.
  if (!process_fence()) return false;
  counters_.quiescence_waits.add();
  constexpr std::size_t BATCH = 64;
  Heap* waiting[BATCH];
  std::uint64_t seq[BATCH];
  Heap* resume = nullptr;
  bool first = true;
  while (first || resume != nullptr) {
    std::size_t n = 0;
    {
      const CountedLock lock(mutex_, counters_);
      Heap* h = first ? heaps_ : resume;
      first = false;
      resume = nullptr;
      for (; h != nullptr; h = h->next_all) {
        const std::uint64_t v = h->alloc_seq.load(std::memory_order_acquire);
        if ((v & 1) == 0) continue;
        if (n == BATCH) {
          resume = h;  // the list only grows at its head: the rest stays put
          break;
        }
        waiting[n] = h;
        seq[n++] = v;
      }
    }
    // Outside the lock: the allocation we wait for may need it.
    for (std::size_t i = 0; i < n; ++i)
      while (waiting[i]->alloc_seq.load(std::memory_order_acquire) == seq[i]) std::this_thread::yield();
  }
  return true;
}

void AllocatorCore::flush_abandoned_locked(bool active_too) noexcept {
  // An abandoned heap is touched only under the allocator lock: while we hold it,
  // we are its owner.
  for (Heap* h = abandoned_; h != nullptr; h = h->next_abandoned) {
    recycle_empty_slabs_locked(h, active_too);
    abandoned_kept_ -= h->kept_empty;  // what it keeps now
    h->kept_empty = h->counted_empty() < h->kept_empty ? h->counted_empty() : h->kept_empty;
    abandoned_kept_ += h->kept_empty;
  }
}

void AllocatorCore::recycle_empty_slabs_locked(Heap* heap, bool active_too, bool retain) noexcept {
  // A heap handing back outside any close (retain) keeps the free pages of the
  // slabs its live blocks hold: only a close or collect() purges pages.
  recycle_list_locked(heap->take_empty_slabs(*this, active_too, !retain),
                      retain ? HandBack::idle : HandBack::reclaim);
}

std::uint64_t AllocatorCore::close_rss() const noexcept { return close_rss_ ? process_rss_bytes() : 0; }

void AllocatorCore::after_close(std::uint32_t epoch, std::uint64_t closed_era, std::uint64_t rss_before,
                                std::uint64_t started_ns) noexcept {
  // First without waiting: empty slabs go to the warm reserve while it has room.
  std::uint32_t returned = 0, over = 0;
  std::uint64_t this_close = 0;
  ClosePins pins;
  {
    const CountedLock lock(mutex_, counters_);
    this_close = ++closes_seen_;
    // What the retention kept beyond the warm reserve goes back at a close: warm
    // slabs first (the reserve is then as full as it would be without them)...
    release_warm_locked(warm_limit_);
    flush_abandoned_locked(false);
    returned = reclaim_closed_locked(epoch, closed_era, &over, &pins);
    over += purge_pinned_candidates_locked(this_close);
    // ...and freed large spans, those threads keep in their stashes included.
    unstash_all_locked();
    release_large_warm_locked(std::uint64_t{warm_limit_} * SLAB_SIZE);
  }
  // Slabs beyond the reserve go back to the OS once the close has waited out
  // the allocations that may still see the closed era open. Steady rotation
  // within the reserve never gets here: no fence, no wait, no system call.
  // The drain report is that of the later walk, the closer to the close's end.
  if (over != 0 && quiesce_epoch(epoch, closed_era)) {
    const CountedLock lock(mutex_, counters_);
    pins = ClosePins{};
    returned += reclaim_closed_locked(epoch, closed_era, nullptr, &pins);
    mark_candidates_quiesced_locked(this_close);
    purge_pinned_candidates_locked(this_close);
  }
  // This thread's own bins of the closed activation can go at once too, inside
  // its marker: a concurrent close waits for the blocks it writes. (Not from a
  // signal handler: one that interrupted this thread's free would find the
  // heap's lists half updated. The API is not async-signal-safe.)
  if (Heap* mine = own_heap()) {
    const Heap::Marked marked(*mine);
    mine->catch_up_with_closes(*this);
  }
  rss_before_close_[epoch].store(rss_before, std::memory_order_relaxed);
  rss_after_close_[epoch].store(close_rss(), std::memory_order_relaxed);
  count_close(epoch, monotonic_ns() - started_ns, returned, pins);
  if (sampler_.on()) {
    // Under the allocator lock: no slab changes activation during the walk.
    const CountedLock lock(mutex_, counters_);
    sampler_.on_close(epoch, closed_era);
  }
}

bool AllocatorCore::pin_report(std::uint32_t epoch, PinReport* out) const noexcept {
  if (!alive_or_error() || !in_range_or_error(epoch)) return false;
  sampler_.report(epoch, out);
  return true;
}

void AllocatorCore::count_close(std::uint32_t epoch, std::uint64_t took_ns, std::uint32_t returned,
                                const ClosePins& pins) noexcept {
  const bool drained = pins.live_blocks == 0;
  counters_.epoch_closes.add();
  counters_.close_ns.add(took_ns);
  counters_.close_latency.record(took_ns);
  if (drained) counters_.closes_drained.add();
  EpochCounters& ec = epoch_counters_[epoch];
  ec.closes.add();
  if (drained) ec.closes_drained.add();
  ec.last_close_ns.set(took_ns);
  ec.last_close_slabs_returned.set(returned);
  ec.last_close_live_blocks.set(pins.live_blocks);
  ec.last_close_pinned_slabs.set(pins.slabs);
  ec.last_close_pinned_bytes.set(pins.bytes);
  ec.last_close_drained.set(drained ? 1 : 0);
}

bool AllocatorCore::may_wait_or_error() const noexcept {
  const Heap* mine = own_heap();
  if (!thread_holds_tslab_lock() &&
      (mine == nullptr || (mine->alloc_seq.load(std::memory_order_relaxed) & 1) == 0))
    return true;
  set_error(TSLAB_ERR_REENTRANT);
  return false;
}

bool AllocatorCore::closable_or_error(std::uint32_t epoch) const noexcept {
  if (!epochs_.permanent(epoch)) return true;
  set_error(TSLAB_ERR_PERMANENT);
  return false;
}

std::uint32_t AllocatorCore::epoch_advance() noexcept {
  if (!alive_or_error()) return 0;
  if (!may_wait_or_error()) return epochs_.current();  // the ring does not move
  const std::uint64_t started = monotonic_ns();
  const std::uint64_t rss_before = close_rss();
  std::uint64_t closed_era = 0;
  const std::uint32_t old = epochs_.current();
  const std::uint32_t next = epochs_.advance(&closed_era);
  // The activation that just closed returns its empty slabs' pages like any close
  // (in its own slot even when the rotation came back to it: one slot not held).
  // None closed if the current slot is permanent.
  if (closed_era != 0) after_close(old, closed_era, rss_before, started);
  return next;
}

std::uint32_t AllocatorCore::epoch_open(std::uint64_t* opened_era) noexcept {
  if (!alive_or_error() || !may_wait_or_error()) return SLAB_NO_EPOCH;
  const std::uint64_t started = monotonic_ns();
  std::uint64_t ended_era = 0, era = 0;
  const std::uint32_t e = epochs_.open_held(&ended_era, &era);
  if (e == epoch_count_) {
    set_error(TSLAB_ERR_NO_FREE_EPOCH);
    return SLAB_NO_EPOCH;
  }
  // A slot whose previous activation was still open: that activation just ended.
  if (ended_era != 0) after_close(e, ended_era, close_rss(), started);
  if (opened_era != nullptr) *opened_era = era;
  return e;
}

bool AllocatorCore::epoch_held(std::uint32_t epoch) const noexcept {
  return in_range_or_error(epoch) && epochs_.held(epoch);
}

bool AllocatorCore::epoch_close(std::uint32_t epoch) noexcept {
  if (!alive_or_error() || !in_range_or_error(epoch) || !closable_or_error(epoch) || !may_wait_or_error())
    return false;
  const std::uint64_t started = monotonic_ns();
  const std::uint64_t rss_before = close_rss();
  const std::uint64_t era = epochs_.era(epoch);
  epochs_.close(epoch);
  after_close(epoch, era, rss_before, started);
  return true;
}

bool AllocatorCore::epoch_close_era(std::uint32_t epoch, std::uint64_t era) noexcept {
  if (!alive_or_error() || !in_range_or_error(epoch) || !closable_or_error(epoch) || !may_wait_or_error())
    return false;
  const std::uint64_t started = monotonic_ns();
  const std::uint64_t rss_before = close_rss();
  if (!epochs_.close_if_era(epoch, era)) {
    set_error(TSLAB_ERR_STALE_EPOCH);
    return false;
  }
  after_close(epoch, era, rss_before, started);
  return true;
}

std::uint64_t AllocatorCore::collect() noexcept {
  if (!alive_or_error() || !may_wait_or_error()) return 0;
  counters_.collect_calls.add();
  const std::uint64_t before = decommitted_bytes_.load(std::memory_order_relaxed);
  if (Heap* mine = own_heap()) {
    const Heap::Marked marked(*mine);  // it writes free blocks: a close waits for it
    if (Slab* list = mine->take_empty_slabs(*this, true)) recycle_slabs(list);
  }
  // Closed eras whose allocations were not waited out yet (a close that had
  // nothing to return beyond the reserve did not wait): one wait for all. Every
  // era of a slot below its current one is closed, and the current one too
  // while the slot is CLOSING; read before the fence, so the wait covers them.
  std::uint64_t closed_up_to[SLAB_MAX_EPOCH_COUNT];
  bool behind = false;
  for (std::uint32_t e = 0; e < epoch_count_; ++e) {
    closed_up_to[e] = epochs_.ended_era(e);
    behind = behind || quiesced_era_[e].load(std::memory_order_acquire) < closed_up_to[e];
  }
  if (behind && quiesce_allocations())
    for (std::uint32_t e = 0; e < epoch_count_; ++e) mark_quiesced(e, closed_up_to[e]);
  {
    const CountedLock lock(mutex_, counters_);
    flush_abandoned_locked(true);
    unstash_all_locked();     // the stashes' spans go back with the cache's, below
    retry_deferred_locked();  // after the flush: it drained the queues deferred slabs wait for
    for (std::uint32_t e = 0; e < epoch_count_; ++e) reclaim_closed_locked(e, 0, nullptr);
    release_warm_locked(0);
    release_large_warm_locked(0);
    // Live threads' caches: they hand back what they hold the next time they need a slab.
    for (Heap* h = heaps_; h != nullptr; h = h->next_all)
      if (h->owner_tid.load(std::memory_order_relaxed) != 0)
        h->flush_requested.store(true, std::memory_order_relaxed);
  }
  trim_span_cache(0);  // the address space of free spans too
  return decommitted_bytes_.load(std::memory_order_relaxed) - before;
}

bool AllocatorCore::set_warm_reserve(std::uint64_t bytes) noexcept {
  if (!alive_or_error()) return false;
  if (bytes > MAX_WARM_RESERVE) {
    set_error(TSLAB_ERR_INVALID_ARGUMENT);
    return false;
  }
  const CountedLock lock(mutex_, counters_);
  warm_limit_ = static_cast<std::uint32_t>(bytes / SLAB_SIZE);
  note_warm_locked();
  unstash_all_locked();              // stashed spans are held to the new bound with the cache's
  release_warm_locked(warm_limit_);  // what the new bound leaves out goes back
  release_large_warm_locked(std::uint64_t{warm_limit_} * SLAB_SIZE);
  // Slabs a close left to their owners for the reserve no longer fit either:
  // their owners' recycling, or the next close or collect, returns them.
  for (std::uint32_t e = 0; e < epoch_count_ && warm_count_ + warm_left_ > warm_limit_; ++e)
    for (Slab* list : {epoch_slabs_[e], settled_slabs_[e]})
      for (Slab* s = list; s != nullptr && warm_count_ + warm_left_ > warm_limit_; s = s->epoch_next)
        set_keep_warm_locked(s, false);
  return true;
}

bool AllocatorCore::set_large_retain(std::uint64_t bytes) noexcept {
  if (!alive_or_error()) return false;
  if (bytes > MAX_WARM_RESERVE) {
    set_error(TSLAB_ERR_INVALID_ARGUMENT);
    return false;
  }
  const CountedLock lock(mutex_, counters_);
  large_retain_ = bytes;
  note_warm_locked();
  unstash_all_locked();              // stashed spans are held to the new bound with the cache's
  release_warm_locked(warm_limit_);  // slabs kept beyond the reserve: the next recycling keeps what fits
  release_large_warm_locked(std::uint64_t{warm_limit_} * SLAB_SIZE + large_retain_);
  return true;
}

std::uint64_t AllocatorCore::large_retain() const noexcept {
  if (!alive_or_error()) return 0;
  const CountedLock lock(mutex_, counters_);
  return large_retain_;
}

std::uint64_t AllocatorCore::warm_reserve() const noexcept {
  if (!alive_or_error()) return 0;
  const CountedLock lock(mutex_, counters_);
  return std::uint64_t{warm_limit_} * SLAB_SIZE;
}

std::uint64_t AllocatorCore::metadata_bytes_locked(bool resident) const noexcept {
  const std::uint64_t page = OsPlatform::instance().page_size();
  const std::uint64_t record = (sizeof(AllocatorCore) + tail_bytes(epoch_count_) + page - 1) & ~(page - 1);
  return record + (resident ? meta_.resident_bytes() : meta_.chunk_bytes()) + registry_bytes_locked();
}

std::uint64_t AllocatorCore::registry_bytes_locked() const noexcept {
  std::uint64_t ids = 0;
  for (const SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next) ids += seg->slab_count;
  return ids * sizeof(RegistryEntry);
}

std::uint64_t AllocatorCore::resident_bytes() const noexcept {
  if (!alive_or_error()) return 0;
  const LockGuard lock(mutex_);  // a statistic: not counted
  std::uint64_t bytes = metadata_bytes_locked();
  for (const SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next)
    if (!seg->released)
      bytes += platform_.resident_bytes(reinterpret_cast<const void*>(seg->base), seg->size);
  return bytes;
}

bool AllocatorCore::epoch_info(std::uint32_t epoch, SlabEpochInfo* out) const noexcept {
  if (!alive_or_error()) return false;
  if (epoch >= epoch_count_ || out == nullptr) {
    set_error(epoch >= epoch_count_ ? TSLAB_ERR_EPOCH_OUT_OF_RANGE : TSLAB_ERR_INVALID_ARGUMENT);
    return false;
  }
  SlabEpochInfo info{};
  info.state = epochs_.state(epoch);
  info.era = epochs_.era(epoch);
  info.open_since_ns = epochs_.open_since_ns(epoch);
  info.refcount = epochs_.refcount(epoch);
  info.rss_before_close = rss_before_close_[epoch].load(std::memory_order_relaxed);
  info.rss_after_close = rss_after_close_[epoch].load(std::memory_order_relaxed);
  epochs_.label(epoch, info.label, sizeof(info.label));
  const CountedLock lock(mutex_, counters_);
  for_each_epoch_slab_locked(epoch, [&](const Slab& s) { info.live_count += s.live_blocks(); });
  // A span's epoch is written without the lock (publish_span) by the thread
  // that takes it, from the cache or its stash, and published by the state's
  // release. Pinned, and seen in use, a span stays in that life while its epoch
  // is read: neither the cache nor a stash hands out a pinned span.
  for (SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next) {
    if (seg->kind != SlabKind::large) continue;
    SlabPin pin;
    pin.pin(seg->pins[0]);
    // Its block ended once its live bit cleared (a free a resize is to end, core/large_span.cpp).
    if (seg->slabs[0].state.load(std::memory_order_seq_cst) == SLAB_IN_USE && seg->slabs[0].epoch == epoch &&
        (seg->slabs[0].bits[0].allocated.load(std::memory_order_acquire) & Slab::LARGE_LIVE) != 0)
      ++info.live_count;
  }
  *out = info;
  return true;
}

bool AllocatorCore::in_range_or_error(std::uint32_t epoch) const noexcept {
  // A dead allocator has no epochs; another copy's has, none of them this copy's.
  if (epoch < epoch_count_ && alive()) [[likely]]
    return true;
  set_error(alive() ? TSLAB_ERR_EPOCH_OUT_OF_RANGE : TSLAB_ERR_INVALID_ARGUMENT);
  return false;
}

std::uint32_t AllocatorCore::epoch_current() const noexcept {
  return alive_or_error() ? epochs_.current() : 0;
}

EpochLifecycleState AllocatorCore::epoch_state(std::uint32_t epoch) const noexcept {
  return in_range_or_error(epoch) ? epochs_.state(epoch) : EPOCH_CLOSING;
}

std::uint64_t AllocatorCore::epoch_era(std::uint32_t epoch) const noexcept {
  return in_range_or_error(epoch) ? epochs_.era(epoch) : 0;
}

std::uint32_t AllocatorCore::epoch_count_checked() const noexcept {
  return alive_or_error() ? epoch_count_ : 0;
}

bool AllocatorCore::epoch_set_label(std::uint32_t epoch, const char* label) noexcept {
  if (!in_range_or_error(epoch)) return false;
  epochs_.set_label(epoch, label);
  return true;
}

std::uint32_t AllocatorCore::epoch_inc_refcount(std::uint32_t epoch) noexcept {
  if (!in_range_or_error(epoch)) return 0;
  const std::uint32_t n = epochs_.inc_refcount(epoch);
  if (n == 0) set_error(TSLAB_ERR_INVALID_ARGUMENT);  // at its maximum: refused, not wrapped
  return n;
}

std::uint32_t AllocatorCore::epoch_dec_refcount(std::uint32_t epoch) noexcept {
  return in_range_or_error(epoch) ? epochs_.dec_refcount(epoch) : 0;
}

std::uint32_t AllocatorCore::epoch_refcount(std::uint32_t epoch) const noexcept {
  return in_range_or_error(epoch) ? epochs_.refcount(epoch) : 0;
}

}  // namespace tslab::detail
