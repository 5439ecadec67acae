// A counting system malloc for tests that check tslab never calls it. Include it
// in exactly one source file of a test executable: it defines malloc, calloc,
// realloc and free, forwarding to glibc and counting calls made by a thread while
// a MallocCounted guard is alive. Sanitizer builds interpose malloc themselves,
// so there the definitions are left out and MALLOC_COUNTER_ACTIVE is 0.
#ifndef TSLAB_TESTS_MALLOC_COUNTER_H
#define TSLAB_TESTS_MALLOC_COUNTER_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MALLOC_COUNTER_ACTIVE 0
#else
#define MALLOC_COUNTER_ACTIVE 1
#endif

namespace malloc_counter {
inline thread_local bool t_counting = false;
inline std::atomic<std::uint64_t> g_calls{0};
[[maybe_unused]] inline void count() {
  if (t_counting) g_calls.fetch_add(1, std::memory_order_relaxed);
}
// Counts this thread's malloc-family calls while alive.
struct MallocCounted {
  MallocCounted() { t_counting = true; }
  ~MallocCounted() { t_counting = false; }
};
}  // namespace malloc_counter

#if MALLOC_COUNTER_ACTIVE
extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);
extern "C" void __libc_free(void*);

extern "C" {
void* malloc(std::size_t n) {
  malloc_counter::count();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t m) {
  malloc_counter::count();
  return __libc_calloc(n, m);
}
void* realloc(void* p, std::size_t n) {
  malloc_counter::count();
  return __libc_realloc(p, n);
}
void free(void* p) {
  malloc_counter::count();
  __libc_free(p);
}
}
#endif

#endif  // TSLAB_TESTS_MALLOC_COUNTER_H
