// This file contains HookPlatform, a test platform that forwards to the OS and
// runs a test's callback inside chosen primitives, so a test can make something
// happen at an exact point of an allocator's slow path (another thread's free
// while a slab is being taken, a signal while an allocation is in progress).
#ifndef TSLAB_TESTS_HOOK_PLATFORM_H
#define TSLAB_TESTS_HOOK_PLATFORM_H

#include <atomic>
#include <cstddef>
#include <functional>

#include "tslab/platform.hpp"

namespace tslab_test {

class HookPlatform final : public tslab::Platform {
 public:
  // Runs once, inside the next reserve() of exactly `size` bytes, before the OS call.
  void on_next_reserve_of(std::size_t size, std::function<void()> hook) {
    reserve_hook_ = std::move(hook);
    reserve_size_.store(size, std::memory_order_release);
  }
  // Runs inside every prefault() until cleared (nullptr).
  void on_prefault(std::function<void()> hook) { prefault_hook_ = std::move(hook); }

  void* reserve(std::size_t size, std::size_t alignment) noexcept override {
    std::size_t armed = size;
    if (reserve_size_.compare_exchange_strong(armed, 0, std::memory_order_acq_rel)) reserve_hook_();
    return os().reserve(size, alignment);
  }
  void release(void* p, std::size_t size) noexcept override { os().release(p, size); }
  bool commit(void* p, std::size_t size) noexcept override { return os().commit(p, size); }
  bool decommit(void* p, std::size_t size) noexcept override { return os().decommit(p, size); }
  bool prefault(void* p, std::size_t size) noexcept override {
    if (prefault_hook_) prefault_hook_();
    return os().prefault(p, size);
  }
  std::size_t page_size() const noexcept override { return os().page_size(); }
  std::size_t resident_bytes(const void* p, std::size_t size) const noexcept override {
    return os().resident_bytes(p, size);
  }

 private:
  static tslab::OsPlatform& os() noexcept { return tslab::OsPlatform::instance(); }

  std::atomic<std::size_t> reserve_size_{0};
  std::function<void()> reserve_hook_;
  std::function<void()> prefault_hook_;
};

}  // namespace tslab_test

#endif  // TSLAB_TESTS_HOOK_PLATFORM_H
