// This file contains the large-buffer workload: a loop of allocate a buffer of
// 5-25 MiB (a seeded random size), write one byte in every 4 KiB page, free it.
// Whether an allocator maps and unmaps each buffer (a page fault per page,
// every time) or keeps the memory for the next one (faster, but resident) is
// what it shows. Figures: time per buffer, page faults per buffer, peak RSS,
// the largest RSS right after a free, the RSS after the loop and after the
// purge call.
#include <sys/resource.h>

#include <algorithm>

#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "workloads/object_ops.hpp"
#include "workloads/registry.hpp"

namespace bench {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kPage = 4096;

std::uint64_t minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<std::uint64_t>(ru.ru_minflt);
}

template <class A>
bool large_buffer(A& a, const ChildSpec& sp, Figures& f) {
  const std::uint64_t iterations = sp.num("iterations");
  const std::uint64_t lo = sp.num("min_mib") * kMiB, hi = sp.num("max_mib") * kMiB;
  Rng rng{sp.num("seed")};
  std::uint64_t bad = 0, touched = 0, after_free_max = 0;

  const std::uint64_t base = rss_bytes();
  const bool reset = reset_peak_rss();
  const std::uint64_t faults0 = minor_faults();
  const std::uint64_t t0 = mono_ns();
  for (std::uint64_t i = 0; i < iterations; ++i) {
    const std::uint64_t n = lo + (rng.next() % (hi - lo + 1));
    auto* p = static_cast<unsigned char*>(a.alloc(n));
    if (p == nullptr) die("allocation returned NULL");
    for (std::uint64_t off = 0; off < n; off += kPage) p[off] = static_cast<unsigned char>(i);
    p[n - 1] = static_cast<unsigned char>(i);
    touched += n;
    bad += !a.release(p);
    after_free_max = std::max(after_free_max, rss_bytes());
  }
  const std::uint64_t t1 = mono_ns();
  const std::uint64_t faults = minor_faults() - faults0;
  const std::uint64_t after = rss_bytes();
  const std::uint64_t peak = peak_rss_bytes();
  const bool purged = a.purge();
  const std::uint64_t after_purge = rss_bytes();
  if (bad != 0 || !purged) return false;

  const double ms = static_cast<double>(t1 - t0) / 1e6;
  f.add("buffers", static_cast<double>(iterations));
  f.add("ms_per_buffer", ms / static_cast<double>(iterations));
  f.add("gib_per_s", static_cast<double>(touched) / (1024.0 * kMiB) / (ms / 1e3));
  f.add("faults_per_buffer", static_cast<double>(faults) / static_cast<double>(iterations));
  f.add("rss_base", static_cast<double>(base));
  f.add("rss_peak", static_cast<double>(peak));
  f.add("rss_after_free_max", static_cast<double>(after_free_max));
  f.add("rss_after", static_cast<double>(after));
  f.add("rss_after_purge", static_cast<double>(after_purge));
  f.add("peak_reset", reset ? 1 : 0);
  return true;
}

}  // namespace

bool run_large_buffer(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.num("iterations") == 0 || sp.num("min_mib") == 0 || sp.num("min_mib") > sp.num("max_mib") ||
      sp.num("max_mib") > 4096)
    return error = "large-buffer needs iterations and 1 <= min_mib <= max_mib <= 4096", false;
  return with_object_ops(sp, error, [&](auto& a) { return large_buffer(a, sp, f); });
}

}  // namespace bench
