// This file contains the epoch-lifecycle workloads: how much memory each
// allocator keeps when pinned objects sit among freed ones
// (fragmentation-adversary), whether RSS creeps up over many phases
// (sustained-phase-shifts), and what an epoch_close returns and costs, in time
// and in another thread's latency (epoch-reclamation, tslab only).
//
// Allocators measured through malloc (the peers, tslab-malloc) give memory back
// through their purge call (malloc_purge_fn); tslab with
// slab_collect (lifetime-unaware use) or by closing the epoch a phase allocated
// in (lifetime-aware use).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "harness/allocators.hpp"
#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "harness/stats.hpp"
#include "workloads/registry.hpp"

#ifdef TSLAB_BENCH_HAVE_TSLAB
#include "slab_alloc.h"
#include "slab_stats.h"
#endif

namespace bench {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// ---- allocator interfaces ---------------------------------------------------
// alloc(size, pinned): `pinned` marks the objects retention keeps to the end
// (tslab-epochs puts them in a long-lived epoch). release() is false if the free
// was refused. begin_phase()/end_phase() bracket one phase of phase-shifts;
// purge() is the call that hands free memory back to the OS.

struct ThroughMalloc {
  PurgeFn purge_fn;
  void* alloc(std::size_t n, bool) { return std::malloc(n); }
  bool release(void* p) {
    std::free(p);
    return true;
  }
  void begin_phase() {}
  // Allocators measured through malloc purge after every phase, so that each
  // cycle ends with memory handed back, as tslab's close does.
  bool end_phase() { return purge_fn(); }
  bool purge() { return purge_fn(); }
  double own_resident() const { return -1; }
  double purge_returned() const { return -1; }
};

#ifdef TSLAB_BENCH_HAVE_TSLAB
// tslab lifetime-unaware: everything in one epoch; slab_collect gives memory back.
// With `epochs`, pinned objects go to `pinned` and the rest to `main`, and purge()
// closes `main` instead of collecting.
struct Tslab {
  SlabAllocator* a;
  EpochId main, pinned;
  bool epochs;
  void* alloc(std::size_t n, bool pin) { return slab_malloc_epoch(a, n, pin && epochs ? pinned : main); }
  bool release(void* p) { return slab_free_checked(a, p); }
  // phase-shifts: each phase fills the current epoch, then advances and closes it.
  void begin_phase() { main = epoch_current(a); }
  bool end_phase() {
    const EpochId done = main;
    epoch_advance(a);
    return epoch_close(a, done);
  }
  std::uint64_t returned = 0;
  bool purge() {
    if (epochs) {
      const std::uint64_t before = decommitted_bytes();
      const bool ok = epoch_close(a, main);
      returned = decommitted_bytes() - before;
      return ok;
    }
    returned = slab_collect(a);
    return true;
  }
  double own_resident() const { return static_cast<double>(slab_resident_bytes(a)); }
  // Bytes the allocator has handed back to the OS so far (its statistics).
  std::uint64_t decommitted_bytes() const {
    SlabGlobalStats g{};
    g.size = sizeof g;
    return slab_stats_global(a, &g) ? g.decommit_bytes_total : 0;
  }
  // What the purge says it handed back: slab_collect's result, or the bytes the
  // close handed back to the OS (the allocator's statistics).
  double purge_returned() const { return static_cast<double>(returned); }
};
#endif

// Fills the whole block (lifecycle figures are about RSS, so every byte is used).
template <class A>
inline void* alloc_fill(A& a, std::size_t n, bool pin, std::uint64_t i) {
  void* p = a.alloc(n, pin);
  if (__builtin_expect(p == nullptr, 0)) die("allocation returned NULL");
  std::memset(p, static_cast<int>(i & 0xff) | 1, n);
  return p;
}

// ---- retention ---------------------------------------------------------------
// N objects of seeded random sizes in [64, 768]; free all but every 100th; purge.

constexpr std::uint32_t kRetMin = 64, kRetMax = 768, kKeepEvery = 100;

// Bytes of the distinct `gran`-aligned windows of memory that hold part of a kept
// object: what any allocator that cannot move objects must keep resident when it
// returns memory at that granularity. `scratch` has room for 2 entries per object.
std::uint64_t kept_windows(void* const* slots, const std::uint16_t* sizes, std::uint64_t n,
                           std::uintptr_t gran, std::uintptr_t* scratch) {
  std::uint64_t m = 0;
  for (std::uint64_t i = 0; i < n; i += kKeepEvery) {
    const auto p = reinterpret_cast<std::uintptr_t>(slots[i]);
    scratch[m++] = p / gran;
    if ((p + sizes[i] - 1) / gran != p / gran) scratch[m++] = (p + sizes[i] - 1) / gran;
  }
  std::sort(scratch, scratch + m);
  return static_cast<std::uint64_t>(std::unique(scratch, scratch + m) - scratch) * gran;
}

template <class A>
bool retention(A& a, const ChildSpec& sp, Figures& f) {
  const std::uint64_t n = sp.num("objects");
  auto* sizes = static_cast<std::uint16_t*>(map_buffer(n * sizeof(std::uint16_t)));
  auto* slots = static_cast<void**>(map_buffer(n * sizeof(void*)));
  Rng rng{sp.num("seed")};
  std::uint64_t pinned = 0, payload = 0, bad = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    sizes[i] = static_cast<std::uint16_t>(kRetMin + rng.below(kRetMax - kRetMin + 1));
    payload += sizes[i];
    if (i % kKeepEvery == 0) pinned += sizes[i];
  }

