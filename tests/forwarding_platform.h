// This file contains ForwardingPlatform, a test platform that passes every
// primitive to the OS: a test derives from it and overrides only the
// primitives it changes (a platform that breaks its contract, one that counts).
#ifndef TSLAB_TESTS_FORWARDING_PLATFORM_H
#define TSLAB_TESTS_FORWARDING_PLATFORM_H

#include <cstddef>

#include "tslab/platform.hpp"

namespace tslab_test {

class ForwardingPlatform : public tslab::Platform {
 public:
  void* reserve(std::size_t size, std::size_t alignment) noexcept override {
    return os().reserve(size, alignment);
  }
  void release(void* p, std::size_t size) noexcept override { os().release(p, size); }
  bool commit(void* p, std::size_t size) noexcept override { return os().commit(p, size); }
  bool decommit(void* p, std::size_t size) noexcept override { return os().decommit(p, size); }
  bool prefault(void* p, std::size_t size) noexcept override { return os().prefault(p, size); }
  std::size_t page_size() const noexcept override { return os().page_size(); }
  std::size_t resident_bytes(const void* p, std::size_t size) const noexcept override {
    return os().resident_bytes(p, size);
  }

 protected:
  static tslab::OsPlatform& os() noexcept { return tslab::OsPlatform::instance(); }
};

}  // namespace tslab_test

#endif  // TSLAB_TESTS_FORWARDING_PLATFORM_H
