// This file contains ArenaCore, the arena behind slab_arena.h and tslab/arena.hpp:
// bump allocation over a caller buffer and chunks taken from one epoch activation
// of a tslab allocator, the overflow policies, reset, statistics and destruction.
//
// Chunks form a list, newest first (chunks_); current_ is the chunk allocations
// bump in. The fast path (allocate, inline) reads current_ and reserves its block
// in that chunk: a plain store of the new offset when the arena is used by one
// thread, one compare-and-swap of it when the arena is shared. Everything else is
// in arena_core.cpp (life cycle, reset, stats) and arena_growth.cpp (what happens
// when a block does not fit).
//
// Chunks and fallback blocks are given back only by reset and destroy, which need
// the arena to themselves, and by an epoch_destroy of the arena's epoch, which
// waits for the arena's work under way (Work): a thread that read current_ can
// use it until then.
#ifndef TSLAB_ARENA_ARENA_CORE_H
#define TSLAB_ARENA_ARENA_CORE_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "arena/arena_chunk.h"
#include "arena/bump.h"
#include "arena/shared_arenas.h"
#include "core/allocator_core.h"
#include "core/allocator_dependent.h"
#include "core/thread_cache.h"
#include "platform/library_tag.h"
#include "platform/mutex.h"
#include "slab_arena.h"

namespace tslab::detail {

class AllocatorCore;

class ArenaCore {
 public:
  // A new arena (`options` nullptr: from the TSLAB_ARENA_* options), or nullptr
  // with the reason recorded (set_error). See slab_arena_create.
  static ArenaCore* create(AllocatorCore* alloc, const SlabArenaOptions* options) noexcept;
  // Frees every chunk and fallback block and the arena itself; an epoch arena then
  // closes its epoch, era-checked. TSLAB_OK, or TSLAB_ERR_STALE_EPOCH if the slot
  // was re-activated meanwhile (everything is freed all the same). The record
  // stays a dead arena (platform/record_pool.h): a second destroy, or any later
  // call, gets TSLAB_ERR_INVALID_ARGUMENT and changes nothing.
  static TslabError destroy(ArenaCore* arena) noexcept;

  ArenaCore(const ArenaCore&) = delete;
  ArenaCore& operator=(const ArenaCore&) = delete;

  [[gnu::always_inline]] void* allocate(std::size_t size, std::size_t alignment) noexcept {
    if (!is_power_of_two(alignment) || alignment > SLAB_ARENA_MAX_ALIGNMENT) [[unlikely]]
      return refuse(TSLAB_ERR_BAD_ALIGNMENT);
    if (size > SLAB_ARENA_MAX_REQUEST) [[unlikely]]
      return refuse(TSLAB_ERR_SIZE_TOO_LARGE);
    if (size == 0) size = 1;  // a unique block
    if (alloc_ == nullptr) {  // a caller buffer only: nothing releases it under us
      ArenaChunk* chunk = current_.load(std::memory_order_acquire);
      if (void* p = bump(chunk, size, alignment)) [[likely]]
        return p;
      return allocate_slow(size, alignment, chunk);
    }
    // The bump inside the thread's quiescence marker in the allocator: an
    // epoch_destroy of the arena's slot ends the arena, then waits for the
    // markers before it releases the chunks (AllocatorCore::epoch_destroy), so
    // a bump that read the current chunk before the end is over by then. A
    // thread with no heap there, or inside an allocation of its own (a signal
    // handler's call), takes the slow path, under Work.
    const ThreadCache& tc = alloc_->cache_line();
    if (tc.uid == alloc_->uid() && (tc.heap->alloc_seq.load(std::memory_order_relaxed) & 1) == 0) [[likely]] {
      Heap* const heap = tc.heap;
      heap->begin_alloc();
      ArenaChunk* chunk = current_.load(std::memory_order_acquire);
      void* p = bump(chunk, size, alignment);
      heap->end_alloc();
      if (p != nullptr) [[likely]]
        return p;
    }
    return allocate_slow(size, alignment, nullptr);
  }

