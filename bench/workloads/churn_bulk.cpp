// This file contains the churn and bulk workloads, written once and instantiated
// for each allocator interface (malloc/free, tslab's pointer API, tslab's handle
// API), so every allocator runs the same loop, the same PRNG and the same
// per-block write.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "harness/allocators.hpp"
#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "harness/stats.hpp"
#include "workloads/registry.hpp"

#ifdef TSLAB_BENCH_HAVE_TSLAB
#include "slab_alloc.h"
#endif

namespace bench {
namespace {

// ---- allocator interfaces ------------------------------------------------
// alloc() stores what release() needs in the slot and returns the block.
// release() returns false if the allocator refused the free.

struct SystemMalloc {
  using Slot = void*;
  std::size_t size;
  void* alloc(Slot& s) {
    void* p = std::malloc(size);
    s = p;
    return p;
  }
  bool release(Slot s) {
    std::free(s);
    return true;
  }
};

#ifdef TSLAB_BENCH_HAVE_TSLAB
struct TslabPointer {
  using Slot = void*;
  SlabAllocator* a;
  EpochId epoch;
  std::size_t size;
  void* alloc(Slot& s) {
    void* p = slab_malloc_epoch(a, size, epoch);
    s = p;
    return p;
  }
  bool release(Slot s) {
    slab_free(a, s);
    return true;
  }
};

struct TslabHandle {
  using Slot = SlabHandle;
  SlabAllocator* a;
  EpochId epoch;
  std::size_t size;
  void* alloc(Slot& s) { return alloc_obj_epoch(a, static_cast<std::uint32_t>(size), epoch, &s); }
  bool release(Slot s) { return free_obj(a, s); }
};
#endif

// ---- helpers ---------------------------------------------------------------

// Allocates into `slot` and writes one byte, so the block is really used and no
// allocation can be elided.
template <class A>
inline __attribute__((always_inline)) void alloc_touch(A& a, typename A::Slot& slot, std::uint64_t i) {
  void* p = a.alloc(slot);
  if (__builtin_expect(p == nullptr, 0)) die("allocation returned NULL");
  static_cast<volatile unsigned char*>(p)[0] = static_cast<unsigned char>(i);
}

struct RssWindow {
  std::uint64_t base = 0, hwm_before = 0;
  bool reset = false;
  void start() {
    base = rss_bytes();
    reset = reset_peak_rss();
    hwm_before = peak_rss_bytes();
  }
  void report(Figures& f, std::uint64_t peak, std::uint64_t after) const {
    f.add("rss_base", static_cast<double>(base));
    f.add("rss_peak", static_cast<double>(peak));
    f.add("rss_after", static_cast<double>(after));
    f.add("peak_reset", reset ? 1 : 0);
    f.add("hwm_before", static_cast<double>(hwm_before));
  }
};

// ---- churn -----------------------------------------------------------------

template <class A>
bool churn_tput(A& a, const ChildSpec& sp, Figures& f) {
  using Slot = typename A::Slot;
  const std::uint64_t ops = sp.num("ops");
  const auto n = static_cast<std::uint32_t>(sp.num("slots"));
  auto* slots = static_cast<Slot*>(map_buffer(n * sizeof(Slot)));
  Rng rng{sp.num("seed")};
  RssWindow w;
  w.start();
  for (std::uint32_t i = 0; i < n; ++i) alloc_touch(a, slots[i], i);

  std::uint64_t bad = 0;
  const std::uint64_t t0 = mono_ns();
  for (std::uint64_t i = 0; i < ops; ++i) {
    Slot& s = slots[rng.below(n)];
    bad += !a.release(s);
    alloc_touch(a, s, i);
  }
  const std::uint64_t t1 = mono_ns();

  const std::uint64_t peak = peak_rss_bytes();
  for (std::uint32_t i = 0; i < n; ++i) bad += !a.release(slots[i]);
  const std::uint64_t after = rss_bytes();
  unmap_buffer(slots, n * sizeof(Slot));
  if (bad != 0) return false;

  f.add("ops", static_cast<double>(ops));
  f.add("ns_per_op", static_cast<double>(t1 - t0) / static_cast<double>(ops));
  w.report(f, peak, after);
  return true;
}

template <class A>
bool churn_lat(A& a, const ChildSpec& sp, Figures& f) {
  using Slot = typename A::Slot;
  const std::uint64_t ops = sp.num("ops");
  const auto n = static_cast<std::uint32_t>(sp.num("slots"));
  const double tpn = calibrate_tsc_per_ns();
  const double overhead = tsc_pair_overhead_ticks();
  auto* slots = static_cast<Slot*>(map_buffer(n * sizeof(Slot)));
  auto* samples = static_cast<std::uint32_t*>(map_buffer(ops * sizeof(std::uint32_t)));
  Rng rng{sp.num("seed")};
  for (std::uint32_t i = 0; i < n; ++i) alloc_touch(a, slots[i], i);

  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < ops; ++i) {
    Slot& s = slots[rng.below(n)];
    const std::uint64_t c0 = tsc_begin();
    bad += !a.release(s);
    alloc_touch(a, s, i);
    const std::uint64_t c1 = tsc_end();
    samples[i] = to_u32(c1 - c0);
  }
  for (std::uint32_t i = 0; i < n; ++i) bad += !a.release(slots[i]);
  if (bad != 0) return false;

