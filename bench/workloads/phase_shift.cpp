// This file contains the phase-shift workload: a burst allocates many objects
// of mixed sizes (64-1024 B), then frees them all, then the process cools down
// (idle) and finally calls the allocator's purge: the RSS after the cool-down
// is what an allocator retains once a load phase is over. tslab allocates the
// burst in one epoch and, once the burst is freed, ends the phase
// (epoch_advance closes that epoch and its pages go back).
#include <thread>

#include "harness/common.hpp"
#include "harness/rss_sampler.hpp"
#include "harness/rss_timing.hpp"
#include "workloads/object_ops.hpp"
#include "workloads/registry.hpp"

namespace bench {
namespace {

template <class A>
bool phase_shift(A& a, const ChildSpec& sp, Figures& f) {
  const std::uint64_t n = sp.num("objects");
  const auto lo = static_cast<std::uint32_t>(sp.num("obj_min")),
             hi = static_cast<std::uint32_t>(sp.num("obj_max"));
  const std::uint64_t cooldown_ms = sp.num("cooldown_ms");
  auto* slots = static_cast<void**>(map_buffer(n * sizeof(void*)));
  RssSampler sampler(sp.num("sample_ms"), 1u << 16);
  Rng rng{sp.num("seed")};
  std::uint64_t bad = 0, payload = 0;

  const std::uint64_t base = rss_bytes();
  const bool reset = reset_peak_rss();
  sampler.start();
  sampler.mark("burst");
  const std::uint64_t t0 = mono_ns();
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint32_t size = rng.between(lo, hi);
    void* p = a.alloc(size);
    if (p == nullptr) die("allocation returned NULL");
    touch_lines(p, size, static_cast<std::uint32_t>(i));
    slots[i] = p;
    payload += size;
  }
  const std::uint64_t t1 = mono_ns();
  const std::uint64_t full = rss_bytes();
  sampler.mark("free");
  for (std::uint64_t i = 0; i < n; ++i) bad += !a.release(slots[i]);
  const bool ended = a.end_phase();
  const std::uint64_t t2 = mono_ns();
  const std::uint64_t after_free = rss_bytes();
  sampler.mark("cool-down");
  std::this_thread::sleep_for(std::chrono::milliseconds(cooldown_ms));
  const std::uint64_t after_cooldown = rss_bytes();
  sampler.mark("purge");
  const std::uint64_t t3 = mono_ns();
  const bool purged = a.purge();
  const std::uint64_t t4 = mono_ns();
  const std::uint64_t after_purge = rss_bytes();
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * sp.num("sample_ms")));
  const std::uint64_t peak = peak_rss_bytes();
  sampler.stop();
  unmap_buffer(slots, n * sizeof(void*));
  if (bad != 0 || !ended || !purged) return false;

  f.add("objects", static_cast<double>(n));
  f.add("payload", static_cast<double>(payload));
  f.add("burst_ms", static_cast<double>(t1 - t0) / 1e6);
  f.add("free_ms", static_cast<double>(t2 - t1) / 1e6);
  f.add("purge_ms", static_cast<double>(t4 - t3) / 1e6);
  f.add("rss_base", static_cast<double>(base));
  f.add("rss_full", static_cast<double>(full));
  f.add("rss_peak", static_cast<double>(peak));
  f.add("rss_after_free", static_cast<double>(after_free));
  f.add("rss_after_cooldown", static_cast<double>(after_cooldown));
  f.add("rss_after_purge", static_cast<double>(after_purge));
  f.add("peak_reset", reset ? 1 : 0);
  sampler.report(f);
  return true;
}

}  // namespace

bool run_phase_shift(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.num("objects") == 0 || sp.num("sample_ms") == 0)
    return error = "phase-shift needs objects and sample_ms", false;
  if (sp.num("obj_min") == 0 || sp.num("obj_min") > sp.num("obj_max") || sp.num("obj_max") > (1u << 20))
    return error = "phase-shift needs 1 <= obj_min <= obj_max <= 1 MiB", false;
  return with_object_ops(sp, error, [&](auto& a) { return phase_shift(a, sp, f); });
}

}  // namespace bench
