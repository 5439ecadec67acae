// This file contains the request workload: worker threads serve requests; each
// request allocates 20-200 objects of 16-1024 B, writes every cache line of
// each, and frees them all when it ends, except the 1% that go into a shared
// FIFO cache (capacity 50,000); a full cache evicts its oldest object, freed by
// whichever thread inserts, so lifetimes mix and frees cross threads.
//
// A run is `phases` rounds of: serve for serve_ms; then drain (every cached
// object is freed by the main thread) and cool down for cooldown_ms. After the
// last round each allocator's purge call runs once. RSS is sampled throughout.
//
// tslab runs it the lifetime-aware way, in one allocator: request objects go to
// the current epoch, the batch epoch (each worker advances it after every
// `batch` requests of its own, which closes the epoch both workers were
// allocating in: a worker whose allocation finds its epoch closed moves to the
// new current one); cached objects go to a long-lived epoch held outside the
// rotation (slab_epoch_open), closed when the cache has drained.
// The peers and tslab-malloc run malloc/free.
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "harness/allocators.hpp"
#include "harness/blocking_barrier.hpp"
#include "harness/common.hpp"
#include "harness/latency_histogram.hpp"
#include "harness/rss_sampler.hpp"
#include "harness/rss_timing.hpp"
#include "harness/stats.hpp"
#include "workloads/object_ops.hpp"
#include "workloads/registry.hpp"

#ifdef TSLAB_BENCH_HAVE_TSLAB
#include "slab_alloc.h"
#include "slab_stats.h"
#endif

namespace bench {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr std::uint32_t kMaxObjectsPerRequest = 4096;

struct RequestParams {
  unsigned threads;
  std::uint64_t serve_ms, phases, cooldown_ms, cache_capacity, cache_bp, batch, sample_ms, seed;
  std::uint32_t obj_min, obj_max, req_min, req_max;
};

// The shared cache: a FIFO ring of pointers under a mutex, in memory from
// map_buffer() so that it costs every allocator the same.
class FifoCache {
 public:
  explicit FifoCache(std::uint32_t capacity)
      : capacity_(capacity), slots_(static_cast<void**>(map_buffer(capacity * sizeof(void*)))) {}
  ~FifoCache() { unmap_buffer(slots_, capacity_ * sizeof(void*)); }
  FifoCache(const FifoCache&) = delete;
  FifoCache& operator=(const FifoCache&) = delete;

  // Inserts `p`; when the cache was full, returns the evicted oldest object.
  void* insert(void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (count_ == capacity_) {
      void* old = slots_[head_];
      slots_[head_] = p;
      head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
      ++evictions_;
      return old;
    }
    std::uint32_t tail = head_ + count_;
    if (tail >= capacity_) tail -= capacity_;
    slots_[tail] = p;
    ++count_;
    return nullptr;
  }
  // Removes the oldest object; nullptr when empty.
  void* pop() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (count_ == 0) return nullptr;
    void* p = slots_[head_];
    head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
    --count_;
    return p;
  }
  std::uint64_t evictions() const { return evictions_; }

 private:
  std::mutex mutex_;
  const std::uint32_t capacity_;
  void** slots_;
  std::uint32_t head_ = 0, count_ = 0;
  std::uint64_t evictions_ = 0;
};

// ---- allocator interfaces ----------------------------------------------------
// Per-thread state is a Local. The begin_serve / end_serve / end_drain / purge
// hooks run on the main thread while the workers wait.

struct MallocRequests {
  struct Local {};
  PurgeFn purge_fn;
  void begin_serve() {}
  void begin_thread(Local&) {}
  void* alloc_request(Local&, std::size_t n) { return std::malloc(n); }
  void* alloc_cached(Local&, std::size_t n) { return std::malloc(n); }
  void free_request(Local&, void* p) { std::free(p); }
  void free_cached(void* p) { std::free(p); }
  void end_batch(Local&) {}
  void end_serve() {}
  void end_drain() {}
  bool purge() { return purge_fn(); }
  void end_thread(const Local&) {}
  void report(Figures&, double) const {}
};

