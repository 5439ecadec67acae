// This file contains the allocation and free fast paths, inline.
//
// An allocation of a size up to 64 KiB, into an open epoch, by a thread already
// attached to the allocator, is the thread's cache line for the allocator, a
// size-class lookup, one era comparison, a pop from the bin's free list, one
// bitmap store and the quiescence marker; no atomic read-modify-write, no lock.
// A free is a segment-map read, the owner, block-start and bitmap checks, the
// era check and a push. Measured (callgrind, `make bench-instructions`, 128 B
// churn through the C API, the API shell included): allocation 53 instructions,
// free (slab_free_checked) 54; tcmalloc takes 32 + 35 on the same churn. Of the
// 53, one prefetches the next allocation's block (redis refilling a flushed
// keyspace: 9.7 -> 8.8 s of CPU, medians of 3), the quiescence marker is 2
// plain adds (it was 10 as atomic load/store pairs), the statistics count one
// `sub` in memory (Slab::count_live_first), and the C API's size-0 refusal 1; the slot's
// multiplier is the slab's own (Slab::magic), so no class table is read; the
// bitmap words are tested and written in memory (Slab::bit_set, set_owned_bit,
// clear_owned_bit: one `test`, `or` or `xor` each, where the compiler's atomic loads and stores took a
// register and 2-3 instructions more). Both paths end in tail calls only, each ending in its API's own terms
// (its ending policy, core/fast_endings.h), and the free's cold endings read the heap again from the slab, so
// it saves one register only; a small segment's map entry is its slab's metadata, tagged, so "a small slab"
// is one bit test and the slab is the entry (66 -> 62 with the remote frees' own ending, free_other; 62 -> 58
// with the bitmap word addressed by byte offset, Slab::pair_of, the bit cleared by `xor`, and no register
// kept for slab_free_checked's result, SuccessEndings::freed; 58 -> 54 with the bin's byte offset kept in
// the slab, Slab::bin_offset, and only the untagged slab pointer live, so no register is saved); one
// multiply gives both the slot and whether a block starts there (Slab::starts_block), and a slot past the
// last block needs no test (its allocated bit is never set); the open era is read through the slab's pointer
// to its epoch's word (Slab::open_era). What would shorten both further is the
// slab bitmap as the free list (docs/BENCHMARKS.md).
// Anything else falls to a non-inlined slow path:
//
//   alloc ──► bin era == open_era? ──► pop HotBin::free ──► Slab::try_mark_allocated
//     └─ miss ─► alloc_slow ─► errors / large span / Heap::alloc_slow (heap.cpp)
//     (never equal in a heap of a sampling allocator, TSLAB_PIN_SAMPLE: its bins'
//     eras carry BIN_ERA_SAMPLED, heap/heap.h, so sampling adds nothing here)
//
//   free ──► segment map ──► owner heap == mine? ──► Slab::free_local (link, clear bit) ──► push
//     ├─ another heap's small slab ─► free_other ─► Slab::free_remote (or free_slow's errors)
//     └─ not a small slab ─► free_slow ─► large span / validation errors
//
//   free_handle ──► line names us? registry word = (generation, us)? ──► owner heap == mine? ──► as free
//     ├─ another heap's slab ─► free_handle_other ─► a remote free (or free_handle_slow's errors)
//     └─ anything else ─► free_handle_slow ─► resolve_handle (pinned) ─► free_block / errors
//   (free_obj on churn: 76 instructions, 194 through the pinned path it took before;
//   alloc_obj_epoch 68: alloc with a HandleOut, the handle one `or` on Slab::handle_base)
#ifndef TSLAB_CORE_FAST_PATH_H
#define TSLAB_CORE_FAST_PATH_H

#include "core/allocator_core.h"
#include "core/fast_endings.h"
#include "core/thread_cache.h"
#include "handle/handle.h"
#include "handle/registry.h"
#include "segment/segment_map.h"
#include "size_class/size_classes.h"

