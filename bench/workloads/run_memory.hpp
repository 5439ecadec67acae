// This file contains what the multi-threaded workloads share around their run:
// the RSS readings before and after it (with the allocator's purge call) and
// their figures, and the start and join of a run's threads.
#ifndef TSLAB_BENCH_WORKLOADS_RUN_MEMORY_HPP
#define TSLAB_BENCH_WORKLOADS_RUN_MEMORY_HPP

#include <cstdint>
#include <thread>
#include <vector>

#include "harness/rss_timing.hpp"
#include "harness/spec.hpp"

namespace bench {

// RSS before a run (and the peak reset to it, where the kernel allows), then at
// its end: the peak, RSS, and RSS after the allocator's purge call.
struct RunMemory {
  std::uint64_t base = rss_bytes();
  bool reset = reset_peak_rss();
  std::uint64_t peak = 0, after = 0, after_purge = 0;

  // At the run's end; the purge call's result.
  template <class Ops>
  bool finish(Ops& a) {
    peak = peak_rss_bytes();
    after = rss_bytes();
    const bool purged = a.purge();
    after_purge = rss_bytes();
    return purged;
  }
  void add_to(Figures& f) const {
    f.add("rss_base", static_cast<double>(base));
    f.add("rss_peak", static_cast<double>(peak));
    f.add("rss_after", static_cast<double>(after));
    f.add("rss_after_purge", static_cast<double>(after_purge));
    f.add("peak_reset", reset ? 1 : 0);
  }
};

// body(1) .. body(threads - 1) on threads of their own and body(0) on the caller's;
// returns once all have.
template <class Body>
void run_on_threads(unsigned threads, Body& body) {
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (unsigned t = 1; t < threads; ++t) workers.emplace_back(body, t);
  body(0);
  for (auto& w : workers) w.join();
}

}  // namespace bench

#endif
