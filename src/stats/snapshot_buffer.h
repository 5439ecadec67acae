// This file contains SnapshotBuffer: CoreSnapshots in the process's spare one or
// in pages taken straight from the OS (OsPages), never from an allocator.
#ifndef TSLAB_STATS_SNAPSHOT_BUFFER_H
#define TSLAB_STATS_SNAPSHOT_BUFFER_H

#include <cstddef>

#include "core/snapshot.h"
#include "stats/os_pages.h"

namespace tslab::detail {

class AllocatorCore;

class SnapshotBuffer {
 public:
  // Room for `count` snapshots, each filled by take_snapshot (which clears it
  // first); empty() if the OS refused. One snapshot borrows the process's spare
  // when no other caller holds it: no system call and no fresh page (mallinfo2,
  // which some programs call at every timer they start, cost 75 us and 17 page
  // faults a call in pages mapped for it). Several, or one while the spare is
  // taken (another thread, a signal handler, a fork's child of a thread that
  // held it), come straight from the OS.
  explicit SnapshotBuffer(std::size_t count) noexcept {
    if (count == 1 && (spare_ = borrow_spare()) != nullptr) {
      count_ = 1;
      return;
    }
    if (count != 0 && count <= static_cast<std::size_t>(-1) / sizeof(CoreSnapshot) &&
        pages_.reset(count * sizeof(CoreSnapshot)))
      count_ = count;
  }
  SnapshotBuffer(const SnapshotBuffer&) = delete;
  SnapshotBuffer& operator=(const SnapshotBuffer&) = delete;
  ~SnapshotBuffer() {
    if (spare_ != nullptr) return_spare();
  }

  bool empty() const noexcept { return count_ == 0; }
  std::size_t capacity() const noexcept { return count_; }
  CoreSnapshot& operator[](std::size_t i) noexcept { return first()[i]; }
  const CoreSnapshot& operator[](std::size_t i) const noexcept {
    return const_cast<SnapshotBuffer*>(this)->first()[i];
  }

 private:
  static CoreSnapshot* borrow_spare() noexcept;
  static void return_spare() noexcept;
  CoreSnapshot* first() noexcept {
    return spare_ != nullptr ? spare_ : reinterpret_cast<CoreSnapshot*>(pages_.data());
  }

  CoreSnapshot* spare_ = nullptr;
  OsPages pages_;
  std::size_t count_ = 0;
};

// Takes a full snapshot of one allocator into a fresh buffer slot.
void take_snapshot(const AllocatorCore& core, CoreSnapshot& out, std::uint32_t only_class,
                   bool measure_resident = true) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_SNAPSHOT_BUFFER_H
