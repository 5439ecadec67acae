// This file contains the allocator's construction and destruction, its slab
// supply (segments cut into slabs) and the allocation slow path.
#include "core/allocator_core.h"

#include <pthread.h>

#include <new>
#include <utility>

#include "core/allocator_records.h"
#include "core/fast_path.h"
#include "core/threads.h"
#include "handle/registry.h"
#include "options/options.h"
#include "platform/clock_rss.h"
#include "platform/cxx_runtime.h"
#include "platform/process_fence.h"
#include "segment/segment_map.h"

namespace tslab::detail {

namespace {

std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) & ~(a - 1); }

// Every record is reserved for the most slots; an allocator commits the pages it writes.
// The tail starts right after the object: aligned as its tables need.
static_assert(alignof(AllocatorCore) >= ZeroedTail::MAX_ALIGN);
std::size_t record_bytes() {
  return round_up(sizeof(AllocatorCore) + AllocatorCore::tail_bytes(SLAB_MAX_EPOCH_COUNT),
                  OsPlatform::instance().page_size());
}

}  // namespace

AllocatorCore::AllocatorCore(const CoreOptions& options, std::uint64_t uid, std::uint32_t record) noexcept
    : uid_(uid),
      epoch_count_(options.epoch_count),
      record_(record),
      platform_(*options.platform),
      meta_(*options.platform, uid),
      epochs_(options.epoch_count, options.permanent, tail()) {
  ZeroedTail tables(reinterpret_cast<std::uintptr_t>(tail()) + EpochRing::tail_bytes(options.epoch_count));
  for_each_tail_table([&](auto table) { tables.take(table, this, options.epoch_count); });
}

AllocatorCore::~AllocatorCore() {
  for (SegmentHeader* held = retired_held_; held != nullptr; held = held->next_cached)
    platform_.release(reinterpret_cast<void*>(held->base), held->size);
  SegmentHeader* seg = reservations_;
  while (seg != nullptr) {
    SegmentHeader* next = seg->next;
    // The map entry goes first: from here the range is no longer recognised. Then
    // the ids: from here on every handle naming them reads stale.
    if (!seg->released) segment_map_clear(seg);  // a bare header's range went back before
    registry_release(seg);
    if (!seg->released) platform_.release(reinterpret_cast<void*>(seg->base), seg->size);
    seg = next;
  }
  // Quiescence point of the metadata: the map names none of it any more. A thread
  // that read an entry before it was cleared may still read the headers and
  // slabs, so they stay readable (buried, segment/meta_arena.h) rather than go.
  meta_.bury(allocator_uid_watermark());
}

bool AllocatorCore::process_init() noexcept {
  process_fence_init();  // without it, closes leave live threads' slabs to their owners
  MetaArena::process_init();
  // Each of these registers its fork participant before it takes its own lock.
  return segment_map_init() && registry_init() && threads_init() && allocator_records_init();
}

AllocatorCore* AllocatorCore::create(const CoreOptions& in, TslabError* error) noexcept {
  CoreOptions options = in;
  if (options.epoch_count == 0) options.epoch_count = SLAB_DEFAULT_EPOCH_COUNT;
  if (options.epoch_count > SLAB_MAX_EPOCH_COUNT) {
    *error = TSLAB_ERR_INVALID_ARGUMENT;
    return nullptr;
  }
  if (options.platform == nullptr) options.platform = &OsPlatform::instance();
  if (!process_init()) {
    *error = TSLAB_ERR_OUT_OF_MEMORY;
    return nullptr;
  }
  std::uint32_t record = 0;
  void* mem = allocator_record_acquire(record_bytes(), &record);
  if (mem == nullptr) {
    *error = TSLAB_ERR_OUT_OF_MEMORY;
    return nullptr;
  }
  auto* core = new (mem) AllocatorCore(options, next_allocator_uid(), record);
  // The allocator's own metadata comes from its platform: a platform that refuses
  // memory refuses the allocator.
  if (!core->meta_.reserve_first_chunk()) {
    bury(core);
    *error = TSLAB_ERR_OUT_OF_MEMORY;
    return nullptr;
  }
  // An invalid value was reported when the options were read and reads as the
  // option's default: the allocator works with the documented figures.
  core->warm_limit_ = static_cast<std::uint32_t>(option(OptionId::warm_reserve).value / SLAB_SIZE);
  core->large_retain_ = option(OptionId::large_retain).value;
  core->note_warm_locked();
  core->close_rss_ = option(OptionId::close_rss).value != 0;
  // Off if its memory is refused: sampling is a diagnostic, the allocator works without it.
  core->sampler_.start(static_cast<std::uint32_t>(option(OptionId::pin_sample).value));
  register_live(core);
  *error = TSLAB_OK;
  return core;
}

