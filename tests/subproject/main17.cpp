// A C++17 program of the parent project, using tslab's C++ API.
#include <cstdio>
#include <tslab/arena.hpp>
#include <tslab/epoch_scope.hpp>
#include <tslab/tslab.hpp>
#include <vector>

static_assert(__cplusplus == 201703L, "this program must be compiled as C++17");

int main() {
  tslab::Allocator alloc;
  std::vector<int, tslab::StlAllocator<int>> v(tslab::StlAllocator<int>(alloc, alloc.epoch_current()));
  for (int i = 0; i < 100; ++i) v.push_back(i);
  {
    tslab::EpochScope frame(alloc);
    void* p = frame.allocate(32);
    if (!frame.ok() || p == nullptr || !frame.deallocate(p)) return 1;
  }
  alloc.epoch_advance();  // the scope closed the current epoch
  tslab::Arena scratch(alloc);
  if (!scratch || scratch.make<int>(7) == nullptr) return 1;
  if (v[99] != 99 || !alloc.check().ok) return 1;
  std::puts("parent (C++17): ok");
  return 0;
}
