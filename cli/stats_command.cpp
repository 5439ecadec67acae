// This file contains `tslab stats`: a short request-shaped workload on one tslab
// allocator (two threads; an epoch per batch of requests, advanced when the
// batch ends; 1% of objects kept in a shared FIFO cache, so closed epochs still
// hold live objects and frees cross threads), then the allocator's statistics
// snapshot through slab_stats_summary, slab_stats_json or slab_stats_prometheus.
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "harness/common.hpp"

#ifdef TSLAB_BENCH_HAVE_TSLAB
#include "slab_alloc.h"
#include "slab_stats.h"
#endif

namespace bench {

#ifdef TSLAB_BENCH_HAVE_TSLAB
namespace {

constexpr unsigned kThreads = 2;
constexpr unsigned kRequestsPerThread = 20000;
constexpr unsigned kBatch = 512;
constexpr std::size_t kCacheCapacity = 2000;

using Render = std::size_t (*)(SlabAllocator*, char*, std::size_t);

// A shared FIFO of kept objects; a full one hands back its oldest to be freed.
struct KeptObjects {
  std::mutex mutex;
  std::vector<void*> ring = std::vector<void*>(kCacheCapacity);
  std::size_t head = 0, count = 0;
  void* insert(void* p) {
    std::lock_guard<std::mutex> lock(mutex);
    if (count == ring.size()) {
      void* old = ring[head];
      ring[head] = p;
      head = (head + 1) % ring.size();
      return old;
    }
    ring[(head + count++) % ring.size()] = p;
    return nullptr;
  }
};

bool serve(SlabAllocator* a, KeptObjects& kept, unsigned t) {
  Rng rng{0x5eedf00dull + t};
  EpochId epoch = epoch_current(a);
  void* objects[200];
  for (unsigned r = 1; r <= kRequestsPerThread; ++r) {
    const std::uint32_t n = rng.between(20, 200);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t size = rng.between(16, 1024);
      void* p = slab_malloc_epoch(a, size, epoch);
      if (p == nullptr && slab_last_error() == TSLAB_ERR_EPOCH_CLOSING) {
        epoch = epoch_current(a);  // the other thread ended the batch
        p = slab_malloc_epoch(a, size, epoch);
      }
      if (p == nullptr) return false;
      static_cast<volatile char*>(p)[0] = 1;
      objects[i] = p;
    }
    for (std::uint32_t i = 0; i < n; ++i) {
      if (rng.below(100) == 0) {
        if (void* old = kept.insert(objects[i])) slab_free(a, old);
      } else {
        slab_free(a, objects[i]);
      }
    }
    if (r % kBatch == 0) {
      epoch = epoch_advance(a);
      slab_epoch_set_label(a, epoch, t == 0 ? "batch (thread 0)" : "batch (thread 1)");
    }
  }
  return true;
}

}  // namespace

int stats_command(int argc, char** argv) {
  ArgReader r(argc, argv, 2);
  Render render = slab_stats_summary;
  std::string format = "summary";
  while (!r.done()) {
    const std::string a = r.next();
    if (a == "--json" || a == "--prometheus") {
      if (format != "summary" && format != a.substr(2))
        throw UsageError("stats takes one of --json and --prometheus, not both");
      format = a.substr(2);
      render = a == "--json" ? slab_stats_json : slab_stats_prometheus;
    } else if (a == "--help" || a == "-h") {
      print_usage(stdout);
      return 0;
    } else {
      throw UsageError("unknown " + std::string(a.empty() || a[0] != '-' ? "argument" : "option") + " '" + a +
                       "' for stats (stats takes --json or --prometheus)");
    }
  }
  SlabAllocator* a = slab_allocator_create();
  if (a == nullptr) {
    std::fprintf(stderr, "tslab: slab_allocator_create failed\n");
    return 1;
  }
  slab_epoch_set_label(a, epoch_current(a), "batch (first)");
  KeptObjects kept;
  bool ok[kThreads] = {};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) threads.emplace_back([&, t] { ok[t] = serve(a, kept, t); });
  for (auto& t : threads) t.join();
  for (bool b : ok)
    if (!b) {
      std::fprintf(stderr, "tslab: the stats workload failed: %s\n", slab_error_string(slab_last_error()));
      slab_allocator_free(a);
      return 1;
    }
  // The snapshot, with the kept objects still live in the epochs they came from.
  const std::size_t need = render(a, nullptr, 0);
  std::string text(need + 1, '\0');
  render(a, text.data(), text.size());
  text.resize(need);
  std::fputs(text.c_str(), stdout);
  if (!text.empty() && text.back() != '\n') std::fputc('\n', stdout);
  for (std::size_t i = 0; i < kept.count; ++i) slab_free(a, kept.ring[(kept.head + i) % kept.ring.size()]);
  slab_allocator_free(a);
  return 0;
}

#else

int stats_command(int, char**) {
  std::fprintf(stderr, "tslab: stats needs the tslab library, and this binary was built without it\n");
  return 1;
}

#endif

}  // namespace bench