  const std::uint64_t kept_n = (n + kKeepEvery - 1) / kKeepEvery;
  auto* scratch = static_cast<std::uintptr_t*>(map_buffer(2 * kept_n * sizeof(std::uintptr_t)));

  const std::uint64_t base = rss_bytes();
  const double own_base = a.own_resident();
  const bool reset = reset_peak_rss();
  for (std::uint64_t i = 0; i < n; ++i) slots[i] = alloc_fill(a, sizes[i], i % kKeepEvery == 0, i);
  const std::uint64_t peak = peak_rss_bytes();
  const std::uint64_t full = rss_bytes();
  const double own_full = a.own_resident();
  for (std::uint64_t i = 0; i < n; ++i)
    if (i % kKeepEvery != 0) bad += !a.release(slots[i]);
  const std::uint64_t after_free = rss_bytes();
  const std::uint64_t t0 = mono_ns();
  const bool purged = a.purge();
  const std::uint64_t t1 = mono_ns();
  const std::uint64_t after_purge = rss_bytes();
  const double own = a.own_resident();
  const std::uint64_t kept_4k = kept_windows(slots, sizes, n, 4096, scratch);
  const std::uint64_t kept_64k = kept_windows(slots, sizes, n, 65536, scratch);
  unmap_buffer(scratch, 2 * kept_n * sizeof(std::uintptr_t));
  // The kept objects must still hold what was written.
  for (std::uint64_t i = 0; i < n; i += kKeepEvery) {
    const auto* p = static_cast<const unsigned char*>(slots[i]);
    if (p[0] != ((i & 0xff) | 1) || p[sizes[i] - 1] != ((i & 0xff) | 1)) die("a kept object was corrupted");
    bad += !a.release(slots[i]);
  }
  unmap_buffer(slots, n * sizeof(void*));
  unmap_buffer(sizes, n * sizeof(std::uint16_t));
  if (bad != 0 || !purged) return false;

  f.add("objects", static_cast<double>(n));
  f.add("payload", static_cast<double>(payload));
  f.add("pinned", static_cast<double>(pinned));
  f.add("rss_base", static_cast<double>(base));
  f.add("rss_peak", static_cast<double>(peak));
  f.add("rss_full", static_cast<double>(full));
  f.add("rss_after_free", static_cast<double>(after_free));
  f.add("rss_after_purge", static_cast<double>(after_purge));
  f.add("purge_ms", static_cast<double>(t1 - t0) / 1e6);
  f.add("kept_4k_bytes", static_cast<double>(kept_4k));
  f.add("kept_64k_bytes", static_cast<double>(kept_64k));
  if (own >= 0) {
    f.add("own_resident_base", own_base);
    f.add("own_resident_full", own_full);
    f.add("own_resident_after_purge", own);
    f.add("purge_returned", a.purge_returned());
  }
  f.add("peak_reset", reset ? 1 : 0);
  return true;
}

// ---- phase-shifts ------------------------------------------------------------
// Each cycle fills `batch` objects of 64..512 B (sizes keep drawing from one
// seeded stream, so every cycle differs), frees them all and ends the phase.

constexpr std::uint32_t kPhaseMin = 64, kPhaseMax = 512;

