// This file contains the metadata arena's chunk management.
#include "segment/meta_arena.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "platform/fork_hooks.h"
#include "platform/sanitizers.h"

namespace tslab::detail {

// Buried chunks (meta_arena.h): as many as were ever buried, in one list per
// size (FIRST_CHUNK_SIZE, twice that, ... MAX_CHUNK_SIZE, then larger), linked
// both ways through the chunks' own headers in the order they were buried,
// under a lock held for a few stores and across a fork (platform/fork_hooks.h).
// An arena takes the newest chunk it may (one buried before its allocator was
// made): most takers are newer than every burial and take the back, so the
// front keeps the chunks buried longest ago, which an allocator made long ago,
// or one that a scheduler put aside while others churned, may still take.
TSLAB_FORK_HELD Mutex MetaArena::buried_mutex_;
MetaArena::BuriedList MetaArena::buried_[BURIED_SIZES] = {};
std::atomic<std::size_t> MetaArena::chunks_reserved_{0};

namespace {
constexpr std::size_t ALIGN = 64;  // also the room of a chunk's header
std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) & ~(a - 1); }

bool is_os(const Platform& platform) noexcept { return &platform == &OsPlatform::instance(); }
}  // namespace

void MetaArena::bury(std::uint64_t next_uid) noexcept {
  if (!is_os(platform_)) return;  // ~MetaArena gives them back to their platform
  const LockGuard lock(mutex_);
  while (Chunk* c = chunks_) {
    chunks_ = c->next;
    const std::size_t size = c->size;
    // Zero from here (the header's page again once written below): the next
    // arena takes it as fresh memory. Memory the OS will not decommit (mlockall)
    // is cleared by hand.
    if (!platform_.decommit(c, size)) std::memset(static_cast<void*>(c), 0, size);
    c->size = size;
    c->buried_before = next_uid;
    const LockGuard burial(buried_mutex_);
    BuriedList& l = buried_[buried_size_index(size)];
    c->next = nullptr;
    c->prev = l.back;
    (l.back != nullptr ? l.back->next : l.front) = c;
    l.back = c;
  }
  cursor_ = limit_ = nullptr;
}

std::size_t MetaArena::buried_size_index(std::size_t bytes) noexcept {
  std::size_t i = 0;
  for (std::size_t at_least = FIRST_CHUNK_SIZE * 2; i + 1 < BURIED_SIZES && bytes >= at_least; at_least *= 2)
    ++i;
  return i;
}

void MetaArena::process_init() noexcept { fork_hold_lock(ForkRank::meta_burial, buried_mutex_); }

std::size_t MetaArena::buried_chunks() noexcept {
  const LockGuard burial(buried_mutex_);
  std::size_t n = 0;
  for (const BuriedList& l : buried_)
    for (const Chunk* c = l.front; c != nullptr; c = c->next) ++n;
  return n;
}

MetaArena::Chunk* MetaArena::take_buried(std::size_t bytes) const noexcept {
  // A thread still reading an ended allocator's metadata may read a chunk while
  // its new arena writes it: by design (what it reads names nothing of its own
  // allocator), but a data race in the language's terms, which ThreadSanitizer
  // reports. Its builds leave buried chunks buried (address space only).
  if (!is_os(platform_) || TSLAB_THREAD_SANITIZER) return nullptr;
  const LockGuard burial(buried_mutex_);
  // List i holds chunks of FIRST_CHUNK_SIZE << i or more, so in the lists
  // after the request's own every chunk fits. The newest chunk this arena may
  // take: the few at the back buried after its allocator was made are passed
  // over; past BURIED_LOOK of them, the oldest that fits, from the front (the
  // last list's chunks differ in size).
  for (std::size_t i = buried_size_index(bytes); i < BURIED_SIZES; ++i) {
    BuriedList& l = buried_[i];
    const auto fits = [&](const Chunk* c) { return c->size >= bytes && c->buried_before <= owner_uid_; };
    Chunk* found = nullptr;
    std::size_t looked = 0;
    for (Chunk* c = l.back; found == nullptr && c != nullptr && looked < BURIED_LOOK; c = c->prev, ++looked)
      if (fits(c)) found = c;
    looked = 0;
    for (Chunk* c = l.front; found == nullptr && c != nullptr && looked < BURIED_LOOK; c = c->next, ++looked)
      if (fits(c)) found = c;
    if (found == nullptr) continue;
    (found->prev != nullptr ? found->prev->next : l.front) = found->next;
    (found->next != nullptr ? found->next->prev : l.back) = found->prev;
    return found;
  }
  return nullptr;
}

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
  if (Chunk* buried = take_buried(chunk_size)) {
    // Zero but for its header: decommitted when buried (OsPlatform: MADV_DONTNEED).
    // Its size stays its own, which may be more than asked for.
    buried->next = chunks_;
    buried->prev = nullptr;
    buried->buried_before = 0;
    chunks_ = buried;
    return reinterpret_cast<char*>(buried) + ALIGN;
  }
  auto* chunk = static_cast<Chunk*>(platform_.reserve(chunk_size, platform_.page_size()));
  if (chunk == nullptr) return nullptr;
  chunks_reserved_.fetch_add(1, std::memory_order_relaxed);
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

std::size_t MetaArena::chunk_bytes() const noexcept {
  LockGuard lock(mutex_);
  std::size_t bytes = 0;
  for (const Chunk* c = chunks_; c != nullptr; c = c->next) bytes += c->size;
  return bytes;
}

std::size_t MetaArena::resident_bytes() const noexcept {
  LockGuard lock(mutex_);
  std::size_t bytes = 0;
  for (const Chunk* c = chunks_; c != nullptr; c = c->next) bytes += platform_.resident_bytes(c, c->size);
  return bytes;
}

}  // namespace tslab::detail
