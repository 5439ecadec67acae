// This file contains the C++ API used from code built without exceptions and
// without RTTI (-fno-exceptions -fno-rtti, set for this file in
// tests/CMakeLists.txt), as games and embedded code often are: the headers
// compile there, the memory resources and the STL allocator work, a failure the
// standard says is thrown ends the program instead, and two resources compare
// equal only when they are the same object (nothing can tell their types).
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
  EXPECT_TRUE(resource.is_equal(resource));
  EXPECT_FALSE(resource.is_equal(same_allocator)) << "without RTTI only the same resource is equal";
  EXPECT_FALSE(arena_resource.is_equal(resource));
}

TEST(CppApiWithoutExceptionsDeathTest, WhatWouldBeThrownEndsTheProgram) {
  EXPECT_DEATH(tslab::Allocator(tslab::Options{0, nullptr}), "");
  tslab::Allocator a;
  tslab::PmrResource resource(a, a.epoch_current());
  EXPECT_DEATH((void)resource.allocate(std::size_t{1} << 50, 16), "");
}

}  // namespace
