// This file contains how tslab's C++ API reports a failure the standard says is
// thrown (std::bad_alloc from a memory resource or an STL allocator, an
// Allocator's bad options): through these functions, defined in the library.
// The library is built without exceptions and links no C++ runtime (a C
// program that preloads libtslab-malloc.so loads none); they throw with the
// program's own runtime, the same in every translation unit, whatever it was
// compiled with. Code built with -fno-exceptions gets std::terminate there, as
// from the standard library's own containers.
#ifndef TSLAB_EXCEPTIONS_HPP
#define TSLAB_EXCEPTIONS_HPP

namespace tslab::failure {

[[noreturn]] void bad_alloc();                         // throws std::bad_alloc
[[noreturn]] void bad_array_new_length();              // throws std::bad_array_new_length
[[noreturn]] void invalid_argument(const char* what);  // throws std::invalid_argument(what)

}  // namespace tslab::failure

#endif  // TSLAB_EXCEPTIONS_HPP
