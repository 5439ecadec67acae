// This file contains MetaArena, the allocator's own memory for metadata (segment
// headers, heaps): a bump allocator over chunks reserved from the platform. Nothing
// is freed one by one; the whole arena goes back when the allocator is destroyed.
//
// Chunks grow with use: the first is FIRST_CHUNK_SIZE, each next one twice the
// last, up to MAX_CHUNK_SIZE. A block larger than the next chunk would be gets a
// chunk of its own, and the chunk being cut keeps its room for later blocks. So
// an allocator's address space for metadata stays in proportion to its use.
#ifndef TSLAB_SEGMENT_META_ARENA_H
#define TSLAB_SEGMENT_META_ARENA_H

#include <cstddef>

#include "platform/mutex.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

class MetaArena {
 public:
  explicit MetaArena(Platform& platform) noexcept : platform_(platform) {}
  MetaArena(const MetaArena&) = delete;
  MetaArena& operator=(const MetaArena&) = delete;
  ~MetaArena();

  // Zeroed memory aligned to 64 bytes, or nullptr if the platform refused.
  void* allocate(std::size_t size) noexcept;
  // Takes the first chunk now; false if the platform refused.
  bool reserve_first_chunk() noexcept;
  // Bytes of the arena resident now.
  std::size_t resident_bytes() const noexcept;
  // For fork (core/fork.cpp): the arena's lock, held across the fork.
  Mutex& mutex_for_fork() const noexcept { return mutex_; }

  static constexpr std::size_t FIRST_CHUNK_SIZE = std::size_t{128} << 10;
  static constexpr std::size_t MAX_CHUNK_SIZE = std::size_t{1} << 20;

 private:
  struct Chunk {
    Chunk* next;
    std::size_t size;
  };

  Platform& platform_;
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
