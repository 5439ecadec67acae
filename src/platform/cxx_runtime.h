// This file contains how the library reaches the C++ runtime it does not link:
// the program's libstdc++, when it has one. The library is built without
// exceptions and names no C++ runtime, so that a C program that preloads
// libtslab-malloc.so loads none; yet what the C++ API promises to throw
// (std::bad_alloc, std::invalid_argument) must be thrown, operator new must
// call the program's new-handler, and the library's polymorphic classes keep
// their RTTI for dynamic_cast, typeid and UBSan's vptr check in the program.
//
// Every reference into the runtime is weak: it binds to the program's
// libstdc++ when one is loaded at start (every C++ program), and stays null in
// a C program. A libstdc++ loaded later (a C program that dlopens a C++
// plugin) is found by name instead (runtime_symbol). Whatever no runtime can
// do ends the program with a message on stderr.
#ifndef TSLAB_PLATFORM_CXX_RUNTIME_H
#define TSLAB_PLATFORM_CXX_RUNTIME_H

#include <cstddef>

// The runtime's vtables for typeinfo objects, which the typeinfo of every
// polymorphic class points into, and what dynamic_cast and the memory
// resources (their base class, their deleting destructors) need. Included by every source file that defines a
// key function of a polymorphic class or casts (the link of the shared
// libraries fails on any other reference into the runtime: --no-undefined).
__asm__(".weak _ZTVN10__cxxabiv117__class_type_infoE");
__asm__(".weak _ZTVN10__cxxabiv120__si_class_type_infoE");
__asm__(".weak __dynamic_cast");
__asm__(".weak _ZTINSt3pmr15memory_resourceE");
__asm__(".weak _ZNSt3pmr15memory_resourceD2Ev");
__asm__(".weak _ZdlPvm");  // a memory resource's deleting destructor (libtslab.so has no operator delete)

namespace tslab::detail {

using NewHandler = void (*)();

// A function of the program's C++ runtime by its mangled name, looked up in the
// runtime's own library (so a name the library itself defines, such as a form
// of operator new, gives the runtime's definition); nullptr if none is loaded.
void* runtime_symbol(const char* name) noexcept;

// std::get_new_handler(): nullptr without a runtime.
NewHandler runtime_new_handler() noexcept;

// The runtime throws; without one, a message and abort().
[[noreturn]] void throw_bad_alloc();
[[noreturn]] void throw_bad_array_new_length();
[[noreturn]] void throw_invalid_argument(const char* what);

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_CXX_RUNTIME_H