#ifdef TSLAB_BENCH_HAVE_TSLAB
struct TslabRequests {
  struct Local {
    EpochId epoch = 0;
    std::uint64_t advances = 0, advance_ns = 0, moves = 0;
  };
  SlabAllocator* alloc = nullptr;  // batch epochs in rotation, the cache's held epoch
  EpochId cache_epoch = SLAB_NO_EPOCH;
  std::mutex totals_mutex;
  std::uint64_t advances = 0, advance_ns = 0, moves = 0;

  void begin_serve() {
    // After a drain the cache's epoch is closed: open the next one.
    if (cache_epoch == SLAB_NO_EPOCH || !slab_epoch_is_held(alloc, cache_epoch)) {
      cache_epoch = slab_epoch_open(alloc);
      if (cache_epoch == SLAB_NO_EPOCH) die("slab_epoch_open failed");
    }
    slab_epoch_set_label(alloc, cache_epoch, "cache");
  }
  void begin_thread(Local& l) { l.epoch = epoch_current(alloc); }
  void* alloc_request(Local& l, std::size_t n) {
    void* p = slab_malloc_epoch(alloc, n, l.epoch);
    // Another worker ended the batch: its epoch_advance closed the epoch this
    // worker was allocating in. Move to the new current epoch.
    for (int tries = 0; p == nullptr && tries < 64 && slab_last_error() == TSLAB_ERR_EPOCH_CLOSING; ++tries) {
      l.epoch = epoch_current(alloc);
      ++l.moves;
      p = slab_malloc_epoch(alloc, n, l.epoch);
    }
    return p;
  }
  void* alloc_cached(Local&, std::size_t n) { return slab_malloc_epoch(alloc, n, cache_epoch); }
  void free_request(Local&, void* p) { slab_free(alloc, p); }
  void free_cached(void* p) { slab_free(alloc, p); }
  void end_batch(Local& l) {
    const std::uint64_t t0 = mono_ns();
    l.epoch = epoch_advance(alloc);  // closes the batch's epoch; the held cache epoch stays open
    l.advance_ns += mono_ns() - t0;
    ++l.advances;
  }
  void end_serve() { epoch_advance(alloc); }             // closes the last batch's epoch
  void end_drain() { epoch_close(alloc, cache_epoch); }  // the cache is empty: close its epoch
  bool purge() {
    slab_collect(alloc);
    return true;
  }
  void end_thread(const Local& l) {
    std::lock_guard<std::mutex> lock(totals_mutex);
    advances += l.advances;
    advance_ns += l.advance_ns;
    moves += l.moves;
  }
  void report(Figures& f, double served) const {
    SlabGlobalStats r{};
    r.size = sizeof r;
    if (slab_stats_global(alloc, &r) && served > 0) {
      f.add("decommit_calls_per_kreq", 1e3 * static_cast<double>(r.decommit_calls_total) / served);
      f.add("quiescence_waits_per_kreq", 1e3 * static_cast<double>(r.quiescence_waits_total) / served);
      f.add("close_us_per_kreq", static_cast<double>(r.close_ns_total) / served);
      f.add("slow_paths_per_kreq", 1e3 * static_cast<double>(r.slow_path_total) / served);
      f.add("remote_frees_per_kreq", 1e3 * static_cast<double>(r.remote_frees_collected_total) / served);
      f.add("warm_reserve_mib", static_cast<double>(r.warm_reserve_bytes) / kMiB);
    }
    f.add("epochs_closed", static_cast<double>(advances));
    f.add("advance_us_mean",
          advances ? static_cast<double>(advance_ns) / 1e3 / static_cast<double>(advances) : 0);
    f.add("epoch_moves", static_cast<double>(moves));
    f.add("own_resident_after", static_cast<double>(slab_resident_bytes(alloc)));
  }
};
#endif

// What the workers and the main thread share; lives in memory from map_buffer().
struct Shared {
  explicit Shared(unsigned threads) : start(threads + 1), done(threads + 1), exit(threads + 1) {}
  BlockingBarrier start, done, exit;
  std::atomic<bool> stop{false};
};

