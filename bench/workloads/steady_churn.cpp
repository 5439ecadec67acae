// This file contains the steady-churn workload: one thread keeps a window of
// live objects of mixed sizes (16-1024 B) and replaces a random one per
// operation, for many operations, while RSS is sampled: an allocator whose
// footprint creeps up under a steady load shows it here. tslab allocates in one
// epoch (lifetime-unaware use: the load never ends a phase).
#include <algorithm>
#include <vector>

#include "harness/common.hpp"
#include "harness/rss_sampler.hpp"
#include "harness/rss_timing.hpp"
#include "workloads/object_ops.hpp"
#include "workloads/registry.hpp"

namespace bench {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

template <class A>
bool steady_churn(A& a, const ChildSpec& sp, Figures& f) {
  const std::uint64_t ops = sp.num("ops"), window = sp.num("window");
  const auto lo = static_cast<std::uint32_t>(sp.num("obj_min")),
             hi = static_cast<std::uint32_t>(sp.num("obj_max"));
  auto* slots = static_cast<void**>(map_buffer(window * sizeof(void*)));
  // Ten RSS checkpoints at 10%, 20%, ... 100% of the operations.
  constexpr int kCheckpoints = 10;
  std::uint64_t checkpoint_rss[kCheckpoints] = {};
  RssSampler sampler(sp.num("sample_ms"), 1u << 16);
  Rng rng{sp.num("seed")};
  std::uint64_t bad = 0;

  const std::uint64_t base = rss_bytes();
  const bool reset = reset_peak_rss();
  sampler.start();
  sampler.mark("fill");
  for (std::uint64_t i = 0; i < window; ++i) {
    const std::uint32_t n = rng.between(lo, hi);
    void* p = a.alloc(n);
    if (p == nullptr) die("allocation returned NULL");
    touch_lines(p, n, static_cast<std::uint32_t>(i));
    slots[i] = p;
  }
  const std::uint64_t filled = rss_bytes();
  sampler.mark("churn");
  const std::uint64_t t0 = mono_ns();
  const std::uint64_t step = std::max<std::uint64_t>(1, ops / kCheckpoints);
  for (std::uint64_t i = 1; i <= ops; ++i) {
    void*& s = slots[rng.below(static_cast<std::uint32_t>(window))];
    bad += !a.release(s);
    const std::uint32_t n = rng.between(lo, hi);
    void* p = a.alloc(n);
    if (__builtin_expect(p == nullptr, 0)) die("allocation returned NULL");
    touch_lines(p, n, static_cast<std::uint32_t>(i));
    s = p;
    if (i % step == 0 && i / step <= kCheckpoints) checkpoint_rss[i / step - 1] = rss_bytes();
  }
  const std::uint64_t t1 = mono_ns();
  sampler.mark("free");
  for (std::uint64_t i = 0; i < window; ++i) bad += !a.release(slots[i]);
  const std::uint64_t after_free = rss_bytes();
  const std::uint64_t peak = peak_rss_bytes();
  sampler.stop();
  unmap_buffer(slots, window * sizeof(void*));
  if (bad != 0) return false;

  const double first = static_cast<double>(checkpoint_rss[0]);
  const double last = static_cast<double>(checkpoint_rss[kCheckpoints - 1]);
  f.add("ops", static_cast<double>(ops));
  f.add("ns_per_op", static_cast<double>(t1 - t0) / static_cast<double>(ops));
  f.add("rss_base", static_cast<double>(base));
  f.add("rss_filled", static_cast<double>(filled));
  f.add("rss_at_10pct", first);
  f.add("rss_at_end", last);
  f.add("growth_pct", first > 0 ? 100.0 * (last - first) / first : 0);
  f.add("rss_max", static_cast<double>(*std::max_element(checkpoint_rss, checkpoint_rss + kCheckpoints)));
  f.add("rss_peak", static_cast<double>(peak));
  f.add("rss_after_free", static_cast<double>(after_free));
  f.add("peak_reset", reset ? 1 : 0);
  std::vector<double> pct, mib;
  for (int c = 0; c < kCheckpoints; ++c)
    pct.push_back(10.0 * (c + 1)), mib.push_back(static_cast<double>(checkpoint_rss[c]) / kMiB);
  f.add_series("ops_pct", std::move(pct));
  f.add_series("checkpoint_rss_mib", std::move(mib));
  sampler.report(f);
  return true;
}

}  // namespace

bool run_steady_churn(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.num("ops") < 10 || sp.num("window") == 0 || sp.num("window") > 0xffffffffull ||
      sp.num("sample_ms") == 0)
    return error = "steady-churn needs at least 10 ops, a window below 2^32 and sample_ms", false;
  if (sp.num("obj_min") == 0 || sp.num("obj_min") > sp.num("obj_max") || sp.num("obj_max") > (1u << 20))
    return error = "steady-churn needs 1 <= obj_min <= obj_max <= 1 MiB", false;
  return with_object_ops(sp, error, [&](auto& a) { return steady_churn(a, sp, f); });
}

}  // namespace bench
