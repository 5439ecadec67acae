// This file contains the producer-consumer workload: threads pair up; in each
// pair a producer allocates objects of mixed sizes (16-1024 B), writes them and
// hands them over a single-producer single-consumer ring, and the consumer
// reads and frees them, so every free comes from a thread other than the one
// that allocated (tslab: a remote free into the producer's slab, collected by
// the producer). Figures: items per second over all pairs and the RSS.
#include <atomic>
#include <new>
#include <thread>
#include <vector>

#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "workloads/object_ops.hpp"
#include "workloads/registry.hpp"
#include "workloads/run_memory.hpp"

namespace bench {
namespace {

// A single-producer single-consumer ring of pointers (capacity a power of two).
struct alignas(64) SpscRing {
  alignas(64) std::atomic<std::uint64_t> head{0};  // next to read (consumer)
  alignas(64) std::atomic<std::uint64_t> tail{0};  // next to write (producer)
  void** slots = nullptr;
  std::uint64_t mask = 0;
};

inline void wait_a_little(unsigned& spins) {
  if (++spins < 200)
    _mm_pause();
  else
    std::this_thread::yield();
}

template <class A>
bool producer_consumer(A& a, const ChildSpec& sp, Figures& f) {
  const unsigned pairs = sp.threads / 2;
  const std::uint64_t items = sp.num("items"), ring = sp.num("ring");
  const auto lo = static_cast<std::uint32_t>(sp.num("obj_min")),
             hi = static_cast<std::uint32_t>(sp.num("obj_max"));
  auto* rings = static_cast<SpscRing*>(map_buffer(pairs * sizeof(SpscRing)));
  auto* ring_slots = static_cast<void**>(map_buffer(pairs * ring * sizeof(void*)));
  for (unsigned i = 0; i < pairs; ++i) {
    new (&rings[i]) SpscRing();
    rings[i].slots = ring_slots + i * ring;
    rings[i].mask = ring - 1;
  }
  std::atomic<std::uint64_t> bad{0};
  SpinBarrier bar(2 * pairs);
  std::uint64_t t_start = 0, t_end = 0;

  RunMemory memory;  // RSS before the run, and the peak reset
  auto producer = [&](unsigned i) {
    SpscRing& r = rings[i];
    Rng rng{sp.num("seed") + 0x9e3779b97f4a7c15ull * (i + 1)};
    bar.wait();
    if (i == 0) t_start = mono_ns();
    for (std::uint64_t k = 0; k < items; ++k) {
      const std::uint32_t n = rng.between(lo, hi);
      void* p = a.alloc(n);
      if (__builtin_expect(p == nullptr, 0)) die("allocation returned NULL");
      touch_lines(p, n, static_cast<std::uint32_t>(k) | 1u);
      const std::uint64_t t = r.tail.load(std::memory_order_relaxed);
      unsigned spins = 0;
      while (t - r.head.load(std::memory_order_acquire) > r.mask) wait_a_little(spins);
      r.slots[t & r.mask] = p;
      r.tail.store(t + 1, std::memory_order_release);
    }
  };
  auto consumer = [&](unsigned i) {
    SpscRing& r = rings[i];
    std::uint64_t my_bad = 0;
    bar.wait();
    for (std::uint64_t k = 0; k < items; ++k) {
      const std::uint64_t h = r.head.load(std::memory_order_relaxed);
      unsigned spins = 0;
      while (r.tail.load(std::memory_order_acquire) == h) wait_a_little(spins);
      void* p = r.slots[h & r.mask];
      r.head.store(h + 1, std::memory_order_release);
      my_bad += (*static_cast<volatile unsigned char*>(p) & 1u) == 0;  // the producer's write is visible
      my_bad += !a.release(p);
    }
    bad.fetch_add(my_bad, std::memory_order_relaxed);
  };
  std::vector<std::thread> threads;
  threads.reserve(2 * pairs);
  for (unsigned i = 0; i < pairs; ++i) threads.emplace_back(consumer, i);
  for (unsigned i = 1; i < pairs; ++i) threads.emplace_back(producer, i);
  producer(0);
  for (auto& t : threads) t.join();
  t_end = mono_ns();
  const bool purged = memory.finish(a);
  unmap_buffer(ring_slots, pairs * ring * sizeof(void*));
  unmap_buffer(rings, pairs * sizeof(SpscRing));
  if (bad.load() != 0 || !purged) return false;

  const double seconds = static_cast<double>(t_end - t_start) / 1e9;
  f.add("pairs", pairs);
  f.add("items", static_cast<double>(items * pairs));
  f.add("mitems_per_s", static_cast<double>(items * pairs) / seconds / 1e6);
  f.add("ns_per_item", seconds * 1e9 / static_cast<double>(items));
  memory.add_to(f);
  return true;
}

}  // namespace

bool run_producer_consumer(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.threads < 2)
    return error = "producer-consumer needs at least 2 threads (a producer and a consumer)", false;
  const std::uint64_t ring = sp.num("ring");
  if (sp.num("items") == 0 || ring < 2 || (ring & (ring - 1)) != 0 || ring > (1u << 24))
    return error = "producer-consumer needs items and a ring size that is a power of two (2..2^24)", false;
  if (sp.num("obj_min") == 0 || sp.num("obj_min") > sp.num("obj_max") || sp.num("obj_max") > (1u << 20))
    return error = "producer-consumer needs 1 <= obj_min <= obj_max <= 1 MiB", false;
  return with_object_ops(sp, error, [&](auto& a) { return producer_consumer(a, sp, f); });
}

}  // namespace bench