TslabError AllocatorCore::destroy(AllocatorCore* core) noexcept {
  if (core == nullptr || !core->alive()) return TSLAB_ERR_INVALID_ARGUMENT;
  if (core->permanent()) return TSLAB_ERR_PERMANENT;
  // After this no exiting thread can hand a heap back to it.
  unregister_live(core);
  // What was built on it ends first, outside its lock (an end may take other
  // locks): its memory is about to go.
  AllocatorDependent* dependents = nullptr;
  {
    const CountedLock lock(core->mutex_, core->counters_);
    dependents = std::exchange(core->dependents_, nullptr);
  }
  while (dependents != nullptr) {
    AllocatorDependent* next = dependents->next;
    dependents->prev = dependents->next = nullptr;
    dependents->linked = false;
    dependents->end(dependents->owner, TSLAB_ERR_INVALID_ARGUMENT);
    dependents = next;
  }
  bury(core);
  return TSLAB_OK;
}

bool AllocatorCore::add_dependent(AllocatorDependent* d) noexcept {
  const CountedLock lock(mutex_, counters_);
  // An epoch_destroy ended this activation's dependents already (and releases its blocks).
  if (d->epoch >= epoch_count_) return false;  // an allocator destroyed meanwhile (dead: no slots)
  if (d->era != 0 && d->era <= destroyed_era_[d->epoch]) return false;
  d->prev = nullptr;
  d->next = dependents_;
  if (dependents_ != nullptr) dependents_->prev = d;
  dependents_ = d;
  d->linked = true;
  return true;
}

void AllocatorCore::remove_dependent(AllocatorDependent* d) noexcept {
  const CountedLock lock(mutex_, counters_);
  unlink_dependent_locked(d);
}

void AllocatorCore::unlink_dependent_locked(AllocatorDependent* d) noexcept {
  if (!d->linked) return;  // ended by an epoch_destroy meanwhile
  d->linked = false;
  if (d->prev != nullptr)
    d->prev->next = d->next;
  else
    dependents_ = d->next;
  if (d->next != nullptr) d->next->prev = d->prev;
  d->prev = d->next = nullptr;
}

AllocatorCore* AllocatorCore::construct_dead(void* where) noexcept {
  return new (where) AllocatorCore(CoreOptions{0, &OsPlatform::instance()}, 0, 0);
}

void AllocatorCore::bury(AllocatorCore* core) noexcept {
  const std::uint32_t record = core->record_;
  core->~AllocatorCore();
  // The record's pages go back, and a dead allocator takes its place. Quiescence
  // point of the allocator: from here a call through a stale pointer meets an
  // object of the right type that refuses it.
  OsPlatform::instance().decommit(core, record_bytes());
  construct_dead(core);
  allocator_record_release(record);
}

AllocatorCore* AllocatorCore::dead() noexcept {
  // Made once, never destroyed (pthread_once: no C++ runtime guard).
  // No tail: a dead allocator has no slots, so no table of it is ever read.
  alignas(AllocatorCore) static unsigned char storage[sizeof(AllocatorCore)];
  static pthread_once_t made = PTHREAD_ONCE_INIT;
  ::pthread_once(&made, [] { construct_dead(storage); });
  return std::launder(reinterpret_cast<AllocatorCore*>(storage));
}

bool AllocatorCore::alive_or_error() const noexcept {
  if (alive()) return true;
  set_error(TSLAB_ERR_INVALID_ARGUMENT);
  return false;
}

