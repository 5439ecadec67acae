// This file contains RecordPool: fixed-size records (an arena's, an epoch
// domain's) in memory of tslab's own, never the system malloc. One free list,
// refilled by carving 64 KiB chunks reserved from the OS platform; chunks are
// never returned (a pool only grows to the peak number of live records). A
// mutex guards the list and the chunk being carved.
#ifndef TSLAB_PLATFORM_RECORD_POOL_H
#define TSLAB_PLATFORM_RECORD_POOL_H

#include <cstddef>
#include <mutex>

namespace tslab::detail {

class RecordPool {
 public:
  // Records of `size` bytes aligned to `alignment` (a power of two, at most a page).
  constexpr RecordPool(std::size_t size, std::size_t alignment) noexcept
      : record_bytes_((max(size, sizeof(FreeRecord)) + alignment - 1) / alignment * alignment) {}
  RecordPool(const RecordPool&) = delete;
  RecordPool& operator=(const RecordPool&) = delete;

  // Uninitialised memory for one record, or nullptr if the OS refuses. Thread-safe.
  void* acquire() noexcept;
  // Returns a record obtained from acquire (nullptr is ignored). Thread-safe.
  void release(void* record) noexcept;

 private:
  struct FreeRecord {
    FreeRecord* next;
  };
  static constexpr std::size_t max(std::size_t a, std::size_t b) noexcept { return a < b ? b : a; }

  const std::size_t record_bytes_;
  std::mutex mutex_;
  FreeRecord* free_ = nullptr;  // guarded by mutex_
  std::byte* carve_ = nullptr;  // next unused record of the current chunk
  std::byte* carve_end_ = nullptr;
};

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_RECORD_POOL_H
