// This file contains the statistics benchmark: the allocation fast path (which
// carries no counter; this build and the TSLAB_STATS=0 build should agree within
// noise) and the cost of a snapshot and of its renderings as the allocator grows.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "slab_stats.h"
#include "tslab/tslab.hpp"

namespace {

// One free + one allocate of 128 bytes in a window of 10,000 live blocks, slot
// picked by a xorshift draw: the shape of `tslab bench churn`.
void BM_Churn(benchmark::State& state) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  std::vector<void*> window(10000);
  for (void*& p : window) p = a.allocate(128, e);
  std::uint64_t x = 88172645463325252ull;
  for (auto _ : state) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    void*& slot = window[x % window.size()];
    a.deallocate(slot);
    slot = a.allocate(128, e);
    benchmark::DoNotOptimize(slot);
  }
  for (void* p : window) a.deallocate(p);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Churn);

// 1,000 allocations then 1,000 frees (the bins' slow paths are exercised too).
void BM_AllocThenFree1000(benchmark::State& state) {
  tslab::Allocator a;
  const tslab::EpochId e = a.epoch_current();
  std::vector<void*> blocks(1000);
  for (auto _ : state) {
    for (void*& p : blocks) p = a.allocate(64, e);
    for (void* p : blocks) a.deallocate(p);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_AllocThenFree1000);

// Snapshot and renderings with state.range(0) live 128-byte blocks.
struct Populated {
  explicit Populated(std::int64_t blocks) {
    for (std::int64_t i = 0; i < blocks; ++i) held.push_back(a.allocate(128));
  }
  ~Populated() {
    for (void* p : held) a.deallocate(p);
  }
  tslab::Allocator a;
  std::vector<void*> held;
};

void BM_SnapshotGlobal(benchmark::State& state) {
  Populated pop(state.range(0));
  SlabGlobalStats s{};
  for (auto _ : state) {
    s.size = 0;
    benchmark::DoNotOptimize(slab_stats_global(pop.a.c_allocator(), &s));
  }
  state.counters["live_MiB"] = static_cast<double>(s.live_bytes) / (1 << 20);
}
BENCHMARK(BM_SnapshotGlobal)->Arg(0)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMicrosecond);

void BM_RenderJson(benchmark::State& state) {
  Populated pop(state.range(0));
  std::vector<char> out(1 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(slab_stats_json(pop.a.c_allocator(), out.data(), out.size()));
}
BENCHMARK(BM_RenderJson)->Arg(1000000)->Unit(benchmark::kMicrosecond);

void BM_RenderPrometheus(benchmark::State& state) {
  Populated pop(state.range(0));
  std::vector<char> out(1 << 20);
  for (auto _ : state)
    benchmark::DoNotOptimize(slab_stats_prometheus(pop.a.c_allocator(), out.data(), out.size()));
}
BENCHMARK(BM_RenderPrometheus)->Arg(1000000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
