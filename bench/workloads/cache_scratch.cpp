// This file contains the cache-scratch workload, after the false-sharing test
// of the Hoard benchmarks: the main thread allocates one small object (8 B)
// per thread, side by side; each thread frees the one it was given, then
// `iterations` times allocates an object, writes it `writes` times and frees
// it. An allocator that hands a thread memory from a cache line another thread
// writes (the main thread's objects, freed into the freeing thread's cache)
// makes the threads' writes fight over that line, and the loop runs many times
// slower. Figures: wall time, time per write, and how many threads' first
// objects shared a cache line with another thread's (the cause, counted).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "workloads/object_ops.hpp"
#include "workloads/registry.hpp"

namespace bench {
namespace {

constexpr std::uintptr_t kLine = 64;

// How many of the addresses share their cache line with another one of them.
std::uint64_t sharing_a_line(const std::uintptr_t* addresses, unsigned n) {
  std::uint64_t sharing = 0;
  for (unsigned i = 0; i < n; ++i) {
    bool shared = false;
    for (unsigned j = 0; j < n; ++j)
      shared = shared || (j != i && addresses[i] / kLine == addresses[j] / kLine);
    sharing += shared;
  }
  return sharing;
}

template <class A>
bool cache_scratch(A& a, const ChildSpec& sp, Figures& f) {
  const unsigned T = sp.threads;
  const std::uint64_t size = sp.num("size"), iterations = sp.num("iterations"), writes = sp.num("writes");
  auto* given = static_cast<void**>(map_buffer(T * sizeof(void*)));
  auto* given_at = static_cast<std::uintptr_t*>(map_buffer(T * sizeof(std::uintptr_t)));
  auto* first_at = static_cast<std::uintptr_t*>(map_buffer(T * sizeof(std::uintptr_t)));
  for (unsigned t = 0; t < T; ++t) {
    given[t] = a.alloc(size);
    if (given[t] == nullptr) die("allocation returned NULL");
    given_at[t] = reinterpret_cast<std::uintptr_t>(given[t]);
  }
  std::atomic<std::uint64_t> bad{0};
  SpinBarrier bar(T + 1);

  auto body = [&](unsigned t) {
    std::uint64_t my_bad = 0;
    bar.wait();
    my_bad += !a.release(given[t]);
    for (std::uint64_t i = 0; i < iterations; ++i) {
      auto* p = static_cast<volatile unsigned char*>(a.alloc(size));
      if (__builtin_expect(p == nullptr, 0)) die("allocation returned NULL");
      if (i == 0) first_at[t] = reinterpret_cast<std::uintptr_t>(p);
      for (std::uint64_t w = 0; w < writes; ++w) p[w % size] = static_cast<unsigned char>(p[w % size] + 1);
      my_bad += !a.release(const_cast<unsigned char*>(p));
    }
    bad.fetch_add(my_bad, std::memory_order_relaxed);
  };
  std::vector<std::thread> workers;
  workers.reserve(T);
  for (unsigned t = 0; t < T; ++t) workers.emplace_back(body, t);
  const std::uint64_t t0 = mono_ns();
  bar.wait();
  for (auto& w : workers) w.join();
  const std::uint64_t t1 = mono_ns();
  const std::uint64_t given_sharing = sharing_a_line(given_at, T);
  const std::uint64_t first_sharing = sharing_a_line(first_at, T);
  std::uint64_t reused = 0;
  for (unsigned t = 0; t < T; ++t) reused += std::find(given_at, given_at + T, first_at[t]) != given_at + T;
  unmap_buffer(first_at, T * sizeof(std::uintptr_t));
  unmap_buffer(given_at, T * sizeof(std::uintptr_t));
  unmap_buffer(given, T * sizeof(void*));
  if (bad.load() != 0) return false;

  const double ms = static_cast<double>(t1 - t0) / 1e6;
  f.add("threads", T);
  f.add("wall_ms", ms);
  f.add("ns_per_write", ms * 1e6 / static_cast<double>(iterations * writes));
  f.add("given_sharing_line", static_cast<double>(given_sharing));
  f.add("first_sharing_line", static_cast<double>(first_sharing));
  f.add("first_is_a_given_object", static_cast<double>(reused));
  return true;
}

}  // namespace

bool run_cache_scratch(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.threads == 0 || sp.num("size") == 0 || sp.num("size") > 4096 || sp.num("iterations") == 0 ||
      sp.num("writes") == 0)
    return error = "cache-scratch needs threads, iterations, writes and an object size of 1..4096 B", false;
  return with_object_ops(sp, error, [&](auto& a) { return cache_scratch(a, sp, f); });
}

}  // namespace bench