// The warm-up reading: after cycle 50, or a twentieth of the cycles when fewer than 1000.
std::uint64_t warmup_cycle(std::uint64_t cycles) {
  return std::max<std::uint64_t>(1, std::min<std::uint64_t>(50, cycles / 20));
}

template <class A>
bool phase_shifts(A& a, const ChildSpec& sp, Figures& f) {
  const std::uint64_t b = sp.num("batch"), cycles = sp.num("cycles"), warm = warmup_cycle(cycles);
  auto* slots = static_cast<void**>(map_buffer(b * sizeof(void*)));
  auto* ended_mib = static_cast<double*>(map_buffer(cycles * sizeof(double)));
  Rng rng{sp.num("seed")};
  std::uint64_t bad = 0, failed_ends = 0;
  std::uint64_t fill_warm = 0, fill_end = 0, cyc_warm = 0, cyc_end = 0, cyc_max = 0, fill_max = 0;
  const std::uint64_t base = rss_bytes();
  const std::uint64_t t0 = mono_ns();
  std::uint64_t t_warm = t0;
  for (std::uint64_t c = 1; c <= cycles; ++c) {
    a.begin_phase();
    for (std::uint64_t i = 0; i < b; ++i)
      slots[i] = alloc_fill(a, kPhaseMin + rng.below(kPhaseMax - kPhaseMin + 1), false, i);
    const std::uint64_t filled = rss_bytes();
    for (std::uint64_t i = 0; i < b; ++i) bad += !a.release(slots[i]);
    failed_ends += !a.end_phase();
    const std::uint64_t ended = rss_bytes();
    ended_mib[c - 1] = static_cast<double>(ended) / kMiB;
    if (c == warm) fill_warm = filled, cyc_warm = ended, t_warm = mono_ns();
    if (c >= warm) cyc_max = std::max(cyc_max, ended), fill_max = std::max(fill_max, filled);
    if (c == cycles) fill_end = filled, cyc_end = ended;
  }
  const std::uint64_t t1 = mono_ns();
  unmap_buffer(slots, b * sizeof(void*));
  if (bad != 0 || failed_ends != 0) return false;
  // The RSS at the end of every cycle, for the chart (built after the measurement).
  std::vector<double> cycle_no(cycles), cycle_mib(ended_mib, ended_mib + cycles);
  for (std::uint64_t c = 0; c < cycles; ++c) cycle_no[c] = static_cast<double>(c + 1);
  unmap_buffer(ended_mib, cycles * sizeof(double));
  f.add_series("cycle", std::move(cycle_no));
  f.add_series("cycle_rss_mib", std::move(cycle_mib));

  auto growth = [](std::uint64_t from, std::uint64_t to) {
    return 100.0 * (static_cast<double>(to) - static_cast<double>(from)) / static_cast<double>(from);
  };
  f.add("cycles", static_cast<double>(cycles));
  f.add("warmup", static_cast<double>(warm));
  f.add("batch", static_cast<double>(b));
  f.add("rss_base", static_cast<double>(base));
  f.add("rss_warm", static_cast<double>(cyc_warm));
  f.add("rss_end", static_cast<double>(cyc_end));
  f.add("rss_max_after_warm", static_cast<double>(cyc_max));
  f.add("growth_pct", growth(cyc_warm, cyc_end));
  f.add("fill_warm", static_cast<double>(fill_warm));
  f.add("fill_end", static_cast<double>(fill_end));
  f.add("fill_max_after_warm", static_cast<double>(fill_max));
  f.add("fill_growth_pct", growth(fill_warm, fill_end));
  f.add("ms_per_cycle", static_cast<double>(t1 - t0) / 1e6 / static_cast<double>(cycles));
  f.add("ms_per_cycle_after_warm",
        cycles > warm ? static_cast<double>(t1 - t_warm) / 1e6 / static_cast<double>(cycles - warm) : 0.0);
  return true;
}

#ifdef TSLAB_BENCH_HAVE_TSLAB
// ---- close-cost (tslab only) ---------------------------------------------------

constexpr std::size_t kCloseBlock = 128;

