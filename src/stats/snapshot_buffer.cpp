// This file contains SnapshotBuffer and take_snapshot.
#include "stats/snapshot_buffer.h"

#include <cstring>

#include "core/allocator_core.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

SnapshotBuffer::SnapshotBuffer(std::size_t count) noexcept {
  OsPlatform& os = OsPlatform::instance();
  const std::size_t page = os.page_size();
  const std::size_t bytes = (count * sizeof(CoreSnapshot) + page - 1) / page * page;
  if (count == 0 || bytes / sizeof(CoreSnapshot) < count) return;
  void* mem = os.reserve(bytes, page);  // zero-filled
  if (mem == nullptr) return;
  snaps_ = static_cast<CoreSnapshot*>(mem);
  count_ = count;
  bytes_ = bytes;
}

SnapshotBuffer::~SnapshotBuffer() {
  if (snaps_ != nullptr) OsPlatform::instance().release(snaps_, bytes_);
}

void take_snapshot(const AllocatorCore& core, CoreSnapshot& out, std::uint32_t only_class) noexcept {
  std::memset(static_cast<void*>(&out), 0, sizeof out);
  core.snapshot(out, only_class);
}

}  // namespace tslab::detail
