// This file contains an arena's life cycle: creation (validation of the options,
// the epoch activation the chunks belong to, the first chunk), reset, statistics
// and destruction.
#include "arena/arena_core.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "arena/arena_config.h"
#include "arena/arena_pool.h"
#include "core/allocator_core.h"

namespace tslab::detail {

namespace {

// The epoch named by `requested` and its open era, or false with the reason recorded.
bool bind_epoch(AllocatorCore* alloc, EpochId requested, std::uint32_t* epoch, std::uint64_t* era) noexcept {
  const EpochRing& ring = alloc->epochs();
  if (requested == SLAB_ARENA_CURRENT_EPOCH) {
    // The current epoch may be closed between the two reads by an advance: then
    // read the new current one.
    std::uint32_t e = ring.current();
    std::uint64_t open = ring.open_era(e);
    while (open == 0 && ring.current() != e) {
      e = ring.current();
      open = ring.open_era(e);
    }
    requested = e;
  } else if (requested >= ring.count()) {
    set_error(TSLAB_ERR_EPOCH_OUT_OF_RANGE);
    return false;
  }
  *epoch = requested;
  *era = ring.open_era(requested);
  if (*era == 0) {
    set_error(TSLAB_ERR_EPOCH_CLOSING);
    return false;
  }
  return true;
}

bool options_consistent(const AllocatorCore* alloc, const SlabArenaOptions& o) noexcept {
  if (o.overflow != TSLAB_ARENA_OVERFLOW_ERROR && o.overflow != TSLAB_ARENA_OVERFLOW_GROW &&
      o.overflow != TSLAB_ARENA_OVERFLOW_FALLBACK)
    return false;
  if ((o.buffer == nullptr) != (o.buffer_size == 0)) return false;
  // The buffer's end must be an address: base + capacity never wraps afterwards.
  if (o.buffer != nullptr && reinterpret_cast<std::uintptr_t>(o.buffer) > UINTPTR_MAX - o.buffer_size)
    return false;
  if (alloc == nullptr)
    return o.buffer != nullptr && o.overflow == TSLAB_ARENA_OVERFLOW_ERROR && !o.close_epoch;
  const bool takes_chunks = o.buffer == nullptr || o.overflow == TSLAB_ARENA_OVERFLOW_GROW;
  return !takes_chunks || (o.chunk_size >= SLAB_ARENA_MIN_CHUNK && o.chunk_size <= SLAB_ARENA_MAX_CHUNK);
}

}  // namespace

ArenaCore::ArenaCore(AllocatorCore* alloc, const SlabArenaOptions& options, std::uint32_t epoch,
                     std::uint64_t era) noexcept
    : alloc_(alloc),
      epoch_(epoch),
      era_(era),
      chunk_capacity_(options.chunk_size > sizeof(ArenaChunk) ? options.chunk_size - sizeof(ArenaChunk) : 0),
      overflow_(options.overflow),
      shared_(options.shared),
      zero_(options.zero_on_reset),
      close_epoch_(options.close_epoch) {}

namespace {
// The current chunk of every dead arena: no room, never written.
constinit ArenaChunk g_dead_chunk{};
}  // namespace

ArenaCore::Work::Work(const ArenaCore& arena) noexcept
    : alloc_(arena.alloc_),
      epoch_(arena.epoch_),
      ticket_(alloc_ != nullptr ? alloc_->begin_arena_work(epoch_) : 0) {}

ArenaCore::Work::~Work() {
  if (ticket_ != 0) alloc_->end_arena_work(epoch_, ticket_);
}

void ArenaCore::install_current(ArenaChunk* chunk) noexcept {
  // seq_cst, as end's two stores: if the load below reads the arena not ended,
  // end's store of the dead chunk comes after this one; else it is stored again.
  current_.store(chunk, std::memory_order_seq_cst);
  if (ended_.load(std::memory_order_seq_cst)) current_.store(&g_dead_chunk, std::memory_order_seq_cst);
}

ArenaCore* ArenaCore::create(AllocatorCore* alloc, const SlabArenaOptions* options) noexcept {
  SlabArenaOptions from_table;
  if (options == nullptr) {
    if (!arena_options_from_table(&from_table)) return nullptr;
    options = &from_table;
  }
  if (alloc != nullptr && !alloc->alive_or_error()) return nullptr;
  if (!options_consistent(alloc, *options))
    return static_cast<ArenaCore*>(refuse(TSLAB_ERR_INVALID_ARGUMENT));
  std::uint32_t epoch = 0;
  std::uint64_t era = 0;
  if (alloc != nullptr && !bind_epoch(alloc, options->epoch, &epoch, &era)) return nullptr;
  void* record = arena_record_acquire();
  if (record == nullptr) return static_cast<ArenaCore*>(refuse(TSLAB_ERR_OUT_OF_MEMORY));
  auto* arena = new (record) ArenaCore(alloc, *options, epoch, era);
  // Until the arena is on its allocator's list, or has failed: an epoch_destroy
  // meanwhile releases the first chunk only once it is written and the arena
  // added (and ended), or its adding refused.
  const Work work(*arena);
  ArenaChunk* first = nullptr;
  if (options->buffer != nullptr) {
    first = &arena->buffer_chunk_;
    first->base = static_cast<char*>(options->buffer);
    first->capacity = options->buffer_size;
    if (arena->zero_) std::memset(first->base, 0, first->capacity);
  } else {
    first = work.ok() ? arena->acquire_chunk(arena->chunk_capacity_) : nullptr;
    if (first == nullptr) {  // the allocator recorded why
      if (!work.ok()) set_error(TSLAB_ERR_INVALID_ARGUMENT);
      arena->live_.store(false, std::memory_order_relaxed);
      arena->~ArenaCore();
      arena_record_release(record);
      return nullptr;
    }
  }
  arena->first_ = first;
  arena->chunks_.store(first, std::memory_order_relaxed);
  // Publication point of the arena: the caller hands the pointer to other threads.
  arena->current_.store(first, std::memory_order_release);
  if (alloc != nullptr) {
    arena->bound_.end = [](void* owner, TslabError why) noexcept {
      static_cast<ArenaCore*>(owner)->end(why);
    };
    arena->bound_.owner = arena;
    arena->bound_.epoch = epoch;
    // Its blocks are of the activation, unless a caller buffer with the error
    // policy is all it will ever use.
    arena->bound_.era =
        options->buffer != nullptr && arena->overflow_ == TSLAB_ARENA_OVERFLOW_ERROR ? 0 : era;
    // After the stores above: an epoch_destroy from here ends the arena (end
    // overwrites current_). One that already ended the dependents of this era
    // releases the first chunk with the epoch's blocks once `work` is over:
    // the arena fails.
    if (!alloc->add_dependent(&arena->bound_)) {
      arena->live_.store(false, std::memory_order_relaxed);
      arena->current_.store(&g_dead_chunk, std::memory_order_relaxed);
      arena->~ArenaCore();
      arena_record_release(record);
      return static_cast<ArenaCore*>(refuse(TSLAB_ERR_STALE_EPOCH));
    }
  }
  if (arena->shared_) {
    arena->shared_entry_.grow_lock = &arena->grow_mutex_;
    shared_arena_track(&arena->shared_entry_);
  }
  return arena;
}

TslabError ArenaCore::destroy(ArenaCore* arena) noexcept {
  // Linearization point of a destroy: of destroys that race, one clears the flag;
  // from here every call on the arena is refused.
  bool live = true;
  if (arena == nullptr || arena->library_ != &g_library_tag ||
      !arena->live_.compare_exchange_strong(live, false, std::memory_order_acq_rel)) {
    set_error(TSLAB_ERR_INVALID_ARGUMENT);
    return TSLAB_ERR_INVALID_ARGUMENT;
  }
  if (arena->shared_) shared_arena_untrack(&arena->shared_entry_);
  {
    // An epoch_destroy that has not ended the arena yet waits for its frees
    // below, which read the chunks' headers: those of its blocks they free it
    // finds freed (the destroy's own frees of the rest come after).
    const Work work(*arena);
    // Ended with its allocator or its epoch: its chunks went with the
    // allocator's memory or the epoch's blocks, only the record is left to
    // free (once, as any arena's).
    if (arena->ended_.load(std::memory_order_acquire) || !work.ok()) {
      // What they pointed to went with the epoch or the allocator.
      arena->chunks_.store(nullptr, std::memory_order_relaxed);
      arena->fallback_.store(nullptr, std::memory_order_relaxed);
      arena->first_ = nullptr;
      arena_record_release(arena);
      return TSLAB_OK;
    }
    if (arena->alloc_ != nullptr) arena->alloc_->remove_dependent(&arena->bound_);
    arena->free_fallback_blocks();
    for (ArenaChunk* c = arena->chunks_.load(std::memory_order_acquire); c != nullptr;) {
      ArenaChunk* next = c->next;
      arena->release_chunk(c);
      c = next;
    }
  }
  TslabError result = TSLAB_OK;
  // The chunks were the arena's blocks in the epoch: closing it now returns their
  // pages (a chunk with a span of its own already gave them back when freed).
  // The close's refusal is the destroy's error: the epoch re-activated
  // meanwhile, one of the process allocator's (permanent), or a call from
  // inside tslab.
  if (arena->close_epoch_ && !arena->alloc_->epoch_close_era(arena->epoch_, arena->era_))
    result = tl_last_error;
  // The record stays a dead arena, never destroyed as an object: allocations find
  // no room and ask alive(); the pool reuses it only after many later releases.
  arena->chunks_.store(nullptr, std::memory_order_relaxed);
  arena->first_ = nullptr;
  arena->current_.store(&g_dead_chunk, std::memory_order_release);
  arena_record_release(arena);
  return result;
}

void ArenaCore::end(TslabError why) noexcept {
  // The record stays the caller's until its destroy (which then frees only the
  // record): released here, many arenas ending at once would outrun the
  // record pool's quarantine, and a stale pointer could name a new arena.
  // The chunk list and the first chunk stay as they are: work under way
  // (Work) may still read them, and nothing after it does (every path asks
  // usable() first).
  refusal_.store(why, std::memory_order_relaxed);
  // Linearization point of the end: from here every call is refused. Then the
  // dead chunk, so that the bump misses to allocate_slow, which asks.
  ended_.store(true, std::memory_order_seq_cst);
  current_.store(&g_dead_chunk, std::memory_order_seq_cst);
}

TslabError ArenaCore::reset() noexcept {
  if (!usable()) return refusal();  // before Work, as allocate_slow
  const Work work(*this);
  if (!work.ok() || !usable()) return refusal();
  const std::uint64_t reached = consumed();
  if (reached > high_water_.load(std::memory_order_relaxed))
    high_water_.store(reached, std::memory_order_relaxed);
  free_fallback_blocks();
  for (ArenaChunk* c = chunks_.load(std::memory_order_acquire); c != nullptr;) {
    ArenaChunk* next = c->next;
    if (c != first_) release_chunk(c);
    c = next;
  }
  first_->next = nullptr;
  const std::size_t used = first_->offset.load(std::memory_order_relaxed);
  if (zero_) std::memset(first_->base, 0, used);
  first_->offset.store(0, std::memory_order_relaxed);
  chunks_.store(first_, std::memory_order_release);
  install_current(first_);
  padding_.store(0, std::memory_order_relaxed);
  fallback_blocks_.store(0, std::memory_order_relaxed);
  fallback_bytes_.store(0, std::memory_order_relaxed);
  resets_.fetch_add(1, std::memory_order_relaxed);
  return TSLAB_OK;
}

std::uint64_t ArenaCore::consumed() const noexcept {
  std::uint64_t bytes = fallback_bytes_.load(std::memory_order_relaxed);
  for (const ArenaChunk* c = chunks_.load(std::memory_order_acquire); c != nullptr; c = c->next)
    bytes += c->offset.load(std::memory_order_relaxed);
  return bytes;
}

TslabError ArenaCore::stats(SlabArenaStats* out) const noexcept {
  if (!usable()) return refusal();  // before Work, as allocate_slow
  const Work work(*this);           // the chunks' headers are read
  if (!work.ok() || !usable()) return refusal();
  *out = SlabArenaStats{};
  for (const ArenaChunk* c = chunks_.load(std::memory_order_acquire); c != nullptr; c = c->next) {
    out->capacity += c->capacity;
    ++out->chunks;
  }
  const std::uint64_t reached = consumed();
  // Read after the offsets: a concurrent snapshot may count padding whose block it
  // missed, never the other way round.
  const std::uint64_t padding = padding_.load(std::memory_order_relaxed);
  out->padding_bytes = std::min(padding, reached);
  out->bytes_used = reached - out->padding_bytes;
  out->high_water = std::max(high_water_.load(std::memory_order_relaxed), reached);
  out->fallback_blocks = fallback_blocks_.load(std::memory_order_relaxed);
  out->overflows = overflows_.load(std::memory_order_relaxed);
  out->resets = resets_.load(std::memory_order_relaxed);
  return TSLAB_OK;
}

}  // namespace tslab::detail
