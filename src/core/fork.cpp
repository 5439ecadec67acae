// This file contains an allocator's part in fork(): its locks are held across
// the fork, and in the child the heaps of threads that no longer exist are
// orphaned (platform/fork_hooks.h sets the order; core/threads.cpp walks the
// live allocators).
//
// A thread that is gone in the child may have been anywhere in its heap at the
// fork: inside an allocation, halfway through pushing a block on a free list.
// Heaps are owner-only and take no lock, so nothing tells a consistent one from
// a torn one. The child therefore never adopts, walks or waits for such a heap:
// the slabs it owned stay reserved for the child's life, their blocks can still
// be freed (the remote path, which never touches the owner's lists), and a close
// still returns their empty slabs' pages. The remote queues are made again from
// the slabs' bits, since a vanished thread may have been halfway through a
// remote free. (A fork from a signal handler that interrupted a remote free or a
// drain on the forking thread itself is not covered: the API is not
// async-signal-safe.) Abandoned heaps were handed back under
// the allocator lock, which the fork held, so they stay adoptable. A vanished
// thread may also have held a slab's pin (core/blocks.cpp) mid-validation; the
// child has no validation under way, so every pin count starts again at zero.
#include "core/allocator_core.h"
#include "handle/registry.h"
#include "platform/fork_hooks.h"

