// This file contains MetaArena, the allocator's own memory for metadata (segment
// headers, heaps): a bump allocator over chunks reserved from the platform. Nothing
// is freed one by one; the whole arena ends with the allocator (buried, below).
//
// Chunks grow with use: the first is FIRST_CHUNK_SIZE, each next one twice the
// last, up to MAX_CHUNK_SIZE. A block larger than the next chunk would be gets a
// chunk of its own, and the chunk being cut keeps its room for later blocks. So
// an allocator's address space for metadata stays in proportion to its use.
//
// An arena over the OS platform outlives its allocator's end in one respect: its
// chunks are not unmapped but *buried*, their pages given back (they read as
// zero) and the chunks kept for arenas of allocators made later. A thread that
// read a segment-map entry of the ending allocator just before its destroy
// cleared it (a foreign pointer handed to another allocator) still reads
// metadata, which names none of its own allocator's heaps or segments, where an
// unmapped chunk would fault. Only an allocator made after the burial takes a
// buried chunk: none of its own calls can hold an entry of the ended allocator,
// and an older allocator never finds its own metadata where the ended one's was.
#ifndef TSLAB_SEGMENT_META_ARENA_H
#define TSLAB_SEGMENT_META_ARENA_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "platform/mutex.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

class MetaArena {
 public:
  // `owner_uid`: the allocator's id (allocator ids grow with each allocator made).
  MetaArena(Platform& platform, std::uint64_t owner_uid) noexcept
      : platform_(platform), owner_uid_(owner_uid) {}
  MetaArena(const MetaArena&) = delete;
  MetaArena& operator=(const MetaArena&) = delete;
  ~MetaArena();

  // At the allocator's end, once nothing of it is reachable through the segment
  // map: every chunk is buried (OS platform), to be taken only by arenas of
  // allocators whose id is `next_uid` or more (made after this call). Chunks of
  // another platform go back to it (~MetaArena).
  void bury(std::uint64_t next_uid) noexcept;
  // Buried chunks waiting for a new arena, and chunks ever reserved from the
  // platform by any arena (tests).
  static std::size_t buried_chunks() noexcept;
  static std::size_t chunks_reserved() noexcept { return chunks_reserved_.load(std::memory_order_relaxed); }
  // Once per process, before any burial: the burial's lock is held across a fork.
  static void process_init() noexcept;

  // Zeroed memory aligned to 64 bytes, or nullptr if the platform refused.
  void* allocate(std::size_t size) noexcept;
  // Takes the first chunk now; false if the platform refused.
  bool reserve_first_chunk() noexcept;
  // Bytes of the arena resident now (a page-table read per chunk).
  std::size_t resident_bytes() const noexcept;
  // Bytes of the arena's chunks, resident or not (no system call).
  std::size_t chunk_bytes() const noexcept;
  // For fork (core/fork.cpp): the arena's lock, held across the fork.
  Mutex& mutex_for_fork() const noexcept { return mutex_; }

  static constexpr std::size_t FIRST_CHUNK_SIZE = std::size_t{128} << 10;
  static constexpr std::size_t MAX_CHUNK_SIZE = std::size_t{1} << 20;

 private:
  struct Chunk {
    Chunk* next;
    Chunk* prev;  // while buried: the one buried before it in its list
    std::size_t size;
    std::uint64_t buried_before;  // while buried: arenas of ids below this may not take it
  };

  // A buried chunk of at least `bytes` this arena may take, or nullptr.
  Chunk* take_buried(std::size_t bytes) const noexcept;
  // The burial's lists (meta_arena.cpp), by chunk size, under one lock.
  struct BuriedList {
    Chunk* front;
    Chunk* back;
  };
  static constexpr std::size_t BURIED_SIZES = 5;
  static constexpr std::size_t BURIED_LOOK = 64;  // chunks a taker looks at from each end of a list
  static std::size_t buried_size_index(std::size_t bytes) noexcept;
  static Mutex buried_mutex_;
  static BuriedList buried_[BURIED_SIZES];
  static std::atomic<std::size_t> chunks_reserved_;

  Platform& platform_;
  std::uint64_t owner_uid_ = 0;
  mutable Mutex mutex_;
  // Caller holds mutex_: a new chunk of at least `bytes` (its header included),
  // listed; its first usable byte, or nullptr if refused.
  char* add_chunk_locked(std::size_t bytes) noexcept;
  // Caller holds mutex_: the next chunk to cut blocks from; false if refused.
  bool next_chunk_locked() noexcept;

  Chunk* chunks_ = nullptr;
  std::size_t next_chunk_size_ = FIRST_CHUNK_SIZE;
  char* cursor_ = nullptr;  // the chunk being cut
  char* limit_ = nullptr;
};

}  // namespace tslab::detail

#endif  // TSLAB_SEGMENT_META_ARENA_H
