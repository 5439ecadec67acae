// This file contains FaultInjectingPlatform, a platform for tests that refuses
// memory on demand so that out-of-memory paths can be exercised.
#include "platform/cxx_runtime.h"
#include "tslab/platform.hpp"

namespace tslab {

void FaultInjectingPlatform::reset() noexcept {
  refuse_all_.store(false, std::memory_order_relaxed);
  budget_.store(-1, std::memory_order_relaxed);
}

bool FaultInjectingPlatform::should_refuse() noexcept {
  bool refuse = refuse_all_.load(std::memory_order_relaxed);
  if (!refuse) {
    // One read-modify-write per call: two threads can never both take the last unit.
    std::int64_t left = budget_.load(std::memory_order_relaxed);
    while (left >= 0) {
      if (left == 0) {
        refuse = true;
        break;
      }
      if (budget_.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) break;
    }
  }
  if (refuse) refusals_.fetch_add(1, std::memory_order_relaxed);
  return refuse;
}

void* FaultInjectingPlatform::reserve(std::size_t size, std::size_t alignment) noexcept {
  reserves_.fetch_add(1, std::memory_order_relaxed);
  if (should_refuse()) return nullptr;
  return inner_.reserve(size, alignment);
}

void* FaultInjectingPlatform::reserve_at(void* p, std::size_t size) noexcept {
  reserves_.fetch_add(1, std::memory_order_relaxed);
  if (should_refuse()) return nullptr;
  return inner_.reserve_at(p, size);
}

bool FaultInjectingPlatform::grow_into(void* from, std::size_t size, void* to, std::size_t to_size) noexcept {
  if (!should_refuse()) return inner_.grow_into(from, size, to, to_size);
  inner_.release(to, to_size);
  return false;
}

void FaultInjectingPlatform::release(void* p, std::size_t size) noexcept { inner_.release(p, size); }

bool FaultInjectingPlatform::commit(void* p, std::size_t size) noexcept {
  if (should_refuse()) return false;
  return inner_.commit(p, size);
}

bool FaultInjectingPlatform::decommit(void* p, std::size_t size) noexcept {
  decommits_.fetch_add(1, std::memory_order_relaxed);
  return inner_.decommit(p, size);
}

}  // namespace tslab
