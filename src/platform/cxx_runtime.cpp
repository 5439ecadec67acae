// This file contains the library's weak links to the program's C++ runtime
// (platform/cxx_runtime.h).
#include "platform/cxx_runtime.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "platform/no_cancel.h"

// libstdc++'s functions by their mangled names, weak: null without it.
extern "C" {
[[gnu::weak]] tslab::detail::NewHandler tslab_rt_get_new_handler() __asm__("_ZSt15get_new_handlerv");
[[gnu::weak, noreturn]] void tslab_rt_throw_bad_alloc() __asm__("_ZSt17__throw_bad_allocv");
[[gnu::weak, noreturn]] void tslab_rt_throw_bad_array_new_length() __asm__(
    "_ZSt28__throw_bad_array_new_lengthv");
[[gnu::weak, noreturn]] void tslab_rt_throw_invalid_argument(const char*) __asm__(
    "_ZSt24__throw_invalid_argumentPKc");
}

namespace tslab::detail {

namespace {

// The runtime's function `name`, weakly bound at load (`bound`) or looked up now.
template <class Fn>
Fn find(Fn bound, const char* name) noexcept {
  return bound != nullptr ? bound : reinterpret_cast<Fn>(runtime_symbol(name));
}

[[noreturn]] void no_runtime(const char* what) {
  char line[160] = "tslab: ";
  std::strncat(line, what, sizeof line - 40);
  std::strncat(line, ", and no C++ runtime to throw it\n", sizeof line - std::strlen(line) - 1);
  write_stderr(line);  // no SIGPIPE first: the process ends by the abort, as it says
  std::abort();
}

}  // namespace

void* runtime_symbol(const char* name) noexcept {
  // Only a runtime that is already loaded: RTLD_NOLOAD never loads one.
  static constexpr const char* RUNTIMES[] = {"libstdc++.so.6", "libc++.so.1"};
  for (const char* library : RUNTIMES) {
    void* handle = ::dlopen(library, RTLD_NOW | RTLD_NOLOAD);
    if (handle == nullptr) continue;
    void* symbol = ::dlsym(handle, name);
    ::dlclose(handle);  // the program's own reference keeps it loaded
    if (symbol != nullptr) return symbol;
  }
  return nullptr;
}

NewHandler runtime_new_handler() noexcept {
  using GetNewHandler = NewHandler (*)();
  const GetNewHandler get = find<GetNewHandler>(tslab_rt_get_new_handler, "_ZSt15get_new_handlerv");
  return get != nullptr ? get() : nullptr;
}

void throw_bad_alloc() {
  using Throw = void (*)();
  if (const Throw t = find<Throw>(tslab_rt_throw_bad_alloc, "_ZSt17__throw_bad_allocv")) t();
  no_runtime("std::bad_alloc");
}

void throw_bad_array_new_length() {
  using Throw = void (*)();
  if (const Throw t = find<Throw>(tslab_rt_throw_bad_array_new_length, "_ZSt28__throw_bad_array_new_lengthv"))
    t();
  no_runtime("std::bad_array_new_length");
}

void throw_invalid_argument(const char* what) {
  using Throw = void (*)(const char*);
  if (const Throw t = find<Throw>(tslab_rt_throw_invalid_argument, "_ZSt24__throw_invalid_argumentPKc"))
    t(what);
  no_runtime("std::invalid_argument");
}

}  // namespace tslab::detail