  // Gives back every chunk but the first and every fallback block; zeroes the
  // first chunk's used bytes when zero_on_reset. Needs the arena to itself.
  TslabError reset() noexcept;
  // A snapshot (exact when no allocation runs concurrently).
  TslabError stats(SlabArenaStats* out) const noexcept;
  // False once destroyed, and for an arena another copy of tslab made
  // (platform/library_tag.h). Allocation needs no test of it: a dead arena's
  // current chunk has no room, so every allocation reaches allocate_slow, which
  // asks (another copy's arena is bumped in its own chunk, which is all a bump is).
  bool alive() const noexcept { return library_ == &g_library_tag && live_.load(std::memory_order_acquire); }
  // Alive and not ended with its allocator or its epoch (end): calls are served.
  bool usable() const noexcept { return alive() && !ended_.load(std::memory_order_acquire); }
  // Why a call on an arena that is not usable is refused.
  TslabError refusal() const noexcept {
    return alive() && ended_.load(std::memory_order_acquire) ? refusal_.load(std::memory_order_relaxed)
                                                             : TSLAB_ERR_INVALID_ARGUMENT;
  }

  // Test hook: calls visit(base, used bytes) for every chunk held, newest first.
  // Needs the arena to itself.
  template <class Visit>
  void visit_chunks_for_testing(Visit&& visit) const {
    for (const ArenaChunk* c = chunks_.load(std::memory_order_acquire); c != nullptr; c = c->next)
      visit(static_cast<const char*>(c->base), c->offset.load(std::memory_order_relaxed));
  }
  // The end of the arena's allocator, or of its epoch activation's blocks by
  // epoch_destroy (AllocatorDependent): its chunks and fallback blocks go with
  // them, and every later call is refused with `why` but destroy, which frees
  // what is left: the record.
  void end(TslabError why) noexcept;

  // A thread-local arena is destroyed only through thread_arena.h.
  bool thread_owned() const noexcept { return thread_owned_; }
  void set_thread_owned() noexcept { thread_owned_ = true; }

 private:
  ArenaCore(AllocatorCore* alloc, const SlabArenaOptions& options, std::uint32_t epoch,
            std::uint64_t era) noexcept;
  ~ArenaCore() = default;

  static void* refuse(TslabError e) noexcept {
    set_error(e);
    return nullptr;
  }

  // Reserves a block in `chunk`, or returns nullptr if it does not fit there.
  [[gnu::always_inline]] void* bump(ArenaChunk* chunk, std::size_t size, std::size_t alignment) noexcept {
    std::size_t offset = chunk->offset.load(std::memory_order_relaxed);
    const auto base = reinterpret_cast<std::uintptr_t>(chunk->base);
    BumpFit fit;
    if (!shared_) {
      if (!bump_fit(base, offset, chunk->capacity, size, alignment, &fit)) return nullptr;
      // One thread at a time: this store alone reserves [start, end).
      chunk->offset.store(fit.end, std::memory_order_relaxed);
    } else {
      do {
        if (!bump_fit(base, offset, chunk->capacity, size, alignment, &fit)) return nullptr;
        // Linearization point of a shared allocation: the compare-and-swap that
        // installs `end` over the very offset the block was placed after reserves
        // [start, end) for this thread alone. A failure reloads the offset and the
        // block is placed again from the new value. Relaxed: the offset is the only
        // datum, and the chunk's memory was published with current_.
      } while (!chunk->offset.compare_exchange_weak(offset, fit.end, std::memory_order_relaxed));
    }
    if (fit.start != offset) add_padding(fit.start - offset);
    return chunk->base + fit.start;
  }

