// This file contains the metadata arena's chunk management.
#include "segment/meta_arena.h"

#include <cstdint>

namespace tslab::detail {

namespace {
constexpr std::size_t ALIGN = 64;
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

bool MetaArena::add_chunk_locked(std::size_t size) noexcept {
  const std::size_t page = platform_.page_size();
  const std::size_t chunk_size = round_up(size + ALIGN > CHUNK_SIZE ? size + ALIGN : CHUNK_SIZE, page);
  auto* chunk = static_cast<Chunk*>(platform_.reserve(chunk_size, page));
  if (chunk == nullptr) return false;
  chunk->next = chunks_;
  chunk->size = chunk_size;
  chunks_ = chunk;
  cursor_ = reinterpret_cast<char*>(chunk) + ALIGN;
  limit_ = reinterpret_cast<char*>(chunk) + chunk_size;
  return true;
}

bool MetaArena::reserve_first_chunk() noexcept {
  const LockGuard lock(mutex_);
  return chunks_ != nullptr || add_chunk_locked(0);
}

void* MetaArena::allocate(std::size_t size) noexcept {
  if (size > (std::size_t{1} << 40)) return nullptr;
  size = round_up(size == 0 ? 1 : size, ALIGN);
  const LockGuard lock(mutex_);
  if ((cursor_ == nullptr || static_cast<std::size_t>(limit_ - cursor_) < size) && !add_chunk_locked(size))
    return nullptr;
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