namespace tslab::detail {

TSLAB_FORK_STEP void AllocatorCore::repair_large_spans_after_fork(const Heap* mine) noexcept {
  // A large span changes state in two steps, the second under the lock: its
  // allocated bit, then its state and the cache. A thread that is gone may have
  // taken one step of two; nobody in the child holds such a block, so it goes
  // back to the cache, free (or stays out, retired, if its id is spent).
  // A resize in place the gone thread had under way ends with it: its block
  // keeps the extent it had reached, and a free it was to end is ended below
  // (the span reads IN_USE with its live bit clear). It may have stopped
  // between the new extent and the return of the old tail's pages, so the
  // whole span counts as holding data.
  // Bare headers: a vanished thread may have taken one off the list to bind it.
  // The list is made again from every released header with generations left,
  // unless it holds each of them already (as a rule: the list changes only
  // under the lock the fork held, and a store to every header would copy each
  // header's page, a page fault in the child per header).
  // A header a vanished thread was growing (core/span_grow.cpp) is given up the
  // same way: its old range may be gone, its new one half made; both stay
  // unused in the child, and no block of it is live (a realloc's caller is gone).
  forget_stashes_after_fork(mine);  // other threads' spans are free and in no list: cached below
  std::size_t bare = 0;
  for (SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next) {
    if (seg->kind == SlabKind::large && seg->growing) {
      if (!seg->released) segment_map_clear(seg);
      seg->released = true;
      seg->growing = false;
      seg->dirty_bytes = 0;
      seg->slabs->bits[0].allocated.store(
          seg->slabs->bits[0].allocated.load(std::memory_order_relaxed) & ~std::uint64_t{1},
          std::memory_order_relaxed);
      seg->slabs->state.store(SLAB_UNUSED, std::memory_order_relaxed);
    }
    if (seg->kind == SlabKind::large && seg->released &&
        registry_current_generation(seg->slabs->id) < HANDLE_GEN_MASK)
      ++bare;
  }
  std::size_t listed = 0;
  for (const SegmentHeader* seg = bare_spans_; seg != nullptr && seg->released; seg = seg->next_cached)
    ++listed;
  if (listed != bare) {
    bare_spans_ = nullptr;
    for (SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next)
      if (seg->kind == SlabKind::large && seg->released &&
          registry_current_generation(seg->slabs->id) < HANDLE_GEN_MASK)
        push_bare_span_locked(seg);
  }
  for (SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next) {
    if (seg->kind != SlabKind::large || seg->released) continue;  // a bare header holds nothing
    Slab* s = seg->slabs;
    std::uint64_t word = s->bits[0].allocated.load(std::memory_order_relaxed);
    if ((word & Slab::LARGE_RESIZING) != 0) {
      word &= ~(Slab::LARGE_RESIZING | Slab::LARGE_FREE_COLD);
      s->bits[0].allocated.store(word, std::memory_order_relaxed);
      seg->dirty_bytes = seg->size;
    }
    const bool in_use = s->state.load(std::memory_order_relaxed) == SLAB_IN_USE;
    const bool retired = registry_current_generation(s->id) >= HANDLE_GEN_MASK;
    // The forking thread's stash is a list of its own, kept (forget_stashes_after_fork).
    if (in_use == ((word & 1) != 0) &&
        (in_use || retired || large_cache_.contains(seg) || stashed_in(mine, seg)))
      continue;
    s->bits[0].allocated.store(word & ~std::uint64_t{1}, std::memory_order_relaxed);
    s->state.store(SLAB_UNUSED, std::memory_order_relaxed);
    if (retired || large_cache_.contains(seg)) continue;
    clear_span(s);
    large_cache_.push(seg);
  }
}

TSLAB_FORK_STEP void AllocatorCore::requeue_remote_frees_after_fork() noexcept {
  // A remote free is three steps: the block's bit, the slab's queued flag, the
  // push on its owner's queue. A vanished thread may have stopped between two of
  // them, or inside a drain that took its queue but had not cleared every flag:
  // either way remote frees into the slab would find it queued and queue
  // nothing, for the child's life. The queues are made again from the slabs'
  // bits: every slab with remotely freed blocks is queued for its owner, unless
  // that is an orphan. A queued slab is never pooled (still_reached), so no
  // dormant segment holds a flag.
  for (Heap* h = heaps_; h != nullptr; h = h->next_all) h->forget_remote_queue();
  for (SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next) {
    if (seg->kind != SlabKind::small || seg->dormant) continue;  // a dormant segment's slabs are all pooled
    for (std::uint32_t i = 0; i < seg->slabs_taken; ++i) {
      Slab* s = &seg->slabs[i];
      // Written only where set: a store to every slab would copy every metadata page.
      if (s->remote_queued.load(std::memory_order_relaxed))
        s->remote_queued.store(false, std::memory_order_relaxed);
      if (s->state.load(std::memory_order_relaxed) != SLAB_IN_USE || !s->has_remote_bits()) continue;
      Heap* owner = s->heap.load(std::memory_order_relaxed);
      if (owner != nullptr && !owner->orphaned) owner->notify_remote(s);
    }
  }
}

void AllocatorCore::fork_prepare() noexcept {
  mutex_.lock();
  sampler_.mutex_for_fork().lock();
  epochs_.mutex_for_fork().lock();
  meta_.mutex_for_fork().lock();
}

TSLAB_FORK_STEP void AllocatorCore::fork_parent() noexcept {
  meta_.mutex_for_fork().unlock();
  epochs_.mutex_for_fork().unlock();
  sampler_.mutex_for_fork().unlock();
  mutex_.unlock();
}

TSLAB_FORK_STEP void AllocatorCore::fork_child(const Heap* mine) noexcept {
  for (Heap* h = heaps_; h != nullptr; h = h->next_all) {
    // The forking thread's own heap stays its own, its owner id the one it had
    // in the parent (Heap::owner_tid): a store would copy the heap's page.
    if (h == mine) continue;
    if (h->owner_tid.load(std::memory_order_relaxed) == 0) continue;  // abandoned: adoptable
    // Quiescence point of an orphan: its thread is gone, so its allocation
    // sequence is made even and no close waits for it.
    h->orphaned = true;
    h->owner_tid.store(0, std::memory_order_relaxed);
    const std::uint64_t seq = h->alloc_seq.load(std::memory_order_relaxed);
    if ((seq & 1) != 0) h->alloc_seq.store(seq + 1, std::memory_order_relaxed);
  }
  repair_large_spans_after_fork(mine);
  requeue_remote_frees_after_fork();
  unsettle_all_after_fork();
  // Quiescence point of every pin: the only thread left is in fork(). Written
  // only where set: a store to every header would copy each header's page.
  for (SegmentHeader* seg = reservations_; seg != nullptr; seg = seg->next)
    for (std::atomic<std::uint32_t>& pins : seg->pins)
      if (pins.load(std::memory_order_relaxed) != 0) pins.store(0, std::memory_order_relaxed);
  // Quiescence point of arena work (begin_arena_work): the threads that had
  // some under way are gone, and the forking thread, in fork(), has none.
  for (std::uint32_t e = 0; e < epoch_count_; ++e)
    for (std::atomic<std::uint32_t>& count : arena_work_[e].count)
      if (count.load(std::memory_order_relaxed) != 0) count.store(0, std::memory_order_relaxed);
  fork_parent();
}

}  // namespace tslab::detail