  void add_padding(std::size_t bytes) noexcept {
    if (shared_)
      padding_.fetch_add(bytes, std::memory_order_relaxed);
    else
      padding_.store(padding_.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
  }

  // --- arena_growth.cpp ---
  // Every chunk and fallback block belongs to the epoch activation the arena was
  // bound to: false, with the reason recorded, once that activation has closed.
  bool epoch_still_bound() const noexcept;
  // After allocating `block` in the epoch: true if it belongs to our era, else
  // frees it and records why.
  bool still_bound_after(void* block) noexcept;
  // `tried` was current_ when the block did not fit it (nullptr: not tried).
  void* allocate_slow(std::size_t size, std::size_t alignment, ArenaChunk* tried) noexcept;
  void* allocate_fallback(std::size_t size, std::size_t alignment) noexcept;
  void* grow(std::size_t size, std::size_t alignment, ArenaChunk* tried) noexcept;
  void* allocate_dedicated(std::size_t size, std::size_t alignment) noexcept;
  // A chunk of `capacity` usable bytes from the allocator, or nullptr with the
  // reason. With zero_on_reset its usable bytes read as zero; they are written
  // only if the allocator did not hand them out zeroed (a span of its own new
  // from the OS or whose pages went back to it).
  ArenaChunk* acquire_chunk(std::size_t capacity) noexcept;
  void release_chunk(ArenaChunk* chunk) noexcept;
  // Caller is the only thread in the arena (or holds grow_mutex_ when shared).
  void link_chunk(ArenaChunk* chunk) noexcept;
  void free_fallback_blocks() noexcept;

  // --- arena_core.cpp ---
  // Bytes reserved in chunks (padding included) plus fallback bytes.
  std::uint64_t consumed() const noexcept;
  // Arena work (AllocatorCore::begin_arena_work) while it lives: an
  // epoch_destroy of the arena's slot waits for it before it releases the
  // slot's blocks, so the arena's own reads and writes of its chunks, their
  // list and its fallback blocks never reach released memory. Around every
  // path but the bump: a block handed out as the epoch is destroyed is the
  // caller's to stop using, as any block of that epoch is (slab_arena.h).
  class Work {
   public:
    explicit Work(const ArenaCore& arena) noexcept;
    ~Work();
    Work(const Work&) = delete;
    Work& operator=(const Work&) = delete;
    // False if the allocator was destroyed meanwhile (it has no slot left).
    bool ok() const noexcept { return alloc_ == nullptr || ticket_ != 0; }

   private:
    AllocatorCore* const alloc_;
    const std::uint32_t epoch_;
    const std::uint32_t ticket_;  // 0: not begun
  };
  // Inside Work: `chunk` becomes the one allocations bump in, unless the arena
  // has ended meanwhile, whose end leaves the dead chunk there for good.
  void install_current(ArenaChunk* chunk) noexcept;

  // Read on every allocation; written only when a chunk is installed or at reset.
  alignas(64) std::atomic<ArenaChunk*> current_{nullptr};
  AllocatorCore* const alloc_;
  const std::uint32_t epoch_;
  const std::uint64_t era_;
  const std::size_t chunk_capacity_;  // usable bytes of a standard chunk
  const TslabArenaOverflow overflow_;
  const bool shared_;
  const bool zero_;
  const bool close_epoch_;
  bool thread_owned_ = false;

  // Written by allocations that pad (atomically when shared).
  alignas(64) std::atomic<std::uint64_t> padding_{0};

  // Slow paths.
  alignas(64) std::atomic<std::uint64_t> overflows_{0};
  std::atomic<std::uint64_t> fallback_blocks_{0};
  std::atomic<std::uint64_t> fallback_bytes_{0};
  std::atomic<std::uint64_t> resets_{0};
  std::atomic<std::uint64_t> high_water_{0};  // as of the last reset
  std::atomic<FallbackNode*> fallback_{nullptr};
  std::atomic<ArenaChunk*> chunks_{nullptr};    // every chunk held, newest first
  ArenaChunk* first_ = nullptr;                 // kept by reset
  Mutex grow_mutex_;                            // shared: taken to install or link a chunk
  SharedArenaEntry shared_entry_;               // shared: held across fork() (arena/shared_arenas.h)
  ArenaChunk buffer_chunk_;                     // the caller buffer's header, if any
  std::atomic<bool> live_{true};                // cleared, once, by destroy or the allocator's end
  const void* const library_ = &g_library_tag;  // the copy of tslab that made it
  AllocatorDependent bound_;                    // on alloc_'s list while the arena lives
  // Set, once, by the allocator's or the epoch's end (seq_cst, install_current).
  std::atomic<bool> ended_{false};
  std::atomic<TslabError> refusal_{TSLAB_ERR_INVALID_ARGUMENT};  // why, once ended
};

}  // namespace tslab::detail

#endif  // TSLAB_ARENA_ARENA_CORE_H
