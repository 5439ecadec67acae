// This file contains RecordPool's acquire and release (platform/record_pool.h).
#include "platform/record_pool.h"

#include <algorithm>

#include "tslab/platform.hpp"

namespace tslab::detail {

namespace {
constexpr std::size_t CHUNK_BYTES = 64 * 1024;
}  // namespace

void* RecordPool::acquire() noexcept {
  const LockGuard lock(mutex_);
  if (released_ > RECORD_POOL_QUARANTINE) {
    Header* h = head_;
    head_ = h->next;
    if (head_ == nullptr) tail_ = nullptr;
    --released_;
    return reinterpret_cast<std::byte*>(h) + header_bytes_;
  }
  if (carve_ == nullptr || static_cast<std::size_t>(carve_end_ - carve_) < slot_bytes_) {
    OsPlatform& os = OsPlatform::instance();
    const std::size_t page = os.page_size();
    const std::size_t bytes = std::max(CHUNK_BYTES, (slot_bytes_ + page - 1) / page * page);
    // Page-aligned, so every slot carved at a multiple of slot_bytes_ is aligned.
    void* chunk = os.reserve(bytes, page);
    if (chunk == nullptr) return nullptr;
    carve_ = static_cast<std::byte*>(chunk);
    carve_end_ = carve_ + bytes;
  }
  std::byte* slot = carve_;
  carve_ += slot_bytes_;
  return slot + header_bytes_;
}

void RecordPool::release(void* record) noexcept {
  if (record == nullptr) return;
  Header* h = header_of(record);
  const LockGuard lock(mutex_);
  h->next = nullptr;
  if (tail_ == nullptr)
    head_ = h;
  else
    tail_->next = h;
  tail_ = h;
  ++released_;
}

}  // namespace tslab::detail
