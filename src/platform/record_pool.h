// This file contains RecordPool: fixed-size records (an arena's, an epoch
// domain's) in memory of tslab's own, never the system malloc. Records are
// carved from 64 KiB chunks reserved from the OS platform; chunks are never
// returned, so a record stays readable after it is released, and a released
// record is handed out again only after RECORD_POOL_QUARANTINE later releases
// (oldest first). An object that marks itself dead before it is released is
// therefore found dead by a stale pointer for a long while: a second destroy, or
// any later call, is refused instead of acting on a new object. The pool's own
// links live in a header in front of each record, never in the record. A mutex
// guards the free queue and the chunk being carved.
#ifndef TSLAB_PLATFORM_RECORD_POOL_H
#define TSLAB_PLATFORM_RECORD_POOL_H

#include <cstddef>

#include "platform/mutex.h"

namespace tslab::detail {

inline constexpr std::size_t RECORD_POOL_QUARANTINE = 64;

class RecordPool {
 public:
  // Records of `size` bytes aligned to `alignment` (a power of two, at most a page).
  constexpr RecordPool(std::size_t size, std::size_t alignment) noexcept
      : header_bytes_(max(sizeof(Header), alignment)),
        slot_bytes_((header_bytes_ + size + alignment - 1) / alignment * alignment) {}
  RecordPool(const RecordPool&) = delete;
  RecordPool& operator=(const RecordPool&) = delete;

  // Memory for one record (zero the first time it is handed out, as its previous
  // user left it after that), or nullptr if the OS refuses. Thread-safe.
  void* acquire() noexcept;
  // Returns a record obtained from acquire (nullptr is ignored). Thread-safe.
  void release(void* record) noexcept;

  // For fork: the pool's lock, taken by the prepare handler.
  Mutex& mutex() noexcept { return mutex_; }

 private:
  struct Header {
    Header* next;  // in the free queue
  };
  static constexpr std::size_t max(std::size_t a, std::size_t b) noexcept { return a < b ? b : a; }
  Header* header_of(void* record) const noexcept {
    return reinterpret_cast<Header*>(static_cast<std::byte*>(record) - header_bytes_);
  }

  const std::size_t header_bytes_;
  const std::size_t slot_bytes_;
  Mutex mutex_;
  Header* head_ = nullptr;  // oldest released record (guarded by mutex_)
  Header* tail_ = nullptr;
  std::size_t released_ = 0;    // records in the queue
  std::byte* carve_ = nullptr;  // next unused slot of the current chunk
  std::byte* carve_end_ = nullptr;
};

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_RECORD_POOL_H
