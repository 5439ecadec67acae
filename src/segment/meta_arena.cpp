// This file contains the metadata arena's chunk management.
#include "segment/meta_arena.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "platform/sanitizers.h"

namespace tslab::detail {

// Buried chunks (meta_arena.h): a stack linked through the chunks' own headers,
// as many as were ever buried. It has no lock, so neither a fork nor a signal
// finds one held: chunks are pushed by compare-and-swap, and a taker empties
// the whole stack by one exchange, looks through it on its own and pushes the
// rest back. Nothing is popped by compare-and-swap, so no ABA. A taker meanwhile
// finds the stack empty and reserves a fresh chunk, which is buried with its
// arena in turn; a child forked while a thread held the stack starts without
// those chunks (address space only, never unmapped under a reader).
std::atomic<MetaArena::Chunk*> MetaArena::buried_{nullptr};

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
    c->next = nullptr;
    c->size = size;
    c->buried_before = next_uid;
    push_buried(c, c);
  }
  cursor_ = limit_ = nullptr;
}

void MetaArena::push_buried(Chunk* first, Chunk* last) noexcept {
  Chunk* head = buried_.load(std::memory_order_relaxed);
  do {
    last->next = head;
    // Release: the headers are visible to whoever takes the stack.
  } while (!buried_.compare_exchange_weak(head, first, std::memory_order_release, std::memory_order_relaxed));
}

std::size_t MetaArena::buried_chunks() noexcept {
  Chunk* all = buried_.exchange(nullptr, std::memory_order_acquire);
  if (all == nullptr) return 0;
  std::size_t n = 1;
  Chunk* last = all;
  for (; last->next != nullptr; last = last->next) ++n;
  push_buried(all, last);
  return n;
}

MetaArena::Chunk* MetaArena::take_buried(std::size_t bytes) const noexcept {
  // A thread still reading an ended allocator's metadata may read a chunk while
  // its new arena writes it: by design (what it reads names nothing of its own
  // allocator), but a data race in the language's terms, which ThreadSanitizer
  // reports. Its builds leave buried chunks buried (address space only).
  if (!is_os(platform_) || TSLAB_THREAD_SANITIZER) return nullptr;
  // Acquire pairs with the pushes' release. From here the list is this
  // thread's alone.
  Chunk* all = buried_.exchange(nullptr, std::memory_order_acquire);
  Chunk* found = nullptr;
  Chunk* last = nullptr;
  for (Chunk** link = &all; *link != nullptr;) {
    Chunk* c = *link;
    if (found == nullptr && c->size >= bytes && c->buried_before <= owner_uid_) {
      found = c;
      *link = c->next;  // unlinked; `last` stays the one before
      continue;
    }
    last = c;
    link = &c->next;
  }
  if (all != nullptr) push_buried(all, last);
  return found;
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
    buried->buried_before = 0;
    chunks_ = buried;
    return reinterpret_cast<char*>(buried) + ALIGN;
  }
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
