// This file contains every replaceable form of operator new and delete
// (plain, sized, aligned, nothrow, arrays), as libtslab-malloc exports them:
// one call into process_malloc.h each, plus the standard's new-handler loop
// when an allocation fails.
//
// The library has no C++ runtime of its own (a C program that preloads it
// loads none), so it neither throws nor catches: the new-handler and
// std::bad_alloc are the program's (platform/cxx_runtime.h), and a nothrow form
// whose new-handler may throw hands the request to the runtime's own nothrow
// form, which calls the plain operator new (this one) inside a try block.
#include <new>

#include "override/process_malloc.h"
#include "platform/cxx_runtime.h"

using namespace tslab::detail;

namespace {

// [new.delete.single]: on failure call the new-handler and retry, or throw.
[[gnu::noinline]] void* new_failed(std::size_t size, std::size_t alignment) {
  for (;;) {
    const NewHandler handler = runtime_new_handler();
    if (handler == nullptr) throw_bad_alloc();
    handler();
    void* p = alignment == 0 ? process_malloc(size) : process_aligned(alignment, size);
    if (p != nullptr) return p;
  }
}

using NothrowNew = void* (*)(std::size_t, const std::nothrow_t&) noexcept;
using NothrowAlignedNew = void* (*)(std::size_t, std::align_val_t, const std::nothrow_t&) noexcept;

// The nothrow forms: nullptr where the others throw. With no new-handler that
// is at once. With one, the handler may throw std::bad_alloc, which only the
// runtime can catch: its own nothrow form runs the loop through this library's
// plain form and returns nullptr for what it catches. Only a program without a
// runtime library to find (libstdc++ linked statically) runs the loop here.
[[gnu::noinline]] void* new_failed_nothrow(std::size_t size, std::size_t alignment, bool array) noexcept {
  if (runtime_new_handler() == nullptr) return nullptr;
  const std::nothrow_t nothrow{};  // not std::nothrow: that object is the runtime's
  if (alignment == 0) {
    if (void* f = runtime_symbol(array ? "_ZnamRKSt9nothrow_t" : "_ZnwmRKSt9nothrow_t"))
      return reinterpret_cast<NothrowNew>(f)(size, nothrow);
  } else if (void* f = runtime_symbol(array ? "_ZnamSt11align_val_tRKSt9nothrow_t"
                                            : "_ZnwmSt11align_val_tRKSt9nothrow_t")) {
    return reinterpret_cast<NothrowAlignedNew>(f)(size, std::align_val_t{alignment}, nothrow);
  }
  for (;;) {
    const NewHandler handler = runtime_new_handler();
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

void* new_nothrow(std::size_t size, bool array) noexcept {
  if (void* p = process_malloc(size)) [[likely]]
    return p;
  return new_failed_nothrow(size, 0, array);
}

void* new_aligned_nothrow(std::size_t size, std::align_val_t alignment, bool array) noexcept {
  const auto a = static_cast<std::size_t>(alignment);
  if (void* p = process_aligned(a, size)) [[likely]]
    return p;
  return new_failed_nothrow(size, a, array);
}

}  // namespace

void* operator new(std::size_t size) { return new_plain(size); }
void* operator new[](std::size_t size) { return new_plain(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return new_nothrow(size, false); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return new_nothrow(size, true); }
void* operator new(std::size_t size, std::align_val_t a) { return new_aligned(size, a); }
void* operator new[](std::size_t size, std::align_val_t a) { return new_aligned(size, a); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_aligned_nothrow(size, a, false);
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_aligned_nothrow(size, a, true);
}

void operator delete(void* p) noexcept { process_free<FreeCall::operator_delete>(p); }
void operator delete[](void* p) noexcept { process_free<FreeCall::operator_delete_array>(p); }
void operator delete(void* p, std::size_t) noexcept { process_free<FreeCall::operator_delete>(p); }
void operator delete[](void* p, std::size_t) noexcept { process_free<FreeCall::operator_delete_array>(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { process_free<FreeCall::operator_delete>(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  process_free<FreeCall::operator_delete_array>(p);
}
void operator delete(void* p, std::align_val_t) noexcept { process_free<FreeCall::operator_delete>(p); }
void operator delete[](void* p, std::align_val_t) noexcept {
  process_free<FreeCall::operator_delete_array>(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  process_free<FreeCall::operator_delete>(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  process_free<FreeCall::operator_delete_array>(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  process_free<FreeCall::operator_delete>(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  process_free<FreeCall::operator_delete_array>(p);
}
