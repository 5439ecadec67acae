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
// A change racing the settling close is never missed. Both sides write the flag
// with a read-modify-write (every clear of it is one), the change before its
// write and the close before its bitmap reads, so the flag's modification order
// puts one before the other: the change after, it reads the close's mark and
// unsettles the slab; the close after, it reads the change's write or a later
// one in its release sequence, which makes the changed bits visible to the
// close's reads (release to acquire), and the block counts as freed. A free
// that read its slab's era open does not unsettle it; it changed its bit before
// that read, and a slab settles only once its era was waited out by a
// process-wide fence after the close (quiesced_era_), which orders such a bit
// before the settling close's reads.
#include "core/allocator_core.h"
#include "heap/slab_list.h"

namespace tslab::detail {

void AllocatorCore::try_settle_begin(Slab* s) noexcept {
  // Linearization point of settling, against Slab::unsettle's exchange.
  s->settled.exchange(true, std::memory_order_acq_rel);
}

void AllocatorCore::try_settle_end(Slab* s) noexcept {
  // Still holding blocks, nothing left to return, its pages not handed back whole
  // (a slab that drained meanwhile is the walk's to return).
  const std::uint32_t live = s->live_blocks();
  if (live == 0 || s->decommitted.load(std::memory_order_relaxed) || s->free_pages_of_closed() != 0) {
    s->settled.exchange(false, std::memory_order_acq_rel);  // an RMW: Slab::unsettle
    return;
  }
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
    if (s->settled.load(std::memory_order_acquire)) continue;
    unlink_epoch_slab_locked(s);
    SlabChain::push(epoch_slabs_[epoch], s);
  }
}

void AllocatorCore::unsettle_all_after_fork() noexcept {
  for (std::uint32_t e = 0; e < epoch_count_; ++e) {
    if (settled_slabs_[e] == nullptr) continue;
    for (Slab* s = settled_slabs_[e]; s != nullptr; s = s->epoch_next)  // written only where set
      if (s->settled.load(std::memory_order_relaxed)) s->settled.store(false, std::memory_order_relaxed);
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
  s->settled.exchange(false, std::memory_order_acq_rel);  // an RMW: Slab::unsettle
}

}  // namespace tslab::detail
