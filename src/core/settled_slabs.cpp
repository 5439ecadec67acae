// This file contains settled slabs: the slabs of a closed activation that
// objects outlive (a cache entry made inside a lifetime scope), once their free
// pages went back. Nothing in such a slab changes until one of its blocks is
// freed: no allocation reaches a closed activation, and its pages are as
// returned as they can be. So it leaves its slot's walked list (epoch_slabs_)
// for a settled one, and the slot's closes skip it, counting it in their drain
// report with what it held when it settled. (Before, every close of a slot
// walked every slab survivors pinned in it, bitmaps and all: about 600 of them
// in a plain-new request loop with a scope per request.)
//
// Every change to the bitmap of a closed activation's slab clears its flag
// (Slab::unsettle): each free into it (AllocatorCore::return_if_empty, which
// every free path calls once its bit changed and it read the era closed) and
// its owner's collection of remote frees (Heap::collect). The first one after a
// slab settled pushes it on the allocator's unsettled stack; the next close of
// any slot first takes the stack's slabs back to their walked lists
// (sweep_unsettled_locked), where they settle again once the pages their freed
// blocks were on went back. A close's sweep costs what changed since the last,
// not what is settled: with a cache evicting an object a request, a count of
// changed slabs per slot made every close walk the whole settled list (20,000
// survivors: 77% of a request loop's time).
//
// A change racing the settling close is never missed. The close marks the flag
// TRYING before it reads the bitmap and turns it DONE with a compare-and-swap
// after; a change writes NONE after it changed its bits. Every write of the flag
// is a read-modify-write, so its modification order puts them in one line:
// a change before the mark is read by the mark (release to acquire through the
// flag's release sequence), so the close's reads see its bits; a change between
// the mark and the swap makes the swap fail, and the slab stays walked; a change
// after the swap reads DONE and counts the slab dirty. (Only DONE counts, and
// only DONE lets a thread's catch-up skip the slab: a TRYING mark may yet fail.)
// A free that read its slab's era open does not unsettle it; it changed its bit
// before that read, and a slab settles only once its era was waited out by a
// process-wide fence after the close (quiesced_era_), which orders such a bit
// before the settling close's reads.
#include "core/allocator_core.h"
#include "heap/slab_list.h"
#include "platform/fork_hooks.h"

namespace tslab::detail {

void AllocatorCore::try_settle_begin(Slab* s) noexcept {
  // Linearization point of settling, against Slab::unsettle's exchange.
  s->settled.exchange(SETTLE_TRYING, std::memory_order_acq_rel);
}

void AllocatorCore::try_settle_end(Slab* s, std::uint32_t live) noexcept {
  // Still holding blocks, nothing left to return (its purge may have been
  // refused), its pages not handed back whole.
  if (live == 0 || s->decommitted.load(std::memory_order_relaxed) || s->free_pages_of_closed() != 0) {
    s->settled.exchange(SETTLE_NONE, std::memory_order_acq_rel);  // an RMW: Slab::unsettle
    return;
  }
  // A change since the mark made it NONE: the slab stays on the walked list.
  std::uint8_t trying = SETTLE_TRYING;
  if (!s->settled.compare_exchange_strong(trying, SETTLE_DONE, std::memory_order_acq_rel)) return;
  SlabChain::remove(epoch_slabs_[s->epoch], s);
  SlabChain::push(settled_slabs_[s->epoch], s);
  s->settled_listed = true;
  s->settled_live = static_cast<std::uint16_t>(live);
  s->settled_pages = static_cast<std::uint8_t>(s->committed_bytes() / Slab::PAGE);
  ClosePins& pins = settled_pins_[s->epoch];
  pins.live_blocks += s->settled_live;
  ++pins.slabs;
  pins.bytes += std::uint64_t{s->settled_pages} * Slab::PAGE;
}

void AllocatorCore::sweep_unsettled_locked() noexcept {
  if (unsettled_head_.load(std::memory_order_relaxed) == nullptr) return;
  // Acquire pairs with the pushers' release: their links are visible.
  Slab* s = unsettled_head_.exchange(nullptr, std::memory_order_acquire);
  while (s != nullptr) {
    Slab* next = s->unsettled_next;
    ++settled_swept_;
    // Quiescence point of the stack entry: from here the slab's next change
    // pushes it again. A change whose own exchange of the flag came first is
    // read by this one (acq_rel, the flag's release sequence), so the state
    // read below is that change's NONE, or later.
    s->unsettle_queued.exchange(false, std::memory_order_acq_rel);
    // Not listed any more: recycled since its push (unlink_epoch_slab_locked).
    if (s->settled_listed && s->settled.load(std::memory_order_acquire) != SETTLE_DONE) {
      unlink_epoch_slab_locked(s);
      SlabChain::push(epoch_slabs_[s->epoch], s);
    }
    s = next;
  }
}

TSLAB_FORK_STEP void AllocatorCore::unsettle_all_after_fork() noexcept {
  if (unsettled_head_.load(std::memory_order_relaxed) != nullptr)
    unsettled_head_.store(nullptr, std::memory_order_relaxed);
  for (SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next) {
    if (seg->kind != SlabKind::small || seg->dormant) continue;  // a dormant segment's slabs are all pooled
    for (std::uint32_t i = 0; i < seg->slabs_taken; ++i)         // written only where set, as below
      if (seg->slabs[i].unsettle_queued.load(std::memory_order_relaxed))
        seg->slabs[i].unsettle_queued.store(false, std::memory_order_relaxed);
  }
  for (std::uint32_t e = 0; e < epoch_count_; ++e)
    while (Slab* s = settled_slabs_[e]) {
      unlink_epoch_slab_locked(s);
      SlabChain::push(epoch_slabs_[e], s);
    }
}

void AllocatorCore::unlink_epoch_slab_locked(Slab* s) noexcept {
  if (!s->settled_listed) {
    SlabChain::remove(epoch_slabs_[s->epoch], s);
    return;
  }
  SlabChain::remove(settled_slabs_[s->epoch], s);
  ClosePins& pins = settled_pins_[s->epoch];
  pins.live_blocks -= s->settled_live;
  --pins.slabs;
  pins.bytes -= std::uint64_t{s->settled_pages} * Slab::PAGE;
  s->settled_listed = false;
  s->settled.exchange(SETTLE_NONE, std::memory_order_acq_rel);  // an RMW: Slab::unsettle
}

}  // namespace tslab::detail
