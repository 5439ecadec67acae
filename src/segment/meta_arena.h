// This file contains MetaArena, the allocator's own memory for metadata (segment
// headers, heaps): a bump allocator over chunks reserved from the platform. Nothing
// is freed one by one; the whole arena goes back when the allocator is destroyed.
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

 private:
  struct Chunk {
    Chunk* next;
    std::size_t size;
  };
  static constexpr std::size_t CHUNK_SIZE = std::size_t{1} << 20;

  Platform& platform_;
  mutable Mutex mutex_;
  // Caller holds mutex_: a new chunk with room for `size` bytes; false if refused.
  bool add_chunk_locked(std::size_t size) noexcept;

  Chunk* chunks_ = nullptr;
  char* cursor_ = nullptr;
  char* limit_ = nullptr;
};

}  // namespace tslab::detail

#endif  // TSLAB_SEGMENT_META_ARENA_H
