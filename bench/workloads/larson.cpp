// This file contains the larson workload, after the server simulation of Larson
// and Krishnan: a shared array of blocks is split into one part per thread;
// in each round every thread replaces random blocks of its part (free one,
// allocate one of 16-512 B in its place and write it), and after each round
// the parts rotate, so from the second round on most frees are of blocks
// another thread allocated. Figures: replacements per second over all threads,
// peak RSS, RSS once every block is freed and after the purge call.
#include <atomic>
#include <thread>
#include <vector>

#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "workloads/object_ops.hpp"
#include "workloads/registry.hpp"
#include "workloads/run_memory.hpp"

namespace bench {
namespace {

template <class A>
bool larson(A& a, const ChildSpec& sp, Figures& f) {
  const unsigned T = sp.threads;
  const std::uint64_t per = sp.num("slots"), rounds = sp.num("rounds"), ops = sp.num("ops");
  const auto lo = static_cast<std::uint32_t>(sp.num("obj_min")),
             hi = static_cast<std::uint32_t>(sp.num("obj_max"));
  auto* slots = static_cast<void**>(map_buffer(T * per * sizeof(void*)));
  std::atomic<std::uint64_t> bad{0};
  SpinBarrier bar(T);
  std::uint64_t t_start = 0, t_end = 0;

  RunMemory memory;  // RSS before the run, and the peak reset
  auto body = [&](unsigned t) {
    Rng rng{sp.num("seed") + 0x9e3779b97f4a7c15ull * (t + 1)};
    std::uint64_t my_bad = 0;
    void** mine = slots + t * per;
    for (std::uint64_t i = 0; i < per; ++i) {
      const std::uint32_t n = rng.between(lo, hi);
      mine[i] = a.alloc(n);
      if (mine[i] == nullptr) die("allocation returned NULL");
      touch_lines(mine[i], n, static_cast<std::uint32_t>(i));
    }
    bar.wait();
    if (t == 0) t_start = mono_ns();
    for (std::uint64_t r = 0; r < rounds; ++r) {
      void** part = slots + ((t + r) % T) * per;
      for (std::uint64_t i = 0; i < ops; ++i) {
        void*& s = part[rng.below(static_cast<std::uint32_t>(per))];
        my_bad += !a.release(s);
        const std::uint32_t n = rng.between(lo, hi);
        void* p = a.alloc(n);
        if (__builtin_expect(p == nullptr, 0)) die("allocation returned NULL");
        touch_lines(p, n, static_cast<std::uint32_t>(i));
        s = p;
      }
      bar.wait();  // the parts rotate
    }
    if (t == 0) t_end = mono_ns();
    // Each thread frees the part it holds last: blocks of other threads, mostly.
    void** last = slots + ((t + rounds) % T) * per;
    for (std::uint64_t i = 0; i < per; ++i) my_bad += !a.release(last[i]);
    bad.fetch_add(my_bad, std::memory_order_relaxed);
  };
  run_on_threads(T, body);
  const bool purged = memory.finish(a);
  unmap_buffer(slots, T * per * sizeof(void*));
  if (bad.load() != 0 || !purged) return false;

  const double seconds = static_cast<double>(t_end - t_start) / 1e9;
  const double total = static_cast<double>(ops * rounds * T);
  f.add("threads", T);
  f.add("replacements", total);
  f.add("mops_per_s", total / seconds / 1e6);
  f.add("ns_per_op", seconds * 1e9 * T / total);
  memory.add_to(f);
  return true;
}

}  // namespace

bool run_larson(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.threads == 0 || sp.num("slots") == 0 || sp.num("slots") > 0xffffffffull || sp.num("rounds") == 0 ||
      sp.num("ops") == 0)
    return error = "larson needs threads, rounds, ops and 1..2^32-1 slots per thread", false;
  if (sp.num("obj_min") == 0 || sp.num("obj_min") > sp.num("obj_max") || sp.num("obj_max") > (1u << 20))
    return error = "larson needs 1 <= obj_min <= obj_max <= 1 MiB", false;
  return with_object_ops(sp, error, [&](auto& a) { return larson(a, sp, f); });
}

}  // namespace bench