template <class A>
void serve_one(A& a, typename A::Local& l, FifoCache& cache, const RequestParams& rp, Rng& rng, void** keep,
               void** to_cache) {
  const std::uint32_t k = rng.between(rp.req_min, rp.req_max);
  std::uint32_t nkeep = 0, ncache = 0;
  for (std::uint32_t i = 0; i < k; ++i) {
    const std::uint32_t size = rng.between(rp.obj_min, rp.obj_max);
    const bool cached = rng.below(10000) < rp.cache_bp;
    void* p = cached ? a.alloc_cached(l, size) : a.alloc_request(l, size);
    if (__builtin_expect(p == nullptr, 0)) die("allocation returned NULL");
    touch_lines(p, size, i);
    if (cached)
      to_cache[ncache++] = p;
    else
      keep[nkeep++] = p;
  }
  for (std::uint32_t i = 0; i < ncache; ++i)
    if (void* old = cache.insert(to_cache[i])) a.free_cached(old);
  for (std::uint32_t i = 0; i < nkeep; ++i) a.free_request(l, keep[i]);
}

template <class A>
void worker(A& a, Shared& sh, FifoCache& cache, const RequestParams& rp, unsigned t, LatencyHistogram& hist,
            std::uint64_t& served) {
  typename A::Local l;
  Rng rng{rp.seed + 0x9e3779b97f4a7c15ull * (t + 1)};
  auto* keep = static_cast<void**>(map_buffer(2 * kMaxObjectsPerRequest * sizeof(void*)));
  void** to_cache = keep + kMaxObjectsPerRequest;
  for (std::uint64_t phase = 0; phase < rp.phases; ++phase) {
    sh.start.arrive_and_wait();
    a.begin_thread(l);
    std::uint64_t in_batch = 0, n = 0;
    while (!sh.stop.load(std::memory_order_relaxed)) {
      const std::uint64_t c0 = tsc_begin();
      serve_one(a, l, cache, rp, rng, keep, to_cache);
      // The batch's end belongs to the request that completes it.
      if (++in_batch == rp.batch) a.end_batch(l), in_batch = 0;
      const std::uint64_t c1 = tsc_end();
      hist.add(c1 - c0);
      ++n;
    }
    served += n;
    sh.done.arrive_and_wait();
  }
  a.end_thread(l);
  unmap_buffer(keep, 2 * kMaxObjectsPerRequest * sizeof(void*));
  sh.exit.arrive_and_wait();
}

void sleep_ms(std::uint64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// CPU time and minor page faults of the whole process so far: less sensitive than
// wall time to other work on a shared machine.
struct ProcessUsage {
  double user_us = 0, sys_us = 0, minor_faults = 0;
  static ProcessUsage now() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    ProcessUsage u;
    u.user_us = static_cast<double>(ru.ru_utime.tv_sec) * 1e6 + static_cast<double>(ru.ru_utime.tv_usec);
    u.sys_us = static_cast<double>(ru.ru_stime.tv_sec) * 1e6 + static_cast<double>(ru.ru_stime.tv_usec);
    u.minor_faults = static_cast<double>(ru.ru_minflt);
    return u;
  }
  void add_delta(const ProcessUsage& from, const ProcessUsage& to) {
    user_us += to.user_us - from.user_us;
    sys_us += to.sys_us - from.sys_us;
    minor_faults += to.minor_faults - from.minor_faults;
  }
};

