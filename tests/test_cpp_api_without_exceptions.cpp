// This file contains the C++ API used from code built without exceptions and
// without RTTI (-fno-exceptions -fno-rtti, set for this file in
// tests/CMakeLists.txt), as games and embedded code often are: the headers
// compile there, the memory resources and the STL allocator work and compare
// as in any other code (the type checks run in the library), and a failure the
// standard says is thrown is thrown all the same (by the library, with the
// program's runtime), passing this code's frames without running their
// destructors, as from the standard library's own containers built so: the
// statement never returns (here GoogleTest's own frames catch it).
#include <gtest/gtest.h>

#include <memory_resource>
#include <vector>

#include "tslab/arena.hpp"
#include "tslab/tslab.hpp"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(__GXX_RTTI)
#error "this file must be built with -fno-exceptions -fno-rtti"
#endif

namespace {

TEST(CppApiWithoutExceptions, ContainersAllocateThroughTheResourcesAndTheStlAllocator) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  tslab::PmrResource resource(a, e);
  std::pmr::vector<int> pmr_ints(&resource);
  for (int i = 0; i < 10000; ++i) pmr_ints.push_back(i);
  EXPECT_EQ(pmr_ints[9999], 9999);
  EXPECT_NE(a.ptr_to_handle(pmr_ints.data()), 0u) << "the vector's storage is the allocator's";

  std::vector<int, tslab::StlAllocator<int>> stl_ints(tslab::StlAllocator<int>(a, e));
  for (int i = 0; i < 10000; ++i) stl_ints.push_back(i);
  EXPECT_EQ(stl_ints[5000], 5000);
  EXPECT_NE(a.ptr_to_handle(stl_ints.data()), 0u);

  tslab::Arena arena(a);
  tslab::ArenaResource arena_resource(arena);
  std::pmr::vector<int> arena_ints(&arena_resource);
  for (int i = 0; i < 1000; ++i) arena_ints.push_back(i);
  EXPECT_EQ(arena_ints[999], 999);

  tslab::PmrResource same_allocator(a, e);
  tslab::Allocator other;
  tslab::PmrResource other_allocator(other, other.epoch_current());
  EXPECT_TRUE(resource.is_equal(same_allocator)) << "one allocator: either frees the other's memory";
  EXPECT_FALSE(resource.is_equal(other_allocator));
  EXPECT_FALSE(arena_resource.is_equal(resource));
  EXPECT_FALSE(resource.is_equal(arena_resource));
}

TEST(CppApiWithoutExceptionsDeathTest, WhatWouldBeThrownEndsTheProgram) {
  EXPECT_DEATH(tslab::Allocator(tslab::Options{0, nullptr}), "");
  tslab::Allocator a;
  tslab::PmrResource resource(a, a.epoch_current());
  EXPECT_DEATH((void)resource.allocate(std::size_t{1} << 50, 16), "");
  std::vector<int, tslab::StlAllocator<int>> v(tslab::StlAllocator<int>(a, a.epoch_current()));
  EXPECT_DEATH(v.reserve(std::size_t{1} << 60), "");
}

}  // namespace
