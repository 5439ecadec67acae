// This file contains SnapshotBuffer: CoreSnapshots in pages taken straight from
// the OS (OsPages).
#ifndef TSLAB_STATS_SNAPSHOT_BUFFER_H
#define TSLAB_STATS_SNAPSHOT_BUFFER_H

#include <cstddef>

#include "core/snapshot.h"
#include "stats/os_pages.h"

namespace tslab::detail {

class AllocatorCore;

class SnapshotBuffer {
 public:
  // Room for `count` zeroed snapshots; empty() if the OS refused.
  explicit SnapshotBuffer(std::size_t count) noexcept {
    if (count != 0 && count <= static_cast<std::size_t>(-1) / sizeof(CoreSnapshot) &&
        pages_.reset(count * sizeof(CoreSnapshot)))
      count_ = count;
  }

  bool empty() const noexcept { return count_ == 0; }
  std::size_t capacity() const noexcept { return count_; }
  CoreSnapshot& operator[](std::size_t i) noexcept {
    return reinterpret_cast<CoreSnapshot*>(pages_.data())[i];
  }
  const CoreSnapshot& operator[](std::size_t i) const noexcept {
    return reinterpret_cast<const CoreSnapshot*>(pages_.data())[i];
  }

 private:
  OsPages pages_;
  std::size_t count_ = 0;
};

// Takes a full snapshot of one allocator into a fresh buffer slot.
void take_snapshot(const AllocatorCore& core, CoreSnapshot& out, std::uint32_t only_class,
                   bool measure_resident = true) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_SNAPSHOT_BUFFER_H
