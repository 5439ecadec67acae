// This file contains a program linked with libtslab.so that uses each part of
// its API, the seed API's unprefixed names among them (alloc_obj_epoch,
// free_obj, epoch_advance, epoch_domain_*), the C++ API and an EpochScope; run
// under LD_PRELOAD=libtslab-malloc.so as well as without it. The preloaded
// library exports the prefixed names too: before they were versioned
// (cmake/tslab.map, cmake/tslab-malloc.map), the program's slab_* and tslab::
// calls bound to the preload and its seed calls to libtslab.so, so an
// allocator made by one tslab reached the other, which crashed. Under the
// preload, the preload's own functions (found with dlsym(RTLD_DEFAULT), as an
// FFI finds them) refuse this library's allocators, and this library refuses
// the preload's process allocator, where before they took them for their own.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "epoch_domain.h"
#include "slab_alloc.h"
#include "slab_arena.h"
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

// The functions of the copy of tslab first in the process's lookup order: the
// preload's, if there is one (nullptr if that is this program's library).
template <class F>
F other_copys(const char* name, F own) {
  auto* f = reinterpret_cast<F>(::dlsym(RTLD_DEFAULT, name));
  return f == own ? nullptr : f;
}

// Run first, so that this library's first allocator and the preload's process
// allocator have the same record number (1 in each copy), and their slabs the
// same ids: a handle of one names a slab id the other copy's registry gives
// that record too. This library's free_obj on the preload's allocator must
// refuse every handle of it, and free none of this library's own blocks.
void handles_across_copies() {
  const auto other_create = other_copys("slab_allocator_create", &slab_allocator_create);
  if (other_create == nullptr) return;
  using ProcessAllocator = SlabAllocator* (*)();
  const auto process_allocator =
      reinterpret_cast<ProcessAllocator>(::dlsym(RTLD_DEFAULT, "tslab_malloc_allocator"));
  const auto other_to_handle = other_copys("slab_ptr_to_handle", &slab_ptr_to_handle);
  check(process_allocator != nullptr && other_to_handle != nullptr, "the preload exports its handle calls");
  if (process_allocator == nullptr || other_to_handle == nullptr) return;
  SlabAllocator* mine = slab_allocator_create();
  SlabAllocator* theirs = process_allocator();
  check(mine != nullptr && theirs != nullptr, "the two allocators");
  if (mine == nullptr || theirs == nullptr) return;
  // Blocks of every class up to 4 KiB in 4 epochs on each side: slabs in use at
  // many of the ids both copies hand out first.
  std::vector<SlabHandle> own;
  std::vector<void*> blocks;
  for (std::uint32_t c = 0; c < slab_size_class_count() && slab_class_size(c) <= 4096; ++c) {
    for (int i = 0; i < 20; ++i) {
      for (EpochId e = 0; e < 4; ++e) {
        SlabHandle h = 0;
        check(alloc_obj_epoch(mine, slab_class_size(c), e, &h) != nullptr, "alloc_obj_epoch");
        own.push_back(h);
        blocks.push_back(std::malloc(slab_class_size(c)));
      }
    }
  }
  int accepted = 0;
  for (void* b : blocks) {
    const SlabHandle h = other_to_handle(theirs, b);
    if (h != 0 && free_obj(theirs, h)) ++accepted;
  }
  check(accepted == 0, "this library refuses the handles of the preload's allocator");
  int lost = 0;
  for (SlabHandle h : own) lost += slab_handle_to_ptr(mine, h) == nullptr;
  check(lost == 0, "no block of this library's allocator was freed by another allocator's handle");
  for (SlabHandle h : own) free_obj(mine, h);
  for (void* b : blocks) std::free(b);
  slab_allocator_free(mine);
}

