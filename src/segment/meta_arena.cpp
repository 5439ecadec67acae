// This file contains the metadata arena's chunk management.
#include "segment/meta_arena.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "platform/fork_hooks.h"
#include "platform/sanitizers.h"

namespace tslab::detail {

// Buried chunks (meta_arena.h): as many as were ever buried, in one stack per
// size (FIRST_CHUNK_SIZE, twice that, ... MAX_CHUNK_SIZE, then larger), linked
// through the chunks' own headers. A new arena pops the top of the first stack
// whose chunks fit, in O(1): a taker never holds more than one push or pop, so
// another finds the chunks there and maps none of its own. The lock around
// those few stores is a flag that a thread waits for only a bounded while: a
// signal handler that interrupted its holder, or a child forked while another
// thread held it (reset in the child: every list is whole between the stores),
// never waits for good. A taker that gives up maps a fresh chunk, a burier that
// gives up leaves its chunk mapped but unlisted.
std::atomic<bool> MetaArena::buried_busy_{false};
std::atomic<std::size_t> MetaArena::chunks_reserved_{0};
MetaArena::Chunk* MetaArena::buried_[BURIED_SIZES] = {};

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
    if (!lock_buried()) continue;  // mapped, unlisted: never unmapped under a reader
    Chunk*& top = buried_[buried_size_index(size)];
    c->next = top;
    top = c;
    unlock_buried();
  }
  cursor_ = limit_ = nullptr;
}

std::size_t MetaArena::buried_size_index(std::size_t bytes) noexcept {
  std::size_t i = 0;
  for (std::size_t at_least = FIRST_CHUNK_SIZE * 2; i + 1 < BURIED_SIZES && bytes >= at_least; at_least *= 2)
    ++i;
  return i;
}

bool MetaArena::lock_buried() noexcept {
  // Acquire pairs with the holder's release: the headers it wrote are visible.
  for (int i = 0; i < 64; ++i) {
    for (int spin = 0; spin < 256; ++spin)
      if (!buried_busy_.load(std::memory_order_relaxed) &&
          !buried_busy_.exchange(true, std::memory_order_acquire))
        return true;
    ::sched_yield();
  }
  return false;
}

void MetaArena::unlock_buried() noexcept { buried_busy_.store(false, std::memory_order_release); }

void MetaArena::process_init() noexcept {
  fork_participate(ForkRank::meta_burial, {nullptr, nullptr, []() noexcept {
                                             buried_busy_.store(false, std::memory_order_relaxed);
                                           }});
}

std::size_t MetaArena::buried_chunks() noexcept {
  if (!lock_buried()) return 0;
  std::size_t n = 0;
  for (const Chunk* top : buried_)
    for (const Chunk* c = top; c != nullptr; c = c->next) ++n;
  unlock_buried();
  return n;
}

MetaArena::Chunk* MetaArena::take_buried(std::size_t bytes) const noexcept {
  // A thread still reading an ended allocator's metadata may read a chunk while
  // its new arena writes it: by design (what it reads names nothing of its own
  // allocator), but a data race in the language's terms, which ThreadSanitizer
  // reports. Its builds leave buried chunks buried (address space only).
  if (!is_os(platform_) || TSLAB_THREAD_SANITIZER) return nullptr;
  if (!lock_buried()) return nullptr;
  // Stack i holds chunks of FIRST_CHUNK_SIZE << i or more, so in the stacks
  // after the request's own every chunk fits. The chunks buried after this
  // arena's allocator was made lie on top (other threads' allocators that
  // ended meanwhile): the first few of each stack are looked at, so the lock
  // stays short, and an arena that finds none there maps a chunk of its own
  // (buried in turn at its end).
  Chunk* found = nullptr;
  for (std::size_t i = buried_size_index(bytes); i < BURIED_SIZES && found == nullptr; ++i) {
    std::size_t looked = 0;
    for (Chunk** link = &buried_[i]; *link != nullptr && looked < BURIED_LOOK;
         link = &(*link)->next, ++looked) {
      Chunk* c = *link;
      if (c->size < bytes || c->buried_before > owner_uid_) continue;
      *link = c->next;
      found = c;
      break;
    }
  }
  unlock_buried();
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

std::size_t MetaArena::resident_bytes() const noexcept {
  LockGuard lock(mutex_);
  std::size_t bytes = 0;
  for (const Chunk* c = chunks_; c != nullptr; c = c->next) bytes += platform_.resident_bytes(c, c->size);
  return bytes;
}

}  // namespace tslab::detail
