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
// Every free into a closed activation calls note_closed_free (through
// return_if_empty). The first one into a settled slab clears its flag and counts
// it in its slot's settled_dirty_; the slot's next walk first takes such slabs
// back to the walked list (sweep_settled_locked), where they settle again once
// the pages their freed blocks were on went back.
//
// A free racing the settling close is never missed. Both sides write the flag
// with a read-modify-write, after the free changed its bit and before the close
// reads the bitmap, so the flag's modification order puts one before the other:
// the free after, it reads the close's mark and unsettles the slab; the close
// after, it reads the free's write, which makes the free's bit visible to the
// close's bitmap reads (release to acquire), and the block counts as freed.
#include "core/allocator_core.h"
#include "heap/slab_list.h"

namespace tslab::detail {

void AllocatorCore::try_settle_begin(Slab* s) noexcept {
  // Linearization point of settling, against note_closed_free's exchange.
  s->settled.exchange(true, std::memory_order_acq_rel);
}

void AllocatorCore::try_settle_end(Slab* s) noexcept {
  // Still holding blocks, nothing left to return, its pages not handed back whole
  // (a slab that drained meanwhile is the walk's to return).
  const std::uint32_t live = s->live_blocks();
  if (live == 0 || s->decommitted.load(std::memory_order_relaxed) || s->free_pages_of_closed() != 0) {
    s->settled.store(false, std::memory_order_relaxed);
    return;
  }
  SlabChain::remove(epoch_slabs_[s->epoch], s);
  SlabChain::push(settled_slabs_[s->epoch], s);
  s->settled_listed = true;
  s->settled_live = live;
  s->settled_bytes = static_cast<std::uint32_t>(s->committed_bytes());
  ClosePins& pins = settled_pins_[s->epoch];
  pins.live_blocks += s->settled_live;
  ++pins.slabs;
  pins.bytes += s->settled_bytes;
}

void AllocatorCore::note_closed_free(Slab* s) noexcept {
  const std::uint32_t epoch = s->epoch;
  // The free's half (above): its bit changed before. Once per settling, the
  // winner counts it, with release, so that the sweep that reads the count
  // finds the flag clear.
  if (s->settled.exchange(false, std::memory_order_acq_rel) && epoch < SLAB_MAX_EPOCH_COUNT)
    settled_dirty_[epoch].fetch_add(1, std::memory_order_release);
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
    for (Slab* s = settled_slabs_[e]; s != nullptr; s = s->epoch_next)
      s->settled.store(false, std::memory_order_relaxed);
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
  pins.bytes -= s->settled_bytes;
  s->settled_listed = false;
  s->settled.store(false, std::memory_order_relaxed);
}

}  // namespace tslab::detail
