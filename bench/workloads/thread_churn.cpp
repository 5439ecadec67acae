// This file contains the thread-churn workload: many short-lived threads, N at
// a time, each allocating 200 blocks of 16-512 B, writing them and freeing them
// in a shuffled order before it exits. An allocator with per-thread caches pays
// for setting one up and tearing it down (or orphaning it) per thread, and
// memory kept for threads that are gone shows in the RSS after the last one.
// Figures: threads per second, peak RSS, RSS when all have exited and after
// the purge call.
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

constexpr std::uint64_t kMaxBlocks = 65536;

template <class A>
bool thread_churn(A& a, const ChildSpec& sp, Figures& f) {
  const unsigned T = sp.threads;
  const std::uint64_t spawned = sp.num("spawned"), blocks = sp.num("blocks");
  const auto lo = static_cast<std::uint32_t>(sp.num("obj_min")),
             hi = static_cast<std::uint32_t>(sp.num("obj_max"));
  auto* slots = static_cast<void**>(map_buffer(T * blocks * sizeof(void*)));
  std::atomic<std::uint64_t> bad{0};

  auto body = [&](std::uint64_t k, void** mine) {
    Rng rng{sp.num("seed") + 0x9e3779b97f4a7c15ull * (k + 1)};
    std::uint64_t my_bad = 0;
    for (std::uint64_t i = 0; i < blocks; ++i) {
      const std::uint32_t n = rng.between(lo, hi);
      mine[i] = a.alloc(n);
      if (mine[i] == nullptr) die("allocation returned NULL");
      touch_lines(mine[i], n, static_cast<std::uint32_t>(i));
    }
    for (std::uint64_t i = blocks; i > 1; --i)
      std::swap(mine[i - 1], mine[rng.below(static_cast<std::uint32_t>(i))]);
    for (std::uint64_t i = 0; i < blocks; ++i) my_bad += !a.release(mine[i]);
    bad.fetch_add(my_bad, std::memory_order_relaxed);
  };
  RunMemory memory;  // RSS before the run, and the peak reset
  const std::uint64_t t0 = mono_ns();
  std::vector<std::thread> wave;
  wave.reserve(T);
  for (std::uint64_t k = 0; k < spawned; k += T) {
    for (unsigned t = 0; t < T && k + t < spawned; ++t) wave.emplace_back(body, k + t, slots + t * blocks);
    for (auto& w : wave) w.join();
    wave.clear();
  }
  const std::uint64_t t1 = mono_ns();
  const bool purged = memory.finish(a);
  unmap_buffer(slots, T * blocks * sizeof(void*));
  if (bad.load() != 0 || !purged) return false;

  const double seconds = static_cast<double>(t1 - t0) / 1e9;
  f.add("threads", T);
  f.add("spawned", static_cast<double>(spawned));
  f.add("threads_per_s", static_cast<double>(spawned) / seconds);
  f.add("us_per_thread", seconds * 1e6 / static_cast<double>(spawned));
  memory.add_to(f);
  return true;
}

}  // namespace

bool run_thread_churn(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.threads == 0 || sp.num("spawned") == 0 || sp.num("blocks") == 0 || sp.num("blocks") > kMaxBlocks)
    return error = "thread-churn needs threads, spawned threads and 1..65536 blocks per thread", false;
  if (sp.num("obj_min") == 0 || sp.num("obj_min") > sp.num("obj_max") || sp.num("obj_max") > (1u << 20))
    return error = "thread-churn needs 1 <= obj_min <= obj_max <= 1 MiB", false;
  return with_object_ops(sp, error, [&](auto& a) { return thread_churn(a, sp, f); });
}

}  // namespace bench
