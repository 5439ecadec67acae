// This file contains the C++ API tests: Allocator type traits and move
// semantics, PmrResource and StlAllocator with standard containers, their
// equality, option validation, perf counters and the error strings.
#include <gtest/gtest.h>

#include <list>
#include <map>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;

static_assert(!std::is_copy_constructible_v<tslab::Allocator>);
static_assert(!std::is_copy_assignable_v<tslab::Allocator>);
static_assert(std::is_nothrow_move_constructible_v<tslab::Allocator>);
static_assert(std::is_nothrow_move_assignable_v<tslab::Allocator>);
static_assert(std::is_nothrow_destructible_v<tslab::Allocator>);
static_assert(std::is_base_of_v<std::pmr::memory_resource, tslab::PmrResource>);
static_assert(std::is_same_v<tslab::StlAllocator<int>::value_type, int>);
static_assert(std::is_nothrow_copy_constructible_v<tslab::StlAllocator<int>>);

TEST(CppApi, DefaultAllocatorIsValid) {
  tslab::Allocator a;
  EXPECT_TRUE(a.valid());
  EXPECT_NE(a.core(), nullptr);
  EXPECT_EQ(a.epoch_count(), SLAB_DEFAULT_EPOCH_COUNT);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(CppApi, MoveConstructTransfersOwnership) {
  tslab::Allocator a;
  void* p = a.allocate(64);
  ASSERT_NE(p, nullptr);
  const tslab::Allocation h = a.allocate_with_handle(300, 2);
  ASSERT_NE(h.ptr, nullptr);
  tslab_test::fill_pattern(p, 64, 1);
  tslab::Allocator b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): documented state
  // Every call on the moved-from allocator is refused; none reaches b's blocks.
  EXPECT_EQ(a.allocate(64), nullptr);
  EXPECT_EQ(tslab::last_error(), Error::invalid_argument);
  EXPECT_EQ(a.deallocate(p), Error::invalid_argument);
  EXPECT_EQ(a.free_handle(h.handle), Error::invalid_argument);
  EXPECT_EQ(a.handle_to_ptr(h.handle), nullptr);
  EXPECT_FALSE(a.check().ok);
  ASSERT_TRUE(b.valid());
  EXPECT_EQ(b.usable_size(p), 64u);
  EXPECT_TRUE(tslab_test::check_pattern(p, 64, 1));
  EXPECT_EQ(b.handle_to_ptr(h.handle), h.ptr);
  EXPECT_EQ(b.deallocate(p), Error::ok);
  EXPECT_EQ(b.free_handle(h.handle), Error::ok);
  void* q = b.allocate(1000, 3);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(b.deallocate(q), Error::ok);
  EXPECT_ALLOCATOR_OK(b);
  // A moved-from allocator can be assigned to and used again.
  a = tslab::Allocator();
  ASSERT_TRUE(a.valid());
  void* r = a.allocate(32);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(a.deallocate(r), Error::ok);
  EXPECT_EQ(b.usable_size(r), 0u);
}

TEST(CppApi, MoveAssignTransfersOwnership) {
  tslab::Options o;
  o.epoch_count = 5;
  tslab::Allocator a(o);
  tslab::Allocator b;
  void* pa = a.allocate(128, 4);
  ASSERT_NE(pa, nullptr);
  void* pb = b.allocate(128, 4);  // released when b is overwritten
  ASSERT_NE(pb, nullptr);
  b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  ASSERT_TRUE(b.valid());
  EXPECT_EQ(b.epoch_count(), 5u);
  EXPECT_EQ(b.usable_size(pa), 128u);
  EXPECT_EQ(b.deallocate(pa), Error::ok);
  EXPECT_ALLOCATOR_OK(b);
  tslab::Allocator c = std::move(b);
  EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.epoch_count(), 5u);
}