// "close": fill `fill_bytes` of 128 B blocks in one epoch, free them all, time
// epoch_close and read how much RSS it gave back.
bool close_cost(SlabAllocator* sa, const ChildSpec& sp, Figures& f, std::string& error) {
  const std::uint64_t n = (sp.num("fill_mib") << 20) / kCloseBlock;
  auto* slots = static_cast<void**>(map_buffer(n * sizeof(void*)));
  const EpochId e = epoch_current(sa);
  const std::uint64_t base = rss_bytes();
  for (std::uint64_t i = 0; i < n; ++i) {
    void* p = slab_malloc_epoch(sa, kCloseBlock, e);
    if (p == nullptr) die("allocation returned NULL");
    std::memset(p, static_cast<int>(i & 0xff), kCloseBlock);
    slots[i] = p;
  }
  const std::uint64_t full = rss_bytes();
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < n; ++i) bad += !slab_free_checked(sa, slots[i]);
  const std::uint64_t before = rss_bytes();
  const std::uint64_t own_before = slab_resident_bytes(sa);
  const std::uint64_t t0 = mono_ns();
  const bool closed = epoch_close(sa, e);
  const std::uint64_t t1 = mono_ns();
  const std::uint64_t after = rss_bytes();
  const std::uint64_t own_after = slab_resident_bytes(sa);
  unmap_buffer(slots, n * sizeof(void*));
  if (bad != 0 || !closed) {
    error = bad != 0 ? "a free failed" : "epoch_close failed";
    return false;
  }
  const double returned = static_cast<double>(before) - static_cast<double>(after);
  const double us = static_cast<double>(t1 - t0) / 1e3;
  f.add("fill_bytes", static_cast<double>(n * kCloseBlock));
  f.add("rss_base", static_cast<double>(base));
  f.add("rss_full", static_cast<double>(full));
  f.add("rss_before_close", static_cast<double>(before));
  f.add("rss_after_close", static_cast<double>(after));
  f.add("returned", returned);
  f.add("own_before_close", static_cast<double>(own_before));
  f.add("own_after_close", static_cast<double>(own_after));
  f.add("close_us", us);
  f.add("us_per_mib", returned > 0 ? us / (returned / kMiB) : -1);
  return true;
}

// "lat-alone", "lat-fill", "lat-close": a second thread runs a churn loop (free a
// random slot of 10,000 and allocate 128 B into it, each pair timed with the
// TSC) in epoch A while this thread
//   lat-alone: waits;
//   lat-fill:  fills `lat_fill_bytes` of 128 B blocks into one other epoch and
//              frees them, over and over (the same work without closes);
//   lat-close: fills and frees a fresh epoch each time and closes it.
// The allocator has SLAB_MAX_EPOCH_COUNT slots, all ACTIVE at creation: A is the
// current one and the closing thread takes the others in turn, so no epoch_advance
// (which would close A) is needed.
constexpr std::uint32_t kLatSlots = 10000;