void* AllocatorCore::reserve_aligned(std::size_t size, std::size_t alignment) noexcept {
  void* base = platform_.reserve(size, alignment);
  // The segment map and the slab arithmetic rely on the alignment (a small
  // segment's slabs are its 64 KiB granules): a range from a platform that
  // broke its contract is given back and the reservation refused.
  if (base != nullptr && alignment != 0 && reinterpret_cast<std::uintptr_t>(base) % alignment != 0)
      [[unlikely]] {
    platform_.release(base, size);
    return nullptr;
  }
  return base;
}

SegmentHeader* AllocatorCore::new_small_segment() noexcept {
  void* base = reserve_aligned(SEGMENT_SIZE, SEGMENT_SIZE);
  if (base == nullptr &&
      (large_cache_.reserved_bytes() != 0 || stashed_bytes_.load(std::memory_order_relaxed) != 0)) {
    // Refused, perhaps for want of address space (RLIMIT_AS): what free spans
    // hold goes back first, as for a large span (reserve_span).
    unstash_all_locked();
    release_span_cache_locked();
    base = reserve_aligned(SEGMENT_SIZE, SEGMENT_SIZE);
  }
  if (base == nullptr) return nullptr;
  void* mem = meta_.allocate(sizeof(SegmentHeader) + SLABS_PER_SEGMENT * sizeof(Slab));
  if (mem == nullptr) {
    platform_.release(base, SEGMENT_SIZE);
    return nullptr;
  }
  auto* seg = new (mem) SegmentHeader();
  seg->owner = this;
  seg->kind = SlabKind::small;
  seg->base = reinterpret_cast<std::uintptr_t>(base);
  seg->size = SEGMENT_SIZE;
  seg->slab_count = SLABS_PER_SEGMENT;
  // The slabs' metadata (64 x 1,216 bytes) stays as the arena gave it, zero,
  // which is a slab not taken yet: SLAB_UNUSED, so validation refuses its
  // addresses as for a pooled slab, and every other field its default (test:
  // LazyMaps.AZeroSlabIsADefaultSlab). take_slab writes each slab's address and
  // id when it hands the slab out: a program that uses a few slabs faults in
  // their metadata pages only, not 19 pages per segment at once.
  seg->slabs = SegmentHeader::first_slab(seg);
  // The ids go last: from here handles naming them resolve to this segment.
  if (!registry_acquire_block(record_, seg, &seg->first_id)) {
    platform_.release(base, SEGMENT_SIZE);
    return nullptr;
  }
  seg->next = reservations_;
  reservations_ = seg;
  segment_map_set(seg);
  return seg;
}

