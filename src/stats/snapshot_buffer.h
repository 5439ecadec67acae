// This file contains SnapshotBuffer: CoreSnapshots in pages taken straight from
// the OS, so that reporting on an allocator never allocates from it (or from
// whatever malloc the process uses).
#ifndef TSLAB_STATS_SNAPSHOT_BUFFER_H
#define TSLAB_STATS_SNAPSHOT_BUFFER_H

#include <cstddef>

#include "core/snapshot.h"

namespace tslab::detail {

class AllocatorCore;

class SnapshotBuffer {
 public:
  // Room for `count` zeroed snapshots; empty() if the OS refused.
  explicit SnapshotBuffer(std::size_t count) noexcept;
  ~SnapshotBuffer();
  SnapshotBuffer(const SnapshotBuffer&) = delete;
  SnapshotBuffer& operator=(const SnapshotBuffer&) = delete;

  bool empty() const noexcept { return snaps_ == nullptr; }
  std::size_t capacity() const noexcept { return count_; }
  CoreSnapshot& operator[](std::size_t i) noexcept { return snaps_[i]; }
  const CoreSnapshot& operator[](std::size_t i) const noexcept { return snaps_[i]; }

 private:
  CoreSnapshot* snaps_ = nullptr;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
};

// Takes a full snapshot of one allocator into a fresh buffer slot.
void take_snapshot(const AllocatorCore& core, CoreSnapshot& out, std::uint32_t only_class) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_SNAPSHOT_BUFFER_H
