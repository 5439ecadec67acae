// This file contains the xmalloc workload, after Lever and Boreham's xmalloc
// test: half the threads only allocate and the other half only free. An
// allocating thread fills a batch with blocks of 16-256 B (each written) and
// hands it over through a shared queue; a freeing thread takes any batch,
// checks and frees its blocks and returns the empty batch. Every block is
// freed by a thread that did not allocate it, and which thread frees which
// batch is up to the scheduler. Figures: blocks per second, peak RSS, RSS at
// the end and after the purge call.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "harness/stats.hpp"
#include "workloads/object_ops.hpp"
#include "workloads/registry.hpp"
#include "workloads/run_memory.hpp"

namespace bench {
namespace {

constexpr std::uint64_t kMaxBatch = 4096;
constexpr unsigned kBatchesPerProducer = 8;

// A blocking queue of batch numbers in a fixed ring (no allocation): pop waits
// until something is there or the queue is closed and empty.
class BatchQueue {
 public:
  BatchQueue(std::uint32_t* ring, std::uint32_t capacity) : ring_(ring), capacity_(capacity) {}
  void push(std::uint32_t b) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ring_[(head_ + count_++) % capacity_] = b;
    }
    ready_.notify_one();
  }
  bool pop(std::uint32_t& b) {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return count_ != 0 || closed_; });
    if (count_ == 0) return false;
    b = ring_[head_];
    head_ = (head_ + 1) % capacity_;
    --count_;
    return true;
  }
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::uint32_t* ring_;
  const std::uint32_t capacity_;
  std::uint32_t head_ = 0, count_ = 0;
  bool closed_ = false;
};

template <class A>
bool xmalloc(A& a, const ChildSpec& sp, Figures& f) {
  const unsigned producers = sp.threads / 2, consumers = sp.threads - producers;
  const std::uint64_t blocks = sp.num("blocks"), batch = sp.num("batch");
  const auto lo = static_cast<std::uint32_t>(sp.num("obj_min")),
             hi = static_cast<std::uint32_t>(sp.num("obj_max"));
  const std::uint32_t n_batches = kBatchesPerProducer * producers;
  auto* items = static_cast<void**>(map_buffer(n_batches * batch * sizeof(void*)));
  auto* counts = static_cast<std::uint64_t*>(map_buffer(n_batches * sizeof(std::uint64_t)));
  auto* rings = static_cast<std::uint32_t*>(map_buffer(2 * n_batches * sizeof(std::uint32_t)));
  BatchQueue empty(rings, n_batches), full(rings + n_batches, n_batches);
  for (std::uint32_t b = 0; b < n_batches; ++b) empty.push(b);
  std::atomic<std::uint64_t> bad{0};
  std::atomic<unsigned> producing{producers};
  SpinBarrier bar(producers + consumers);
  std::uint64_t t_start = 0;

  RunMemory memory;  // RSS before the run, and the peak reset
  auto producer = [&](unsigned i) {
    Rng rng{sp.num("seed") + 0x9e3779b97f4a7c15ull * (i + 1)};
    bar.wait();
    if (i == 0) t_start = mono_ns();
    for (std::uint64_t done = 0; done < blocks;) {
      std::uint32_t b = 0;
      empty.pop(b);
      const std::uint64_t n = std::min(batch, blocks - done);
      for (std::uint64_t k = 0; k < n; ++k) {
        const std::uint32_t size = rng.between(lo, hi);
        auto* p = static_cast<unsigned char*>(a.alloc(size));
        if (__builtin_expect(p == nullptr, 0)) die("allocation returned NULL");
        p[0] = 0xa5;
        p[size - 1] = 0x5a;
        items[b * batch + k] = p;
      }
      counts[b] = n;
      done += n;
      full.push(b);
    }
    if (producing.fetch_sub(1) == 1) full.close();
  };
  auto consumer = [&]() {
    std::uint64_t my_bad = 0;
    bar.wait();
    for (std::uint32_t b = 0; full.pop(b);) {
      for (std::uint64_t k = 0; k < counts[b]; ++k) {
        void* p = items[b * batch + k];
        my_bad += *static_cast<volatile unsigned char*>(p) != 0xa5;  // the producer's write is visible
        my_bad += !a.release(p);
      }
      empty.push(b);
    }
    bad.fetch_add(my_bad, std::memory_order_relaxed);
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < consumers; ++i) threads.emplace_back(consumer);
  for (unsigned i = 1; i < producers; ++i) threads.emplace_back(producer, i);
  producer(0);
  for (auto& t : threads) t.join();
  const std::uint64_t t_end = mono_ns();
  const bool purged = memory.finish(a);
  unmap_buffer(rings, 2 * n_batches * sizeof(std::uint32_t));
  unmap_buffer(counts, n_batches * sizeof(std::uint64_t));
  unmap_buffer(items, n_batches * batch * sizeof(void*));
  if (bad.load() != 0 || !purged) return false;

  const double seconds = static_cast<double>(t_end - t_start) / 1e9;
  const double total = static_cast<double>(blocks * producers);
  f.add("producers", producers);
  f.add("consumers", consumers);
  f.add("blocks", total);
  f.add("mblocks_per_s", total / seconds / 1e6);
  memory.add_to(f);
  return true;
}

}  // namespace

bool run_xmalloc(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.threads < 2) return error = "xmalloc needs at least 2 threads (one allocating, one freeing)", false;
  if (sp.num("blocks") == 0 || sp.num("batch") == 0 || sp.num("batch") > kMaxBatch)
    return error = strf("xmalloc needs blocks and a batch of 1..%llu",
                        static_cast<unsigned long long>(kMaxBatch)),
           false;
  if (sp.num("obj_min") < 2 || sp.num("obj_min") > sp.num("obj_max") || sp.num("obj_max") > (1u << 20))
    return error = "xmalloc needs 2 <= obj_min <= obj_max <= 1 MiB", false;
  return with_object_ops(sp, error, [&](auto& a) { return xmalloc(a, sp, f); });
}

}  // namespace bench