namespace tslab::detail {

template <class Endings, class OnBlock>
[[gnu::always_inline]] inline void* AllocatorCore::alloc(std::size_t size, std::uint32_t epoch,
                                                         OnBlock on_block) noexcept {
  const ThreadCache& tc = cache_line();
  if (size <= MAX_SMALL_SIZE && epoch < epoch_count_ && tc.uid == uid_) [[likely]] {
    const std::uint32_t cls = size_to_class(size);
    const std::size_t epoch_slot = epoch;  // widened once, for the bin's index
    HotBin& bin = tc.bins[epoch_slot * NUM_CLASSES + cls];
    Heap* const heap = tc.heap;  // held in a register across the marker's compiler barriers
    // Quiescence marker: a close waits for allocations between these two calls.
    heap->begin_alloc();
    FreeBlock* b = bin.free;
    // The slot's open era indexed by the widened epoch: the compiler then folds
    // the ring's offset into the load (one `add` fewer than open_era(epoch)).
    if (b != nullptr && bin.era == epochs_.open_era_word(0)[epoch_slot].load(std::memory_order_relaxed))
        [[likely]] {
      const auto offset = static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(b) & (SLAB_SIZE - 1));
      Slab* s = b->slab;
      const std::uint32_t slot = s->slot_of_offset(offset);
      if (s->try_mark_allocated(slot)) [[likely]] {
        FreeBlock* const next = b->next;
        bin.free = next;
        // After the pop: what on_block writes (the caller's handle) cannot reach
        // the list it was popped from, even through a dangling pointer.
        on_block(s, slot);
        // The next allocation's block, whose line it reads first (its link): in a
        // list left by freeing a large structure in its own order, a cache miss
        // per allocation that the time until then can hide. Never faults.
        __builtin_prefetch(next);
#if TSLAB_STATS
        // The owner's live count; its 0 -> 1 step updates the reclaimable count.
        // Inside the marker, as every write to the heap is: a close from a signal
        // handler on this thread is refused until the marker ends, rather than
        // update the same counts half-way through (refilled_then ends it).
        if (s->count_live_first()) [[unlikely]]
          return Endings::refilled(heap, s, b);
#endif
        heap->end_alloc();
        return Endings::allocated(b);
      }
    }
    heap->end_alloc();
  }
  // An on_block that has its own slow path (HandleOut) ends there.
  if constexpr (requires { on_block.alloc_missed(*this, size, epoch); })
    return on_block.alloc_missed(*this, size, epoch);
  else
    return Endings::alloc_missed(*this, size, epoch);
}

template <class Endings>
[[gnu::always_inline]] inline typename Endings::Result AllocatorCore::free_owned(const ThreadCache& tc,
                                                                                 Slab* s, std::uint32_t slot,
                                                                                 void* p) noexcept {
  HotBin& bin = *reinterpret_cast<HotBin*>(reinterpret_cast<char*>(tc.bins) + s->bin_offset);
  auto* b = static_cast<FreeBlock*>(p);
  // Read while the block being freed keeps the slab in use (free_block).
  const std::uint64_t era = s->era;
  // The block's link is written before its bit clears (Slab::free_local).
  const TslabError e = s->free_local(slot, [&] {
    FreeBlock* head = bin.free;
    // Kept in a register: two plain stores, where the compiler would
    // otherwise pack the pair into a vector store (four instructions).
    asm("" : "+r"(head));
    b->next = head;
    b->slab = s;
  });
  if (e != TSLAB_OK) [[unlikely]]
    return Endings::free_rejected(*this, p, e);
  const bool open = era == s->open_era->load(std::memory_order_relaxed);
#if TSLAB_STATS
  // The owner's live count; its 1 -> 0 step updates the reclaimable count.
  // The cold endings read the heap again from the slab (the caller's own, as
  // checked above) rather than keep it in a register.
  if (s->count_freed()) [[unlikely]] {
    if (!open) return Endings::free_closed(*this, p, s->heap.load(std::memory_order_relaxed), s, era, true);
    bin.free = b;
    return Endings::free_emptied(s->heap.load(std::memory_order_relaxed), s);
  }
#endif
  if (open) [[likely]] {
    bin.free = b;
    return Endings::freed();
  }
  // A closed activation: its blocks are never listed again.
  return Endings::free_closed(*this, p, s->heap.load(std::memory_order_relaxed), s, era, false);
}

