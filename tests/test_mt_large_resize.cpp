// This file contains the concurrency test of a large block resized in place
// while other threads free it, resize it or move it (a program's race, which
// must not break the allocator; core/large_span.cpp, "Resizing"). Each round
// three threads race on one block while a fourth empties the stashes and the
// cache. Of the calls that end the block (the free, a realloc that moves it)
// exactly one succeeds; a realloc that moves it hands out the bytes it had; and
// the checker finds every count of warm bytes equal to what the spans hold.
// Run under TSan by `make test`.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "core/allocator_core.h"
#include "segment/segment_map.h"
#include "test_util.h"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;
constexpr std::size_t KiB = 1024;
constexpr std::size_t RESERVED = 256 * KiB;  // a 200 KiB block's least reservation: every size below fits
constexpr unsigned char TAG = 0x5a;

// What a racer did to the round's block.
struct Outcome {
  int ended = 0;               // it freed or moved the block
  void* moved = nullptr;       // the block it moved it to
  std::size_t moved_size = 0;  // and the bytes the block held there
};

TEST(MtLargeResize, OneBlockResizedFreedAndMovedAtOnceEndsOnce) {
  tslab::Allocator a;
  tslab::detail::AllocatorCore& core = *a.core();
  const std::size_t rounds = tslab_test::scaled(3000);
  std::atomic<unsigned char*> block{nullptr};
  std::atomic<bool> done{false};
  std::vector<Outcome> outcomes(3);
  std::barrier start(4), finish(4);

  // Two resizers: in place, or, while the other resizes, by copy (a move).
  auto resizer = [&](int id, std::size_t first, std::size_t second) {
    for (std::size_t r = 0; r < rounds; ++r) {
      start.arrive_and_wait();
      unsigned char* p = block.load();
      Outcome& out = outcomes[static_cast<std::size_t>(id)];
      out = Outcome{};
      std::size_t held = 200 * KiB;
      for (std::size_t size : {first, second}) {
        void* q = core.realloc_large(p, size, 0);
        if (q == nullptr) break;  // ended by another racer
        if (q != p) {
          out = Outcome{1, q, held < size ? held : size};
          break;
        }
        held = held < size ? held : size;
      }
      finish.arrive_and_wait();
    }
  };
  std::thread grower(resizer, 0, 240 * KiB, 100 * KiB);
  std::thread shrinker(resizer, 1, 64 * KiB, 180 * KiB);
  std::thread freer([&] {
    for (std::size_t r = 0; r < rounds; ++r) {
      start.arrive_and_wait();
      outcomes[2] = Outcome{a.deallocate(block.load()) == Error::ok ? 1 : 0};
      finish.arrive_and_wait();
    }
  });
  std::thread trimmer([&] {
    while (!done.load()) {
      a.collect();
      std::this_thread::yield();
    }
  });

  for (std::size_t r = 0; r < rounds; ++r) {
    auto* p = static_cast<unsigned char*>(a.allocate(200 * KiB));
    if (p == nullptr || tslab::detail::segment_map_lookup(p)->size < RESERVED) {
      ADD_FAILURE() << "round " << r << ": no block of " << RESERVED << " reserved bytes";
      std::abort();  // the racers wait for the round
    }
    std::memset(p, TAG, 200 * KiB);
    block.store(p);
    start.arrive_and_wait();
    finish.arrive_and_wait();
    int ended = 0;
    for (const Outcome& o : outcomes) {
      ended += o.ended;
      if (o.moved == nullptr) continue;
      const auto* q = static_cast<const unsigned char*>(o.moved);
      // A move by copy keeps what the block held (a racing shrink may have
      // handed its tail back first: then that tail reads as zero).
      EXPECT_TRUE(q[0] == TAG && (q[o.moved_size - 1] == TAG || q[o.moved_size - 1] == 0)) << "round " << r;
      EXPECT_EQ(a.deallocate(o.moved), Error::ok);
    }
    EXPECT_EQ(ended, 1) << "round " << r << ": the block ended once, by a free or a move";
    EXPECT_NE(a.deallocate(p), Error::ok) << "round " << r << ": already ended";
  }
  done.store(true);
  grower.join();
  shrinker.join();
  freer.join();
  trimmer.join();
  EXPECT_ALLOCATOR_OK(a);
  EXPECT_EQ(tslab_test::global_stats(a).large_spans_live, 0u);
}

}  // namespace