  const std::size_t m = ops;
  f.add("ops", static_cast<double>(m));
  f.add("max_ns", max_sample(samples, m) / tpn);
  f.add("p50_ns", percentile(samples, m, 0.50) / tpn);
  f.add("p99_ns", percentile(samples, m, 0.99) / tpn);
  f.add("p999_ns", percentile(samples, m, 0.999) / tpn);
  f.add("tsc_per_ns", tpn);
  f.add("timer_overhead_ns", overhead / tpn);
  f.add("tsc_step_ns", tsc_step_ticks() / tpn);
  unmap_buffer(samples, ops * sizeof(std::uint32_t));
  unmap_buffer(slots, n * sizeof(Slot));
  return true;
}

// ---- bulk ------------------------------------------------------------------

template <class A, bool kLat>
bool bulk(A& a, const ChildSpec& sp, Figures& f) {
  using Slot = typename A::Slot;
  const unsigned T = sp.threads;
  const std::uint64_t cnt = sp.num("count");
  const std::uint64_t size = sp.num("size");
  const double tpn = kLat ? calibrate_tsc_per_ns() : 0.0;
  const double overhead = kLat ? tsc_pair_overhead_ticks() : 0.0;

  // Every harness buffer comes from mmap and is faulted in before timing.
  auto* slots = static_cast<Slot*>(map_buffer(T * cnt * sizeof(Slot)));
  std::uint32_t* sa =
      kLat ? static_cast<std::uint32_t*>(map_buffer(T * cnt * sizeof(std::uint32_t))) : nullptr;
  std::uint32_t* sf =
      kLat ? static_cast<std::uint32_t*>(map_buffer(T * cnt * sizeof(std::uint32_t))) : nullptr;
  auto* alloc_ns = static_cast<double*>(map_buffer(T * sizeof(double)));
  auto* free_ns = static_cast<double*>(map_buffer(T * sizeof(double)));
  std::atomic<std::uint64_t> bad{0};
  SpinBarrier bar(T);
  RssWindow w;
  std::uint64_t peak = 0, after = 0;

  auto body = [&](unsigned t) {
    Slot* my = slots + t * cnt;
    std::uint64_t my_bad = 0;
    bar.wait();
    if (t == 0) w.start();
    bar.wait();
    const std::uint64_t t0 = mono_ns();
    if constexpr (kLat) {
      std::uint32_t* s = sa + t * cnt;
      for (std::uint64_t i = 0; i < cnt; ++i) {
        const std::uint64_t c0 = tsc_begin();
        alloc_touch(a, my[i], i);
        const std::uint64_t c1 = tsc_end();
        s[i] = to_u32(c1 - c0);
      }
    } else {
      for (std::uint64_t i = 0; i < cnt; ++i) alloc_touch(a, my[i], i);
    }
    const std::uint64_t t1 = mono_ns();
    bar.wait();
    const std::uint64_t t2 = mono_ns();
    if constexpr (kLat) {
      std::uint32_t* s = sf + t * cnt;
      for (std::uint64_t i = 0; i < cnt; ++i) {
        const std::uint64_t c0 = tsc_begin();
        my_bad += !a.release(my[i]);
        const std::uint64_t c1 = tsc_end();
        s[i] = to_u32(c1 - c0);
      }
    } else {
      for (std::uint64_t i = 0; i < cnt; ++i) my_bad += !a.release(my[i]);
    }
    const std::uint64_t t3 = mono_ns();
    alloc_ns[t] = static_cast<double>(t1 - t0) / static_cast<double>(cnt);
    free_ns[t] = static_cast<double>(t3 - t2) / static_cast<double>(cnt);
    bad.fetch_add(my_bad, std::memory_order_relaxed);
    bar.wait();
    if (t == 0) {
      peak = peak_rss_bytes();
      after = rss_bytes();
    }
  };

  std::vector<std::thread> workers;
  workers.reserve(T);
  for (unsigned t = 1; t < T; ++t) workers.emplace_back(body, t);
  body(0);
  for (auto& th : workers) th.join();
  if (bad.load() != 0) return false;

  std::vector<double> av(alloc_ns, alloc_ns + T), fv(free_ns, free_ns + T);
  double amax = 0, fmax = 0;
  for (unsigned t = 0; t < T; ++t) {
    amax = std::max(amax, alloc_ns[t]);
    fmax = std::max(fmax, free_ns[t]);
  }
  f.add("threads", T);
  f.add("count", static_cast<double>(cnt));
  f.add("payload", static_cast<double>(cnt * size * T));
  if constexpr (kLat) {
    const std::size_t m = T * cnt;
    f.add("alloc_max_ns", max_sample(sa, m) / tpn);
    f.add("alloc_p50_ns", percentile(sa, m, 0.50) / tpn);
    f.add("alloc_p99_ns", percentile(sa, m, 0.99) / tpn);
    f.add("alloc_p999_ns", percentile(sa, m, 0.999) / tpn);
    f.add("free_max_ns", max_sample(sf, m) / tpn);
    f.add("free_p50_ns", percentile(sf, m, 0.50) / tpn);
    f.add("free_p99_ns", percentile(sf, m, 0.99) / tpn);
    f.add("free_p999_ns", percentile(sf, m, 0.999) / tpn);
    f.add("tsc_per_ns", tpn);
    f.add("timer_overhead_ns", overhead / tpn);
    f.add("tsc_step_ns", tsc_step_ticks() / tpn);
  } else {
    f.add("alloc_ns", median(av));  // median of threads (the mean for two)
    f.add("free_ns", median(fv));
    f.add("alloc_ns_max", amax);
    f.add("free_ns_max", fmax);
    w.report(f, peak, after);
  }
  unmap_buffer(slots, T * cnt * sizeof(Slot));
  if (sa != nullptr) unmap_buffer(sa, T * cnt * sizeof(std::uint32_t));
  if (sf != nullptr) unmap_buffer(sf, T * cnt * sizeof(std::uint32_t));
  unmap_buffer(alloc_ns, T * sizeof(double));
  unmap_buffer(free_ns, T * sizeof(double));
  return true;
}

template <class A>
bool dispatch(A& a, const ChildSpec& sp, Figures& f) {
  if (sp.workload == "churn") return sp.mode == "lat" ? churn_lat(a, sp, f) : churn_tput(a, sp, f);
  return sp.mode == "lat" ? bulk<A, true>(a, sp, f) : bulk<A, false>(a, sp, f);
}

}  // namespace

