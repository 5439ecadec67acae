// This file contains the thread-scaling workload: T threads each churn their
// own window of 1,000 live objects of mixed sizes (16-1024 B), replacing a
// random one per operation, all on one allocator (tslab: one epoch). The
// driver runs it for T = 1, 2, ... N; the figure is operations per second over
// all threads, which a scalable allocator raises in proportion to T up to the
// number of cores.
#include <atomic>
#include <thread>
#include <vector>

#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "harness/stats.hpp"
#include "workloads/object_ops.hpp"
#include "workloads/registry.hpp"

namespace bench {
namespace {

template <class A>
bool scaling(A& a, const ChildSpec& sp, Figures& f) {
  const unsigned T = sp.threads;
  const std::uint64_t ops = sp.num("ops"), window = sp.num("window");
  const auto lo = static_cast<std::uint32_t>(sp.num("obj_min")),
             hi = static_cast<std::uint32_t>(sp.num("obj_max"));
  auto* slots = static_cast<void**>(map_buffer(T * window * sizeof(void*)));
  auto* ns = static_cast<double*>(map_buffer(T * sizeof(double)));
  std::atomic<std::uint64_t> bad{0};
  SpinBarrier bar(T);
  std::uint64_t wall_start = 0, wall_end = 0;

  const std::uint64_t base = rss_bytes();
  const bool reset = reset_peak_rss();
  auto body = [&](unsigned t) {
    void** my = slots + t * window;
    Rng rng{sp.num("seed") + 0x9e3779b97f4a7c15ull * (t + 1)};
    std::uint64_t my_bad = 0;
    for (std::uint64_t i = 0; i < window; ++i) {
      const std::uint32_t n = rng.between(lo, hi);
      my[i] = a.alloc(n);
      if (my[i] == nullptr) die("allocation returned NULL");
      touch_lines(my[i], n, static_cast<std::uint32_t>(i));
    }
    bar.wait();
    if (t == 0) wall_start = mono_ns();
    const std::uint64_t t0 = mono_ns();
    for (std::uint64_t i = 0; i < ops; ++i) {
      void*& s = my[rng.below(static_cast<std::uint32_t>(window))];
      my_bad += !a.release(s);
      const std::uint32_t n = rng.between(lo, hi);
      void* p = a.alloc(n);
      if (__builtin_expect(p == nullptr, 0)) die("allocation returned NULL");
      touch_lines(p, n, static_cast<std::uint32_t>(i));
      s = p;
    }
    ns[t] = static_cast<double>(mono_ns() - t0) / static_cast<double>(ops);
    bar.wait();
    if (t == 0) wall_end = mono_ns();
    for (std::uint64_t i = 0; i < window; ++i) my_bad += !a.release(my[i]);
    bad.fetch_add(my_bad, std::memory_order_relaxed);
  };
  std::vector<std::thread> workers;
  workers.reserve(T);
  for (unsigned t = 1; t < T; ++t) workers.emplace_back(body, t);
  body(0);
  for (auto& w : workers) w.join();
  const std::uint64_t peak = peak_rss_bytes();
  std::vector<double> per_thread(ns, ns + T);
  unmap_buffer(ns, T * sizeof(double));
  unmap_buffer(slots, T * window * sizeof(void*));
  if (bad.load() != 0) return false;

  const double seconds = static_cast<double>(wall_end - wall_start) / 1e9;
  f.add("threads", T);
  f.add("ops_per_thread", static_cast<double>(ops));
  f.add("mops_per_s", static_cast<double>(ops) * T / seconds / 1e6);
  f.add("ns_per_op", median(per_thread));
  f.add("rss_base", static_cast<double>(base));
  f.add("rss_peak", static_cast<double>(peak));
  f.add("peak_reset", reset ? 1 : 0);
  return true;
}

}  // namespace

bool run_thread_scaling(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.threads == 0 || sp.num("ops") == 0 || sp.num("window") == 0 || sp.num("window") > 0xffffffffull)
    return error = "thread-scaling needs threads, ops and a window below 2^32", false;
  if (sp.num("obj_min") == 0 || sp.num("obj_min") > sp.num("obj_max") || sp.num("obj_max") > (1u << 20))
    return error = "thread-scaling needs 1 <= obj_min <= obj_max <= 1 MiB", false;
  return with_object_ops(sp, error, [&](auto& a) { return scaling(a, sp, f); });
}

}  // namespace bench