template <class Endings>
[[gnu::always_inline]] inline typename Endings::Result AllocatorCore::free(void* p) noexcept {
  if (Slab* s = small_slab_of(p)) [[likely]] {
    // The untagged pointer only, from here on: the compiler otherwise keeps the
    // tagged entry live beside it (folding the tag into some of the offsets),
    // which took a callee-saved register and its push and pop (56 -> 54).
    asm("" : "+r"(s));
    const ThreadCache& tc = cache_line();
    // Owned by the caller's heap in this allocator: no other check of origin needed.
    if (s->heap.load(std::memory_order_relaxed) == tc.heap && tc.uid == uid_) [[likely]] {
      const auto offset = static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(p) & (SLAB_SIZE - 1));
      // A block's start, else an interior pointer. A slot past the last block needs
      // no test of its own: its allocated bit is never set, so free_local refuses
      // it as resolve_pointer would (TSLAB_ERR_NOT_ALLOCATED).
      const std::uint64_t product = s->slot_product(offset);
      if (s->starts_block(product)) [[likely]]
        return free_owned<Endings>(tc, s, Slab::slot_of_product(product), p);
    }
    // Another heap's slab (a remote free), this thread's cache line naming
    // another allocator, or not a block's start: validated from the slab found.
    return Endings::free_other(*this, p, s);
  }
  return Endings::free_missed(*this, p);
}

// A handle of a block of the caller's own small slab is freed as a pointer into
// it is (free_owned), without a pin: only a slab's owner takes it out of its heap
// (recycle_slab_locked, which clears Slab::heap first), so while the slab names
// the caller's heap neither its life nor its id's generation can change. The
// thread's cache line names this allocator (so it is alive: a line never holds
// a dead allocator's uid 0) and the registry word (acquire) names it as the id's
// owner with the handle's generation: the segment the word points to is this
// allocator's and stays put (handle/registry.h), unless this is an allocator of
// another copy of tslab with the same record number (free_handle_other refuses
// it). Anything else (another heap's slab, a large span, a stale, foreign or
// malformed handle, a dead allocator) takes the validated path, which reports it.
template <class Endings>
[[gnu::always_inline]] inline typename Endings::Result AllocatorCore::free_handle(
    std::uint64_t handle) noexcept {
  // A thread with no cache line here (one that only frees) goes straight on.
  if (const ThreadCache& tc = cache_line(); tc.uid == uid_) [[likely]] {
    const HandleParts parts = handle_decode(handle);
    const std::uint64_t word = registry_word(parts.slab_id);
    if (word == (std::uint64_t{parts.generation} << 32 | record_)) [[likely]] {
      const SegmentHeader* const seg = registry_segment(parts.slab_id);
      Slab* const s = &seg->slabs[parts.slab_id - seg->first_id];
      if (s->heap.load(std::memory_order_relaxed) == tc.heap && s->kind == SlabKind::small &&
          parts.slot < s->capacity) [[likely]]
        return free_owned<Endings>(tc, s, parts.slot, s->block_at(parts.slot));
      return Endings::free_handle_other(*this, handle, s);
    }
  }
  return Endings::free_handle_missed(*this, handle);
}

inline std::uint64_t AllocatorCore::encode_handle(const Slab* s, std::uint32_t slot) const noexcept {
  return handle_encode(registry_current_generation(s->id), s->id, slot);
}

[[gnu::always_inline]] inline void HandleOut::operator()(const Slab* s, std::uint32_t slot) const noexcept {
  *out = s->handle_base | slot;  // = encode_handle(s, slot) while s is in use
}

[[gnu::always_inline]] inline void* HandleOut::alloc_missed(AllocatorCore& core, std::size_t size,
                                                            std::uint32_t epoch) const noexcept {
  return core.alloc_with_handle_slow(size, epoch, out);
}

inline void* AllocatorCore::alloc_with_handle(std::size_t size, std::uint32_t epoch,
                                              std::uint64_t* handle) noexcept {
  if (size == 0) [[unlikely]] {
    set_error(TSLAB_ERR_SIZE_ZERO);
    return nullptr;
  }
  if (handle == nullptr) return alloc(size, epoch);
  // The fast path encodes the handle where it has the slab and the slot at hand,
  // and its miss ends in alloc_with_handle_slow: both tail calls, no stack frame.
  return alloc(size, epoch, HandleOut{handle});
}

}  // namespace tslab::detail

#endif  // TSLAB_CORE_FAST_PATH_H