TEST(CppApi, PmrVectorMapString) {
  tslab::Allocator a;
  tslab::PmrResource res(a, 1);
  EXPECT_EQ(&res.allocator(), &a);
  EXPECT_EQ(res.epoch(), 1u);
  const std::size_t n = tslab_test::scaled(100000);
  {
    std::pmr::vector<std::uint64_t> v(&res);
    for (std::size_t i = 0; i < n; ++i) v.push_back(i * 3);
    ASSERT_EQ(v.size(), n);
    EXPECT_GE(a.usable_size(v.data()), n * sizeof(std::uint64_t));
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(v[i], i * 3);

    std::pmr::map<int, std::pmr::string> m(&res);
    for (std::size_t i = 0; i < n; ++i)
      m.emplace(static_cast<int>(i),
                std::pmr::string("value-long-enough-to-leave-sso-" + std::to_string(i), &res));
    ASSERT_EQ(m.size(), n);
    for (std::size_t i = 0; i < n; i += 97) {
      auto it = m.find(static_cast<int>(i));
      ASSERT_NE(it, m.end());
      EXPECT_EQ(std::string(it->second.data(), it->second.size()),
                "value-long-enough-to-leave-sso-" + std::to_string(i));
      EXPECT_GT(a.usable_size(it->second.data()), it->second.size());
    }
    for (std::size_t i = 0; i < n; i += 2) m.erase(static_cast<int>(i));
    EXPECT_EQ(m.size(), n / 2);
    std::pmr::string s(&res);
    for (int i = 0; i < 10000; ++i) s += "abcdefgh";
    EXPECT_EQ(s.size(), 80000u);
    EXPECT_GT(a.usable_size(s.data()), s.size());
    EXPECT_ALLOCATOR_OK(a);
  }
  EXPECT_ALLOCATOR_OK(a);
  // Everything went through epoch 1 only.
  std::uint64_t slabs = tslab_test::total_new_slabs(a);
  EXPECT_GT(slabs, 0u);
  ASSERT_EQ(a.epoch_close(1), Error::ok);
  EXPECT_THROW((void)res.allocate(64), std::bad_alloc);
}

TEST(CppApi, PmrAlignmentAndEquality) {
  tslab::Allocator a;
  tslab::Allocator b;
  tslab::PmrResource r0(a, 0), r1(a, 1), other(b, 0);
  for (std::size_t al :
       {std::size_t{1}, std::size_t{8}, std::size_t{64}, std::size_t{4096}, std::size_t{65536}}) {
    void* p = r0.allocate(100, al);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(tslab_test::is_aligned(p, al));
    EXPECT_GE(a.usable_size(p), 100u);
    // Equal resources may free each other's memory.
    r1.deallocate(p, 100, al);
    EXPECT_EQ(a.usable_size(p), 0u);
  }
  EXPECT_TRUE(r0.is_equal(r1));
  EXPECT_TRUE(r0 == r1);
  EXPECT_FALSE(r0.is_equal(other));
  EXPECT_FALSE(r0 == other);
  EXPECT_FALSE(r0.is_equal(*std::pmr::new_delete_resource()));
  EXPECT_THROW((void)r0.allocate(std::size_t{1} << 62), std::bad_alloc);
  EXPECT_ALLOCATOR_OK(a);
}

TEST(CppApi, StlAllocatorVector) {
  tslab::Allocator a;
  using Alloc = tslab::StlAllocator<std::uint32_t>;
  const std::size_t n = tslab_test::scaled(100000);
  std::vector<std::uint32_t, Alloc> v(Alloc(a, 2));
  for (std::size_t i = 0; i < n; ++i) v.push_back(static_cast<std::uint32_t>(i ^ 0xABCD));
  ASSERT_EQ(v.size(), n);
  EXPECT_GT(a.usable_size(&v[0]), 0u);
  EXPECT_GE(a.usable_size(&v[0]), v.capacity() * sizeof(std::uint32_t));
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(v[i], static_cast<std::uint32_t>(i ^ 0xABCD));
  std::vector<std::uint32_t, Alloc> copy(v);
  EXPECT_EQ(copy, v);
  EXPECT_GT(a.usable_size(copy.data()), 0u);
  EXPECT_NE(copy.data(), v.data());
  v.clear();
  v.shrink_to_fit();
  EXPECT_ALLOCATOR_OK(a);
}

