// This file contains a program linked with libtslab.so that uses each part of
// its API, the seed API's unprefixed names among them (alloc_obj_epoch,
// free_obj, epoch_advance, epoch_domain_*), the C++ API and an EpochScope; run
// under LD_PRELOAD=libtslab-malloc.so as well as without it. The preloaded
// library exports the prefixed names too: before they were versioned
// (cmake/tslab.map, cmake/tslab-malloc.map), the program's slab_* and tslab::
// calls bound to the preload and its seed calls to libtslab.so, so an
// allocator made by one tslab reached the other, which crashed.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "epoch_domain.h"
#include "slab_alloc.h"
#include "tslab/epoch_scope.hpp"
#include "tslab/tslab.hpp"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "linked_api: check failed: %s\n", what);
    ++failures;
  }
}

void c_api() {
  SlabAllocator* alloc = slab_allocator_create();
  check(alloc != nullptr, "slab_allocator_create");
  if (alloc == nullptr) return;
  const EpochId epoch = epoch_current(alloc);
  SlabHandle handle = 0;
  auto* obj = static_cast<unsigned char*>(alloc_obj_epoch(alloc, 128, epoch, &handle));
  check(obj != nullptr && handle != 0, "alloc_obj_epoch");
  if (obj != nullptr) std::memset(obj, 0x5a, 128);
  check(slab_handle_to_ptr(alloc, handle) == obj, "slab_handle_to_ptr");
  check(free_obj(alloc, handle), "free_obj");
  check(!free_obj(alloc, handle), "free_obj refuses a double free");
  void* p = slab_malloc_epoch(alloc, 200, epoch);
  check(p != nullptr && slab_free_checked(alloc, p), "slab_malloc_epoch + slab_free_checked");
  const EpochId next = epoch_advance(alloc);
  check(next != epoch && epoch_current(alloc) == next, "epoch_advance");
  check(!epoch_close(alloc, SLAB_MAX_EPOCH_COUNT), "epoch_close refuses a slot out of range");

  EpochDomain* d = epoch_domain_create(alloc);
  check(d != nullptr, "epoch_domain_create");
  if (d != nullptr) {
    check(epoch_domain_enter(d), "epoch_domain_enter");
    check(epoch_domain_allocator() == alloc, "epoch_domain_allocator");
    void* q = alloc_obj_epoch(alloc, 64, d->epoch_id, nullptr);
    check(q != nullptr && slab_free_checked(alloc, q), "an allocation in the domain's epoch");
    check(epoch_domain_exit(d), "epoch_domain_exit");
    check(epoch_domain_destroy(d), "epoch_domain_destroy");
  }
  PerfCounters counters;
  check(get_perf_counters(alloc, 0, &counters), "get_perf_counters");
  char message[256] = {0};
  check(slab_check(alloc, message, sizeof message), message);
  slab_allocator_free(alloc);
}

void cpp_api() {
  tslab::Allocator alloc;
  void* p = alloc.allocate(100);
  check(p != nullptr, "Allocator::allocate");
  std::vector<int, tslab::StlAllocator<int>> v(tslab::StlAllocator<int>(alloc, alloc.epoch_current()));
  v.assign(1000, 3);
  check(v.size() == 1000 && v[999] == 3, "a vector in the allocator");
  {
    // Ends by closing the current epoch (an auto-close domain).
    tslab::EpochScope scope(alloc);
    check(scope.ok(), "EpochScope");
    void* q = scope.allocate(10);
    check(q != nullptr, "EpochScope::allocate");
    scope.deallocate(q);
  }
  alloc.deallocate(p);
}

}  // namespace

int main() {
  // The process's malloc, whichever library serves it.
  char* text = static_cast<char*>(std::malloc(64));
  check(text != nullptr, "malloc");
  c_api();
  cpp_api();
  std::free(text);
  if (failures != 0) return 1;
  std::printf("linked_api: ok\n");
  return 0;
}