bool close_latency(SlabAllocator* sa, const ChildSpec& sp, Figures& f, std::string& error) {
  const std::string& mode = sp.mode;
  const double tpn = calibrate_tsc_per_ns();
  const double overhead = tsc_pair_overhead_ticks();
  const std::uint64_t k = sp.num("lat_ops");
  const std::uint64_t fill_n = (sp.num("lat_fill_mib") << 20) / kCloseBlock;
  const EpochId ea = epoch_current(sa);
  const std::uint32_t count = slab_epoch_count(sa);
  auto* wslots = static_cast<void**>(map_buffer(kLatSlots * sizeof(void*)));
  auto* fslots = static_cast<void**>(map_buffer(fill_n * sizeof(void*)));
  auto* all = static_cast<std::uint32_t*>(map_buffer(k * sizeof(std::uint32_t)));
  auto* during = static_cast<std::uint32_t*>(map_buffer(k * sizeof(std::uint32_t)));
  auto* close_us = static_cast<double*>(map_buffer(count * sizeof(double)));
  std::atomic<bool> done{false};
  std::atomic<unsigned> closing{0};
  std::atomic<std::uint64_t> bad{0};
  std::uint64_t n_during = 0;
  SpinBarrier bar(2);

  std::thread worker([&] {
    Rng rng{sp.num("seed")};
    std::uint64_t my_bad = 0;
    for (std::uint32_t i = 0; i < kLatSlots; ++i) {
      void* p = slab_malloc_epoch(sa, kCloseBlock, ea);
      if (p == nullptr) die("allocation returned NULL");
      static_cast<volatile unsigned char*>(p)[0] = 1;
      wslots[i] = p;
    }
    bar.wait();
    for (std::uint64_t i = 0; i < k; ++i) {
      void*& s = wslots[rng.below(kLatSlots)];
      const unsigned f0 = closing.load(std::memory_order_relaxed);
      const std::uint64_t c0 = tsc_begin();
      my_bad += !slab_free_checked(sa, s);
      void* p = slab_malloc_epoch(sa, kCloseBlock, ea);
      if (__builtin_expect(p == nullptr, 0)) die("allocation returned NULL");
      static_cast<volatile unsigned char*>(p)[0] = static_cast<unsigned char>(i);
      const std::uint64_t c1 = tsc_end();
      const unsigned f1 = closing.load(std::memory_order_relaxed);
      s = p;
      const std::uint32_t d = to_u32(c1 - c0);
      all[i] = d;
      if ((f0 | f1) != 0) during[n_during++] = d;
    }
    done.store(true, std::memory_order_release);
    for (std::uint32_t i = 0; i < kLatSlots; ++i) my_bad += !slab_free_checked(sa, wslots[i]);
    bad.fetch_add(my_bad);
  });

  auto fill_free = [&](EpochId e) {
    for (std::uint64_t i = 0; i < fill_n; ++i) {
      void* p = slab_malloc_epoch(sa, kCloseBlock, e);
      if (p == nullptr) die("allocation returned NULL");
      std::memset(p, static_cast<int>(i & 0xff), kCloseBlock);
      fslots[i] = p;
    }
    std::uint64_t b = 0;
    for (std::uint64_t i = 0; i < fill_n; ++i) b += !slab_free_checked(sa, fslots[i]);
    bad.fetch_add(b);
  };

  std::uint64_t fills = 0, closes = 0, close_failures = 0;
  double returned = 0;
  bool ran_out = false;
  bar.wait();
  if (mode == "lat-fill") {
    const EpochId e = (ea + 1) % count;
    while (!done.load(std::memory_order_acquire)) fill_free(e), ++fills;
  } else if (mode == "lat-close") {
    for (std::uint32_t j = 1; !done.load(std::memory_order_acquire); ++j) {
      if (j >= count) {
        ran_out = true;
        break;
      }
      const EpochId e = (ea + j) % count;
      if (slab_epoch_state(sa, e) != EPOCH_ACTIVE) {
        error = "close-cost needs the non-current epochs ACTIVE at creation";
        close_failures++;
        break;
      }
      fill_free(e), ++fills;
      const std::uint64_t r0 = rss_bytes();
      closing.store(1, std::memory_order_relaxed);
      const std::uint64_t t0 = mono_ns();
      close_failures += !epoch_close(sa, e);
      const std::uint64_t t1 = mono_ns();
      closing.store(0, std::memory_order_relaxed);
      returned += static_cast<double>(r0) - static_cast<double>(rss_bytes());
      close_us[closes++] = static_cast<double>(t1 - t0) / 1e3;
    }
  }
  worker.join();
  if (bad.load() != 0 || close_failures != 0) {
    if (error.empty()) error = bad.load() != 0 ? "a free failed" : "epoch_close failed";
    return false;
  }

  f.add("ops", static_cast<double>(k));
  f.add("p50_ns", percentile(all, k, 0.50) / tpn);
  f.add("p99_ns", percentile(all, k, 0.99) / tpn);
  f.add("p999_ns", percentile(all, k, 0.999) / tpn);
  f.add("max_ns", max_sample(all, k) / tpn);
  f.add("fills", static_cast<double>(fills));
  f.add("fill_bytes", static_cast<double>(fill_n * kCloseBlock));
  f.add("tsc_per_ns", tpn);
  f.add("tsc_step_ns", tsc_step_ticks() / tpn);
  f.add("timer_overhead_ns", overhead / tpn);
  if (mode == "lat-close") {
    double sum = 0;
    for (std::uint64_t i = 0; i < closes; ++i) sum += close_us[i];
    f.add("closes", static_cast<double>(closes));
    f.add("closes_ran_out", ran_out ? 1 : 0);
    f.add("close_us_mean", closes ? sum / static_cast<double>(closes) : 0);
    f.add("close_us_per_mib", returned > 0 ? sum / (returned / kMiB) : -1);
    f.add("ops_during_close", static_cast<double>(n_during));
    if (n_during > 0) {
      f.add("during_p50_ns", percentile(during, n_during, 0.50) / tpn);
      f.add("during_p99_ns", percentile(during, n_during, 0.99) / tpn);
      f.add("during_p999_ns", percentile(during, n_during, 0.999) / tpn);
      f.add("during_max_ns", max_sample(during, n_during) / tpn);
    }
  }
  unmap_buffer(close_us, count * sizeof(double));
  unmap_buffer(during, k * sizeof(std::uint32_t));
  unmap_buffer(all, k * sizeof(std::uint32_t));
  unmap_buffer(fslots, fill_n * sizeof(void*));
  unmap_buffer(wslots, kLatSlots * sizeof(void*));
  return true;
}

