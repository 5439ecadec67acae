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
// slab settled counts it in its slot's settled_dirty_; the slot's next walk
// first takes such slabs back to the walked list (sweep_settled_locked), where
// they settle again once the pages their freed blocks were on went back.
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

void AllocatorCore::sweep_settled_locked(std::uint32_t epoch) noexcept {
  if (settled_dirty_[epoch].load(std::memory_order_relaxed) == 0 ||
      settled_dirty_[epoch].exchange(0, std::memory_order_acquire) == 0)
    return;
  for (Slab *s = settled_slabs_[epoch], *next = nullptr; s != nullptr; s = next) {
    next = s->epoch_next;
    if (s->settled.load(std::memory_order_acquire) == SETTLE_DONE) continue;
    unlink_epoch_slab_locked(s);
    SlabChain::push(epoch_slabs_[epoch], s);
  }
}

TSLAB_FORK_STEP void AllocatorCore::unsettle_all_after_fork() noexcept {
  for (std::uint32_t e = 0; e < epoch_count_; ++e) {
    if (settled_slabs_[e] == nullptr) continue;
    for (Slab* s = settled_slabs_[e]; s != nullptr; s = s->epoch_next)  // written only where set
      if (s->settled.load(std::memory_order_relaxed) != SETTLE_NONE)
        s->settled.store(SETTLE_NONE, std::memory_order_relaxed);
    settled_dirty_[e].store(1, std::memory_order_relaxed);
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
