// This file contains the concurrency tests of shared arenas (tslab::SharedArena),
// written as property tests: N threads × M allocations of random sizes and
// alignments from one arena, each block filled with a (thread, sequence)
// pattern. Afterwards no two blocks overlap, every pattern is intact, every block
// lies inside the used part of one chunk (none straddles a chunk's end), the
// arena's usage equals the bytes requested, and every chunk and fallback block
// the allocator handed out is one the arena holds (none leaked, none lost). A
// barrier-started version releases all threads at once, round after round, with
// tiny chunks so that offset reservations and chunk installations collide.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "arena/arena_core.h"
#include "slab_arena.h"
#include "test_util.h"
#include "tslab/arena.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab_test::check_pattern;
using tslab_test::fill_pattern;
using tslab_test::make_tag;
using tslab_test::Rng;
using tslab_test::scaled;
using tslab_test::SpinBarrier;

struct Record {
  std::uintptr_t at;
  std::size_t size;
  std::size_t alignment;
  std::uint64_t tag;
};

struct Property {
  unsigned threads = 4;
  std::size_t per_thread = 20000;
  std::size_t chunk = 4096;
  TslabArenaOverflow policy = TSLAB_ARENA_OVERFLOW_GROW;
  std::size_t max_size = 256;
  unsigned max_alignment_log2 = 12;
  std::uint64_t beyond_chunk_one_in = 64;  // how rare blocks larger than a chunk are
  std::uint64_t seed = 1;
};

tslab::ArenaOptions shared_options(std::size_t chunk, TslabArenaOverflow policy) {
  tslab::ArenaOptions o{};
  o.chunk_size = chunk;
  o.overflow = policy;
  o.zero_on_reset = true;
  o.epoch = SLAB_ARENA_CURRENT_EPOCH;
  return o;
}

const tslab::detail::ArenaCore& core_of(const tslab::BasicArena& arena) {
  return *reinterpret_cast<const tslab::detail::ArenaCore*>(arena.c_arena());
}

// Checks every property of a quiescent arena holding exactly `records`.
void verify(const tslab::BasicArena& arena, tslab::Allocator& alloc, tslab::EpochId e,
            std::uint64_t live_before, std::vector<Record> records) {
  struct Range {
    std::uintptr_t begin, end;
  };
  std::vector<Range> chunks;
  core_of(arena).visit_chunks_for_testing([&](const char* base, std::size_t used) {
    chunks.push_back({reinterpret_cast<std::uintptr_t>(base), reinterpret_cast<std::uintptr_t>(base) + used});
  });
  std::sort(chunks.begin(), chunks.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  std::sort(records.begin(), records.end(), [](const Record& a, const Record& b) { return a.at < b.at; });
  std::uint64_t requested = 0, outside_chunks = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    requested += r.size;
    ASSERT_EQ(r.at % r.alignment, 0u) << "misaligned block";
    ASSERT_TRUE(check_pattern(reinterpret_cast<const void*>(r.at), r.size, r.tag))
        << "block of thread " << (r.tag >> 48) << " was overwritten";
    if (i > 0) {
      ASSERT_LE(records[i - 1].at + records[i - 1].size, r.at) << "two blocks overlap";
    }
    // The chunk that starts at or before the block must hold all of it.
    auto it = std::upper_bound(chunks.begin(), chunks.end(), r.at,
                               [](std::uintptr_t at, const Range& c) { return at < c.begin; });
    if (it == chunks.begin() || r.at >= std::prev(it)->end) {
      ++outside_chunks;  // a fallback block
      continue;
    }
    ASSERT_LE(r.at + r.size, std::prev(it)->end) << "a block straddles its chunk's end";
  }
  const tslab::ArenaStats s = arena.stats();
  EXPECT_EQ(s.bytes_used, requested);
  EXPECT_EQ(s.chunks, chunks.size());
  EXPECT_EQ(s.fallback_blocks, outside_chunks);
  // Every block the allocator gave the arena is a chunk or fallback block it holds.
  EXPECT_EQ(alloc.epoch_info(e).live_count, live_before + s.chunks + s.fallback_blocks);
}

std::size_t random_size(Rng& rng, const Property& p) {
  if (rng.range(1, p.beyond_chunk_one_in) == 1) return rng.range(1, p.chunk * 2);
  return rng.range(1, p.max_size);
}

