// This file contains the invariant checker: it walks every slab and every free
// list of an allocator and reports the first violation of DESIGN.md laws 1-3.
//
//   law 1  For a slab in a bin, free_count = free blocks on the bin's list +
//          blocks never carved; 0 <= free_count <= capacity and the allocated-bit
//          cardinality == capacity - free_count. So no block is lost or listed
//          twice, and no listed block is live.
//   law 2  every slab on a bin list is live (in use, owned by that heap). There
//          are no partial/full lists: free blocks, not slabs, are listed.
//   law 3  every slab and every listed block of a bin belongs to that bin's
//          (epoch, era, class): objects of two epochs never share a slab.
// It reads owner-only state, so it needs a quiescent allocator. The heaps a fork
// orphaned (core/fork.cpp) and their slabs are skipped: their owner may have
// stopped halfway through an update, and nothing reads them again.
#include <bit>
#include <cstdarg>
#include <cstdio>

#include "core/allocator_core.h"
#include "core/thread_cache.h"
#include "platform/bit_count.h"
#include "segment/segment_map.h"

namespace tslab::detail {

namespace {

class Reporter {
 public:
  Reporter(char* message, std::size_t size) : message_(message), size_(size) {}
  bool ok() const { return ok_; }
  [[gnu::format(printf, 2, 3)]] void fail(const char* fmt, ...) {
    if (!ok_) return;
    ok_ = false;
    if (message_ == nullptr || size_ == 0) return;
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(message_, size_, fmt, args);
    va_end(args);
  }

