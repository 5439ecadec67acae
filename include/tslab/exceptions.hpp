// This file contains how the inline parts of tslab's C++ API report a failure
// the standard says is thrown (std::bad_alloc from a memory resource, an
// Allocator's bad options): by throwing in code built with exceptions, by
// std::abort() in code built without (-fno-exceptions). tslab's libraries are
// built without exceptions and without RTTI, so that they need no C++ runtime:
// everything here that throws or asks a type at run time is compiled in the
// program's own code, with the program's own settings.
#ifndef TSLAB_EXCEPTIONS_HPP
#define TSLAB_EXCEPTIONS_HPP

#include <cstdlib>
#include <new>
#include <stdexcept>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define TSLAB_HAS_EXCEPTIONS 1
#else
#define TSLAB_HAS_EXCEPTIONS 0
#endif

#if defined(__cpp_rtti) || defined(__GXX_RTTI)
#define TSLAB_HAS_RTTI 1
#else
#define TSLAB_HAS_RTTI 0
#endif

namespace tslab::failure {

[[noreturn]] inline void bad_alloc() {
#if TSLAB_HAS_EXCEPTIONS
  throw std::bad_alloc();
#else
  std::abort();
#endif
}

[[noreturn]] inline void bad_array_new_length() {
#if TSLAB_HAS_EXCEPTIONS
  throw std::bad_array_new_length();
#else
  std::abort();
#endif
}

[[noreturn]] inline void invalid_argument(const char* what) {
#if TSLAB_HAS_EXCEPTIONS
  throw std::invalid_argument(what);
#else
  (void)what;
  std::abort();
#endif
}

}  // namespace tslab::failure

#endif  // TSLAB_EXCEPTIONS_HPP
