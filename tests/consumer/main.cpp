// Uses tslab's C++ API from an installed package. Exits non-zero on any failure.
#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <stdexcept>
#include <tslab/tslab.hpp>
#include <typeinfo>
#include <vector>

namespace {
int failures = 0;
void check(bool ok, const char* what, int line) {
  if (!ok) {
    std::fprintf(stderr, "main.cpp:%d: check failed: %s\n", line, what);
    ++failures;
  }
}
}  // namespace

#define CHECK(cond) check((cond), #cond, __LINE__)

int main() {
  tslab::Allocator alloc;
  CHECK(alloc.valid());
  const tslab::EpochId epoch = alloc.epoch_current();
  CHECK(alloc.epoch_state(epoch) == tslab::EpochState::active);

  // Pointer API: allocate, write, free once.
  auto* bytes = static_cast<unsigned char*>(alloc.allocate(100, epoch));
  CHECK(bytes != nullptr);
  if (bytes != nullptr) {
    std::memset(bytes, 0xa5, 100);
    CHECK(bytes[0] == 0xa5 && bytes[99] == 0xa5);
  }
  CHECK(alloc.usable_size(bytes) >= 100);
  CHECK(alloc.deallocate(bytes) == tslab::Error::ok);
  CHECK(alloc.deallocate(bytes) != tslab::Error::ok);  // already freed

  // Handle API.
  tslab::Allocation a = alloc.allocate_with_handle(64, epoch);
  CHECK(a.ptr != nullptr && a.handle != 0);
  CHECK(alloc.handle_to_ptr(a.handle) == a.ptr);
  CHECK(alloc.ptr_to_handle(a.ptr) == a.handle);
  CHECK(alloc.free_handle(a.handle) == tslab::Error::ok);
  CHECK(alloc.free_handle(a.handle) != tslab::Error::ok);

  // Containers bound to an epoch.
  {
    std::vector<int, tslab::StlAllocator<int>> v(tslab::StlAllocator<int>(alloc, epoch));
    for (int i = 0; i < 1000; ++i) v.push_back(i);
    CHECK(v.size() == 1000 && v[999] == 999);

    tslab::PmrResource resource(alloc, epoch);
    std::pmr::vector<long> pv(&resource);
    for (long i = 0; i < 1000; ++i) pv.push_back(i * 2);
    CHECK(pv[500] == 1000);
  }

  // Epochs: advancing closes the current one.
  const tslab::EpochId next = alloc.epoch_advance();
  CHECK(next != epoch);
  CHECK(alloc.epoch_current() == next);
  CHECK(alloc.epoch_state(epoch) == tslab::EpochState::closing);
  CHECK(alloc.allocate(16, epoch) == nullptr);
  CHECK(tslab::last_error() == tslab::Error::epoch_closing);

  // Failures the standard says are thrown are thrown here, in this program
  // (the library itself has no C++ runtime), and the library's polymorphic
  // objects carry their types: RTTI reaches them through this program's runtime.
  bool threw = false;
  try {
    tslab::Allocator bad(tslab::Options{0, nullptr});
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  tslab::Platform& os = tslab::OsPlatform::instance();
  CHECK(dynamic_cast<tslab::OsPlatform*>(&os) == &tslab::OsPlatform::instance());
  CHECK(typeid(os) == typeid(tslab::OsPlatform));
  {
    tslab::PmrResource a1(alloc, alloc.epoch_current()), a2(alloc, alloc.epoch_current());
    CHECK(a1.is_equal(a2));  // one allocator: either frees the other's memory
  }

  const tslab::CheckReport report = alloc.check();
  CHECK(report.ok);
  if (!report.ok) std::fprintf(stderr, "check: %s\n", report.message);

  if (failures != 0) {
    std::fprintf(stderr, "consumer (C++): %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("consumer (C++): ok\n");
  return 0;
}