 private:
  char* message_;
  std::size_t size_;
  bool ok_ = true;
};

bool owned_by_orphan(const Slab& s) {
  const Heap* h = s.heap.load(std::memory_order_relaxed);
  return h != nullptr && h->orphaned;
}

std::uint32_t allocated_bits(const Slab& s) {
  std::uint32_t n = 0;
  for (std::uint32_t w = 0; w < s.bitmap_words(); ++w)
    n += static_cast<std::uint32_t>(bit_count(s.bits[w].allocated.load(std::memory_order_relaxed)));
  return n;
}

void check_bin_slab(const Slab& s, const Heap* heap, std::uint32_t bin_index, std::uint64_t era,
                    SlabList list, Reporter& r) {
  if (s.state.load(std::memory_order_relaxed) != SLAB_IN_USE)
    r.fail("slab %u on a bin list is not live (law 2)", s.id);
  else if (s.list != list)
    r.fail("slab %u: list tag %d, found on list %d", s.id, static_cast<int>(s.list), static_cast<int>(list));
  else if (s.heap.load(std::memory_order_relaxed) != heap)
    r.fail("slab %u is listed in a heap that does not own it (law 2)", s.id);
  else if (list == SlabList::bin && (s.bin_index != bin_index || s.era != era))
    r.fail("slab %u of (epoch %u, class %u, era %llu) in bin (epoch %u, class %u, era %llu) (law 3)", s.id,
           s.epoch, s.size_class, static_cast<unsigned long long>(s.era), bin_index / NUM_CLASSES,
           bin_index % NUM_CLASSES, static_cast<unsigned long long>(era));
  else if (s.bin_offset != s.bin_index * sizeof(HotBin))
    r.fail("slab %u: bin offset %u is not that of its bin %u", s.id, s.bin_offset, s.bin_index);
}

// Walks a bin's free list; counts each block on its slab's check_mark.
void check_free_list(const AllocatorCore* owner, const HotBin& bin, std::uint32_t bin_index,
                     std::size_t limit, Reporter& r) {
  std::size_t steps = 0;
  for (const FreeBlock* b = bin.free; b != nullptr && r.ok(); b = b->next) {
    if (++steps > limit) {
      r.fail("bin %u: free list longer than all carved blocks (cycle)", bin_index);
      return;
    }
    const SegmentHeader* seg = segment_map_lookup(b);
    Slab* s = seg == nullptr ? nullptr : seg->slab_for(b);
    if (seg == nullptr || seg->owner != owner || seg->kind != SlabKind::small) {
      r.fail("bin %u: free list holds %p, not a block of this allocator", bin_index,
             static_cast<const void*>(b));
      return;
    }
    const auto offset = static_cast<std::size_t>(reinterpret_cast<const char*>(b) - s->start);
    const std::uint32_t slot = s->slot_of_offset(offset);
    if (b->slab != s)
      r.fail("bin %u: free block %p records slab %p, lies in slab %u", bin_index, static_cast<const void*>(b),
             static_cast<const void*>(b->slab), s->id);
    else if (s->bin_index != bin_index || s->era != bin_era(bin))
      r.fail("bin %u: free list holds a block of slab %u of bin %u era %llu (law 3)", bin_index, s->id,
             s->bin_index, static_cast<unsigned long long>(s->era));
    else if (static_cast<std::size_t>(slot) * s->obj_size != offset ||
             slot >= s->carved.load(std::memory_order_relaxed))
      r.fail("slab %u: free list holds %p, not a carved block", s->id, static_cast<const void*>(b));
    else if (s->bits[slot >> 6].allocated.load(std::memory_order_relaxed) & (std::uint64_t{1} << (slot & 63)))
      r.fail("slab %u: free list holds live slot %u (law 1)", s->id, slot);
    else
      ++s->check_mark;
  }
}

// The heap's count of slabs counted reclaimable, which decides when it hands
// spare empty slabs back (Heap::hand_back_spare_slabs), is what its slabs say.
void check_counted_empty(const Heap& h, Reporter& r) {
  std::uint32_t counted = 0;
  for (std::uint32_t bin_index = 0; bin_index < h.epoch_count() * NUM_CLASSES; ++bin_index) {
    if (!h.uses_epoch(bin_index / NUM_CLASSES)) continue;
    for (const Slab* s = h.lists(bin_index / NUM_CLASSES, bin_index % NUM_CLASSES).slabs.front();
         s != nullptr; s = s->next)
      counted += s->reclaim_bytes != 0;
  }
  for (const Slab* s = h.retired().front(); s != nullptr; s = s->next) counted += s->reclaim_bytes != 0;
  for (const Slab* s = h.settled().front(); s != nullptr; s = s->next) counted += s->reclaim_bytes != 0;
  if (counted != h.counted_empty())
    r.fail("heap counts %u reclaimable slabs, its slabs say %u", h.counted_empty(), counted);
}

// The heap's reclaimable counts of open bins equal what its slabs say: the empty
// slabs of the bin's era that still hold pages, counted with their committed bytes.
void check_reclaim_counts(const Heap& h, const EpochRing& epochs, Reporter& r) {
  for (std::uint32_t bin_index = 0; bin_index < h.epoch_count() * NUM_CLASSES && r.ok(); ++bin_index) {
    if (!h.uses_epoch(bin_index / NUM_CLASSES)) continue;  // bins never used, pages never touched
    const ReclaimCount& rc = h.reclaim(bin_index);
    const std::uint64_t era = rc.era.load(std::memory_order_relaxed);
    const HotBin& bin = h.hot(bin_index / NUM_CLASSES, bin_index % NUM_CLASSES);
    // Counts of a closed activation are not read (its close returns the pages) and
    // are reset when the bin next takes an era.
    if (era == 0 || bin_era(bin) != era || era != epochs.open_era(bin_index / NUM_CLASSES)) continue;
    std::uint64_t slabs = 0, bytes = 0;
    for (const Slab* s = h.lists(bin_index / NUM_CLASSES, bin_index % NUM_CLASSES).slabs.front();
         s != nullptr; s = s->next) {
      if (s->era != era) continue;
      const bool counted = s->reclaim_bytes != 0;
      if (counted != (s->owner_live() == 0 && s->committed_bytes() != 0) ||
          (counted && s->reclaim_bytes != s->committed_bytes())) {
        r.fail("slab %u: reclaimable %u bytes, but %u live and %llu committed", s->id, s->reclaim_bytes,
               s->owner_live(), static_cast<unsigned long long>(s->committed_bytes()));
        return;
      }
      slabs += counted;
      bytes += s->reclaim_bytes;
    }
    if (slabs != rc.slabs.load(std::memory_order_relaxed) ||
        bytes != rc.bytes.load(std::memory_order_relaxed))
      r.fail("bin %u: counted %llu reclaimable slabs (%llu bytes), slabs say %llu (%llu)", bin_index,
             static_cast<unsigned long long>(rc.slabs.load(std::memory_order_relaxed)),
             static_cast<unsigned long long>(rc.bytes.load(std::memory_order_relaxed)),
             static_cast<unsigned long long>(slabs), static_cast<unsigned long long>(bytes));
  }
}

// The small segment whose headers hold `s`, found without reading `s`.
const SegmentHeader* segment_holding(const SegmentHeader* reservations, const Slab* s) {
  for (const SegmentHeader* seg = reservations; seg != nullptr; seg = seg->next)
    if (seg->kind == SlabKind::small && s >= seg->slabs && s < seg->slabs + seg->slab_count) return seg;
  return nullptr;
}

// Whether `s` is on a chain linked through epoch_next (the deferred slabs).
bool on_chain(const Slab* chain, const Slab* s) {
  for (const Slab* d = chain; d != nullptr; d = d->epoch_next)
    if (d == s) return true;
  return false;
}

// The dormant segments: each on one of the two lists, the one of segments
// that kept their range or the one of those whose range went back
// (AllocatorCore::release_dormant_ranges_locked), as its flags say.
void check_dormant_lists(const SegmentHeader* reservations, const SegmentHeader* kept,
                         const SegmentHeader* released, const SegmentHeader* released_tail, Reporter& r) {
  std::size_t dormant = 0, segments = 0;
  for (const SegmentHeader* seg = reservations; seg != nullptr; seg = seg->next) {
    if (seg->kind != SlabKind::small) continue;
    ++segments;
    dormant += seg->dormant;
  }
  std::size_t listed = 0;
  const SegmentHeader* last = nullptr;
  for (const SegmentHeader* list : {kept, released}) {
    for (const SegmentHeader* seg = list; seg != nullptr && r.ok(); seg = seg->next_dormant) {
      if (++listed > segments)
        r.fail("a list of dormant segments is longer than the segments there are (a cycle)");
      else if (!seg->dormant || seg->kind != SlabKind::small)
        r.fail("segment %u: on a list of dormant segments, not a dormant small segment", seg->first_id);
      else if (seg->released != (list == released))
        r.fail("segment %u: on the list of dormant segments %s its range, %s", seg->first_id,
               list == released ? "without" : "with", seg->released ? "released" : "not released");
      if (list == released) last = seg;
    }
  }
  if (r.ok() && last != released_tail)
    r.fail("the list of released dormant segments does not end at its tail");
  if (r.ok() && listed != dormant)
    r.fail("%zu dormant segments, %zu on the lists: one is lost or listed twice", dormant, listed);
}

// The remote-free queues (Heap::notify_remote): every slab whose queued flag is
// set is on exactly one heap's queue, and every entry names a slab that is set,
// awake, owned by that heap and not in the pool (a slab leaves its life only
// once its owner drained it: AllocatorCore::recycle_slab_locked). Recycling
// waits for a queued slab (`deferred`, linked by epoch_next), so such a slab may
// be UNUSED, and then names no heap. Exact with totals: an entry is on its owner's queue only, and a
// slab twice on one queue makes it a cycle, caught by the length bound.
void check_remote_queues(const SegmentHeader* reservations, const Heap* heaps, const Slab* deferred,
                         Reporter& r) {
  std::size_t flagged = 0, slabs = 0;
  for (const SegmentHeader* seg = reservations; seg != nullptr; seg = seg->next) {
    if (seg->kind != SlabKind::small) continue;
    slabs += seg->slab_count;
    if (seg->dormant) continue;  // metadata back with the OS: an entry there is caught below
    for (std::uint32_t i = 0; i < seg->slab_count; ++i)
      flagged += seg->slabs[i].remote_queued.load(std::memory_order_relaxed);
  }
  const auto segment_of = [reservations](const Slab* s) { return segment_holding(reservations, s); };
  const auto is_deferred = [deferred](const Slab* s) { return on_chain(deferred, s); };
  std::size_t entries = 0;
  for (const Heap* h = heaps; h != nullptr && r.ok(); h = h->next_all) {
    for (const Slab* s = h->remote_queue_front(); s != nullptr && r.ok(); s = s->remote_next) {
      const SegmentHeader* seg = segment_of(s);
      if (++entries > slabs)
        r.fail("a remote-free queue is longer than the slabs there are (a cycle)");
      else if (seg == nullptr)
        r.fail("a remote-free queue holds %p, not a slab of a segment", static_cast<const void*>(s));
      else if (seg->dormant)
        r.fail("a remote-free queue holds slab %u of a dormant segment",
               seg->first_id + static_cast<std::uint32_t>(s - seg->slabs));
      else if (!s->remote_queued.load(std::memory_order_relaxed))
        r.fail("slab %u: on a remote-free queue without its queued flag", s->id);
      else if (s->state.load(std::memory_order_relaxed) != SLAB_IN_USE && !is_deferred(s))
        r.fail("slab %u: on a remote-free queue but in the pool", s->id);
      // A deferred slab has left its heap already (recycle_slab_locked).
      else if (s->state.load(std::memory_order_relaxed) != SLAB_IN_USE &&
               s->heap.load(std::memory_order_relaxed) != nullptr)
        r.fail("slab %u: recycled, on a remote-free queue, still names a heap", s->id);
      else if (s->state.load(std::memory_order_relaxed) == SLAB_IN_USE &&
               s->heap.load(std::memory_order_relaxed) != h)
        r.fail("slab %u: on the remote-free queue of a heap that does not own it", s->id);
    }
  }
  if (r.ok() && entries != flagged)
    r.fail("%zu slabs flagged as queued for remote frees, %zu queue entries: an entry is lost or doubled",
           flagged, entries);
}

// The unsettled stack (Slab::unsettle): every slab whose flag is set is on it
// once, and every entry is an awake slab in use, or recycled with its pool
// entry waiting (`deferred`). A slab twice on it makes it a cycle, caught by
// the length bound.
void check_unsettled_stack(const SegmentHeader* reservations, const Slab* head, const Slab* deferred,
                           Reporter& r) {
  std::size_t flagged = 0, slabs = 0;
  for (const SegmentHeader* seg = reservations; seg != nullptr; seg = seg->next) {
    if (seg->kind != SlabKind::small) continue;
    slabs += seg->slab_count;
    if (seg->dormant) continue;
    for (std::uint32_t i = 0; i < seg->slab_count; ++i)
      flagged += seg->slabs[i].unsettle_queued.load(std::memory_order_relaxed);
  }
  std::size_t entries = 0;
  for (const Slab* s = head; s != nullptr && r.ok(); s = s->unsettled_next) {
    const SegmentHeader* seg = segment_holding(reservations, s);
    if (++entries > slabs)
      r.fail("the unsettled stack is longer than the slabs there are (a cycle)");
    else if (seg == nullptr || seg->dormant)
      r.fail("the unsettled stack holds %p, not a slab of an awake segment", static_cast<const void*>(s));
    else if (!s->unsettle_queued.load(std::memory_order_relaxed))
      r.fail("slab %u: on the unsettled stack without its flag", s->id);
    else if (s->state.load(std::memory_order_relaxed) != SLAB_IN_USE && !on_chain(deferred, s))
      r.fail("slab %u: on the unsettled stack but in the pool", s->id);
  }
  if (r.ok() && entries != flagged)
    r.fail("%zu slabs flagged as unsettled, %zu stack entries: an entry is lost or doubled", flagged,
           entries);
}

}  // namespace

bool AllocatorCore::check(char* message, std::size_t message_size) const noexcept {
  Reporter r(message, message_size);
  if (!alive()) {
    set_error(TSLAB_ERR_INVALID_ARGUMENT);
    r.fail("not a live allocator (destroyed)");
    return false;
  }
  const LockGuard lock(mutex_);  // not counted: a check leaves the statistics as they were
  std::size_t live_slabs = 0;
  std::size_t carved_total = 0;
  for (SegmentHeader* seg = reservations_; seg != nullptr && r.ok(); seg = seg->next) {
    // No validation is under way on a quiescent allocator: every pin is back to 0
    // (a lost decrement or a count overwritten under a pin shows here).
    for (std::uint32_t i = 0; i < seg->slab_count && r.ok(); ++i)
      if (const std::uint32_t pins = seg->pins[i].load(std::memory_order_relaxed); pins != 0)
        r.fail("slab %u: %u pins held on a quiescent allocator", seg->first_id + i, pins);
    // A small segment's range went back only while it is dormant, and the map
    // names it exactly while it has its range (AllocatorCore::release_dormant_ranges_locked).
    if (seg->kind == SlabKind::small) {
      if (seg->released && !seg->dormant)
        r.fail("segment %u: in use, but its range went back", seg->first_id);
      if ((segment_map_lookup(reinterpret_cast<const void*>(seg->base)) == seg) == seg->released)
        r.fail("segment %u: %s", seg->first_id, seg->released ? "released but still mapped" : "not mapped");
    }
    if (seg->dormant) continue;  // its metadata pages are back with the OS: nothing lives there
    for (std::uint32_t i = 0; i < seg->slab_count && r.ok(); ++i) {
      Slab& s = seg->slabs[i];
      s.check_mark = 0;
      const bool in_use = s.state.load(std::memory_order_relaxed) == SLAB_IN_USE;
      if (seg->kind == SlabKind::large) {
        const std::uint64_t word = s.bits[0].allocated.load(std::memory_order_relaxed);
        const std::uint64_t bit = word & Slab::LARGE_LIVE;
        if (in_use != (bit == 1)) r.fail("large span %u: state and allocated bit disagree", s.id);
        if ((word & (Slab::LARGE_RESIZING | Slab::LARGE_FREE_COLD)) != 0)
          r.fail("large span %u: marked as resized on a quiescent allocator", s.id);
        // A bare header's range went back: the map must not name it (core/span_release.cpp).
        if ((segment_map_lookup(reinterpret_cast<const void*>(seg->base)) == seg) == seg->released)
          r.fail("large span %u: %s", s.id, seg->released ? "released but still mapped" : "not mapped");
        if (seg->released && in_use) r.fail("large span %u: in use but released", s.id);
        continue;
      }
      if (!in_use || owned_by_orphan(s)) continue;
      ++live_slabs;
      const std::uint32_t carved = s.carved.load(std::memory_order_relaxed);
      carved_total += carved;
      if (s.epoch >= epoch_count_) r.fail("slab %u names epoch %u of %u", s.id, s.epoch, epoch_count_);
      if (carved > s.capacity) r.fail("slab %u: carved %u of capacity %u", s.id, carved, s.capacity);
      if (STATS_ENABLED && s.owner_live() != allocated_bits(s))
        r.fail("slab %u: owner counts %u live blocks, bitmap %u", s.id, s.owner_live(), allocated_bits(s));
      // A remotely freed block reaches its owner: the slab is queued for the
      // owner's collection (Heap::notify_remote), or it is empty and the owner
      // takes it whole (Heap::take_empty_slabs). In a fork's child too: the
      // queues are made again there (requeue_remote_frees_after_fork).
      if (s.has_remote_bits() && !s.remote_queued.load(std::memory_order_relaxed) && !s.is_empty_in_use())
        r.fail("slab %u: remotely freed blocks, but not queued for its owner", s.id);
      // No bit past the last block: recycling clears only the words its capacity uses.
      for (std::uint32_t w = s.capacity / 64; w < BITMAP_WORDS; ++w) {
        const std::uint32_t first =
            w * 64 < s.capacity ? s.capacity % 64 : 0;  // of this word's slots, past it
        const std::uint64_t past = ~std::uint64_t{0} << first;
        if ((s.bits[w].allocated.load(std::memory_order_relaxed) |
             s.bits[w].remote.load(std::memory_order_relaxed)) &
            past)
          r.fail("slab %u: a bit set in bitmap word %u past its capacity %u", s.id, w, s.capacity);
      }
      // Settled (or marked by a close in progress) only on its slot's settled list.
      if (!s.settled_listed && s.settled.load(std::memory_order_relaxed) != SETTLE_NONE)
        r.fail("slab %u: settle state %u but not on its slot's settled list", s.id,
               static_cast<unsigned>(s.settled.load(std::memory_order_relaxed)));
    }
  }
  // Settled slabs (core/settled_slabs.cpp): in use in a closed activation of
  // their slot, counted as listed. One still flagged had no free since it
  // settled, so it holds what it was counted with and has no page left to
  // return (a free that missed the flag would show here).
  for (std::uint32_t e = 0; e < epoch_count_ && r.ok(); ++e) {
    ClosePins sum;
    for (const Slab* s = settled_slabs_[e]; s != nullptr && r.ok(); s = s->epoch_next) {
      if (!s->settled_listed || s->epoch != e || s->state.load(std::memory_order_relaxed) != SLAB_IN_USE ||
          s->era == epochs_.open_era(e))
        r.fail("slab %u on epoch %u's settled list: not a slab of a closed activation of it", s->id, e);
      if (s->is_settled() && (s->live_blocks() != s->settled_live || s->free_pages_of_closed() != 0))
        r.fail("settled slab %u: %u live blocks (%u when it settled), free pages %#x", s->id,
               s->live_blocks(), s->settled_live, static_cast<unsigned>(s->free_pages_of_closed()));
      sum.live_blocks += s->settled_live;
      ++sum.slabs;
      sum.bytes += std::uint64_t{s->settled_pages} * Slab::PAGE;
    }
    const ClosePins& kept = settled_pins_[e];
    if (r.ok() && (sum.live_blocks != kept.live_blocks || sum.slabs != kept.slabs || sum.bytes != kept.bytes))
      r.fail(
          "epoch %u: settled slabs counted as %llu slabs, %llu blocks, %llu bytes; listed %llu, %llu, %llu",
          e, static_cast<unsigned long long>(kept.slabs), static_cast<unsigned long long>(kept.live_blocks),
          static_cast<unsigned long long>(kept.bytes), static_cast<unsigned long long>(sum.slabs),
          static_cast<unsigned long long>(sum.live_blocks), static_cast<unsigned long long>(sum.bytes));
  }
  if (r.ok() && !large_cache_.consistent()) r.fail("the cache of free large spans is inconsistent");
  // The headers flagged as cached are the spans the cache holds (contains() reads the flag).
  std::uint64_t flagged = 0;
  for (const SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next)
    if (seg->kind == SlabKind::large && seg->cached) ++flagged;
  if (r.ok() && flagged != large_cache_.size())
    r.fail("%llu large headers flagged as cached, the cache holds %llu",
           static_cast<unsigned long long>(flagged), static_cast<unsigned long long>(large_cache_.size()));
  // Cached spans: the bytes they keep committed are the warm bytes counted.
  std::uint64_t cached_dirty = 0;
  large_cache_.for_each([&](const SegmentHeader* seg) {
    cached_dirty += seg->dirty_bytes;
    return true;
  });
  if (r.ok() && cached_dirty != large_warm_bytes_.load(std::memory_order_relaxed))
    r.fail("the cached spans hold %llu dirty bytes, counted %llu",
           static_cast<unsigned long long>(cached_dirty),
           static_cast<unsigned long long>(large_warm_bytes_.load(std::memory_order_relaxed)));
  // Abandoned heaps: the empty slabs they keep for their next owners, summed
  // (core/threads.cpp, abandoned_keep_limit_locked).
  std::uint64_t kept_for_adopters = 0;
  for (const Heap* h = abandoned_; h != nullptr; h = h->next_abandoned) kept_for_adopters += h->kept_empty;
  if (r.ok() && kept_for_adopters != abandoned_kept_)
    r.fail("the abandoned heaps keep %llu empty slabs, counted %llu",
           static_cast<unsigned long long>(kept_for_adopters),
           static_cast<unsigned long long>(abandoned_kept_));
  // Stashed spans (core/span_stash.cpp): free, bound, in no other list, and
  // counted in the stashes' bytes.
  std::uint64_t stashed = 0;
  for (const Heap* h = heaps_; h != nullptr && r.ok(); h = h->next_all)
    for (const std::atomic<SegmentHeader*>& slot : h->span_stash) {
      const SegmentHeader* seg = slot.load(std::memory_order_acquire);
      if (seg == nullptr) continue;
      stashed += seg->dirty_bytes;
      if (seg->kind != SlabKind::large || seg->released || large_cache_.contains(seg) ||
          seg->slabs[0].state.load(std::memory_order_relaxed) != SLAB_UNUSED)
        r.fail("large span %u: stashed, but in use, released or cached", seg->first_id);
    }
  if (r.ok() && stashed != stashed_bytes_.load(std::memory_order_relaxed))
    r.fail("the stashes hold %llu dirty bytes, counted %llu", static_cast<unsigned long long>(stashed),
           static_cast<unsigned long long>(stashed_bytes_.load(std::memory_order_relaxed)));
  std::size_t reachable = 0;
  for (const Heap* h = heaps_; h != nullptr && r.ok(); h = h->next_all) {
    if (h->orphaned) continue;
    for (std::uint32_t bin_index = 0; bin_index < h->epoch_count() * NUM_CLASSES && r.ok(); ++bin_index) {
      const std::uint32_t e = bin_index / NUM_CLASSES, cls = bin_index % NUM_CLASSES;
      if (!h->uses_epoch(e)) continue;  // bins never used, pages never touched
      const HotBin& bin = h->hot(e, cls);
      // The walks for empty slabs look only at the bins their mask marks.
      if (h->marked_with_era(bin_index) != (bin.era != 0))
        r.fail("heap bin %u: era %llu, but marked as holding %s", bin_index,
               static_cast<unsigned long long>(bin.era), h->marked_with_era(bin_index) ? "one" : "none");
      for (const Slab* s = h->lists(e, cls).slabs.front(); s != nullptr && r.ok(); s = s->next, ++reachable)
        check_bin_slab(*s, h, bin_index, bin_era(bin), SlabList::bin, r);
      // A bin of a closed activation keeps a dead list: never walked again, its
      // slabs' pages may be back with the OS.
      if (bin_era(bin) == epochs_.open_era(e)) check_free_list(this, bin, bin_index, carved_total, r);
    }
    for (const Slab* s = h->retired().front(); s != nullptr && r.ok(); s = s->next, ++reachable)
      check_bin_slab(*s, h, 0, 0, SlabList::retired, r);
    // A settled one is skipped by its owner's walks: it must not be empty unless
    // the collection that brings it back is queued (Heap::unsettled).
    for (const Slab* s = h->settled().front(); s != nullptr && r.ok(); s = s->next, ++reachable) {
      check_bin_slab(*s, h, 0, 0, SlabList::settled, r);
      if (r.ok() && s->era == epochs_.open_era(s->epoch))
        r.fail("slab %u is listed settled, but its activation is open", s->id);
      else if (r.ok() && s->is_empty_in_use() && !s->remote_queued.load(std::memory_order_relaxed))
        r.fail("slab %u is listed settled and empty, with no collection queued to take it back", s->id);
    }
    if (STATS_ENABLED) check_reclaim_counts(*h, epochs_, r);
    if (STATS_ENABLED && r.ok()) check_counted_empty(*h, r);
  }
  if (r.ok()) check_dormant_lists(reservations_, dormant_, released_dormant_, released_tail_, r);
  if (r.ok()) check_remote_queues(reservations_, heaps_, deferred_, r);
  if (r.ok())
    check_unsettled_stack(reservations_, unsettled_head_.load(std::memory_order_acquire), deferred_, r);
  if (r.ok() && reachable != live_slabs)
    r.fail("%zu live slabs but %zu reachable from heaps: a slab is lost or listed twice", live_slabs,
           reachable);
  // Law 1, now that every listed block is counted on its slab.
  for (const SegmentHeader* seg = reservations_; seg != nullptr && r.ok(); seg = seg->next) {
    if (seg->kind != SlabKind::small || seg->dormant) continue;
    for (std::uint32_t i = 0; i < seg->slab_count && r.ok(); ++i) {
      const Slab& s = seg->slabs[i];
      if (s.state.load(std::memory_order_relaxed) != SLAB_IN_USE || owned_by_orphan(s)) continue;
      const std::uint32_t allocated = allocated_bits(s);
      const std::uint32_t carved = s.carved.load(std::memory_order_relaxed);
      if (s.list == SlabList::retired || s.list == SlabList::settled) {
        if (s.check_mark != 0) r.fail("retired slab %u still has %u listed blocks", s.id, s.check_mark);
        continue;
      }
      // Free blocks on purged pages are off the list until the bin runs dry. (A
      // closed slab's purged page may hold a remotely freed block not collected
      // yet: its allocated bit still counts it.)
      std::uint32_t purged_free = 0;
      if (s.purged_pages.load(std::memory_order_relaxed) != 0)
        for (std::uint32_t slot = 0; slot < carved; ++slot)
          purged_free +=
              s.slot_in_purged_page(slot) && !(s.bits[slot >> 6].allocated.load(std::memory_order_relaxed) &
                                               (std::uint64_t{1} << (slot & 63)));
      const std::uint32_t free_count = s.check_mark + purged_free + (s.capacity - carved);
      // Blocks of a closed activation freed after the close are not listed.
      const bool closed = s.era != epochs_.open_era(s.epoch);
      if (closed ? free_count > s.capacity - allocated
                 : free_count > s.capacity || allocated != s.capacity - free_count)
        r.fail("slab %u: %u allocated bits but free_count %u of capacity %u (law 1)", s.id, allocated,
               free_count, s.capacity);
    }
  }
  return r.ok();
}

bool AllocatorCore::perf_counters(std::uint32_t cls, PerfCounters* out) const noexcept {
  if (!alive_or_error()) return false;
  if (cls >= NUM_CLASSES || out == nullptr) {
    set_error(TSLAB_ERR_INVALID_ARGUMENT);
    return false;
  }
  PerfCounters pc{};
  const LockGuard lock(mutex_);  // a statistic: not counted
  for (const Heap* h = heaps_; h != nullptr; h = h->next_all) {
    const HeapClassCounters& c = h->counters(cls);
    pc.slow_path_hits += c.slow_path_hits.get();
    pc.list_move_partial_to_full += c.slabs_carved_out.get();
    pc.list_move_full_to_partial += c.remote_collections.get();
    pc.current_partial_null += c.bin_empty.get();
    pc.current_partial_full += c.held_back.get();
  }
  pc.new_slab_count = new_slabs_[cls].load(std::memory_order_relaxed);
  pc.empty_slab_recycled = slabs_reused_[cls].load(std::memory_order_relaxed);
  pc.empty_slab_overflowed = slabs_recycled_[cls].load(std::memory_order_relaxed);
  *out = pc;
  return true;
}

}  // namespace tslab::detail
