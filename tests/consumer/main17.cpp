// Uses tslab's C++ API from an installed package, compiled as C++17 (the
// minimum the public C++ headers support). Exits non-zero on any failure.
#include <tslab/version.h>

#include <cstdio>
#include <cstring>
#include <list>
#include <memory_resource>
#include <string>
#include <tslab/arena.hpp>
#include <tslab/epoch_scope.hpp>
#include <tslab/platform.hpp>
#include <tslab/stats.hpp>
#include <tslab/tslab.hpp>
#include <vector>

static_assert(__cplusplus == 201703L, "this consumer must be compiled as C++17");

namespace {
int failures = 0;
void check(bool ok, const char* what, int line) {
  if (!ok) {
    std::fprintf(stderr, "main17.cpp:%d: check failed: %s\n", line, what);
    ++failures;
  }
}
struct Node {
  int key;
  Node* next;
};
}  // namespace

#define CHECK(cond) check((cond), #cond, __LINE__)

int main() {
  CHECK(tslab_version() == TSLAB_VERSION);

  // An allocator over a platform of the caller's choosing.
  tslab::FaultInjectingPlatform platform(tslab::OsPlatform::instance());
  tslab::Options options;
  options.epoch_count = 8;
  options.platform = &platform;
  tslab::Allocator alloc(options);
  CHECK(alloc.valid());
  CHECK(alloc.epoch_count() == 8);
  const tslab::EpochId epoch = alloc.epoch_current();

  void* p = alloc.allocate(100, epoch);
  CHECK(p != nullptr);
  if (p != nullptr) std::memset(p, 0x5a, 100);
  CHECK(alloc.deallocate(p) == tslab::Error::ok);

  {
    std::vector<int, tslab::StlAllocator<int>> v(tslab::StlAllocator<int>(alloc, epoch));
    for (int i = 0; i < 1000; ++i) v.push_back(i);
    CHECK(v[999] == 999);
    // What containers ask of an allocator beyond allocate: == and != (C++17
    // derives neither from the other), in splice and move assignment.
    const tslab::StlAllocator<int> same(alloc, 0);
    CHECK(same == v.get_allocator() && !(same != v.get_allocator()));
    tslab::Allocator other_alloc;
    CHECK(tslab::StlAllocator<long>(other_alloc, 0) != v.get_allocator());
    std::list<int, tslab::StlAllocator<int>> from(same), to(same);
    from.push_back(1);
    to.splice(to.end(), from);
    CHECK(from.empty() && to.size() == 1);
    using String = std::basic_string<char, std::char_traits<char>, tslab::StlAllocator<char>>;
    String s1("a string too long for the small-string buffer", same), s2(same);
    s2 = std::move(s1);
    CHECK(s2.size() == 45);
    tslab::PmrResource resource(alloc, epoch);
    std::pmr::vector<long> pv(&resource);
    for (long i = 0; i < 100; ++i) pv.push_back(i);
    CHECK(pv[50] == 50);
  }

  {
    tslab::EpochScope frame(alloc);
    CHECK(frame.ok());
    void* q = frame.allocate(64);
    CHECK(q != nullptr);
    CHECK(frame.deallocate(q));
  }

  // The scope closed the current epoch on its way out; the arena takes a new one.
  CHECK(alloc.epoch_state(alloc.epoch_current()) == tslab::EpochState::closing);
  alloc.epoch_advance();
  tslab::Arena scratch(alloc);
  CHECK(scratch.ok());
  Node* node = scratch.make<Node>(Node{7, nullptr});
  CHECK(node != nullptr && node->key == 7);
  CHECK(scratch.reset() == tslab::Error::ok);

  const std::string json = tslab::to_json(alloc);
  CHECK(!json.empty() && json.front() == '{');
  CHECK(tslab::stats(alloc).version != 0);
  CHECK(alloc.check().ok);

  if (failures != 0) {
    std::fprintf(stderr, "consumer (C++17): %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("consumer (C++17, tslab %s): ok\n", TSLAB_VERSION_STRING);
  return 0;
}