// Node containers: the value lives inside a node, so the evidence that nodes
// came from this allocator is its counters for the node's size class.
template <class Container, class Fill>
void run_node_container(std::size_t node_payload, Fill fill) {
  tslab::Allocator a;
  const std::uint32_t cls = slab_size_class_of(node_payload);
  ASSERT_EQ(a.perf_counters(cls).new_slab_count, 0u);
  {
    Container c(typename Container::allocator_type(a, 0));
    fill(c);
    EXPECT_GT(tslab_test::total_new_slabs(a), 0u);
    EXPECT_ALLOCATOR_OK(a);
  }
  EXPECT_ALLOCATOR_OK(a);
}

TEST(CppApi, StlAllocatorMap) {
  using V = std::pair<const int, std::uint64_t>;
  using M = std::map<int, std::uint64_t, std::less<int>, tslab::StlAllocator<V>>;
  const std::size_t n = tslab_test::scaled(100000);
  tslab::Allocator a;
  {
    M m(tslab::StlAllocator<V>(a, 3));
    for (std::size_t i = 0; i < n; ++i) m.emplace(static_cast<int>(i), i * i);
    ASSERT_EQ(m.size(), n);
    for (std::size_t i = 0; i < n; i += 101) EXPECT_EQ(m.at(static_cast<int>(i)), i * i);
    // A map node is a few pointers plus the value: its class got slabs.
    std::uint64_t slabs = 0;
    for (std::size_t s = 48; s <= 80; s += 16) slabs += a.perf_counters(slab_size_class_of(s)).new_slab_count;
    EXPECT_GT(slabs, 0u);
    EXPECT_GE(tslab_test::total_new_slabs(a), n / (SLAB_PAGE_SIZE / 48));
    for (std::size_t i = 0; i < n; i += 3) m.erase(static_cast<int>(i));
    EXPECT_ALLOCATOR_OK(a);
  }
  EXPECT_ALLOCATOR_OK(a);
}

TEST(CppApi, StlAllocatorUnorderedMapAndList) {
  const std::size_t n = tslab_test::scaled(100000);
  using V = std::pair<const std::uint64_t, std::uint64_t>;
  using U = std::unordered_map<std::uint64_t, std::uint64_t, std::hash<std::uint64_t>,
                               std::equal_to<std::uint64_t>, tslab::StlAllocator<V>>;
  run_node_container<U>(32, [n](U& u) {
    for (std::size_t i = 0; i < n; ++i) u.emplace(i, ~i);
    ASSERT_EQ(u.size(), n);
    for (std::size_t i = 0; i < n; i += 7) ASSERT_EQ(u.at(i), ~i);
  });
  using L = std::list<int, tslab::StlAllocator<int>>;
  run_node_container<L>(24, [n](L& l) {
    for (std::size_t i = 0; i < n; ++i) l.push_back(static_cast<int>(i));
    ASSERT_EQ(l.size(), n);
    long long sum = 0;
    for (int x : l) sum += x;
    EXPECT_EQ(sum, static_cast<long long>(n) * (static_cast<long long>(n) - 1) / 2);
    l.remove_if([](int x) { return x % 2 == 0; });
    EXPECT_EQ(l.size(), n / 2);
  });
}

TEST(CppApi, StlAllocatorEquality) {
  tslab::Allocator a;
  tslab::Allocator b;
  tslab::StlAllocator<int> ai0(a, 0);
  tslab::StlAllocator<double> ad1(a, 1);
  tslab::StlAllocator<int> bi0(b, 0);
  tslab::StlAllocator<long> rebound(ai0);
  EXPECT_TRUE(ai0 == ad1);
  EXPECT_TRUE(ai0 == rebound);
  EXPECT_FALSE(ai0 == bi0);
  EXPECT_TRUE(ai0 != bi0);
  // Memory from one equal allocator is freed by another.
  int* p = ai0.allocate(10);
  ASSERT_NE(p, nullptr);
  EXPECT_GE(a.usable_size(p), 10 * sizeof(int));
  tslab::StlAllocator<int> other_epoch(ad1);
  other_epoch.deallocate(p, 10);
  EXPECT_EQ(a.usable_size(p), 0u);
  EXPECT_THROW((void)ai0.allocate(static_cast<std::size_t>(-1) / sizeof(int) + 1), std::bad_array_new_length);
  EXPECT_THROW((void)ai0.allocate(std::size_t{1} << 60), std::bad_alloc);
}