Slab* AllocatorCore::take_slab(Heap& heap, std::uint32_t epoch, std::uint32_t cls, std::uint64_t era,
                               bool warm_only) noexcept {
  const CountedLock lock(mutex_, counters_);
  const bool cold = warm_slabs_ == nullptr;
  if (cold && warm_only) return nullptr;
  if (cold && free_slabs_ == nullptr && deferred_ != nullptr) retry_deferred_locked();
  if (cold && free_slabs_ == nullptr && warm_slabs_ == nullptr &&
      (dormant_ != nullptr || released_dormant_ != nullptr))
    wake_dormant_locked();
  Slab* s = warm_slabs_;
  if (s != nullptr) {
    // The warm reserve first: no page to fault in. Its generation moved on when
    // it left its last epoch (law 5); no allocation path reached it since.
    SlabChain::remove(warm_slabs_, s);
    if (warm_count_-- > warm_limit_) warm_excess_used_ns_ = monotonic_ns();  // the retention serves
    ++grace_taken_;  // counted for the hand-back grace's window (release_warm_decayed_locked)
    note_warm_locked();
    s->resident = true;
    slabs_reused_[cls].fetch_add(1, std::memory_order_relaxed);
  } else if ((s = free_slabs_) != nullptr) {
    // A recycled slab: its pages went back before it entered the pool (law 4)
    // and its generation moved on when it left its last epoch (law 5).
    unlink_pooled_locked(s);
    s->decommitted.store(false, std::memory_order_relaxed);
    s->resident = false;
    slabs_reused_[cls].fetch_add(1, std::memory_order_relaxed);
    trim_large_warm_locked(SLAB_SIZE);  // its pages fault in: cached spans make way
  } else {
    SegmentHeader* seg = current_segment_[epoch];
    if (seg == nullptr || seg->slabs_taken == seg->slab_count) {
      seg = new_small_segment();
      if (seg == nullptr) {
        set_error(TSLAB_ERR_OUT_OF_MEMORY);
        return nullptr;
      }
      current_segment_[epoch] = seg;
    }
    const std::uint32_t index = seg->slabs_taken++;
    s = &seg->slabs[index];
    // The slab's first use: its metadata was left zero (new_small_segment).
    s->start = reinterpret_cast<char*>(seg->base) + std::size_t{index} * SLAB_SIZE;
    s->id = seg->first_id + index;
    s->resident = false;
    new_slabs_[cls].fetch_add(1, std::memory_order_relaxed);
    trim_large_warm_locked(SLAB_SIZE);
  }
  s->obj_size = class_block_size(cls);
  s->magic = class_magic(cls);
  s->capacity = class_capacity(cls);
  s->bin_index = epoch * NUM_CLASSES + cls;
  s->bin_offset = s->bin_index * static_cast<std::uint32_t>(sizeof(HotBin));
  s->carved.store(0, std::memory_order_relaxed);
  s->purged_pages.store(0, std::memory_order_relaxed);
  s->owner_live_negated = 0;
  s->reclaim_bytes = 0;
  s->size_class = static_cast<std::uint8_t>(cls);
  s->list = SlabList::none;
  s->epoch = epoch;
  s->era = era;
  s->open_era = epochs_.open_era_word(epoch);
  s->handle_base = handle_encode(registry_current_generation(s->id), s->id, 0);
  s->unsettled_stack = &unsettled_head_;
  SlabChain::push(epoch_slabs_[epoch], s);
  s->heap.store(&heap, std::memory_order_release);
  // Linearization point of a slab: from here its blocks resolve, for its owner only
  // until the owner hands a block out.
  s->state.store(SLAB_IN_USE, std::memory_order_release);
  return s;
}

void AllocatorCore::prefault(void* p, std::size_t size) noexcept { platform_.prefault(p, size); }

std::uint64_t AllocatorCore::open_era_or_error(std::uint32_t epoch) const noexcept {
  if (!in_range_or_error(epoch)) return 0;
  const std::uint64_t era = epochs_.open_era(epoch);
  if (era == 0) {
    set_error(TSLAB_ERR_EPOCH_CLOSING);
    counters_.closing_rejections.add();
    epoch_counters_[epoch].closing_rejections.add();
  }
  return era;
}

void* AllocatorCore::alloc_slow(std::size_t size, std::uint32_t epoch, std::uint64_t* handle) noexcept {
  // The handle is read before the marker ends: an epoch_destroy waits for this
  // allocation before it releases any block of the epoch, so the block is still
  // this allocation's (read after the marker, it could be released already,
  // and its handle looked up as none).
  const auto with_handle = [&](void* p) {
    if (handle != nullptr && p != nullptr) *handle = ptr_to_handle(p);
    return p;
  };
  // Before this copy's thread records meet an allocator of another copy.
  if (!alive_or_error()) return nullptr;
  if (size > MAX_SMALL_SIZE || !in_range_or_error(epoch))
    return in_open_era(epoch,
                       [&](std::uint64_t era) { return with_handle(alloc_large(size, 0, epoch, era)); });
  Heap* heap = cache_line().uid == uid_ ? cache_line().heap : attach_thread();
  if (heap == nullptr) return nullptr;
  // The era is read inside the quiescence marker: a close either is seen here,
  // or waits for this allocation before it returns any page (reclaim.cpp).
  heap->begin_alloc();
  const std::uint64_t era = open_era_or_error(epoch);
  void* p = era == 0 ? nullptr : with_handle(heap->alloc_slow(*this, epoch, size_to_class(size), era));
  heap->end_alloc();
  // A sampling allocator's allocations all come here (heap.h, BIN_ERA_SAMPLED).
  if (heap->bin_era_flag != 0 && p != nullptr) [[unlikely]]
    sampler_.after_alloc(*heap, p, epoch, era, size);
  return p;
}

}  // namespace tslab::detail
