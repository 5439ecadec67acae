// This file contains the arena micro-benchmarks: the cost of one allocation from
// the thread-local arena, from a tslab::Arena (zeroing on and off), from a shared
// arena at 1 and 2 threads, and from tslab's slab allocator, side by side.
//
// Every benchmark iteration is one phase: each thread allocates BATCH blocks
// (sizes cycling through 16..136 bytes, 8-byte aligned, one byte written each),
// then the phase ends the way each allocator ends one: an arena is reset, slab
// blocks are freed one by one. The time_per_alloc counter is the wall time of a
// phase divided by the blocks one thread allocated in it, so the phase's end is
// included. A shared arena's threads meet at a barrier before and after the
// reset (a reset needs the arena to itself); the barrier is included as well.
// items_per_second is the allocation rate of all threads together.
//
//   tslab_arena_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <barrier>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "slab_alloc.h"
#include "slab_arena.h"
#include "tslab/arena.hpp"
#include "tslab/tslab.hpp"

namespace {

constexpr std::size_t BATCH = 4096;
constexpr std::size_t SIZES[16] = {16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 136};

std::size_t size_of(std::size_t i) { return SIZES[i & 15]; }

// Wall time of a phase / BATCH. The reported iterations are those of all threads
// together, hence the division by the thread count.
void report(benchmark::State& state) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * BATCH));
  state.counters["time_per_alloc"] =
      benchmark::Counter(static_cast<double>(BATCH) / state.threads(),
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kAvgThreads |
                             benchmark::Counter::kInvert);
}

tslab::ArenaOptions bench_options(bool zero, bool shared) {
  tslab::ArenaOptions o{};
  o.chunk_size = 4 << 20;  // a phase fits one chunk, as a tuned arena would
  o.overflow = TSLAB_ARENA_OVERFLOW_GROW;
  o.zero_on_reset = zero;
  o.shared = shared;
  o.epoch = SLAB_ARENA_CURRENT_EPOCH;
  return o;
}

// The thread-local arena with the TSLAB_ARENA_* defaults (1 MiB chunks, zeroing on reset).
void BM_ThreadArena(benchmark::State& state) {
  tslab::ThreadArena::destroy();
  if (tslab::ThreadArena::get() == nullptr) {
    state.SkipWithError("no thread arena");
    return;
  }
  for (auto _ : state) {
    for (std::size_t i = 0; i < BATCH; ++i) {
      auto* p = static_cast<char*>(tslab::ThreadArena::allocate(size_of(i), 8));
      *p = 1;
      benchmark::DoNotOptimize(p);
    }
    tslab::ThreadArena::reset();
  }
  report(state);
  tslab::ThreadArena::destroy();
}
BENCHMARK(BM_ThreadArena)->UseRealTime();

// A tslab::Arena on one thread; the argument is zero_on_reset.
void BM_Arena(benchmark::State& state) {
  tslab::Allocator alloc;
  tslab::Arena arena(alloc, bench_options(state.range(0) != 0, false));
  if (!arena.ok()) {
    state.SkipWithError("arena creation failed");
    return;
  }
  for (auto _ : state) {
    for (std::size_t i = 0; i < BATCH; ++i) {
      auto* p = static_cast<char*>(arena.allocate(size_of(i), 8));
      *p = 1;
      benchmark::DoNotOptimize(p);
    }
    arena.reset();
  }
  report(state);
}
BENCHMARK(BM_Arena)->ArgName("zero")->Arg(0)->Arg(1)->UseRealTime();

// One shared arena (zeroing off) for all the benchmark's threads.
tslab::Allocator* g_shared_alloc = nullptr;
tslab::SharedArena* g_shared = nullptr;
std::optional<std::barrier<>> g_phase;

void BM_SharedArena(benchmark::State& state) {
  if (state.thread_index() == 0) {  // the loop's start orders this before the other threads' loops
    g_shared_alloc = new tslab::Allocator();
    g_shared = new tslab::SharedArena(*g_shared_alloc, bench_options(false, true));
    g_phase.emplace(state.threads());
  }
  for (auto _ : state) {
    for (std::size_t i = 0; i < BATCH; ++i) {
      auto* p = static_cast<char*>(g_shared->allocate(size_of(i), 8));
      *p = 1;
      benchmark::DoNotOptimize(p);
    }
    g_phase->arrive_and_wait();
    if (state.thread_index() == 0) g_shared->reset();
    g_phase->arrive_and_wait();
  }
  report(state);
  if (state.thread_index() == 0) {
    // Every thread has finished its loop: the loop's end is a barrier as well.
    delete g_shared;
    delete g_shared_alloc;
  }
}
BENCHMARK(BM_SharedArena)->Threads(1)->Threads(2)->UseRealTime();

// tslab's slab allocator: allocate into the current epoch, then free every block.
void BM_SlabEpoch(benchmark::State& state) {
  static SlabAllocator* alloc = slab_allocator_create();
  const EpochId epoch = epoch_current(alloc);
  void* blocks[BATCH];
  for (auto _ : state) {
    for (std::size_t i = 0; i < BATCH; ++i) {
      auto* p = static_cast<char*>(slab_malloc_epoch(alloc, size_of(i), epoch));
      *p = 1;
      blocks[i] = p;
    }
    for (std::size_t i = 0; i < BATCH; ++i) slab_free(alloc, blocks[i]);
    benchmark::ClobberMemory();
  }
  report(state);
}
BENCHMARK(BM_SlabEpoch)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
