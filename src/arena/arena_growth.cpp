// This file contains what an arena does when a block does not fit its current
// chunk: the overflow policies (error, grow, fallback), taking and linking chunks,
// and the list of fallback blocks.
//
// Growth of a shared arena. A thread whose block did not fit chunk C takes
// grow_mutex_ and looks at current_ again: if another thread installed a chunk
// meanwhile it retries there; otherwise it alone takes a chunk, reserves its own
// block in it and only then publishes it. So exactly one thread installs the
// chunk that follows C, no chunk is taken and dropped, and no block straddles a
// chunk's end (every block is placed by bump_fit inside one chunk).
#include <cstring>
#include <new>

#include "arena/arena_core.h"
#include "core/fast_path.h"
#include "platform/mutex.h"
#include "segment/segment_map.h"
#include "size_class/size_classes.h"

namespace tslab::detail {

namespace {

// Blocks no larger than this share standard chunks; larger ones get a chunk of
// their own, so a chunk switch never wastes more than a quarter of a chunk.
constexpr std::size_t standard_block_limit(std::size_t chunk_capacity) noexcept { return chunk_capacity / 4; }

// The largest request, at the largest alignment, with a chunk's header or a
// fallback block's node, is a block the allocator takes: such a request fails
// only as memory runs out.
static_assert(SLAB_ARENA_MAX_REQUEST + (SLAB_ARENA_MAX_ALIGNMENT - 1) + sizeof(ArenaChunk) <= MAX_LARGE_SIZE);
static_assert(SLAB_ARENA_MAX_ALIGNMENT + SLAB_ARENA_MAX_REQUEST <= MAX_LARGE_SIZE);
static_assert(sizeof(FallbackNode) == 16,
              "a fallback block's node fits between its first 16 bytes and its bytes");

// True if the allocator handed `block` out reading as zero: a large span whose
// pages are new from the OS or went back to it when the span was last freed
// (core/large_span.cpp: dirty_bytes 0), so nothing has written them since. A
// block of a small slab, or a span kept warm, may hold the bytes of a block that
// was there before.
bool handed_out_zeroed(const void* block) noexcept {
  return segment_map_is_large(block) && segment_map_lookup(block)->dirty_bytes == 0;
}

// What the arena promises for `block` when zeroing is on: zero, written only if
// the allocator did not hand it out zeroed already.
void zero_unless_known_zero(const void* block, char* bytes, std::size_t size) noexcept {
  if (!handed_out_zeroed(block)) std::memset(bytes, 0, size);
}

}  // namespace

void* ArenaCore::allocate_slow(std::size_t size, std::size_t alignment, ArenaChunk* tried) noexcept {
  // Refused at once when ended or another copy's, without Work: an epoch_destroy
  // waiting for the slot's work is not held up by calls it has refused already.
  if (!usable()) return refuse(refusal());
  // Everything here reads chunks' headers or writes into new blocks.
  const Work work(*this);
  if (!work.ok() || !usable()) return refuse(refusal());
  // A thread with no heap in the allocator gets one, so that its next bumps are
  // marked (ArenaCore::allocate); this one is under `work` either way.
  if (alloc_ != nullptr && alloc_->cache_line().uid != alloc_->uid()) (void)alloc_->thread_heap();
  // Another thread may have installed a chunk since `tried` was read.
  for (ArenaChunk* now = current_.load(std::memory_order_acquire); now != tried;
       now = current_.load(std::memory_order_acquire)) {
    if (void* p = bump(now, size, alignment)) return p;
    tried = now;
  }
  overflows_.fetch_add(1, std::memory_order_relaxed);
  switch (overflow_) {
    case TSLAB_ARENA_OVERFLOW_ERROR:
      return refuse(TSLAB_ERR_ARENA_FULL);
    case TSLAB_ARENA_OVERFLOW_FALLBACK:
      return allocate_fallback(size, alignment);
    case TSLAB_ARENA_OVERFLOW_GROW:
      break;
  }
  return grow(size, alignment, tried);
}

void* ArenaCore::grow(std::size_t size, std::size_t alignment, ArenaChunk* tried) noexcept {
  // Cannot wrap: size <= SLAB_ARENA_MAX_REQUEST, alignment <= SLAB_ARENA_MAX_ALIGNMENT.
  const std::size_t worst = size + (alignment - 1);
  if (worst > standard_block_limit(chunk_capacity_)) return allocate_dedicated(size, alignment);
  const LockIf lock(grow_mutex_, shared_);
  for (ArenaChunk* now = current_.load(std::memory_order_acquire); now != tried;
       now = current_.load(std::memory_order_acquire)) {
    if (void* p = bump(now, size, alignment)) return p;  // another thread grew the arena: use its chunk
    tried = now;
  }
  ArenaChunk* chunk = acquire_chunk(chunk_capacity_);
  if (chunk == nullptr) return nullptr;  // the allocator recorded why
  BumpFit fit;
  bump_fit(reinterpret_cast<std::uintptr_t>(chunk->base), 0, chunk->capacity, size, alignment, &fit);
  chunk->offset.store(fit.end, std::memory_order_relaxed);  // reserved before anyone can see the chunk
  if (fit.start != 0) add_padding(fit.start);
  link_chunk(chunk);
  // Publication point of a grown chunk: its header, its zeroed bytes and this
  // thread's reservation happen-before every allocation that loads it.
  install_current(chunk);
  return chunk->base + fit.start;
}

void* ArenaCore::allocate_dedicated(std::size_t size, std::size_t alignment) noexcept {
  ArenaChunk* chunk = acquire_chunk(size + (alignment - 1));
  if (chunk == nullptr) return nullptr;
  BumpFit fit;
  bump_fit(reinterpret_cast<std::uintptr_t>(chunk->base), 0, chunk->capacity, size, alignment, &fit);
  chunk->offset.store(fit.end, std::memory_order_relaxed);
  if (fit.start != 0) add_padding(fit.start);
  const LockIf lock(grow_mutex_, shared_);
  link_chunk(chunk);
  return chunk->base + fit.start;
}

void ArenaCore::link_chunk(ArenaChunk* chunk) noexcept {
  chunk->next = chunks_.load(std::memory_order_relaxed);
  // Publication point of the chunk list: stats() walks it without the lock.
  chunks_.store(chunk, std::memory_order_release);
}

bool ArenaCore::epoch_still_bound() const noexcept {
  const std::uint64_t open = alloc_->epochs().open_era(epoch_);
  if (open == era_) return true;
  set_error(open == 0 ? TSLAB_ERR_EPOCH_CLOSING : TSLAB_ERR_STALE_EPOCH);
  return false;
}

bool ArenaCore::still_bound_after(void* block) noexcept {
  // The slot may have closed and reopened (a ring wrap) between the check before
  // the allocation and the allocation itself, which then served the new era.
  // Eras only grow, so if the slot still has our era now, the block is ours.
  if (alloc_->epochs().open_era(epoch_) == era_) return true;
  alloc_->free_held(block);
  return epoch_still_bound();  // false now, for good; records why
}

ArenaChunk* ArenaCore::acquire_chunk(std::size_t capacity) noexcept {
  if (!epoch_still_bound()) return nullptr;
  void* memory = alloc_->alloc_held(sizeof(ArenaChunk) + capacity, alignof(ArenaChunk), epoch_);
  if (memory == nullptr) return nullptr;
  if (!still_bound_after(memory)) return nullptr;
  auto* chunk = new (memory) ArenaChunk();
  chunk->base = static_cast<char*>(memory) + sizeof(ArenaChunk);
  chunk->capacity = capacity;
  chunk->memory = memory;
  if (zero_) zero_unless_known_zero(memory, chunk->base, capacity);
  return chunk;
}

void ArenaCore::release_chunk(ArenaChunk* chunk) noexcept {
  if (chunk->memory == nullptr) return;  // the caller's buffer
  void* memory = chunk->memory;
  chunk->~ArenaChunk();
  alloc_->free_held(memory);
}

void* ArenaCore::allocate_fallback(std::size_t size, std::size_t alignment) noexcept {
  // The caller's bytes start at the alignment's boundary past the block's first
  // 32 bytes: the pointer handed out is inside the allocator's block, so a free
  // of it through the allocator is refused as an interior pointer, as for any
  // other arena block (and, above 64 KiB, one of the block's start as no block
  // of the program's, AllocatorCore::alloc_held), and only the arena's end frees
  // the block. The list node sits right before them, clear of the first 16
  // bytes, where a freed block's list link lands. Cannot wrap: size is at most
  // SLAB_ARENA_MAX_REQUEST, alignment SLAB_ARENA_MAX_ALIGNMENT.
  constexpr std::size_t MIN_OFFSET = 2 * sizeof(FallbackNode);
  const std::size_t align = alignment < MIN_OFFSET ? MIN_OFFSET : alignment;
  if (!epoch_still_bound()) return nullptr;
  void* block = alloc_->alloc_held(align + size, align, epoch_);
  if (block == nullptr) return nullptr;  // the allocator recorded why
  if (!still_bound_after(block)) return nullptr;
  char* bytes = static_cast<char*>(block) + align;
  if (zero_) zero_unless_known_zero(block, bytes, size);
  auto* node = new (bytes - sizeof(FallbackNode)) FallbackNode{block, nullptr};
  node->next = fallback_.load(std::memory_order_relaxed);
  // Linearization point of a fallback block: the compare-and-swap that makes the
  // node the list head (a push-only list until reset, so no ABA).
  while (!fallback_.compare_exchange_weak(node->next, node, std::memory_order_release,
                                          std::memory_order_relaxed)) {
  }
  fallback_blocks_.fetch_add(1, std::memory_order_relaxed);
  fallback_bytes_.fetch_add(size, std::memory_order_relaxed);
  return bytes;
}

void ArenaCore::free_fallback_blocks() noexcept {
  FallbackNode* node = fallback_.exchange(nullptr, std::memory_order_acquire);
  while (node != nullptr) {
    FallbackNode* next = node->next;
    alloc_->free_held(node->block);
    node = next;
  }
}

}  // namespace tslab::detail
