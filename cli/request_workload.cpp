// This file contains the request-shaped workload of `tslab stats` and `tslab serve`.
#include "cli/request_workload.hpp"

#ifdef TSLAB_BENCH_HAVE_TSLAB

#include <chrono>
#include <string>
#include <thread>

#include "harness/common.hpp"

namespace bench {

RequestWorkload::RequestWorkload(SlabAllocator* a, const RequestWorkloadOptions& options)
    : a_(a), options_(options), ring_(options.cache_capacity) {}

RequestWorkload::~RequestWorkload() {
  for (std::size_t i = 0; i < count_; ++i) slab_free(a_, ring_[(head_ + i) % ring_.size()]);
}

void* RequestWorkload::keep(void* p) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (count_ == ring_.size()) {
    void* old = ring_[head_];
    ring_[head_] = p;
    head_ = (head_ + 1) % ring_.size();
    return old;
  }
  ring_[(head_ + count_++) % ring_.size()] = p;
  return nullptr;
}

bool RequestWorkload::serve(unsigned t) {
  Rng rng{0x5eedf00dull + t};
  EpochId epoch = epoch_current(a_);
  void* objects[200];
  const std::string label = "batch (thread " + std::to_string(t) + ")";
  for (unsigned r = 1; options_.requests_per_thread == 0 || r <= options_.requests_per_thread; ++r) {
    if (options_.stop != nullptr && options_.stop->load(std::memory_order_relaxed)) break;
    const std::uint32_t n = rng.between(20, 200);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t size = rng.between(16, 1024);
      void* p = slab_malloc_epoch(a_, size, epoch);
      // Another thread ended the batch, maybe again before this one caught up.
      for (int tries = 0; p == nullptr && slab_last_error() == TSLAB_ERR_EPOCH_CLOSING && tries < 1000;
           ++tries) {
        epoch = epoch_current(a_);
        p = slab_malloc_epoch(a_, size, epoch);
      }
      if (p == nullptr) {
        error_.store(slab_last_error(), std::memory_order_relaxed);
        return false;
      }
      static_cast<volatile char*>(p)[0] = 1;
      objects[i] = p;
    }
    for (std::uint32_t i = 0; i < n; ++i) {
      if (rng.below(100) == 0) {
        if (void* old = keep(objects[i])) slab_free(a_, old);
      } else {
        slab_free(a_, objects[i]);
      }
    }
    if (r % options_.batch == 0) {
      epoch = epoch_advance(a_);
      slab_epoch_set_label(a_, epoch, label.c_str());
      if (options_.pause_ms != 0) std::this_thread::sleep_for(std::chrono::milliseconds(options_.pause_ms));
    }
  }
  return true;
}

bool RequestWorkload::run() {
  std::vector<char> ok(options_.threads, 0);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < options_.threads; ++t) threads.emplace_back([&, t] { ok[t] = serve(t); });
  for (auto& t : threads) t.join();
  for (char b : ok)
    if (!b) return false;
  return true;
}

}  // namespace bench

#endif