void other_copy() {
  const auto other_create = other_copys("slab_allocator_create", &slab_allocator_create);
  if (other_create == nullptr) return;  // no preload: one tslab in the process
  const auto other_free = other_copys("slab_allocator_free", &slab_allocator_free);
  const auto other_malloc = other_copys("slab_malloc_epoch", &slab_malloc_epoch);
  const auto other_advance = other_copys("slab_epoch_advance", &slab_epoch_advance);
  const auto other_error = other_copys("slab_last_error", &slab_last_error);
  check(
      other_free != nullptr && other_malloc != nullptr && other_advance != nullptr && other_error != nullptr,
      "the preload exports its functions");
  if (other_free == nullptr || other_malloc == nullptr || other_advance == nullptr || other_error == nullptr)
    return;

  // This library's allocator, fresh (no thread attached to it yet), handed to
  // the preload: refused, and still this library's afterwards.
  SlabAllocator* mine = slab_allocator_create();
  check(mine != nullptr, "slab_allocator_create");
  if (mine == nullptr) return;
  check(other_malloc(mine, 64, 0) == nullptr && other_error() == TSLAB_ERR_INVALID_ARGUMENT,
        "the preload refuses to allocate from this library's allocator");
  check(other_advance(mine) == 0 && other_error() == TSLAB_ERR_INVALID_ARGUMENT && epoch_current(mine) == 0,
        "the preload refuses to advance this library's allocator");
  other_free(mine);
  check(other_error() == TSLAB_ERR_INVALID_ARGUMENT, "the preload refuses to free this library's allocator");
  void* p = slab_malloc_epoch(mine, 64, 0);
  check(p != nullptr && slab_free_checked(mine, p),
        "this library's allocator works after the preload refused it");
  // An arena of this library's, handed to the preload: neither reset nor destroyed.
  const auto other_arena_reset = other_copys("slab_arena_reset", &slab_arena_reset);
  const auto other_arena_destroy = other_copys("slab_arena_destroy", &slab_arena_destroy);
  SlabArena* arena = slab_arena_create(mine, nullptr);
  check(arena != nullptr && slab_arena_alloc(arena, 100, 8) != nullptr, "slab_arena_create");
  if (arena != nullptr && other_arena_reset != nullptr && other_arena_destroy != nullptr) {
    check(!other_arena_reset(arena) && !other_arena_destroy(arena),
          "the preload refuses this library's arena");
    check(slab_arena_alloc(arena, 100, 8) != nullptr && slab_arena_destroy(arena),
          "this library's arena works after the preload refused it");
  }
  char message[256] = {0};
  // This library's epoch calls and domains, through the preload: refused.
  const auto other_label = other_copys("slab_epoch_set_label", &slab_epoch_set_label);
  const auto other_inc = other_copys("slab_epoch_inc_refcount", &slab_epoch_inc_refcount);
  const auto other_enter = other_copys("slab_epoch_domain_enter", &slab_epoch_domain_enter);
  const auto other_destroy_domain = other_copys("slab_epoch_domain_destroy", &slab_epoch_domain_destroy);
  if (other_label != nullptr && other_inc != nullptr && other_enter != nullptr &&
      other_destroy_domain != nullptr) {
    check(!other_label(mine, 0, "x") && other_inc(mine, 0) == 0 && slab_epoch_get_refcount(mine, 0) == 0,
          "the preload refuses this library's epoch calls");
    EpochDomain* d = epoch_domain_create(mine);
    check(d != nullptr, "epoch_domain_create");
    if (d != nullptr) {
      check(!other_enter(d) && !other_destroy_domain(d), "the preload refuses this library's domain");
      check(epoch_domain_enter(d) && epoch_domain_current() == d && epoch_domain_exit(d) &&
                epoch_domain_destroy(d),
            "this library's domain works after the preload refused it");
    }
  } else {
    check(false, "the preload exports its epoch and domain calls");
  }
  check(slab_check(mine, message, sizeof message), message);
  slab_allocator_free(mine);

  // The reverse: an allocator the preload made, handed to this library.
  SlabAllocator* theirs = other_create();
  check(theirs != nullptr, "the preload's slab_allocator_create");
  if (theirs == nullptr) return;
  check(slab_malloc_epoch(theirs, 64, 0) == nullptr && slab_last_error() == TSLAB_ERR_INVALID_ARGUMENT,
        "this library refuses to allocate from the preload's allocator");
  slab_allocator_free(theirs);
  check(slab_last_error() == TSLAB_ERR_INVALID_ARGUMENT,
        "this library refuses to free the preload's allocator");
  void* q = other_malloc(theirs, 64, 0);
  check(q != nullptr, "the preload's allocator works after this library refused it");
  other_free(theirs);
  check(other_malloc(theirs, 64, 0) == nullptr, "the preload frees its own allocator");
}

}  // namespace

int main() {
  // The process's malloc, whichever library serves it.
  char* text = static_cast<char*>(std::malloc(64));
  check(text != nullptr, "malloc");
  handles_across_copies();
  c_api();
  cpp_api();
  other_copy();
  std::free(text);
  if (failures != 0) return 1;
  std::printf("linked_api: ok\n");
  return 0;
}
