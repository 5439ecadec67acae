// This file contains epoch_destroy: the end of a phase for code that never frees
// its objects one by one (the seeds' request scope). The epoch is closed, and
// every block still live in any of its ended activations is freed on its
// owner's behalf, through the ordinary free (local for the caller's own blocks,
// the remote-free protocol for other threads'), so every exactness rule of a
// free holds: a later free of such a pointer, or of its handle, is refused.
#include <thread>

#include "core/allocator_core.h"
#include "core/thread_cache.h"
#include "platform/thread_entry.h"
#include "segment/segment_map.h"

namespace tslab::detail {

std::uint64_t AllocatorCore::destroy_in_slab(const void* first, std::uint32_t epoch,
                                             std::uint64_t last_era) noexcept {
  // Validation of the slab's first address pins it (the protocol of blocks.cpp)
  // and, for a small slab IN_USE, always succeeds: then its identity is stable.
  SlabPin pin;
  const BlockRef ref = resolve_pointer(first, pin, own_heap(), HeldSpans::found);  // arenas' spans too
  Slab* s = ref.slab;
  if (ref.error != TSLAB_OK || s->epoch != epoch || s->era > last_era) return 0;
  if (s->kind == SlabKind::large) return free_block(ref, const_cast<void*>(first)) == TSLAB_OK ? 1 : 0;
  std::uint64_t released = 0;
  for (std::uint32_t w = 0; w * 64 < s->capacity; ++w) {
    const BitPair& pair = s->bits[w];
    std::uint64_t live =
        pair.allocated.load(std::memory_order_acquire) & ~pair.remote.load(std::memory_order_acquire);
    for (; live != 0; live &= live - 1) {
      const std::uint32_t slot = w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(live));
      if (slot >= s->capacity) break;
      // A block freed meanwhile by its owner is refused here, as a double free would be.
      if (free_block(BlockRef{s, slot, TSLAB_OK}, s->start + std::size_t{slot} * s->obj_size) == TSLAB_OK)
        ++released;
    }
  }
  return released;
}

void AllocatorCore::end_dependents_of_epoch(std::uint32_t epoch, std::uint64_t last_era) noexcept {
  const CountedLock lock(mutex_, counters_);
  // Linearization point of the dependents' end: one added later finds it (add_dependent).
  if (last_era > destroyed_era_[epoch]) destroyed_era_[epoch] = last_era;
  for (AllocatorDependent* d = dependents_; d != nullptr;) {
    AllocatorDependent* const next = d->next;
    if (d->era != 0 && d->epoch == epoch && d->era <= last_era) {
      unlink_dependent_locked(d);
      d->end(d->owner, TSLAB_ERR_STALE_EPOCH);
    }
    d = next;
  }
}

std::uint32_t AllocatorCore::begin_arena_work(std::uint32_t epoch) noexcept {
  if (epoch >= epoch_count_) return 0;
  ++tl_arena_work;  // a signal handler's epoch_destroy here must not wait for it
  ArenaWork& w = arena_work_[epoch];
  const std::uint32_t side = w.phase.load(std::memory_order_seq_cst) & 1;
  w.count[side].fetch_add(1, std::memory_order_seq_cst);
  // With the fence of wait_for_arena_work: either the waiter's load sees this
  // work under way and waits for it, or the work's reads after this fence see
  // every write before that one (the slot's close, the arena's end). Whichever
  // count it went to: one the waiter does not look at began after its fence.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return side + 1;
}

void AllocatorCore::end_arena_work(std::uint32_t epoch, std::uint32_t ticket) noexcept {
  // Release: the work's writes into the slot's blocks before the walk that frees them.
  arena_work_[epoch].count[ticket - 1].fetch_sub(1, std::memory_order_release);
  --tl_arena_work;
}

void AllocatorCore::wait_for_arena_work(std::uint32_t epoch) noexcept {
  ArenaWork& w = arena_work_[epoch];
  const std::uint32_t side = w.phase.fetch_add(1, std::memory_order_seq_cst) & 1;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Quiescence point of the slot's arenas: work that began before the fence
  // has ended. Each is short (a block taken and written, a list walked); work
  // that begins from here counts on the other side.
  while (w.count[side].load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

bool AllocatorCore::epoch_destroy(std::uint32_t epoch, std::uint64_t* released) noexcept {
  if (!alive_or_error() || !in_range_or_error(epoch) || !may_wait_or_error()) return false;
  // A signal handler that interrupted this thread's arena work would wait for it.
  if (tl_arena_work != 0) {
    set_error(TSLAB_ERR_REENTRANT);
    return false;
  }
  // The process allocator's blocks may belong to code that knows nothing of an
  // epoch (a library's, libc's own buffers), so none of its epochs is destroyed.
  if (permanent()) {
    set_error(TSLAB_ERR_PERMANENT);
    return false;
  }
  if (epochs_.state(epoch) == EPOCH_ACTIVE && !epoch_close(epoch)) return false;
  // Every activation of the slot up to here has ended: no allocation can newly
  // enter one (EpochRing::ended_era). A reopened slot's new era is left alone.
  const std::uint64_t last_era = epochs_.ended_era(epoch);
  // Arenas over the blocks released below end, and their slow paths (Work)
  // under way are waited for.
  end_dependents_of_epoch(epoch, last_era);
  wait_for_arena_work(epoch);
  // Quiescence point: allocations that saw one of those eras open are over, so
  // every block they handed out is in a bitmap the walk below reads; and so are
  // the bumps of the arenas ended, here or by a destroy racing this one, which
  // run inside the thread's quiescence marker (one that read the current chunk
  // before the end). Every time, not only for an activation not waited out yet:
  // the racing destroy may have ended an arena whose bump this one must outwait.
  if (!quiesce_epoch(epoch, last_era)) {
    set_error(TSLAB_ERR_SYSTEM);  // no process-wide fence (may_wait_or_error passed)
    return false;
  }
  SegmentHeader* head = nullptr;
  {
    const CountedLock lock(mutex_, counters_);
    head = reservations_;  // only ever pushed at the front: the rest is fixed
  }
  std::uint64_t n = 0;
  // Frees of the caller's own blocks rewrite its heap's lists and counts.
  const InsideTslab inside;
  for (const SegmentHeader* seg = head; seg != nullptr; seg = seg->next) {
    if (seg->kind == SlabKind::large) {
      // A span's header may be bound to another range meanwhile (core/span_release.cpp).
      const char* start = nullptr;
      {
        const CountedLock lock(mutex_, counters_);
        if (!seg->released) start = reinterpret_cast<const char*>(seg->base);
      }
      if (start != nullptr) n += destroy_in_slab(start, epoch, last_era);
      continue;
    }
    const auto* base = reinterpret_cast<const char*>(seg->base);
    for (std::uint32_t i = 0; i < seg->slab_count; ++i)
      n += destroy_in_slab(base + std::size_t{i} * SLAB_SIZE, epoch, last_era);
  }
  counters_.destroyed_blocks.add(n);
  if (released != nullptr) *released = n;
  return true;
}

}  // namespace tslab::detail
