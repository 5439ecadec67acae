// This file contains tslab_churn_count: a fixed churn for instruction counts
// under callgrind, which the machine's load cannot move. One thread keeps a
// window of 10,000 blocks of 128 B and does 1,000,000 free + allocate pairs at
// random places in it, through the pointer API or (with "handles") the handle
// API. Run: valgrind --tool=callgrind build/bench/tslab_churn_count [handles]
#include <cstdio>
#include <cstring>
#include <vector>

#include "slab_alloc.h"

int main(int argc, char** argv) {
  const bool handles = argc > 1 && std::strcmp(argv[1], "handles") == 0;
  SlabAllocator* a = slab_allocator_create();
  if (a == nullptr) return 1;
  std::vector<void*> window(10000);
  std::vector<SlabHandle> ids(window.size());
  for (std::size_t i = 0; i < window.size(); ++i)
    window[i] = handles ? alloc_obj_epoch(a, 128, 0, &ids[i]) : slab_malloc_epoch(a, 128, 0);
  unsigned x = 1;
  for (int i = 0; i < 1000000; ++i) {
    x = x * 1664525u + 1013904223u;  // a fixed sequence: the same count every run
    const std::size_t k = x % window.size();
    if (handles) {
      if (!free_obj(a, ids[k])) return 2;
      window[k] = alloc_obj_epoch(a, 128, 0, &ids[k]);
    } else {
      if (!slab_free_checked(a, window[k])) return 2;
      window[k] = slab_malloc_epoch(a, 128, 0);
    }
    if (window[k] == nullptr) return 3;
  }
  for (void* p : window) slab_free(a, p);
  slab_allocator_free(a);
  std::printf("%s churn: 1000000 pairs\n", handles ? "handle" : "pointer");
  return 0;
}
