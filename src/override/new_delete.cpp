// This file contains every replaceable form of operator new and delete
// (plain, sized, aligned, nothrow, arrays), as libtslab-malloc exports them:
// one call into process_malloc.h each, plus the standard's new-handler loop
// when an allocation fails.
#include <new>

#include "override/process_malloc.h"

using namespace tslab::detail;

namespace {

// [new.delete.single]: on failure call the new-handler and retry, or throw.
[[gnu::noinline]] void* new_failed(std::size_t size, std::size_t alignment) {
  for (;;) {
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
    void* p = alignment == 0 ? process_malloc(size) : process_aligned(alignment, size);
    if (p != nullptr) return p;
  }
}

void* new_plain(std::size_t size) {
  if (void* p = process_malloc(size)) [[likely]]
    return p;
  return new_failed(size, 0);
}

void* new_aligned(std::size_t size, std::align_val_t alignment) {
  const auto a = static_cast<std::size_t>(alignment);
  if (void* p = process_aligned(a, size)) [[likely]]
    return p;
  return new_failed(size, a);
}

void* new_nothrow(std::size_t size) noexcept {
  if (void* p = process_malloc(size)) [[likely]]
    return p;
  try {
    return new_failed(size, 0);
  } catch (...) {
    return nullptr;
  }
}

void* new_aligned_nothrow(std::size_t size, std::align_val_t alignment) noexcept {
  try {
    return new_aligned(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

void* operator new(std::size_t size) { return new_plain(size); }
void* operator new[](std::size_t size) { return new_plain(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return new_nothrow(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return new_nothrow(size); }
void* operator new(std::size_t size, std::align_val_t a) { return new_aligned(size, a); }
void* operator new[](std::size_t size, std::align_val_t a) { return new_aligned(size, a); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_aligned_nothrow(size, a);
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_aligned_nothrow(size, a);
}

void operator delete(void* p) noexcept { process_free(p, "operator delete"); }
void operator delete[](void* p) noexcept { process_free(p, "operator delete[]"); }
void operator delete(void* p, std::size_t) noexcept { process_free(p, "operator delete"); }
void operator delete[](void* p, std::size_t) noexcept { process_free(p, "operator delete[]"); }
void operator delete(void* p, const std::nothrow_t&) noexcept { process_free(p, "operator delete"); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { process_free(p, "operator delete[]"); }
void operator delete(void* p, std::align_val_t) noexcept { process_free(p, "operator delete"); }
void operator delete[](void* p, std::align_val_t) noexcept { process_free(p, "operator delete[]"); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { process_free(p, "operator delete"); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  process_free(p, "operator delete[]");
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  process_free(p, "operator delete");
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  process_free(p, "operator delete[]");
}
