// This file contains the allocation and free fast paths, inline.
//
// An allocation of a size up to 16 KiB, into an open epoch, by a thread already
// attached to the allocator, is the thread's cache line for the allocator, a
// size-class lookup, one era comparison, a pop from the bin's free list, one
// bitmap store and the quiescence marker; no atomic read-modify-write, no lock.
// A free is a segment-map read, the owner, slot and bitmap checks, the era
// check and a push. Measured (callgrind, `make bench-instructions`, 128 B churn
// through the C API, the API shell included): allocation 67 instructions, free
// (slab_free_checked) 87; tcmalloc takes 32 + 35 on the same churn. Of the 67,
// the quiescence marker is 2 plain adds (it was 10 as atomic load/store pairs);
// the slot's bit (size-class magic, multiply, word and mask) 14; the era check
// 4; the statistics count 5; the C API's size-0 refusal 1. Of the 87, the
// segment-map lookup (two levels, segment/lazy_table.h) is 17, the owner
// and slot checks about 20, the bitmap test and clear 12, the era check 6 (read
// before the free, as the slab may be recycled once its last block is free),
// the statistics count 4, the API shell with its saved registers 13. What would
// shorten both further is the slab bitmap as the free list (docs/BENCHMARKS.md).
// Anything else falls to a non-inlined slow path:
//
//   alloc ──► bin era == open_era? ──► pop HotBin::free ──► Slab::try_mark_allocated
//     └─ miss ─► alloc_slow ─► errors / large span / Heap::alloc_slow (heap.cpp)
//     (never equal in a heap of a sampling allocator, TSLAB_PIN_SAMPLE: its bins'
//     eras carry BIN_ERA_SAMPLED, heap/heap.h, so sampling adds nothing here)
//
//   free ──► segment map ──► owner heap == mine? ──► Slab::free_local (link, clear bit) ──► push
//     └─ miss ─► free_slow ─► validation errors / large span / Slab::free_remote
#ifndef TSLAB_CORE_FAST_PATH_H
#define TSLAB_CORE_FAST_PATH_H

#include "core/allocator_core.h"
#include "core/thread_cache.h"
#include "handle/handle.h"
#include "handle/registry.h"
#include "segment/segment_map.h"
#include "size_class/size_classes.h"

namespace tslab::detail {

[[gnu::always_inline]] inline void* AllocatorCore::alloc(std::size_t size, std::uint32_t epoch) noexcept {
  const ThreadCache& tc = cache_line();
  if (size <= MAX_SMALL_SIZE && epoch < epoch_count_ && tc.uid == uid_) [[likely]] {
    const std::uint32_t cls = size_to_class(size);
    HotBin& bin = tc.bins[epoch * NUM_CLASSES + cls];
    Heap* const heap = tc.heap;  // held in a register across the marker's compiler barriers
    // Quiescence marker: a close waits for allocations between these two calls.
    heap->begin_alloc();
    FreeBlock* b = bin.free;
    if (b != nullptr && bin.era == epochs_.open_era(epoch)) [[likely]] {
      const auto offset = static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(b) & (SLAB_SIZE - 1));
      Slab* s = b->slab;
      if (s->try_mark_allocated(slot_in_class(offset, cls))) [[likely]] {
        bin.free = b->next;
        heap->end_alloc();
#if TSLAB_STATS
        // The owner's live count; its 0 -> 1 step updates the reclaimable count.
        if (s->owner_live++ == 0) [[unlikely]]
          return heap->refilled_then(s, b);
#endif
        return b;
      }
    }
    heap->end_alloc();
  }
  return alloc_slow(size, epoch);
}

[[gnu::always_inline]] inline TslabError AllocatorCore::free(void* p) noexcept {
  if (Slab* s = small_slab_of(p)) [[likely]] {
    const ThreadCache& tc = cache_line();
    // Owned by the caller's heap in this allocator: no other check of origin needed.
    if (s->heap.load(std::memory_order_relaxed) == tc.heap && tc.uid == uid_) [[likely]] {
      const auto offset = static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(p) & (SLAB_SIZE - 1));
      const std::uint32_t slot = s->slot_of_offset(offset);
      if (static_cast<std::size_t>(slot) * s->obj_size == offset && slot < s->capacity) [[likely]] {
        HotBin& bin = tc.bins[s->bin_index];
        Heap* const heap = tc.heap;
        auto* b = static_cast<FreeBlock*>(p);
        // Read while the block being freed keeps the slab in use (free_block).
        const std::uint64_t era = s->era;
        // The block's link is written before its bit clears (Slab::free_local).
        const TslabError e = s->free_local(slot, [&] {
          b->next = bin.free;
          b->slab = s;
        });
        if (e != TSLAB_OK) [[unlikely]]
          return reject_free(e);
#if TSLAB_STATS
        // The owner's live count; its 1 -> 0 step updates the reclaimable count.
        const bool emptied = --s->owner_live == 0;
#else
        constexpr bool emptied = false;
#endif
        if (era == epochs_.open_era(s->epoch)) [[likely]] {
          bin.free = b;
          if (emptied) [[unlikely]]
            return heap->emptied_then(s);
          return TSLAB_OK;
        }
        // A closed activation: its blocks are never listed again.
        return freed_into_closed(heap, s, era, emptied);
      }
    }
  }
  return free_slow(p);
}

inline std::uint64_t AllocatorCore::encode_handle(const Slab* s, std::uint32_t slot) const noexcept {
  return handle_encode(registry_current_generation(s->id), s->id, slot);
}

inline void* AllocatorCore::alloc_with_handle(std::size_t size, std::uint32_t epoch,
                                              std::uint64_t* handle) noexcept {
  if (size == 0) [[unlikely]] {
    set_error(TSLAB_ERR_SIZE_ZERO);
    return nullptr;
  }
  void* p = alloc(size, epoch);
  if (p != nullptr && handle != nullptr) {
    if (const Slab* s = small_slab_of(p)) [[likely]] {
      *handle = encode_handle(s, s->slot_of_offset(reinterpret_cast<std::uintptr_t>(p) & (SLAB_SIZE - 1)));
    } else {
      SlabPin pin;
      const BlockRef ref = resolve_pointer(p, pin);
      *handle = encode_handle(ref.slab, ref.slot);
    }
  }
  return p;
}

inline TslabError AllocatorCore::free_handle(std::uint64_t handle) noexcept {
  if (!alive_or_error()) [[unlikely]]
    return TSLAB_ERR_INVALID_ARGUMENT;
  SlabPin pin;
  const BlockRef ref = resolve_handle(handle, pin);
  const TslabError e = ref.error != TSLAB_OK ? ref.error : free_block(ref, ref.slab->block_at(ref.slot));
  if (e != TSLAB_OK) [[unlikely]]
    reject_free(e);
  return e;
}

}  // namespace tslab::detail

#endif  // TSLAB_CORE_FAST_PATH_H
