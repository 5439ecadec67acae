// This file contains the malloc family libtslab-malloc exports in place of the
// C library's, and the C API of tslab/malloc.h: one-line calls into
// process_malloc.h and scopes.cpp.
#include <malloc.h>
#include <stdlib.h>

#include <cerrno>

#include "override/process_malloc.h"

using namespace tslab::detail;

namespace {

bool power_of_two(std::size_t v) { return v != 0 && (v & (v - 1)) == 0; }

// The largest alignment memalign can round up to.
constexpr std::size_t MAX_POWER_OF_TWO = (SIZE_MAX >> 1) + 1;

// The smallest power of two >= v (memalign's rounding, as glibc's).
// Precondition: v <= MAX_POWER_OF_TWO.
std::size_t round_up_power_of_two(std::size_t v) {
  return v <= 1 ? 1 : std::size_t{1} << (64 - __builtin_clzll(static_cast<unsigned long long>(v - 1)));
}

std::size_t page_size() { return tslab::OsPlatform::instance().page_size(); }

}  // namespace

extern "C" {

// Not declared by every C library yet (C23).
void free_sized(void* p, size_t size) noexcept;
void free_aligned_sized(void* p, size_t alignment, size_t size) noexcept;
// The C library exports these without declaring them.
void* __libc_malloc(size_t size) noexcept;
void __libc_free(void* p) noexcept;
void* __libc_calloc(size_t count, size_t size) noexcept;
void* __libc_realloc(void* p, size_t size) noexcept;
void* __libc_memalign(size_t alignment, size_t size) noexcept;
void* __libc_valloc(size_t size) noexcept;
void* __libc_pvalloc(size_t size) noexcept;
void cfree(void* p) noexcept;

void* malloc(size_t size) noexcept { return process_malloc(size); }

void free(void* p) noexcept { process_free(p); }

void* calloc(size_t count, size_t size) noexcept { return process_calloc(count, size); }

void* realloc(void* p, size_t size) noexcept { return process_realloc(p, size); }

void* reallocarray(void* p, size_t count, size_t size) noexcept {
  return process_reallocarray(p, count, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  if (!power_of_two(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  const int saved = errno;  // POSIX: the result is the error, errno is left alone
  void* p = process_aligned(alignment, size);
  const int error = errno;
  errno = saved;
  if (p == nullptr) return error == EINVAL ? EINVAL : ENOMEM;
  *out = p;
  return 0;
}

void* aligned_alloc(size_t alignment, size_t size) noexcept {
  if (!power_of_two(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  return process_aligned(alignment, size);
}

void* memalign(size_t alignment, size_t size) noexcept {
  if (alignment > MAX_POWER_OF_TWO) {  // no power of two to round up to: EINVAL, as glibc's
    errno = EINVAL;
    return nullptr;
  }
  return process_aligned(round_up_power_of_two(alignment), size);
}

void* valloc(size_t size) noexcept { return process_aligned(page_size(), size); }

void* pvalloc(size_t size) noexcept {
  const std::size_t page = page_size();
  if (size > SIZE_MAX - page) {
    errno = ENOMEM;
    return nullptr;
  }
  return process_aligned(page, size == 0 ? page : (size + page - 1) & ~(page - 1));
}

size_t malloc_usable_size(void* p) noexcept { return process_usable_size(p); }

void free_sized(void* p, size_t) noexcept { process_free<FreeCall::free_sized>(p); }

void free_aligned_sized(void* p, size_t, size_t) noexcept { process_free<FreeCall::free_aligned_sized>(p); }

int malloc_trim(size_t) noexcept { return process_trim() ? 1 : 0; }

void malloc_stats(void) noexcept { process_print_stats(); }

struct mallinfo2 mallinfo2(void) noexcept {
  return process_mallinfo();
}

// glibc's older form: each field cut to an int, as glibc's own does.
struct mallinfo mallinfo(void) noexcept {
  const struct mallinfo2 m = process_mallinfo();
  return {static_cast<int>(m.arena),   static_cast<int>(m.ordblks),  static_cast<int>(m.smblks),
          static_cast<int>(m.hblks),   static_cast<int>(m.hblkhd),   static_cast<int>(m.usmblks),
          static_cast<int>(m.fsmblks), static_cast<int>(m.uordblks), static_cast<int>(m.fordblks),
          static_cast<int>(m.keepcost)};
}

// The C library's second names of the malloc family (exported by glibc, called
// directly by some programs and libraries), and its old cfree: the same calls,
// so that a block from one name may be freed through any other.
void* __libc_malloc(size_t size) noexcept { return malloc(size); }

void __libc_free(void* p) noexcept { free(p); }

void* __libc_calloc(size_t count, size_t size) noexcept { return calloc(count, size); }

void* __libc_realloc(void* p, size_t size) noexcept { return realloc(p, size); }

void* __libc_memalign(size_t alignment, size_t size) noexcept { return memalign(alignment, size); }

void* __libc_valloc(size_t size) noexcept { return valloc(size); }

void* __libc_pvalloc(size_t size) noexcept { return pvalloc(size); }

void cfree(void* p) noexcept { free(p); }

SlabAllocator* tslab_malloc_allocator(void) {
  return reinterpret_cast<SlabAllocator*>(process_malloc_core());
}

EpochId tslab_scope_begin(const char* label) { return scope_begin(label); }

bool tslab_scope_end(void) { return scope_end(); }

uint64_t tslab_scope_innermost(void) { return scope_innermost(); }

bool tslab_scope_end_checked(uint64_t scope) { return scope_end_checked(scope); }

uint32_t tslab_scope_depth(void) { return scope_depth(); }

EpochId tslab_scope_epoch(void) { return tl_malloc_epoch; }

void tslab_scope_counters(TslabScopeCounters* out) { scope_counters(out); }

void tslab_malloc_counters(TslabMallocCounters* out) { malloc_counters(out); }

}  // extern "C"
