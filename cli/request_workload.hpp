// This file contains the request-shaped workload of `tslab stats` and `tslab
// serve` on one tslab allocator: threads serve requests of 20-200 objects of
// 16-1024 B in an epoch per batch of requests, advanced (closed) when the batch
// ends; 1% of objects go into a shared FIFO cache, so closed epochs still hold
// live objects and frees cross threads.
#ifndef TSLAB_CLI_REQUEST_WORKLOAD_HPP
#define TSLAB_CLI_REQUEST_WORKLOAD_HPP

#ifdef TSLAB_BENCH_HAVE_TSLAB

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include "slab_alloc.h"

namespace bench {

struct RequestWorkloadOptions {
  unsigned threads = 2;
  unsigned requests_per_thread = 20000;  // 0: until `stop` is set
  unsigned batch = 512;                  // requests per epoch
  unsigned pause_ms = 0;                 // sleep after each batch: a gentler load
  std::size_t cache_capacity = 2000;
  const std::atomic<bool>* stop = nullptr;
};

class RequestWorkload {
 public:
  RequestWorkload(SlabAllocator* a, const RequestWorkloadOptions& options);
  // Frees the objects still in the cache.
  ~RequestWorkload();
  RequestWorkload(const RequestWorkload&) = delete;
  RequestWorkload& operator=(const RequestWorkload&) = delete;

  // Runs the threads to their end. The cache's objects stay live, in the epochs
  // they came from, until the workload is destroyed. False, with error()
  // saying why, if an allocation failed.
  bool run();
  // The error of the allocation that failed (on its thread), or TSLAB_OK.
  TslabError error() const { return static_cast<TslabError>(error_.load(std::memory_order_relaxed)); }

 private:
  bool serve(unsigned thread);
  // Keeps p; a full cache hands back its oldest object, to be freed.
  void* keep(void* p);

  SlabAllocator* a_;
  RequestWorkloadOptions options_;
  std::mutex mutex_;
  std::vector<void*> ring_;
  std::size_t head_ = 0, count_ = 0;
  std::atomic<int> error_{TSLAB_OK};
};

}  // namespace bench

#endif
#endif
