// This file contains the thread heap's slow paths: refilling a bin's free list,
// collecting remote frees and retiring bins of past eras.
//
// Call tree of an allocation (fast path in core/fast_path.h):
//   AllocatorCore::alloc            table lookup, era check, pop the bin list
//   └─ AllocatorCore::alloc_slow    bad epoch / size → error or large span
//      └─ Heap::alloc_slow          this file
//         ├─ Heap::collect          a head slot held back by a rejected free
//         ├─ Heap::drain_remote     slabs other threads freed into
//         ├─ Heap::carve            never-used blocks of the bin's newest slab
//         ├─ Heap::hand_back_spare_slabs  no warm slab: empty slabs of other bins go first
//         └─ SlabSource::take_slab  a fresh slab from the allocator
#include "heap/heap.h"

#include <algorithm>
#include <new>

namespace tslab::detail {

Heap* Heap::create(MetaArena& arena, std::uint32_t epoch_count) noexcept {
  const std::size_t bins = std::size_t{epoch_count} * NUM_CLASSES;
  const std::size_t bytes = sizeof(Heap) + bins * (sizeof(HotBin) + sizeof(BinLists) + sizeof(ReclaimCount)) +
                            std::size_t{epoch_count} * sizeof(ClassMask) + 64;
  char* mem = static_cast<char*>(arena.allocate(bytes));
  if (mem == nullptr) return nullptr;
  Heap* heap = new (mem) Heap();
  heap->epoch_count_ = epoch_count;
  char* cursor = mem + ((sizeof(Heap) + 63) & ~std::size_t{63});
  // The bins are not constructed: the arena's memory is fresh platform memory,
  // zero on first touch (Platform contract; a chunk the arena of an ended
  // allocator left was zeroed when buried, segment/meta_arena.h), and all-zero
  // bytes are each bin's initial state (no list, no slab, era 0, its atomics 0),
  // as the compilers and sanitizers we build with treat them.
  // Writing them would commit every page of them: 80 classes x up to 256 epochs
  // x 72 bytes, 1.4 MiB per thread, where a thread that uses one epoch touches
  // about 3 pages of them.
  heap->hot_ = reinterpret_cast<HotBin*>(cursor);
  heap->lists_ = reinterpret_cast<BinLists*>(cursor + bins * sizeof(HotBin));
  heap->reclaim_ = reinterpret_cast<ReclaimCount*>(cursor + bins * (sizeof(HotBin) + sizeof(BinLists)));
  heap->bins_with_era_ = reinterpret_cast<ClassMask*>(
      cursor + bins * (sizeof(HotBin) + sizeof(BinLists) + sizeof(ReclaimCount)));
  return heap;
}

namespace {

// Owner-written statistics: load + store, read by others relaxed.
void add_owned(std::atomic<std::uint64_t>& a, std::uint64_t n) noexcept {
  a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
void sub_owned(std::atomic<std::uint64_t>& a, std::uint64_t n) noexcept {
  a.store(a.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
}

}  // namespace

void Heap::reset_reclaim(std::uint32_t bin_index, std::uint64_t era) noexcept {
  ReclaimCount& r = reclaim_[bin_index];
  r.slabs.store(0, std::memory_order_relaxed);
  r.bytes.store(0, std::memory_order_relaxed);
  r.era.store(era, std::memory_order_relaxed);
}

[[gnu::always_inline]] inline void Heap::count_emptied(Slab* s) noexcept {
  ReclaimCount& r = reclaim_[s->bin_index];
  // Only slabs of the bin's current era count (those of a past one are retired).
  if (s->reclaim_bytes != 0 || s->era != r.era.load(std::memory_order_relaxed)) return;
  const std::uint64_t bytes = s->committed_bytes();
  if (bytes == 0) return;
  s->reclaim_bytes = static_cast<std::uint32_t>(bytes);
  s->spare_seen = false;
  ++counted_empty_;
  add_owned(r.slabs, 1);
  add_owned(r.bytes, bytes);
  // To the front of its bin's list, where a hand-back looks for counted slabs and
  // stops once it found them all (take_empty_of_open_bin): a bin full of slabs
  // that hold leaked or long-lived blocks is not walked for the few that emptied.
  // A short list is walked whole at little cost, and its slabs empty and fill
  // often (a request's blocks): left in place (measured: moving them cost the
  // request workload 1.7 instructions per object).
  // (Only where the counts are kept: without TSLAB_STATS no slab counts as live,
  // every recount lands here, and nothing hands spare slabs back.)
  if (TSLAB_STATS != 0 && s->prev != nullptr && s->list == SlabList::bin) {
    SlabQueue& slabs = lists_[s->bin_index].slabs;
    if (slabs.size() > SHORT_BIN_LIST) {
      slabs.remove(s);
      slabs.push_front(s);
    }
  }
}

void Heap::slab_emptied(Slab* s) noexcept { count_emptied(s); }

// The fast paths' endings, with the count inline: no call within the call (a
// request's slabs take this step once per class and request, 26.6 times per
// request in `make bench-instructions`: 128.4 -> 127.7 instructions per object).
// Not cold: as cold functions the compiler called committed_bytes and the
// count's adds out of line (71.1 per object).
bool Heap::emptied_then_ok(Slab* s) noexcept {
  count_emptied(s);
  return free_result<bool>(TSLAB_OK);
}

TslabError Heap::emptied_then_error(Slab* s) noexcept {
  count_emptied(s);
  return free_result<TslabError>(TSLAB_OK);
}

void Heap::uncount(Slab* s) noexcept {
  if (s->reclaim_bytes == 0) return;
  ReclaimCount& r = reclaim_[s->bin_index];
  if (s->era == r.era.load(std::memory_order_relaxed)) {  // else the bin's count was reset since
    sub_owned(r.slabs, 1);
    sub_owned(r.bytes, s->reclaim_bytes);
  }
  s->reclaim_bytes = 0;
  s->spare_seen = false;
  if (--counted_empty_ < spare_floor_) spare_floor_ = counted_empty_;
}

// Flat: uncount inline, so the step costs no stack frame of its own (a request's
// slabs take it once per class and request).
[[gnu::flatten]] void* Heap::refilled_then(Slab* s, void* block) noexcept {
  uncount(s);
  end_alloc();
  return block;
}

void Heap::recount(Slab* s) noexcept {
  uncount(s);
  if (s->owner_live() == 0) slab_emptied(s);
}

void Heap::retire_bin(std::uint32_t epoch, std::uint32_t cls) noexcept {
  HotBin& bin = hot(epoch, cls);
  BinLists& l = lists_[epoch * NUM_CLASSES + cls];
  // The list is dropped without being walked: its blocks belong to slabs of the
  // past era, which never hand out a block again.
  bin.free = nullptr;
  retired_.splice_all(l.slabs, SlabList::retired);
  l.carving = nullptr;
}

std::uint32_t Heap::collect(const SlabSource& source, Slab* s) noexcept {
  // Only a slab in use by this heap. One this heap is recycling holds no live
  // block (the free that emptied it as the owner took it still queued it), and
  // its blocks listed here would be handed out again in the slab's next life.
  // Acquire: a slab another heap took into a new life names that heap below.
  if (s->state.load(std::memory_order_acquire) != SLAB_IN_USE ||
      s->heap.load(std::memory_order_relaxed) != this)
    return 0;
  const bool open = s->era == source.open_era(s->epoch);
  // The blocks go to the front of the bin's list, linked in a register: one
  // store of the head for the whole slab.
  HotBin& bin = hot_[s->bin_index];
  FreeBlock* head = bin.free;
  const std::uint32_t n = s->collect_remote([s, open, &head](FreeBlock* b) {
    if (!open) return;
    b->next = head;
    b->slab = s;
    head = b;
  });
  bin.free = head;
  // A closed activation's slab changed (its blocks' allocated bits went down
  // after their remote bits): a close that settled it in between saw them live.
  if (n != 0 && !open) {
    s->unsettle();
    unsettled(s);
  }
  if (n != 0) {
    counters_[s->size_class].remote_collections.bump();
    counters_[s->size_class].remote_blocks.bump(n);
    note_freed(s, n);
  }
  return n;
}

void Heap::drain_remote(const SlabSource& source) noexcept {
  // Acquire pairs with the pushers' release: their remote_next links are visible.
  Slab* s = remote_head_.exchange(nullptr, std::memory_order_acquire);
  while (s != nullptr) {
    Slab* next = s->remote_next;
    // Quiescence point of the queue entry: from here a new remote free re-queues
    // the slab. Every bit set by a thread that found the slab still queued is
    // visible to the collection below (that thread's fetch_or and flag load, this
    // exchange and the collection's loads are all seq_cst: notify_remote). A slab
    // being recycled waits for this exchange before it enters the pool
    // (AllocatorCore::still_reached): `next` was read while it could not.
    s->remote_queued.exchange(false, std::memory_order_seq_cst);
    collect(source, s);
    s = next;
  }
}

Slab* Heap::take_empty_of_open_bin(std::uint32_t bin_index, Slab* out, std::uint32_t* seen) noexcept {
  BinLists& l = lists_[bin_index];
  // reclaim_mark is false on every slab outside this function: only the slabs
  // looked at below are marked, and every marked one leaves the list or is
  // unmarked again.
  std::uint32_t marked = 0;
  // Blocks of the marked slabs on the free list, if known: every carved block
  // of an empty slab with no purged page, its remote frees collected.
  std::size_t listed = 0;
  bool exact = true;
  if (seen != nullptr) {
    // A hand-back takes only slabs counted empty (reclaim_bytes), which
    // slab_emptied moved to the front of the list: the walk ends once it met
    // as many as the bin counts, however many full slabs follow.
    auto counted = static_cast<std::uint32_t>(reclaim_[bin_index].slabs.load(std::memory_order_relaxed));
    for (Slab* s = l.slabs.front(); s != nullptr && counted != 0; s = s->next) {
      if (s->reclaim_bytes == 0) continue;
      --counted;
      ++spare_examined_;
      // Only a slab still empty since the last look: one that empties and fills
      // again (a request's blocks) is not spare.
      if (!s->is_empty_in_use() || s->remote_queued.load(std::memory_order_acquire)) continue;
      s->reclaim_mark = s->spare_seen;
      s->spare_seen = !s->spare_seen;
      *seen += s->spare_seen;
      if (!s->reclaim_mark) continue;
      ++marked;
      listed += s->carved.load(std::memory_order_relaxed);
      exact = exact && s->purged_pages.load(std::memory_order_relaxed) == 0;
    }
  } else {
    for (Slab* s = l.slabs.front(); s != nullptr; s = s->next) {
      s->reclaim_mark = s->is_empty_in_use() && !s->remote_queued.load(std::memory_order_acquire);
      marked += s->reclaim_mark;
    }
    exact = false;  // collect() and a thread's exit take every empty slab, whatever the walk costs
  }
  if (marked == 0) return out;
  HotBin& bin = hot_[bin_index];
  if (std::size_t{marked} * 2 >= l.slabs.size()) {
    // Most of the bin goes: its free list is rebuilt from the bitmaps of the
    // slabs that stay rather than walked, block by block, for those that go
    // (a flushed cache leaves millions of blocks, every one a cache miss).
    bin.free = nullptr;
    for (Slab* s = l.slabs.front(); s != nullptr; s = s->next)
      if (!s->reclaim_mark) list_free_slots(s);
    return unlist_marked(l, marked, out);
  }
  // Take the empty slabs' blocks off the free list, keeping the others in order.
  // A hand-back's walk ends once it found them all, and gives up past a budget
  // in proportion to them: a bin whose free list holds millions of blocks of
  // other slabs (a cache that was flushed and is filling again) is not walked
  // whole for one spare slab at every hand-back. Given up, the blocks taken off
  // go back on the list and the slabs stay.
  const std::size_t budget = exact ? 4 * listed + 1024 : SIZE_MAX;
  FreeBlock** link = &bin.free;
  FreeBlock* taken = nullptr;
  std::size_t found = 0, walked = 0;
  while (*link != nullptr && !(exact && found == listed)) {
    if (++walked > budget) break;
    FreeBlock* b = *link;
    const Slab* owner = small_slab_of(b);
    if (owner == nullptr || owner->reclaim_mark) {
      *link = b->next;
      if (owner != nullptr) {
        b->next = taken;
        taken = b;
        ++found;
      }
    } else {
      link = &b->next;
    }
  }
  if (walked > budget) {
    while (taken != nullptr) {
      FreeBlock* next = taken->next;
      taken->next = bin.free;
      bin.free = taken;
      taken = next;
    }
    for (Slab* s = l.slabs.front(); s != nullptr && marked != 0; s = s->next) {
      marked -= s->reclaim_mark;
      s->reclaim_mark = false;
    }
    ++spare_walks_given_up_;
    return out;
  }
  return unlist_marked(l, marked, out);
}

Slab* Heap::unlist_marked(BinLists& l, std::uint32_t marked, Slab* out) noexcept {
  for (Slab* s = l.slabs.front(); s != nullptr && marked != 0;) {
    Slab* next = s->next;
    if (s->reclaim_mark) {
      --marked;
      l.slabs.remove(s);
      if (l.carving == s) l.carving = nullptr;
      s->reclaim_mark = false;
      s->list = SlabList::none;
      s->next = out;
      out = s;
    }
    s = next;
  }
  return out;
}

void Heap::list_free_slots(Slab* s) noexcept {
  // The free list of an open bin holds every carved slot of its slabs that is
  // not allocated, but those on purged pages (relisted when the bin runs dry).
  // Highest slot first, so that the list hands them out lowest address first.
  const std::uint32_t carved = s->carved.load(std::memory_order_relaxed);
  const bool purged = s->purged_pages.load(std::memory_order_relaxed) != 0;
  for (std::uint32_t w = (carved + 63) / 64; w-- > 0;) {
    std::uint64_t free = ~s->bits[w].allocated.load(std::memory_order_relaxed);
    if (w * 64 + 64 > carved) free &= (std::uint64_t{1} << (carved - w * 64)) - 1;
    while (free != 0) {
      const auto slot = w * 64 + 63 - static_cast<std::uint32_t>(std::countl_zero(free));
      free &= ~(std::uint64_t{1} << (slot & 63));
      if (!purged || !s->slot_in_purged_page(slot)) list_free_block(s, s->block_at(slot));
    }
  }
}

void Heap::hand_back_spare_slabs(SlabSource& source) noexcept {
  // Called when the heap would grow: the empty slabs of open bins that stayed
  // empty since the last look go back to the pool, where take_slab finds them
  // first, so that a program whose size mix moves (a phase of map nodes, then one
  // of strings) reuses them rather than grow by a slab per class. Measured on the
  // cpp-containers program (docs/BENCHMARKS.md): peak RSS 15.6 -> 9.6 MiB.
  Slab* out = nullptr;
  std::uint32_t seen = 0;
  for (std::uint32_t e = 0; e < epoch_count_; ++e) {
    if (!uses_epoch(e)) continue;
    const std::uint64_t open = source.open_era(e);
    if (open == 0) continue;
    for_each_bin_with_era(e, [&](std::uint32_t i) {
      const ReclaimCount& r = reclaim_[i];
      if (r.slabs.load(std::memory_order_relaxed) == 0 || bin_era(hot_[i]) != open ||
          r.era.load(std::memory_order_relaxed) != open)
        return;
      out = take_empty_of_open_bin(i, out, &seen);
    });
  }
  for (Slab* s = out; s != nullptr; s = s->next) uncount(s);
  // The next look comes once SPARE_SLACK more slabs emptied, or at once (at the
  // next growth) for the slabs seen empty now.
  spare_floor_ = counted_empty_ - seen;
  if (out != nullptr) source.recycle_slabs(out, HandBack::moving);
}

void Heap::purge_free_pages(SlabSource& source, std::uint32_t bin_index) noexcept {
  BinLists& l = lists_[bin_index];
  bool any = false;
  for (Slab* s = l.slabs.front(); s != nullptr; s = s->next) {
    const std::uint16_t mask = s->free_pages(false);
    s->purge_now = mask;
    any = any || mask != 0;
  }
  if (!any) return;
  // First off the list, every block that touches a page to purge (law 4)...
  HotBin& bin = hot_[bin_index];
  FreeBlock** link = &bin.free;
  while (*link != nullptr) {
    const Slab* s = small_slab_of(*link);
    const auto slot = static_cast<std::uint32_t>((reinterpret_cast<char*>(*link) - s->start) / s->obj_size);
    if (s->purge_now != 0 && s->slot_in_pages(slot, s->purge_now))
      *link = (*link)->next;
    else
      link = &(*link)->next;
  }
  // ...then the pages go back.
  for (Slab* s = l.slabs.front(); s != nullptr; s = s->next) {
    if (s->purge_now == 0) continue;
    Slab::for_each_page_run(s->purge_now, [&](std::uint32_t first, std::uint32_t count) {
      source.release_pages(s->start + first * Slab::PAGE, count * Slab::PAGE);
    });
    s->purged_pages.store(
        static_cast<std::uint16_t>(s->purged_pages.load(std::memory_order_relaxed) | s->purge_now),
        std::memory_order_relaxed);
    s->purge_now = 0;
    recount(s);
    l.has_purged = true;
  }
}

bool Heap::relist_purged(BinLists& l, HotBin& bin) noexcept {
  if (!l.has_purged) return false;
  l.has_purged = false;
  bool any = false;
  for (Slab* s = l.slabs.front(); s != nullptr; s = s->next) {
    if (s->purged_pages.load(std::memory_order_relaxed) == 0) continue;
    const std::uint32_t carved = s->carved.load(std::memory_order_relaxed);
    // Highest slot first, so that the list hands them out lowest address first.
    for (std::uint32_t slot = carved; slot-- > 0;) {
      if (!s->slot_in_purged_page(slot)) continue;
      auto* b = reinterpret_cast<FreeBlock*>(s->block_at(slot));
      b->next = bin.free;
      b->slab = s;
      bin.free = b;
      any = true;
    }
    s->purged_pages.store(0, std::memory_order_relaxed);
    recount(s);
  }
  return any;
}

Slab* Heap::take_empty_slabs(SlabSource& source, bool active_too, bool purge) noexcept {
  drain_remote(source);
  Slab* out = nullptr;
  for (std::uint32_t e = 0; e < epoch_count_; ++e) {
    if (!uses_epoch(e)) continue;  // its bins were never used (Heap::create)
    const std::uint64_t open = source.open_era(e);
    for_each_bin_with_era(e, [&](std::uint32_t i) {
      ++bins_examined_;
      if (bin_era(hot_[i]) != open) {
        // Quiescence point of a closed bin: its list is dropped unwalked and its
        // slabs retired, so no allocation path of this heap reaches them again.
        retire_bin(e, i % NUM_CLASSES);
        clear_bin_era(i);
      } else if (active_too) {
        out = take_empty_of_open_bin(i, out, nullptr);
        if (purge) purge_free_pages(source, i);
      }
    });
  }
  for (Slab* s = retired_.front(); s != nullptr;) {
    Slab* next = s->next;
    ++retired_examined_;
    // A settled slab had no change since a close settled it holding blocks: not
    // empty, and no walk need look at it until its bitmap changes. A scope per
    // request leaves one for each slab its survivors pin, and every catch-up
    // walked them all: with 20,000 survivors in a cache, 84% of a request loop's
    // time. The change that empties one reaches this heap before its next walk:
    // its own free brings it back (unsettled), and another thread's queues it
    // for the collection above, which does.
    if (s->is_settled()) {
      retired_.remove(s);
      settled_.push_front(s);
      s->list = SlabList::settled;
      s = next;
      continue;
    }
    if (s->is_empty_in_use() && !s->remote_queued.load(std::memory_order_acquire)) {
      retired_.remove(s);
      s->list = SlabList::none;
      s->next = out;
      out = s;
    }
    s = next;
  }
  for (Slab* s = out; s != nullptr; s = s->next) uncount(s);
  return out;
}

bool Heap::carve(SlabSource& source, BinLists& l, HotBin& bin) noexcept {
  Slab* s = l.carving;
  if (s == nullptr) return false;
  const std::uint32_t done = s->carved.load(std::memory_order_relaxed);
  // About one page of blocks at a time, two when the pages are faulted in ahead:
  // one call for two pages is cheaper than two faults, and short enough to keep
  // the allocation that pays for it off the latency tail.
  // A slab from the warm reserve has its pages already: two pages, no call.
  std::size_t bytes = s->prefault || s->resident ? 8192 : 4096;
  // Without pages faulted in ahead, a slab's carving starts at 1 KiB and doubles:
  // a short activation (a scope per request) uses a few blocks of each class,
  // where carving two pages of them took 1,350 free-list pushes per request.
  if (!s->prefault) bytes = std::min(bytes, std::max<std::size_t>(1024, std::size_t{done} * s->obj_size));
  std::uint32_t batch = static_cast<std::uint32_t>(bytes / s->obj_size);
  if (batch < 4) batch = 4;
  if (batch > s->capacity - done) batch = s->capacity - done;
  if (s->prefault) {
    const auto first = reinterpret_cast<std::uintptr_t>(s->block_at(done)) & ~std::uintptr_t{4095};
    const auto last = reinterpret_cast<std::uintptr_t>(s->block_at(done + batch) - 1) | 4095;
    source.prefault(reinterpret_cast<void*>(first), last + 1 - first);
  }
  // Lowest address first: push in reverse.
  for (std::uint32_t i = done + batch; i > done; --i) {
    auto* b = reinterpret_cast<FreeBlock*>(s->block_at(i - 1));
    b->next = bin.free;
    b->slab = s;
    bin.free = b;
  }
  s->carved.store(done + batch, std::memory_order_relaxed);
  if (done + batch == s->capacity) {
    l.carving = nullptr;
    counters_[s->size_class].slabs_carved_out.bump();
  }
  return batch != 0;
}

void* Heap::alloc_slow(SlabSource& source, std::uint32_t epoch, std::uint32_t cls,
                       std::uint64_t open_era) noexcept {
  HeapClassCounters& counters = counters_[cls];
  counters.slow_path_hits.bump();
  HotBin& bin = hot(epoch, cls);
  BinLists& l = lists_[epoch * NUM_CLASSES + cls];
  if (bin_era(bin) != open_era) {
    if (!uses_epoch(epoch)) {
      std::atomic<std::uint64_t>& used = epochs_used_[epoch / 64];
      used.store(used.load(std::memory_order_relaxed) | std::uint64_t{1} << (epoch % 64),
                 std::memory_order_relaxed);
    }
    // The slot was re-activated: slabs of the previous era take no new objects.
    retire_bin(epoch, cls);
    set_bin_era(bin, epoch * NUM_CLASSES + cls, open_era | bin_era_flag);
    reset_reclaim(epoch * NUM_CLASSES + cls, open_era);
  }
  if (bin.free == nullptr) counters.bin_empty.bump();
  source.end_hand_back_grace();
  bool looked = false;  // a look at spare slabs ran in this call
  for (;;) {
    if (FreeBlock* b = bin.free) {
      Slab* s = b->slab;
      const std::uint32_t slot = slot_in_class(reinterpret_cast<char*>(b) - s->start, cls);
      if (s->try_mark_allocated(slot)) {
        bin.free = b->next;
        note_allocated(s);
        return b;
      }
      // Held back by a rejected free's remote bit: collecting drops the bit.
      counters.held_back.bump();
      collect(source, s);
      continue;
    }
    drain_remote(source);
    // Many slabs emptied since the last look (frees, or the remote frees just
    // collected): those that stay empty go back to the pool at the next look,
    // not only when the heap next grows, which a heap whose size mix moved back
    // to classes it still has room in may never do again.
    if (TSLAB_STATS != 0 && counted_empty_ >= spare_floor_ + SPARE_HAND_BACK) [[unlikely]] {
      hand_back_spare_slabs(source);
      looked = true;
    }
    if (bin.free != nullptr || relist_purged(l, bin) || carve(source, l, bin)) continue;
    // About to need a slab: first hand back the empty slabs of activations closed
    // since the last look, so that the pool can serve this request. (Their pages
    // went back when the epoch closed; only their recycling waits for the owner.)
    catch_up_with_closes(source);
    // If this bin's epoch closed since the allocation began, the catch-up retired
    // the bin; the allocation still linearizes before the close, so the bin takes
    // its era back and the next catch-up retires it with the new slab.
    set_bin_era(bin, epoch * NUM_CLASSES + cls, open_era | bin_era_flag);
    // A warm slab first. Without one the heap would grow (fault pages in): first
    // its own empty slabs go back to the pool, where enough emptied since the
    // last look (TSLAB_STATS builds: the reclaimable counts say so).
    // (Not twice in one call: the slabs the look above saw stay until a later one.)
    const bool spare = TSLAB_STATS != 0 && !looked && counted_empty_ >= spare_floor_ + SPARE_SLACK;
    Slab* fresh = spare ? source.take_slab(*this, epoch, cls, open_era, true) : nullptr;
    if (fresh == nullptr) {
      if (spare) hand_back_spare_slabs(source);
      fresh = source.take_slab(*this, epoch, cls, open_era, false);
    }
    if (fresh == nullptr) return nullptr;
    // A bin that already filled a slab will fill this one too. A bin's first slab
    // faults lazily, so rarely used (epoch, class) pairs cost only what they touch.
    // Blocks of a page or more fault lazily always: a program may touch only a
    // part of them (a 64 KiB I/O buffer holding a short message), and faulting
    // in the rest would commit pages it never uses.
    fresh->prefault = !l.slabs.empty() && !fresh->resident && fresh->obj_size < Slab::PAGE;
    fresh->list = SlabList::bin;
    l.slabs.push_front(fresh);
    l.carving = fresh;
#if TSLAB_STATS
    // The slab enters the bin empty, and stays so if a remote free collected on
    // the next pass serves this allocation: it counts as reclaimable until its
    // first block goes out (the 0 -> 1 step uncounts it).
    slab_emptied(fresh);
#endif
  }
}

}  // namespace tslab::detail
