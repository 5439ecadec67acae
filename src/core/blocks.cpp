// This file contains the validating side of the block API: resolving a pointer
// or a handle to (slab, slot) without ever trusting it, the free slow path
// (remote frees, large spans, every misuse error) and aligned allocation.
//
// Pin protocol. A slab can be recycled (and then reused with other fields) by its
// owner while another thread validates a stale pointer or handle into it. So a
// non-owner pins the slab (SlabPin, seq_cst increment) before it reads the
// slab's state, and keeps the pin until it is done with the block; recycling
// stores UNUSED (seq_cst) and defers the slab while it is pinned. Either the
// validator sees UNUSED and refuses, or the recycler sees the pin and waits: the
// fields a validator reads cannot change under it, and a stale handle can never
// reach a block of the slab's next life.
#include <cstring>

#include "core/fast_path.h"

namespace tslab::detail {

namespace {

bool slot_is_live(const Slab* s, std::uint32_t slot) {
  const BitPair& pair = s->bits[slot >> 6];
  const std::uint64_t mask = std::uint64_t{1} << (slot & 63);
  return (pair.allocated.load(std::memory_order_acquire) & ~pair.remote.load(std::memory_order_acquire) &
          mask) != 0;
}

BlockRef failure(TslabError e) { return BlockRef{nullptr, 0, e}; }

// Whether `s` is a slab of `mine`, the calling thread's heap here (or null).
bool owned_by(const Slab* s, const Heap* mine) {
  return mine != nullptr && s->heap.load(std::memory_order_relaxed) == mine;
}

}  // namespace

bool AllocatorCore::owned_by_caller(const Slab* s) const noexcept { return owned_by(s, own_heap()); }

BlockRef AllocatorCore::resolve_pointer(const void* p, SlabPin& pin, const Heap* mine,
                                        HeldSpans held) const noexcept {
  SegmentHeader* seg = segment_map_lookup(p);
  if (seg == nullptr) return failure(TSLAB_ERR_NOT_ALLOCATED);
  if (seg->owner != this) return failure(TSLAB_ERR_FOREIGN);
  const std::size_t index = seg->slab_index(p);
  Slab* s = &seg->slabs[index];
  const auto* c = static_cast<const char*>(p);
  const bool owner = owned_by(s, mine);
  if (!owner) pin.pin(seg->pins[index]);
  // A large span's header may have been released and bound to another range
  // since the lookup: only a header the map still names for `p` is read.
  if (seg->kind == SlabKind::large && segment_map_lookup_pinned(p) != seg)
    return failure(TSLAB_ERR_NOT_ALLOCATED);
  // seq_cst: the other half of the pin protocol. It also acquires the release in
  // take_slab / alloc_large, so the slab's identity fields are visible.
  if (s->state.load(std::memory_order_seq_cst) != SLAB_IN_USE) {
    // A cached large span was allocated and freed at least once.
    const bool freed_span = seg->kind == SlabKind::large && c == reinterpret_cast<const char*>(seg->base);
    return failure(freed_span ? TSLAB_ERR_DOUBLE_FREE : TSLAB_ERR_NOT_ALLOCATED);
  }
  // The owner reads unpinned: only the owner recycles its slabs, and a slab it
  // recycled names no heap from then on (recycle_slab_locked), also while its
  // recycling waits (deferred) for another thread to finish it. The check below
  // stays as a defence: a slab that does not name the caller's heap (take_slab
  // publishes the heap before the state, which the load above acquired) is
  // validated as any other thread validates it.
  if (owner && !owned_by(s, mine)) {
    pin.pin(seg->pins[index]);
    if (s->state.load(std::memory_order_seq_cst) != SLAB_IN_USE) return failure(TSLAB_ERR_NOT_ALLOCATED);
  }
  if (s->kind == SlabKind::large) {
    if (c == s->start)
      return s->large_held.load(std::memory_order_relaxed) && held == HeldSpans::refused
                 ? failure(TSLAB_ERR_NOT_ALLOCATED)
                 : BlockRef{s, 0, TSLAB_OK};
    const bool inside = c > s->start && c < s->start + s->large_usable.load(std::memory_order_relaxed);
    return failure(inside ? TSLAB_ERR_INTERIOR_POINTER : TSLAB_ERR_NOT_ALLOCATED);
  }
  // One multiply gives the slot and whether a block starts there (Slab::slot_product).
  const std::uint64_t product = s->slot_product(static_cast<std::size_t>(c - s->start));
  const std::uint32_t slot = Slab::slot_of_product(product);
  if (slot >= s->capacity) return failure(TSLAB_ERR_NOT_ALLOCATED);  // tail of the slab, past the last block
  if (!s->starts_block(product)) return failure(TSLAB_ERR_INTERIOR_POINTER);
  return BlockRef{s, slot, TSLAB_OK};
}

BlockRef AllocatorCore::resolve_handle(std::uint64_t handle, SlabPin& pin) const noexcept {
  const HandleParts parts = handle_decode(handle);
  if (parts.slab_id == 0) return failure(TSLAB_ERR_INVALID_HANDLE);
  // The owner before anything else: an id another allocator owns is refused
  // without touching that allocator's memory.
  const std::uint64_t word = registry_word(parts.slab_id);
  if (registry_owner(word) != record_) {
    if (registry_owner(word) != 0) return failure(TSLAB_ERR_FOREIGN);
    // A free id: some slab's past life, or an id never handed out.
    const bool past = parts.generation < registry_generation(word);
    return failure(past ? TSLAB_ERR_STALE_HANDLE : TSLAB_ERR_INVALID_HANDLE);
  }
  SegmentHeader* seg = registry_segment(parts.slab_id);
  const std::uint32_t index = parts.slab_id - seg->first_id;
  Slab* s = &seg->slabs[index];
  if (!owned_by_caller(s)) pin.pin(seg->pins[index]);
  // State before generation: a new life moves the generation on before it
  // publishes the state (release), so seeing the new state means seeing the new
  // generation. seq_cst: the other half of the pin protocol.
  const bool in_use = s->state.load(std::memory_order_seq_cst) == SLAB_IN_USE;
  const bool same_generation = registry_generation(registry_word(parts.slab_id)) == parts.generation;
  if (!in_use) {
    // A large span whose only block was freed keeps its generation until reuse.
    const bool was_freed = same_generation && seg->kind == SlabKind::large && parts.slot == 0;
    return failure(was_freed ? TSLAB_ERR_DOUBLE_FREE : TSLAB_ERR_STALE_HANDLE);
  }
  if (!same_generation) return failure(TSLAB_ERR_STALE_HANDLE);
  // An arena's span never had a handle (AllocatorCore::alloc_held).
  if (parts.slot >= s->capacity ||
      (s->kind == SlabKind::large && s->large_held.load(std::memory_order_relaxed)))
    return failure(TSLAB_ERR_INVALID_HANDLE);
  return BlockRef{s, parts.slot, TSLAB_OK, true, parts.generation};
}

// The remote free of slot `slot` of `owner`'s small slab `s`, validated, the
// slab pinned by the caller, `era` and `epoch` read from it before: the bit,
// the owner's queue, and the close's hand-back if the activation has ended.
inline TslabError AllocatorCore::free_remote_slot(Slab* s, Heap* owner, std::uint32_t slot, std::uint64_t era,
                                                  std::uint32_t epoch) noexcept {
  // Recycled since the caller looked (the heap goes first, recycle_slab_locked):
  // the slab is empty, so no block of it is live.
  if (owner == nullptr) [[unlikely]]
    return s->dead_slot_error(slot);
  const TslabError e = s->free_remote(slot);
  if (e != TSLAB_OK) return e;
  owner->notify_remote(s);
  if (era != epochs_.open_era(epoch)) return_if_empty(s, era);
  return TSLAB_OK;
}

TslabError AllocatorCore::free_block(const BlockRef& ref, void* p, bool keep_warm, Heap* mine) noexcept {
  Slab* s = ref.slab;
  if (s->kind == SlabKind::large) return free_large(ref, keep_warm, mine);
  Heap* owner = s->heap.load(std::memory_order_acquire);
  // Read while the block being freed keeps the slab in use: once the free lands,
  // another thread may recycle the slab and take it into use again.
  const std::uint64_t era = s->era;
  const std::uint32_t epoch = s->epoch;
  // Whether the era is open is read after the bit changed, as on the fast path:
  // a free that reads it open then changed its bit before the close's
  // process-wide fence, which orders the bit before every later walk of the
  // slab; one that reads it closed reports the change (return_if_empty).
  if (mine != nullptr && owner == mine) {
    // The link is written while the block is live (Slab::free_local).
    const TslabError e = s->free_local(ref.slot, [&] { mine->link_free_block(s, p); });
    if (e != TSLAB_OK) return e;
    mine->note_freed(s);
    if (era == epochs_.open_era(epoch)) {
      mine->publish_free_block(s, p);
    } else {
      mine->unsettled(s);
      return_if_empty(s, era);
    }
    return e;
  }
  return free_remote_slot(s, owner, ref.slot, era, epoch);
}

[[gnu::flatten]] TslabError AllocatorCore::free_slow(void* p, bool keep_warm) noexcept {
  if (!alive_or_error()) return TSLAB_ERR_INVALID_ARGUMENT;
  if (p == nullptr) return TSLAB_OK;
  Heap* const mine = own_heap();  // once: a thread with no heap here looks in its record
  SlabPin pin;
  const BlockRef ref = resolve_pointer(p, pin, mine);
  const TslabError e = ref.error != TSLAB_OK ? ref.error : free_block(ref, p, keep_warm, mine);
  if (e != TSLAB_OK) reject_free(e);
  return e;
}

void* AllocatorCore::alloc_held(std::size_t size, std::size_t alignment, std::uint32_t epoch) noexcept {
  // A block of a size class as any other: a span each would cost a 64 KiB range,
  // a page and a span's metadata per block (an arena that falls back to the
  // allocator for every small block past its buffer).
  if (size <= MAX_SMALL_SIZE && alignment <= platform_.page_size())
    return alloc_aligned(size, alignment, epoch);
  if (!alive_or_error()) return nullptr;
  return in_open_era(
      epoch, [&](std::uint64_t era) { return alloc_large(size, alignment, epoch, era, 0, nullptr, true); });
}

TslabError AllocatorCore::free_held(void* p) noexcept {
  if (!alive_or_error()) return TSLAB_ERR_INVALID_ARGUMENT;
  Heap* const mine = own_heap();
  SlabPin pin;
  const BlockRef ref = resolve_pointer(p, pin, mine, HeldSpans::found);
  const TslabError e = ref.error != TSLAB_OK ? ref.error : free_block(ref, p, false, mine);
  if (e != TSLAB_OK) reject_free(e);
  return e;
}

// resolve_pointer and free_block for the one case a multi-threaded program
// meets all the time, in one frame: a live block of another heap's small slab,
// whose slab the free path found already. The same reads and atomic operations in
// the same order (the pin, the state, the slot, the remote bit, the queue, the
// open era); anything else is left to free_slow. Measured (callgrind, `make
// bench-instructions`, handoff): a remote free takes 116 instructions through
// the C API and 129 through the malloc override, where the general path took
// 165 and 178 (its second map lookup, the large-span and owner branches, the
// BlockRef and a frame of its own).
inline bool AllocatorCore::try_free_remote(void* p, Slab* s, Heap* mine, TslabError* e) noexcept {
  const std::size_t index = small_slab_index(p);
  SegmentHeader* const seg = SegmentHeader::of_slab(s, index);
  // A dead allocator, another allocator's segment, or the caller's own slab
  // (its cache line named another allocator): free_slow's errors and paths.
  if (!alive() || seg->owner != this || owned_by(s, mine)) [[unlikely]]
    return false;
  SlabPin pin;
  pin.pin(seg->pins[index]);
  // seq_cst: the pin protocol's other half (resolve_pointer).
  if (s->state.load(std::memory_order_seq_cst) != SLAB_IN_USE) [[unlikely]]
    return false;
  const std::uint64_t product = s->slot_product(static_cast<std::size_t>(static_cast<char*>(p) - s->start));
  const std::uint32_t slot = Slab::slot_of_product(product);
  if (slot >= s->capacity || !s->starts_block(product)) [[unlikely]]
    return false;
  return free_remote_pinned(s, slot, mine, e);
}

inline bool AllocatorCore::free_remote_pinned(Slab* s, std::uint32_t slot, Heap* mine,
                                              TslabError* e) noexcept {
  Heap* const owner = s->heap.load(std::memory_order_acquire);
  // Recycled and taken by the caller's own heap since the free path looked. A
  // slab recycled since names no heap: free_remote_slot refuses it, or, for a
  // caller with no heap (mine null too), free_slow does (the slab reads UNUSED).
  // Either is a refusal; telling the two apart here cost the remote free 2
  // instructions.
  if (owner == mine) [[unlikely]]
    return false;
  // Read while the block being freed keeps the slab in use (free_block).
  const std::uint64_t era = s->era;
  const std::uint32_t epoch = s->epoch;
  *e = free_remote_slot(s, owner, slot, era, epoch);
  return true;
}

TslabError AllocatorCore::free_handle_other(std::uint64_t handle, Slab* s) noexcept {
  // The fast path found the id this allocator's, with the handle's generation,
  // and its slab not the caller's: validated as resolve_handle does, from the
  // slab found, then freed remotely. Anything else goes the whole way, as does
  // an allocator of another copy of tslab: the id is then this copy's, with the
  // same record number as that allocator's.
  if (!alive()) [[unlikely]]
    return free_handle_slow(handle);
  const HandleParts parts = handle_decode(handle);
  SegmentHeader* const seg = registry_segment(parts.slab_id);
  if (s->kind == SlabKind::small) {
    SlabPin pin;
    pin.pin(seg->pins[parts.slab_id - seg->first_id]);
    TslabError e = TSLAB_OK;
    // State before generation, seq_cst, as resolve_handle reads them.
    if (s->state.load(std::memory_order_seq_cst) == SLAB_IN_USE &&
        registry_generation(registry_word(parts.slab_id)) == parts.generation && parts.slot < s->capacity &&
        free_remote_pinned(s, parts.slot, own_heap(), &e)) {
      if (e != TSLAB_OK) [[unlikely]]
        return reject_free(e);
      return TSLAB_OK;
    }
  }
  return free_handle_slow(handle);
}

TslabError AllocatorCore::free_other(void* p, Slab* s) noexcept {
  TslabError e = TSLAB_OK;
  if (!try_free_remote(p, s, own_heap(), &e)) [[unlikely]]
    return free_slow(p);
  if (e != TSLAB_OK) [[unlikely]]
    return reject_free(e);
  return TSLAB_OK;
}

void* AllocatorCore::move_block(void* p, void* q, std::size_t size) noexcept {
  TslabError e = TSLAB_OK;
  {
    // Copied under the pin: a free of `p` racing this call leaves its slab or
    // span where it is (no taker moves or rebinds a pinned span, no trim unmaps
    // it, no recycling takes the slab) until the copy is done.
    SlabPin pin;
    const BlockRef ref = resolve_pointer(p, pin);
    e = ref.error;
    // `q` at `p`'s address: `p` was freed and handed out again as `q`.
    if (e == TSLAB_OK && (q == p || !slot_is_live(ref.slab, ref.slot))) e = TSLAB_ERR_DOUBLE_FREE;
    if (e == TSLAB_OK) {
      const std::size_t held = ref.slab->kind == SlabKind::large
                                   ? ref.slab->large_usable.load(std::memory_order_relaxed)
                                   : ref.slab->obj_size;
      std::memcpy(q, p, held < size ? held : size);
    }
  }
  if (e != TSLAB_OK) {
    free_slow(q);
    reject_free(e);  // as the free of `p` would have been
    return nullptr;
  }
  return end_moved_block(p, q);
}

void* AllocatorCore::end_moved_block(void* p, void* q) noexcept {
  const TslabError e = free_slow(p);
  if (e == TSLAB_OK) return q;
  // `p` was freed by a call racing this one: the realloc fails as that free's
  // second one would, and the copy goes.
  free_slow(q);
  set_error(e);
  return nullptr;
}

TslabError AllocatorCore::freed_into_closed(Heap* heap, Slab* s, std::uint64_t era, bool emptied) noexcept {
  if (emptied) heap->slab_emptied(s);  // in free_block's order: the count, then the pages
  heap->unsettled(s);
  return_if_empty(s, era);
  return TSLAB_OK;
}

TslabError AllocatorCore::reject_free(TslabError e) noexcept {
  set_error(e);
  counters_.invalid_frees.add();
  return e;
}

void* AllocatorCore::alloc_with_handle_slow(std::size_t size, std::uint32_t epoch,
                                            std::uint64_t* handle) noexcept {
  return alloc_slow(size, epoch, handle);
}

void* AllocatorCore::handle_to_ptr(std::uint64_t handle) const noexcept {
  if (!alive_or_error()) return nullptr;
  SlabPin pin;
  const BlockRef ref = resolve_handle(handle, pin);
  if (ref.error != TSLAB_OK || !slot_is_live(ref.slab, ref.slot)) {
    set_error(ref.error != TSLAB_OK ? ref.error : TSLAB_ERR_DOUBLE_FREE);
    return nullptr;
  }
  return ref.slab->block_at(ref.slot);
}

std::uint64_t AllocatorCore::ptr_to_handle(const void* p) const noexcept {
  if (!alive_or_error()) return 0;
  SlabPin pin;
  const BlockRef ref = resolve_pointer(p, pin);
  if (ref.error != TSLAB_OK || !slot_is_live(ref.slab, ref.slot)) {
    set_error(ref.error != TSLAB_OK ? ref.error : TSLAB_ERR_NOT_ALLOCATED);
    return 0;
  }
  return encode_handle(ref.slab, ref.slot);
}

std::size_t AllocatorCore::usable_size(const void* p) const noexcept {
  if (!alive_or_error()) return 0;
  // A block of the caller's own slab in use, as the free fast path finds it: no
  // pin, and only reads. The state first (acquire), then the heap: a slab its
  // owner recycled reads UNUSED and names no heap (recycle_slab_locked), and once
  // taken into use again names its new heap (take_slab publishes the heap before
  // the state); both go the validated way below.
  // Programs that account their memory ask this at every malloc and free
  // (redis's zmalloc_size): the pin's two locked instructions doubled its cost.
  if (const Slab* s = small_slab_of(p)) {
    const ThreadCache& tc = cache_line();
    if (tc.uid == uid_ && tc.heap != nullptr && s->state.load(std::memory_order_acquire) == SLAB_IN_USE &&
        s->heap.load(std::memory_order_relaxed) == tc.heap) {
      const std::uint64_t product =
          s->slot_product(static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(p) & (SLAB_SIZE - 1)));
      const std::uint32_t slot = Slab::slot_of_product(product);
      // A slot past the last block is never allocated (its bit stays clear).
      return s->starts_block(product) && slot_is_live(s, slot) ? s->obj_size : 0;
    }
  }
  SlabPin pin;
  const BlockRef ref = resolve_pointer(p, pin);
  if (ref.error != TSLAB_OK || !slot_is_live(ref.slab, ref.slot)) return 0;
  if (ref.slab->kind == SlabKind::large) return ref.slab->large_usable.load(std::memory_order_relaxed);
  return ref.slab->obj_size;
}