template <class A>
bool run_requests(A& a, const RequestParams& rp, Figures& f) {
  const unsigned T = rp.threads;
  const double tpn = calibrate_tsc_per_ns();
  FifoCache cache(static_cast<std::uint32_t>(rp.cache_capacity));
  auto* shared = new (map_buffer(sizeof(Shared))) Shared(T);
  auto* hists = static_cast<LatencyHistogram*>(map_buffer(T * sizeof(LatencyHistogram)));
  for (unsigned t = 0; t < T; ++t) new (&hists[t]) LatencyHistogram();
  auto* served = static_cast<std::uint64_t*>(map_buffer(T * sizeof(std::uint64_t)));
  auto* phase_end_mib = static_cast<double*>(map_buffer(rp.phases * sizeof(double)));
  const std::uint64_t total_ms = rp.phases * (rp.serve_ms + rp.cooldown_ms) + 2000;
  RssSampler sampler(rp.sample_ms, total_ms / rp.sample_ms + 64);

  std::vector<std::thread> workers;
  workers.reserve(T);
  for (unsigned t = 0; t < T; ++t)
    workers.emplace_back([&, t] { worker(a, *shared, cache, rp, t, hists[t], served[t]); });

  const std::uint64_t base = rss_bytes();
  const bool reset = reset_peak_rss();
  sampler.start();
  std::uint64_t serve_ns = 0, serve_end = 0, after_phase = 0, drain_ns = 0;
  ProcessUsage serving;
  for (std::uint64_t p = 1; p <= rp.phases; ++p) {
    a.begin_serve();
    shared->stop.store(false, std::memory_order_relaxed);
    sampler.mark(strf("serve %llu", static_cast<unsigned long long>(p)).c_str());
    const ProcessUsage u0 = ProcessUsage::now();
    const std::uint64_t t0 = mono_ns();
    shared->start.arrive_and_wait();
    sleep_ms(rp.serve_ms);
    shared->stop.store(true, std::memory_order_relaxed);
    shared->done.arrive_and_wait();
    serve_ns += mono_ns() - t0;
    serving.add_delta(u0, ProcessUsage::now());
    serve_end = rss_bytes();
    a.end_serve();
    sampler.mark(strf("drain %llu", static_cast<unsigned long long>(p)).c_str());
    const std::uint64_t d0 = mono_ns();
    while (void* old = cache.pop()) a.free_cached(old);
    a.end_drain();
    drain_ns += mono_ns() - d0;
    sleep_ms(rp.cooldown_ms);
    after_phase = rss_bytes();
    phase_end_mib[p - 1] = static_cast<double>(after_phase) / kMiB;
  }
  sampler.mark("purge");
  const bool purged = a.purge();
  sleep_ms(rp.sample_ms * 3);
  const std::uint64_t after_purge = rss_bytes();
  const std::uint64_t peak = peak_rss_bytes();
  sampler.stop();
  shared->exit.arrive_and_wait();
  for (auto& w : workers) w.join();

  // Figures (built after the measurement: these vectors use the allocator under test).
  LatencyHistogram& all = hists[0];
  for (unsigned t = 1; t < T; ++t) all.merge(hists[t]);
  std::uint64_t requests = 0;
  for (unsigned t = 0; t < T; ++t) requests += served[t];
  const double us_per_tick = 1.0 / (tpn * 1e3);
  f.add("requests", static_cast<double>(requests));
  f.add("serve_s", static_cast<double>(serve_ns) / 1e9);
  f.add("req_per_s", static_cast<double>(requests) / (static_cast<double>(serve_ns) / 1e9));
  f.add("p50_us", all.quantile(0.50) * us_per_tick);
  f.add("p90_us", all.quantile(0.90) * us_per_tick);
  f.add("p99_us", all.quantile(0.99) * us_per_tick);
  f.add("p999_us", all.quantile(0.999) * us_per_tick);
  f.add("max_us", static_cast<double>(all.max()) * us_per_tick);
  f.add("rss_base", static_cast<double>(base));
  f.add("rss_peak", static_cast<double>(peak));
  f.add("rss_serve_end", static_cast<double>(serve_end));
  f.add("rss_after_phase", static_cast<double>(after_phase));
  f.add("rss_after_purge", static_cast<double>(after_purge));
  f.add("peak_reset", reset ? 1 : 0);
  f.add("drain_ms", static_cast<double>(drain_ns) / 1e6 / static_cast<double>(rp.phases));
  const double n = requests > 0 ? static_cast<double>(requests) : 1.0;
  f.add("cpu_us_per_req", (serving.user_us + serving.sys_us) / n);
  f.add("sys_us_per_req", serving.sys_us / n);
  f.add("minor_faults_per_kreq", 1e3 * serving.minor_faults / n);
  f.add("cache_evictions", static_cast<double>(cache.evictions()));
  f.add("tsc_per_ns", tpn);
  a.report(f, static_cast<double>(requests));
  static constexpr double kQuantiles[] = {0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999};
  std::vector<double> qs, lat;
  for (double q : kQuantiles) qs.push_back(100.0 * q), lat.push_back(all.quantile(q) * us_per_tick);
  f.add_series("lat_pct", std::move(qs));
  f.add_series("lat_us", std::move(lat));
  f.add_series("phase_end_rss_mib", std::vector<double>(phase_end_mib, phase_end_mib + rp.phases));
  sampler.report(f);

  unmap_buffer(phase_end_mib, rp.phases * sizeof(double));
  unmap_buffer(served, T * sizeof(std::uint64_t));
  unmap_buffer(hists, T * sizeof(LatencyHistogram));
  shared->~Shared();
  unmap_buffer(shared, sizeof(Shared));
  return purged;
}

}  // namespace

