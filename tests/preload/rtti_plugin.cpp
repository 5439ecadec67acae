// This file contains a C++ plugin that a C program linked with libtslab.so
// dlopens (new_failure_host.c, built as late_runtime_host): the C++ runtime
// arrives after the library was loaded, and the library's classes must still
// carry their types (dynamic_cast, typeid, memory resources compared). Run
// under LD_PRELOAD=libtslab-malloc.so too, where an EpochScope's inline calls
// (epoch_domain_*) must reach the same tslab as the allocator's own calls.
#include <memory_resource>
#include <typeinfo>

#include "tslab/epoch_scope.hpp"
#include "tslab/tslab.hpp"

extern "C" int plugin_run(void) {
  int passed = 0;
  tslab::Allocator a;
  tslab::PmrResource r1(a, a.epoch_current()), r2(a, a.epoch_current());
  if (r1.is_equal(r2)) passed |= 1;
  tslab::Platform& os = tslab::OsPlatform::instance();
  if (dynamic_cast<tslab::OsPlatform*>(&os) == &tslab::OsPlatform::instance()) passed |= 2;
  if (typeid(os) == typeid(tslab::OsPlatform)) passed |= 4;
  {
    tslab::EpochScope scope(a);
    void* p = scope.allocate(16);
    if (!scope.ok() || p == nullptr) return 0;
    scope.deallocate(p);
  }
  return passed;
}
