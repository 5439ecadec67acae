// This file contains every replaceable form of operator new and delete
// (plain, sized, aligned, nothrow, arrays), as libtslab-malloc exports them:
// one call into process_malloc.h each, plus the standard's new-handler loop
// when an allocation fails.
//
// The library needs no C++ runtime (a C program that preloads it loads none),
// so it neither throws nor catches itself: the new-handler and std::bad_alloc
// are the program's own, reached through weak references to its libstdc++,
// which every program that calls operator new has loaded.
#include <unistd.h>

#include <cstdlib>
#include <new>

#include "override/process_malloc.h"

using namespace tslab::detail;

// std::get_new_handler() and std::__throw_bad_alloc(), by their mangled names;
// null where no C++ runtime is loaded.
extern "C" {
using NewHandler = void (*)();
[[gnu::weak]] NewHandler tslab_runtime_new_handler() __asm__("_ZSt15get_new_handlerv");
[[gnu::weak, noreturn]] void tslab_runtime_throw_bad_alloc() __asm__("_ZSt17__throw_bad_allocv");
}

namespace {

NewHandler new_handler() noexcept {
  return tslab_runtime_new_handler != nullptr ? tslab_runtime_new_handler() : nullptr;
}

[[noreturn]] void throw_bad_alloc() {
  if (tslab_runtime_throw_bad_alloc != nullptr) tslab_runtime_throw_bad_alloc();
  static const char message[] =
      "tslab: operator new: out of memory, and no C++ runtime to throw std::bad_alloc\n";
  [[maybe_unused]] const ssize_t n = ::write(2, message, sizeof message - 1);
  std::abort();
}

// [new.delete.single]: on failure call the new-handler and retry, or throw.
[[gnu::noinline]] void* new_failed(std::size_t size, std::size_t alignment) {
  for (;;) {
    const NewHandler handler = new_handler();
    if (handler == nullptr) throw_bad_alloc();
    handler();
    void* p = alignment == 0 ? process_malloc(size) : process_aligned(alignment, size);
    if (p != nullptr) return p;
  }
}

// The nothrow forms run the same loop but return nullptr where the others
// throw. A new-handler that throws (std::bad_alloc, as [new.handler] allows)
// is not caught here: this code has no C++ runtime to catch with, so the
// exception reaches the caller of the nothrow form.
[[gnu::noinline]] void* new_failed_nothrow(std::size_t size, std::size_t alignment) noexcept {
  for (;;) {
    const NewHandler handler = new_handler();
    if (handler == nullptr) return nullptr;
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
  return new_failed_nothrow(size, 0);
}

void* new_aligned_nothrow(std::size_t size, std::align_val_t alignment) noexcept {
  const auto a = static_cast<std::size_t>(alignment);
  if (void* p = process_aligned(a, size)) [[likely]]
    return p;
  return new_failed_nothrow(size, a);
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
