// This file contains the records an arena keeps its memory in: ArenaChunk, the
// header of one bump region, and FallbackNode, the link of a block the arena took
// from the slab allocator.
#ifndef TSLAB_ARENA_ARENA_CHUNK_H
#define TSLAB_ARENA_ARENA_CHUNK_H

#include <atomic>
#include <cstddef>

namespace tslab::detail {

// One bump region. A chunk taken from the allocator starts with its header (one
// cache line) and its usable bytes follow; a caller buffer's header lives in the
// arena. Only `offset` changes while the chunk is in use: every other field is
// written before the chunk is published (ArenaCore::current_, chunks_) and never
// again until a reset or the arena's destruction.
struct alignas(64) ArenaChunk {
  // Bytes of [base, base + capacity) reserved so far; never above capacity.
  std::atomic<std::size_t> offset{0};
  char* base = nullptr;
  std::size_t capacity = 0;
  void* memory = nullptr;      // the allocator block holding the chunk; nullptr: caller buffer
  ArenaChunk* next = nullptr;  // the next older chunk of the arena
};

static_assert(sizeof(ArenaChunk) == 64, "a chunk header is one cache line");

// Sits right before a fallback block's bytes, which start at the block's
// alignment, 32 bytes at least, into it (ArenaCore::allocate_fallback).
struct FallbackNode {
  void* block;         // what to free
  FallbackNode* next;  // the next older fallback block
};

}  // namespace tslab::detail

#endif  // TSLAB_ARENA_ARENA_CHUNK_H
