// This file contains RecordPool's acquire and release.
#include "platform/record_pool.h"

#include <algorithm>

#include "tslab/platform.hpp"

namespace tslab::detail {

namespace {
constexpr std::size_t CHUNK_BYTES = 64 * 1024;
}  // namespace

void* RecordPool::acquire() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  if (free_ != nullptr) {
    FreeRecord* r = free_;
    free_ = r->next;
    return r;
  }
  if (carve_ == nullptr || static_cast<std::size_t>(carve_end_ - carve_) < record_bytes_) {
    OsPlatform& os = OsPlatform::instance();
    const std::size_t page = os.page_size();
    const std::size_t bytes = std::max(CHUNK_BYTES, page);
    // Page-aligned, so every record carved at a multiple of record_bytes_ is aligned.
    void* chunk = os.reserve(bytes, page);
    if (chunk == nullptr) return nullptr;
    carve_ = static_cast<std::byte*>(chunk);
    carve_end_ = carve_ + bytes;
  }
  void* record = carve_;
  carve_ += record_bytes_;
  return record;
}

void RecordPool::release(void* record) noexcept {
  if (record == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto* r = static_cast<FreeRecord*>(record);
  r->next = free_;
  free_ = r;
}

}  // namespace tslab::detail