void run_property(const Property& p) {
  tslab::Allocator alloc;
  const tslab::EpochId e = alloc.epoch_current();
  const std::uint64_t live_before = alloc.epoch_info(e).live_count;
  tslab::SharedArena arena(alloc, shared_options(p.chunk, p.policy));
  ASSERT_TRUE(arena.ok());
  const std::size_t per_thread = scaled(p.per_thread);
  std::vector<std::vector<Record>> records(p.threads);
  std::atomic<bool> failed{false};
  SpinBarrier start(p.threads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < p.threads; ++t) {
    threads.emplace_back([&, t] {
      Rng rng(p.seed * 7919 + t);
      std::vector<Record>& mine = records[t];
      mine.reserve(per_thread);
      start.arrive_and_wait();
      for (std::size_t i = 0; i < per_thread; ++i) {
        const std::size_t size = random_size(rng, p);
        const std::size_t alignment = std::size_t{1} << rng.range(0, p.max_alignment_log2);
        void* block = arena.allocate(size, alignment);
        if (block == nullptr) {
          failed.store(true);
          return;
        }
        const std::uint64_t tag = make_tag(t + 1, i);
        fill_pattern(block, size, tag);
        mine.push_back({reinterpret_cast<std::uintptr_t>(block), size, alignment, tag});
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_FALSE(failed.load()) << "an allocation failed: " << tslab::to_string(tslab::last_error());
  std::vector<Record> all;
  for (const auto& mine : records) all.insert(all.end(), mine.begin(), mine.end());
  ASSERT_EQ(all.size(), per_thread * p.threads);
  verify(arena, alloc, e, live_before, std::move(all));
  if (p.policy == TSLAB_ARENA_OVERFLOW_GROW) {
    EXPECT_GT(arena.stats().chunks, 1u);
  } else {
    EXPECT_GT(arena.stats().fallback_blocks, 0u);
  }
  // Reset gives back everything but the first chunk; destroy gives back that too.
  arena.reset();
  EXPECT_EQ(alloc.epoch_info(e).live_count, live_before + 1);
  ASSERT_EQ(arena.close(), tslab::Error::ok);
  EXPECT_EQ(alloc.epoch_info(e).live_count, live_before);
  EXPECT_ALLOCATOR_OK(alloc);
}

}  // namespace

TEST(SharedArenaProperty, RandomSizesAndAlignmentsGrowing) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    Property p;
    p.seed = seed;
    SCOPED_TRACE(seed);
    run_property(p);
  }
}

TEST(SharedArenaProperty, RandomSizesAndAlignmentsWithLargeChunks) {
  Property p;
  p.chunk = 1 << 20;
  p.max_size = 4096;
  p.beyond_chunk_one_in = 2000;
  p.seed = 11;
  run_property(p);
}

TEST(SharedArenaProperty, RandomSizesAndAlignmentsFallingBack) {
  Property p;
  p.policy = TSLAB_ARENA_OVERFLOW_FALLBACK;
  p.chunk = 256 * 1024;
  p.per_thread = 10000;
  p.seed = 21;
  run_property(p);
}

TEST(SharedArenaProperty, ManyThreadsOnTheSmallestChunks) {
  Property p;
  p.threads = 8;
  p.chunk = SLAB_ARENA_MIN_CHUNK;
  p.max_size = 64;
  p.max_alignment_log2 = 6;
  p.per_thread = 10000;
  p.seed = 31;
  run_property(p);
}

// All threads are released together, round after round, and race on one offset
// with small equal blocks; chunks are tiny, so chunk installations race too.
// After each round one thread checks every property, then resets the arena.
TEST(SharedArenaProperty, BarrierStartedContentionWithResets) {
  constexpr unsigned THREADS = 6;
  const std::size_t rounds = scaled(2000);
  const std::size_t per_round = 48;
  tslab::Allocator alloc;
  const tslab::EpochId e = alloc.epoch_current();
  const std::uint64_t live_before = alloc.epoch_info(e).live_count;
  tslab::SharedArena arena(alloc, shared_options(2048, TSLAB_ARENA_OVERFLOW_GROW));
  ASSERT_TRUE(arena.ok());
  std::vector<std::vector<Record>> records(THREADS);
  std::atomic<bool> failed{false};
  SpinBarrier barrier(THREADS);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < THREADS; ++t) {
    threads.emplace_back([&, t] {
      Rng rng(t + 100);
      for (std::size_t round = 0; round < rounds; ++round) {
        records[t].clear();
        barrier.arrive_and_wait();  // everyone starts the round together
        const std::size_t size = 8 + 8 * (round % 5);
        for (std::size_t i = 0; i < per_round && !failed.load(std::memory_order_relaxed); ++i) {
          const std::size_t alignment = (i % 8 == 7) ? 64 : 8;
          void* block = arena.allocate(size, alignment);
          if (block == nullptr) {
            failed.store(true);
            break;
          }
          const std::uint64_t tag = make_tag(t + 1, round * per_round + i);
          fill_pattern(block, size, tag);
          records[t].push_back({reinterpret_cast<std::uintptr_t>(block), size, alignment, tag});
        }
        barrier.arrive_and_wait();  // the round is over
        if (t == 0) {
          std::vector<Record> all;
          for (const auto& mine : records) all.insert(all.end(), mine.begin(), mine.end());
          if (!failed.load()) verify(arena, alloc, e, live_before, std::move(all));
          if (::testing::Test::HasFailure()) failed.store(true);
          arena.reset();
        }
        barrier.arrive_and_wait();  // the arena is empty again
        if (failed.load()) return;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_FALSE(failed.load());
  const tslab::ArenaStats s = arena.stats();
  EXPECT_EQ(s.resets, rounds);
  EXPECT_EQ(s.chunks, 1u);
  EXPECT_GT(s.overflows, rounds);  // chunks were installed in (nearly) every round
  EXPECT_EQ(alloc.epoch_info(e).live_count, live_before + 1);
}

// Only one thread installs the chunk after a full one: with every thread failing
// on the same chunk at once, the arena ends with exactly the chunks its blocks
// need, and the allocator holds no chunk the arena does not know of.
TEST(SharedArenaProperty, RacingGrowthInstallsOneChunkAtATime) {
  constexpr unsigned THREADS = 8;
  const std::size_t rounds = scaled(200);
  tslab::Allocator alloc;
  const tslab::EpochId e = alloc.epoch_current();
  const std::uint64_t live_before = alloc.epoch_info(e).live_count;
  tslab::SharedArena arena(alloc, shared_options(4096, TSLAB_ARENA_OVERFLOW_GROW));
  ASSERT_TRUE(arena.ok());
  ASSERT_EQ(arena.stats().capacity, 4096u - 64u);
  const std::size_t block = 960;  // four fit a chunk, a fifth does not; below a quarter chunk
  SpinBarrier barrier(THREADS);
  std::vector<std::vector<Record>> records(THREADS);
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < THREADS; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t round = 0; round < rounds; ++round) {
        barrier.arrive_and_wait();
        void* p = arena.allocate(block, 16);
        if (p == nullptr) {
          failed.store(true);
        } else {
          const std::uint64_t tag = make_tag(t + 1, round);
          fill_pattern(p, block, tag);
          records[t].push_back({reinterpret_cast<std::uintptr_t>(p), block, 16, tag});
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_FALSE(failed.load());
  std::vector<Record> all;
  for (const auto& mine : records) all.insert(all.end(), mine.begin(), mine.end());
  verify(arena, alloc, e, live_before, all);
  // A block fails to fit only a chunk that holds four already, so every chunk but
  // the current one holds four blocks: a second installation after the same full
  // chunk would leave one with fewer.
  const tslab::ArenaStats s = arena.stats();
  EXPECT_EQ(s.padding_bytes, 0u);
  EXPECT_EQ(s.chunks, (all.size() + 3) / 4);
  EXPECT_GE(s.overflows, s.chunks - 1);
}

namespace {

// Runs `rounds` rounds on the allocator's current epoch e: before(e, r), then
// racer(e) on a thread of its own started together with epoch_destroy(e), then
// after(e, r) once both are done; the next round takes the next slot.
template <class Before, class Racer, class After>
void race_epoch_destroys(tslab::Allocator& alloc, std::size_t rounds, Before before, Racer racer,
                         After after) {
  SpinBarrier start(2);
  for (std::size_t r = 0; r < rounds; ++r) {
    const tslab::EpochId e = alloc.epoch_current();
    before(e, r);
    std::thread t([&] {
      start.arrive_and_wait();
      racer(e);
    });
    start.arrive_and_wait();
    EXPECT_EQ(alloc.epoch_destroy(e), tslab::Error::ok);
    t.join();
    after(e, r);
    alloc.epoch_advance();  // the next slot, open
  }
  EXPECT_ALLOCATOR_OK(alloc);
}

SlabArenaOptions racing_arena_options(tslab::EpochId e, TslabArenaOverflow overflow) {
  SlabArenaOptions o;
  EXPECT_TRUE(slab_arena_options_init(&o));
  o.epoch = e;
  o.chunk_size = SLAB_ARENA_MIN_CHUNK;
  o.overflow = overflow;
  return o;
}

// An arena destroyed while another thread destroys its epoch: both free the
// arena's chunks, and of two frees of a chunk one is refused. Misuse (the
// destroy reads the chunks' headers, blocks the epoch's destroy releases), but
// no block is freed twice and the allocator stays consistent. Under TSan by
// `make test`.
TEST(ArenaEpochRace, ArenaDestroyRacingItsEpochsDestroy) {
  tslab::Allocator alloc;
  SlabArena* arena = nullptr;
  race_epoch_destroys(
      alloc, scaled(400),
      [&](tslab::EpochId e, std::size_t r) {
        const SlabArenaOptions o =
            racing_arena_options(e, (r & 1) != 0 ? TSLAB_ARENA_OVERFLOW_GROW : TSLAB_ARENA_OVERFLOW_FALLBACK);
        arena = slab_arena_create(alloc.c_allocator(), &o);
        ASSERT_NE(arena, nullptr) << r;
        for (int i = 0; i < 40; ++i) ASSERT_NE(slab_arena_alloc(arena, 300, 8), nullptr);
      },
      [&](tslab::EpochId) { EXPECT_TRUE(slab_arena_destroy(arena)); },
      [&](tslab::EpochId e, std::size_t r) { EXPECT_EQ(alloc.epoch_info(e).live_count, 0u) << r; });
}

// Arenas created while another thread destroys their epoch: each creation
// fails (the epoch closing, or its activation destroyed) or makes an arena that
// the destroy ends, so that none is left allocating from released chunks.
TEST(ArenaEpochRace, ArenasCreatedRacingTheirEpochsDestroyAreEnded) {
  tslab::Allocator alloc;
  std::vector<SlabArena*> made;
  race_epoch_destroys(
      alloc, scaled(300), [&](tslab::EpochId, std::size_t) { made.clear(); },
      [&](tslab::EpochId e) {
        for (int i = 0; i < 8; ++i) {
          const SlabArenaOptions o = racing_arena_options(e, TSLAB_ARENA_OVERFLOW_GROW);
          if (SlabArena* a = slab_arena_create(alloc.c_allocator(), &o)) {
            made.push_back(a);
          } else {
            const TslabError why = slab_last_error();
            EXPECT_TRUE(why == TSLAB_ERR_EPOCH_CLOSING || why == TSLAB_ERR_STALE_EPOCH) << why;
          }
        }
      },
      [&](tslab::EpochId, std::size_t r) {
        for (SlabArena* a : made) {
          EXPECT_EQ(slab_arena_alloc(a, 16, 8), nullptr) << "round " << r;
          EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_EPOCH);
          EXPECT_TRUE(slab_arena_destroy(a));
        }
      });
}

// Arenas created and grown on one thread while another destroys their epoch,
// collects and advances, with chunks of spans of their own that zero_on_reset
// makes the arena write whole: the arena never writes into a chunk the destroy
// released (a chunk whose range went back to the OS faulted: SIGSEGV), and a
// creation that fails says why (the epoch closing, or its activation destroyed).
TEST(ArenaEpochRace, ChunksTakenAsTheirEpochIsDestroyedAreWrittenBeforeTheyGo) {
  tslab::Allocator alloc;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> attempts{0};
  std::thread arenas([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      attempts.fetch_add(1, std::memory_order_relaxed);
      SlabArenaOptions o;
      ASSERT_TRUE(slab_arena_options_init(&o));
      o.chunk_size = std::size_t{5} << 20;
      o.overflow = TSLAB_ARENA_OVERFLOW_GROW;
      o.zero_on_reset = true;
      SlabArena* a = slab_arena_create(alloc.c_allocator(), &o);
      if (a == nullptr) {
        const TslabError why = slab_last_error();
        ASSERT_TRUE(why == TSLAB_ERR_EPOCH_CLOSING || why == TSLAB_ERR_STALE_EPOCH) << why;
        continue;
      }
      // Fills the first chunk and takes a second, so that the span taken next is
      // a dirty one that zeroing writes.
      if (slab_arena_alloc(a, (std::size_t{5} << 20) - 4096, 16) != nullptr)
        (void)slab_arena_alloc(a, 8192, 16);
      EXPECT_TRUE(slab_arena_destroy(a));
    }
  });
  const std::size_t rounds = scaled(300);
  for (std::size_t r = 0; r < rounds; ++r) {
    // The creations keep pace with the destroys, however the threads are scheduled.
    while (attempts.load() < r + 1) std::this_thread::yield();
    const tslab::EpochId e = alloc.epoch_current();
    for (std::size_t spin = 0; spin < (r % 64) * 2000; ++spin) asm volatile("");
    EXPECT_EQ(alloc.epoch_destroy(e), tslab::Error::ok);
    alloc.collect();  // the released spans' ranges go back
    alloc.epoch_advance();
  }
  stop.store(true);
  arenas.join();
  EXPECT_GE(attempts.load(), rounds);
  EXPECT_ALLOCATOR_OK(alloc);
}

// Two threads bump in a shared arena while the main thread (and in odd rounds a
// second one) destroys its epoch, collects and advances, then makes the next
// arena: a bump that read the
// current chunk before the destroy ended the arena finishes before the chunk
// is released (it used to read and write the header of a chunk whose range had
// gone back: SIGSEGV), and every call after the destroy is refused.
TEST(ArenaEpochRace, BumpsRacingTheirEpochsDestroyNeverReachReleasedChunks) {
  tslab::Allocator alloc;
  std::atomic<SlabArena*> current{nullptr};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> served{0};
  auto bumper = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      SlabArena* a = current.load(std::memory_order_acquire);
      if (a != nullptr && slab_arena_alloc(a, 200, 16) != nullptr)
        served.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread t1(bumper), t2(bumper);
  std::vector<SlabArena*> ended;
  const std::size_t rounds = scaled(300);
  for (std::size_t r = 0; r < rounds; ++r) {
    SlabArenaOptions o;
    ASSERT_TRUE(slab_arena_options_init(&o));
    o.shared = true;
    o.chunk_size = std::size_t{8} << 20;  // segments of its own, unmapped once released and collected
    o.overflow = TSLAB_ARENA_OVERFLOW_ERROR;
    SlabArena* a = slab_arena_create(alloc.c_allocator(), &o);
    ASSERT_NE(a, nullptr) << r;
    const std::uint64_t before = served.load();
    current.store(a, std::memory_order_release);
    // A varying head start: the destroy lands among the bumps. In odd rounds a
    // second thread destroys the epoch at the same time: whichever ends the
    // arena, neither releases its chunk before the bumps under way are over.
    while (served.load() < before + 1 + (r % 8) * 100) std::this_thread::yield();
    const tslab::EpochId e = alloc.epoch_current();
    std::thread racer;
    if (r % 2 == 1) racer = std::thread([&] { EXPECT_EQ(alloc.epoch_destroy(e), tslab::Error::ok); });
    EXPECT_EQ(alloc.epoch_destroy(e), tslab::Error::ok);
    if (racer.joinable()) racer.join();
    EXPECT_EQ(slab_arena_alloc(a, 200, 16), nullptr) << r;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_EPOCH) << r;
    alloc.collect();
    alloc.epoch_advance();
    ended.push_back(a);
  }
  stop.store(true);
  t1.join();
  t2.join();
  for (SlabArena* a : ended) EXPECT_TRUE(slab_arena_destroy(a));
  EXPECT_GT(served.load(), 0u);
  EXPECT_ALLOCATOR_OK(alloc);
}

}  // namespace