// Checks a tslab allocator after a workload and frees it; false with `error` set
// if the invariants do not hold.
bool check_and_free(SlabAllocator* sa, bool ok, std::string& error) {
  if (ok) {
    char msg[256] = {};
    if (!slab_check(sa, msg, sizeof msg)) {
      error = std::string("slab_check failed after the workload: ") + msg;
      ok = false;
    }
  }
  slab_allocator_free(sa);
  return ok;
}

// Runs retention or phase-shifts on a fresh tslab allocator.
template <class Body>
bool run_tslab_phases(const ChildSpec& sp, std::string& error, Body body) {
  SlabAllocator* sa = slab_allocator_create();
  if (sa == nullptr) return error = "slab_allocator_create failed", false;
  Tslab a{sa, epoch_current(sa), epoch_current(sa), sp.alloc == "tslab-epochs"};
  if (a.epochs) {
    // The long-lived epoch is the current one; the phase takes the next ACTIVE slot.
    const std::uint32_t count = slab_epoch_count(sa);
    bool found = false;
    for (std::uint32_t j = 1; j < count && !found; ++j) {
      const EpochId e = (a.pinned + j) % count;
      if (slab_epoch_state(sa, e) == EPOCH_ACTIVE) a.main = e, found = true;
    }
    if (!found) {
      slab_allocator_free(sa);
      return error = "tslab-epochs needs a second ACTIVE epoch", false;
    }
  }
  const bool ok = body(a);
  if (!ok) error = strf("a free or close failed (%s)", slab_error_string(slab_last_error()));
  return check_and_free(sa, ok, error);
}
#endif

// Runs `body` through malloc with the allocator's purge call (peers, tslab-malloc), or with tslab.
template <class Body>
bool run_with(const ChildSpec& sp, Figures& f, std::string& error, Body body) {
  (void)f;  // filled by `body`
  if (uses_malloc_api(sp.alloc)) {
    PurgeFn purge = malloc_purge_fn(sp.alloc, error);
    if (purge == nullptr) return false;
    ThroughMalloc a{purge};
    const bool ok = body(a);
    if (!ok) error = "a free or purge failed";
    return ok;
  }
#ifdef TSLAB_BENCH_HAVE_TSLAB
  return run_tslab_phases(sp, error, body);
#else
  error = sp.alloc + " is not built into this binary (built without the tslab library)";
  return false;
#endif
}

}  // namespace

bool run_fragmentation_adversary(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.num("objects") == 0) return error = "fragmentation-adversary needs objects", false;
  return run_with(sp, f, error, [&](auto& a) { return retention(a, sp, f); });
}

bool run_sustained_phase_shifts(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.num("cycles") == 0 || sp.num("batch") == 0)
    return error = "sustained-phase-shifts needs cycles and a batch", false;
  if (sp.alloc == "tslab-epochs")
    return error = "sustained-phase-shifts measures tslab, not tslab-epochs", false;
  return run_with(sp, f, error, [&](auto& a) { return phase_shifts(a, sp, f); });
}

bool run_epoch_reclamation(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.num("fill_mib") == 0 || sp.num("lat_ops") == 0 || sp.num("lat_fill_mib") == 0)
    return error = "epoch-reclamation needs at least 1 MiB to fill and some ops", false;
  if (sp.alloc != "tslab") return error = "epoch-reclamation measures tslab only", false;
#ifdef TSLAB_BENCH_HAVE_TSLAB
  SlabAllocatorOptions opt{};
  const bool lat = sp.mode != "close";
  opt.epoch_count = lat ? SLAB_MAX_EPOCH_COUNT : 0;
  SlabAllocator* sa = slab_allocator_create_with(&opt);
  if (sa == nullptr) return error = "slab_allocator_create_with failed", false;
  const bool ok = lat ? close_latency(sa, sp, f, error) : close_cost(sa, sp, f, error);
  return check_and_free(sa, ok, error);
#else
  (void)f;
  return error = "tslab is not built into this binary", false;
#endif
}

}  // namespace bench