void* AllocatorCore::alloc_aligned(std::size_t size, std::size_t alignment, std::uint32_t epoch) noexcept {
  // Any power of two is an alignment; beyond this one no reservation could hold
  // the block (as for a size that large: TSLAB_ERR_SIZE_TOO_LARGE).
  constexpr std::size_t MAX_ALIGNMENT = std::size_t{1} << 46;
  if (!alive_or_error()) return nullptr;
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    set_error(TSLAB_ERR_BAD_ALIGNMENT);
    return nullptr;
  }
  if (alignment > MAX_ALIGNMENT) {
    set_error(TSLAB_ERR_SIZE_TOO_LARGE);
    return nullptr;
  }
  if (alignment <= MIN_BLOCK) return alloc(size, epoch);
  if (size <= MAX_SMALL_SIZE && alignment <= platform_.page_size()) {
    // Slabs are 64 KiB aligned, so every block of a class whose size is a
    // multiple of `alignment` is aligned: take the smallest such class.
    for (std::uint32_t cls = class_of_size(size); cls < NUM_CLASSES; ++cls)
      if (class_block_size(cls) % alignment == 0) return alloc(class_block_size(cls), epoch);
  }
  return in_open_era(epoch, [&](std::uint64_t era) { return alloc_large(size, alignment, epoch, era); });
}

}  // namespace tslab::detail