TEST(CppApi, OptionsValidation) {
  for (std::uint32_t bad : {0u, 257u, 4096u, UINT32_MAX}) {
    tslab::Options o;
    o.epoch_count = bad;
    EXPECT_THROW(tslab::Allocator{o}, std::invalid_argument) << bad;
  }
  for (std::uint32_t ok : {1u, 16u, 256u}) {
    tslab::Options o;
    o.epoch_count = ok;
    tslab::Allocator a(o);
    EXPECT_EQ(a.epoch_count(), ok);
  }
  tslab::Options o;
  o.platform = &tslab::OsPlatform::instance();
  tslab::Allocator a(o);
  void* p = a.allocate(64);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(a.deallocate(p), Error::ok);
}

TEST(CppApi, PerfCounters) {
  tslab::Allocator a;
  const std::uint32_t cls = slab_size_class_of(64);
  const std::size_t n = 10000;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < n; ++i) blocks.push_back(a.allocate(64, 0));
  const PerfCounters pc = a.perf_counters(cls);
  const std::uint64_t needed = (n + slab_object_count(64) - 1) / slab_object_count(64);
  EXPECT_GE(pc.new_slab_count, needed);
  EXPECT_GT(pc.slow_path_hits, 0u);
  EXPECT_EQ(a.perf_counters(slab_size_class_of(4000)).new_slab_count, 0u) << "untouched class";
  const PerfCounters out_of_range = a.perf_counters(slab_size_class_count());
  EXPECT_EQ(out_of_range.new_slab_count, 0u);
  EXPECT_EQ(out_of_range.slow_path_hits, 0u);
  for (void* p : blocks) ASSERT_EQ(a.deallocate(p), Error::ok);

  SlabAllocator* c = slab_allocator_create();
  ASSERT_NE(c, nullptr);
  PerfCounters cpc{};
  EXPECT_FALSE(get_perf_counters(c, slab_size_class_count(), &cpc));
  EXPECT_FALSE(get_perf_counters(c, 0, nullptr));
  EXPECT_FALSE(get_perf_counters(nullptr, 0, &cpc));
  ASSERT_TRUE(get_perf_counters(c, slab_size_class_of(256), &cpc));
  EXPECT_EQ(cpc.new_slab_count, 0u);
  for (int i = 0; i < 1000; ++i) ASSERT_NE(alloc_obj_epoch(c, 256, 0, nullptr), nullptr);
  ASSERT_TRUE(get_perf_counters(c, slab_size_class_of(256), &cpc));
  EXPECT_GE(cpc.new_slab_count, 1000u / slab_object_count(256));
  EXPECT_GT(cpc.slow_path_hits, 0u);
  slab_allocator_free(c);
}

TEST(CppApi, ErrorStringsAndLastError) {
  for (int e = TSLAB_OK; e <= TSLAB_ERR_DOUBLE_FREE; ++e) {
    const char* s = tslab::to_string(static_cast<Error>(e));
    ASSERT_NE(s, nullptr) << e;
    EXPECT_GT(std::string(s).size(), 0u) << e;
    const char* cs = slab_error_string(static_cast<TslabError>(e));
    ASSERT_NE(cs, nullptr) << e;
    EXPECT_GT(std::string(cs).size(), 0u) << e;
  }
  EXPECT_NE(std::string(tslab::to_string(Error::double_free)), std::string(tslab::to_string(Error::ok)));
  tslab::Allocator a;
  EXPECT_EQ(a.allocate_aligned(8, 3), nullptr);
  EXPECT_EQ(tslab::last_error(), Error::bad_alignment);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_ALIGNMENT);
  // A success does not reset the last error.
  void* p = a.allocate(8);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(tslab::last_error(), Error::bad_alignment);
  EXPECT_EQ(a.deallocate(p), Error::ok);
  // The last error is per thread.
  Error seen = Error::double_free;
  std::thread([&] { seen = tslab::last_error(); }).join();
  EXPECT_EQ(seen, Error::ok);
}

TEST(CppApi, Utilities) {
  EXPECT_GT(read_rss_bytes_linux(), 0u);
  std::uint64_t prev = now_ns();
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t t = now_ns();
    ASSERT_GE(t, prev);
    prev = t;
  }
}

}  // namespace
