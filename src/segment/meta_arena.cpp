// This file contains the metadata arena's chunk management.
#include "segment/meta_arena.h"

#include <algorithm>
#include <cstdint>

namespace tslab::detail {

namespace {
constexpr std::size_t ALIGN = 64;  // also the room of a chunk's header
std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) & ~(a - 1); }
}  // namespace

MetaArena::~MetaArena() {
  Chunk* c = chunks_;
  while (c != nullptr) {
    Chunk* next = c->next;
    platform_.release(c, c->size);
    c = next;
  }
}

char* MetaArena::add_chunk_locked(std::size_t bytes) noexcept {
  const std::size_t chunk_size = round_up(bytes, platform_.page_size());
  auto* chunk = static_cast<Chunk*>(platform_.reserve(chunk_size, platform_.page_size()));
  if (chunk == nullptr) return nullptr;
  // Headers and slab records are laid out from the chunk's alignment (the map's
  // tags are a slab pointer's low bits): a platform that broke its contract
  // gets the range back, refused.
  if (reinterpret_cast<std::uintptr_t>(chunk) % platform_.page_size() != 0) [[unlikely]] {
    platform_.release(chunk, chunk_size);
    return nullptr;
  }
  chunk->next = chunks_;
  chunk->size = chunk_size;
  chunks_ = chunk;
  return reinterpret_cast<char*>(chunk) + ALIGN;
}

bool MetaArena::next_chunk_locked() noexcept {
  char* start = add_chunk_locked(next_chunk_size_);
  if (start == nullptr) return false;
  cursor_ = start;
  limit_ = reinterpret_cast<char*>(chunks_) + chunks_->size;
  next_chunk_size_ = std::min(next_chunk_size_ * 2, MAX_CHUNK_SIZE);
  return true;
}

bool MetaArena::reserve_first_chunk() noexcept {
  const LockGuard lock(mutex_);
  return chunks_ != nullptr || next_chunk_locked();
}

void* MetaArena::allocate(std::size_t size) noexcept {
  if (size > (std::size_t{1} << 40)) return nullptr;
  size = round_up(size == 0 ? 1 : size, ALIGN);
  const LockGuard lock(mutex_);
  if (cursor_ == nullptr || static_cast<std::size_t>(limit_ - cursor_) < size) {
    // Larger than the next chunk: a chunk of its own, the current one stays.
    if (size + ALIGN > next_chunk_size_) return add_chunk_locked(size + ALIGN);
    if (!next_chunk_locked()) return nullptr;
  }
  void* p = cursor_;
  cursor_ += size;
  return p;  // fresh platform memory is zero
}

std::size_t MetaArena::resident_bytes() const noexcept {
  LockGuard lock(mutex_);
  std::size_t bytes = 0;
  for (const Chunk* c = chunks_; c != nullptr; c = c->next) bytes += platform_.resident_bytes(c, c->size);
  return bytes;
}

}  // namespace tslab::detail
