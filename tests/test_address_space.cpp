// This file contains the test that large spans and segments share memory
// mappings: a process holding tens of thousands of blocks above the largest
// size class must stay far below the kernel's limit on mappings
// (vm.max_map_count, 65,530 by default), which one mapping per span would hit.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tslab/tslab.hpp"

namespace {

std::size_t mappings() {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

TEST(AddressSpace, ManyLargeSpansShareMappings) {
  tslab::Allocator a;
  constexpr std::size_t SPANS = 20000;
  const std::size_t before = mappings();
  std::vector<void*> spans;
  spans.reserve(SPANS);
  for (std::size_t i = 0; i < SPANS; ++i) {
    void* p = a.allocate(20000 + (i % 16) * 4096);
    ASSERT_NE(p, nullptr) << i;
    static_cast<char*>(p)[0] = 1;
    spans.push_back(p);
  }
  const std::size_t after = mappings();
  EXPECT_LT(after - before, SPANS / 20) << before << " -> " << after << " mappings";
  for (void* p : spans) ASSERT_EQ(a.deallocate(p), tslab::Error::ok);
}

}  // namespace