bool run_churn_bulk(const ChildSpec& sp, Figures& f, std::string& error) {
  const bool churn = sp.workload == "churn";
  if (churn && (sp.num("slots") == 0 || sp.num("slots") > 0xffffffffull || sp.num("ops") == 0))
    return error = "churn needs 1..2^32-1 slots and at least one op", false;
  if (!churn && (sp.num("count") == 0 || sp.threads == 0))
    return error = "bulk needs a count and at least one thread", false;
  const std::size_t size = sp.num("size");
  if (size == 0) return error = "the block size must be at least 1", false;
  if (uses_malloc_api(sp.alloc)) {
    SystemMalloc a{size};
    if (!dispatch(a, sp, f)) return error = "a free failed", false;
    return true;
  }
#ifdef TSLAB_BENCH_HAVE_TSLAB
  SlabAllocator* sa = slab_allocator_create();
  if (sa == nullptr) return error = "slab_allocator_create failed", false;
  const EpochId epoch = epoch_current(sa);
  // Sanity: the allocator hands out usable blocks of the requested size.
  void* probe = slab_malloc_epoch(sa, size, epoch);
  if (probe == nullptr || slab_usable_size(sa, probe) < size || !slab_free_checked(sa, probe)) {
    slab_allocator_free(sa);
    return error = "tslab probe allocation failed", false;
  }
  bool ok;
  if (sp.alloc == "tslab-handle") {
    TslabHandle a{sa, epoch, size};
    ok = dispatch(a, sp, f);
  } else {
    TslabPointer a{sa, epoch, size};
    ok = dispatch(a, sp, f);
  }
  if (!ok) {
    error = strf("a free failed (%s)", slab_error_string(slab_last_error()));
    slab_allocator_free(sa);
    return false;
  }
  char msg[256] = {};
  if (!slab_check(sa, msg, sizeof msg)) {
    error = std::string("slab_check failed after the workload: ") + msg;
    slab_allocator_free(sa);
    return false;
  }
  slab_allocator_free(sa);
  return true;
#else
  error = sp.alloc + " is not built into this binary (built without the tslab library)";
  return false;
#endif
}

}  // namespace bench
