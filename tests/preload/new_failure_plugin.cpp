// This file contains a C++ plugin that new_failure_host.c (a C program)
// dlopens under LD_PRELOAD=libtslab-malloc.so: the C++ runtime arrives with the
// plugin, after the library was loaded, and operator new must still throw it,
// call its new-handler, and let its nothrow forms return nullptr.
#include <cstdint>
#include <new>

namespace {

int handler_calls = 0;

void* opaque(void* p) {
  asm volatile("" : "+r"(p));
  return p;
}

}  // namespace

extern "C" int plugin_run(void) {
  constexpr std::size_t HUGE_SIZE = SIZE_MAX / 2;
  int passed = 0;
  try {
    opaque(::operator new(HUGE_SIZE));
  } catch (const std::bad_alloc&) {
    passed |= 1;
  }
  std::set_new_handler([] {
    if (++handler_calls == 2) std::set_new_handler(nullptr);
  });
  try {
    opaque(::operator new(HUGE_SIZE));
  } catch (const std::bad_alloc&) {
    if (handler_calls == 2) passed |= 2;
  }
  std::set_new_handler([] { throw std::bad_alloc(); });
  if (::operator new(HUGE_SIZE, std::nothrow) == nullptr) passed |= 4;
  std::set_new_handler(nullptr);
  return passed;
}
