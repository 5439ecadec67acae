// This file contains large spans: a request above the largest size class gets a
// reservation of its own, described by a one-slab segment header.
//
// A freed span waits in a cache for the next large request that fits; its header
// and registry id stay with it, so stale pointers and handles are still
// recognised and refused. Its pages stay committed while the cached spans so
// kept fit the allocator's warm reserve (TSLAB_WARM_RESERVE, the bound empty
// slabs have too): the next large request then takes it without a system call
// or a page fault. Otherwise they go back to the OS at once (decommit).
//
// A span's allocated word holds (generation << 1) | live, so that a free by handle
// is one compare-exchange against the generation the handle names: a stale
// handle can never free the span's next block, however the calls interleave.
#include <cstring>

#include "core/allocator_core.h"
#include "core/thread_cache.h"
#include "handle/handle.h"
#include "handle/registry.h"
#include "segment/segment_map.h"

namespace tslab::detail {

namespace {

constexpr std::size_t MAX_LARGE_SIZE = std::size_t{1} << 46;

bool round_up_checked(std::size_t n, std::size_t a, std::size_t* out) {
  if (n > SIZE_MAX - (a - 1)) return false;
  *out = (n + a - 1) & ~(a - 1);
  return true;
}

}  // namespace

void* AllocatorCore::alloc_large(std::size_t size, std::size_t alignment, std::uint32_t epoch,
                                 std::uint64_t era) noexcept {
  std::size_t need = 0;
  // Beyond MAX_LARGE_SIZE no address space here could hold the block.
  if (size > MAX_LARGE_SIZE || !round_up_checked(size == 0 ? 1 : size, platform_.page_size(), &need)) {
    set_error(TSLAB_ERR_SIZE_TOO_LARGE);
    return nullptr;
  }
  if (alignment < SEGMENT_SIZE) alignment = SEGMENT_SIZE;
  SegmentHeader* seg = nullptr;
  {
    const CountedLock lock(mutex_, counters_);
    // Best fit among cached spans whose start has the alignment.
    SegmentHeader** best = nullptr;
    for (SegmentHeader** link = &large_cache_; *link != nullptr; link = &(*link)->next_cached) {
      const SegmentHeader* c = *link;
      if (c->size >= need && c->base % alignment == 0 && (best == nullptr || c->size < (*best)->size))
        best = link;
    }
    if (best != nullptr) {
      seg = *best;
      *best = seg->next_cached;
      seg->next_cached = nullptr;
      large_warm_bytes_ -= seg->dirty_bytes;  // in use again: its data stays until it is freed
    }
  }
  if (seg != nullptr) {
    if (!platform_.commit(reinterpret_cast<void*>(seg->base), need)) {
      const CountedLock lock(mutex_, counters_);
      seg->next_cached = large_cache_;
      large_cache_ = seg;
      large_warm_bytes_ += seg->dirty_bytes;
      set_error(TSLAB_ERR_OUT_OF_MEMORY);
      return nullptr;
    }
    // Quiescence point of the span: the previous block is freed, so no valid
    // handle to it exists and the generation may move (law 5). Stale handles now
    // read STALE_HANDLE. (A span whose id has no generation left is never cached.)
    registry_next_generation(seg->first_id);
  } else {
    std::size_t reserve_size = 0;
    if (!round_up_checked(need, SEGMENT_SIZE, &reserve_size)) {
      set_error(TSLAB_ERR_OUT_OF_MEMORY);
      return nullptr;
    }
    void* base = platform_.reserve(reserve_size, alignment);
    void* mem = base == nullptr ? nullptr : meta_.allocate(sizeof(SegmentHeader) + sizeof(Slab));
    if (mem == nullptr) {
      if (base != nullptr) platform_.release(base, reserve_size);
      set_error(TSLAB_ERR_OUT_OF_MEMORY);
      return nullptr;
    }
    seg = new (mem) SegmentHeader();
    seg->owner = this;
    seg->kind = SlabKind::large;
    seg->base = reinterpret_cast<std::uintptr_t>(base);
    seg->size = reserve_size;
    seg->slab_count = 1;
    seg->slabs = SegmentHeader::first_slab(seg);
    Slab* s = new (seg->slabs) Slab();
    s->start = static_cast<char*>(base);
    s->kind = SlabKind::large;
    s->capacity = 1;
    const CountedLock lock(mutex_, counters_);
    if (!registry_acquire_one(record_, seg, &seg->first_id)) {
      platform_.release(base, reserve_size);
      set_error(TSLAB_ERR_OUT_OF_MEMORY);
      return nullptr;
    }
    s->id = seg->first_id;
    seg->next = reservations_;
    reservations_ = seg;
    segment_map_set(seg);
  }
  Slab* s = seg->slabs;
  s->epoch = epoch;
  s->era = era;
  s->large_usable.store(need, std::memory_order_relaxed);
  s->bits[0].remote.store(0, std::memory_order_relaxed);
  const std::uint64_t generation = registry_current_generation(s->id);
  s->bits[0].allocated.store((generation << 1) | 1, std::memory_order_release);
  // Linearization point of a large allocation: the span resolves from here.
  s->state.store(SLAB_IN_USE, std::memory_order_release);
  return s->start;
}

void AllocatorCore::clear_span(Slab* s) noexcept {
  SegmentHeader* seg = segment_map_lookup(s->start);
  const std::size_t usable = s->large_usable.load(std::memory_order_relaxed);
  const std::size_t bytes = usable > seg->dirty_bytes ? usable : seg->dirty_bytes;
  // A span so cleared reads as zero (arenas rely on it: arena_growth.cpp): if the
  // platform keeps the pages, their bytes are cleared instead.
  if (!decommit_counted(s->start, bytes)) std::memset(s->start, 0, bytes);
  seg->dirty_bytes = 0;
}

void AllocatorCore::release_large_warm_locked(std::uint64_t keep) noexcept {
  for (SegmentHeader* seg = large_cache_; seg != nullptr && large_warm_bytes_ > keep;
       seg = seg->next_cached) {
    if (seg->dirty_bytes == 0) continue;
    large_warm_bytes_ -= seg->dirty_bytes;
    clear_span(seg->slabs);  // cached: no allocation path reaches it (law 4)
  }
}

TslabError AllocatorCore::free_large(const BlockRef& ref, bool keep_warm) noexcept {
  Slab* s = ref.slab;
  std::uint64_t word = s->bits[0].allocated.load(std::memory_order_acquire);
  for (;;) {
    if (!(word & 1)) return TSLAB_ERR_DOUBLE_FREE;
    if (ref.by_handle && ((word >> 1) & HANDLE_GEN_MASK) != ref.generation) return TSLAB_ERR_STALE_HANDLE;
    // Linearization point of a large free: of racing frees exactly one clears the bit.
    if (s->bits[0].allocated.compare_exchange_weak(word, word & ~std::uint64_t{1}, std::memory_order_acq_rel))
      break;
  }
  SegmentHeader* seg = segment_map_lookup(s->start);
  if (keep_warm) {
    // Kept committed if the warm cache has room: the pages keep this block's
    // data, which no one may read (the span is UNUSED until handed out again).
    const CountedLock lock(mutex_, counters_);
    const std::size_t usable = s->large_usable.load(std::memory_order_relaxed);
    const std::size_t dirty = usable > seg->dirty_bytes ? usable : seg->dirty_bytes;
    if (registry_current_generation(s->id) < HANDLE_GEN_MASK &&
        large_warm_bytes_ + dirty <= std::uint64_t{warm_limit_} * SLAB_SIZE) {
      s->state.store(SLAB_UNUSED, std::memory_order_release);
      seg->dirty_bytes = dirty;
      large_warm_bytes_ += dirty;
      seg->next_cached = large_cache_;
      large_cache_ = seg;
      return TSLAB_OK;
    }
  }
  // Pages go back while the span is unreachable by every allocation path: it
  // enters the cache only below (law 4).
  clear_span(s);
  const CountedLock lock(mutex_, counters_);
  s->state.store(SLAB_UNUSED, std::memory_order_release);
  if (registry_current_generation(s->id) >= HANDLE_GEN_MASK) {
    // No generation left for another block: the span is retired, reserved but
    // never reused, so no handle it issued can be accepted again (law 5).
    counters_.slabs_retired.add();
    return TSLAB_OK;
  }
  seg->next_cached = large_cache_;
  large_cache_ = seg;
  return TSLAB_OK;
}

}  // namespace tslab::detail