bool run_request(const ChildSpec& sp, Figures& f, std::string& error) {
  RequestParams rp{};
  rp.threads = sp.threads;
  rp.serve_ms = sp.num("serve_ms");
  rp.phases = sp.num("phases");
  rp.cooldown_ms = sp.num("cooldown_ms");
  rp.cache_capacity = sp.num("cache_capacity");
  rp.cache_bp = sp.num("cache_bp");
  rp.batch = sp.num("batch");
  rp.sample_ms = sp.num("sample_ms");
  rp.seed = sp.num("seed");
  rp.obj_min = static_cast<std::uint32_t>(sp.num("obj_min"));
  rp.obj_max = static_cast<std::uint32_t>(sp.num("obj_max"));
  rp.req_min = static_cast<std::uint32_t>(sp.num("req_min"));
  rp.req_max = static_cast<std::uint32_t>(sp.num("req_max"));
  if (rp.threads == 0 || rp.serve_ms == 0 || rp.phases == 0 || rp.sample_ms == 0 || rp.cache_capacity == 0 ||
      rp.cache_capacity > 0xffffffffull)
    return error = "request needs threads, serve_ms, phases, sample_ms and a cache capacity below 2^32",
           false;
  if (rp.obj_min == 0 || rp.obj_min > rp.obj_max || rp.obj_max > (1u << 20))
    return error = "request needs 1 <= obj_min <= obj_max <= 1 MiB", false;
  if (rp.req_min == 0 || rp.req_min > rp.req_max || rp.req_max > kMaxObjectsPerRequest)
    return error = strf("request needs 1 <= req_min <= req_max <= %u", kMaxObjectsPerRequest), false;
  if (rp.cache_bp > 10000) return error = "cache_bp is at most 10000 (100%)", false;
  if (uses_malloc_api(sp.alloc)) {
    MallocRequests a{malloc_purge_fn(sp.alloc, error)};
    if (a.purge_fn == nullptr) return false;
    if (!run_requests(a, rp, f)) return error = "the purge call failed", false;
    return true;
  }
#ifdef TSLAB_BENCH_HAVE_TSLAB
  if (sp.alloc != "tslab") return error = "request measures tslab, not " + sp.alloc, false;
  TslabRequests a;
  a.alloc = slab_allocator_create();
  if (a.alloc == nullptr) return error = "slab_allocator_create failed", false;
  run_requests(a, rp, f);
  bool ok = true;
  char msg[256] = {};
  if (!slab_check(a.alloc, msg, sizeof msg)) {
    error = std::string("slab_check failed after the workload: ") + msg;
    ok = false;
  }
  slab_allocator_free(a.alloc);
  return ok;
#else
  return error = sp.alloc + " is not built into this binary", false;
#endif
}

}  // namespace bench
