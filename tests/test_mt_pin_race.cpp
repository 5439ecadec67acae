// This file contains the regression test of the pin race: threads probing stale
// pointers and handles while the owner cycles its epochs, so that slabs go to the
// pool, whole segments go dormant (their slab metadata pages back to the OS) and
// wake again. A dormant segment's slabs used to be constructed anew on wake while
// a prober held a pin on one of them (ThreadSanitizer: wake_dormant_locked racing
// SlabPin), which could leave a pin count of 4294967295; check() now verifies
// that every pin is back to zero on a quiescent allocator.
//
// The same probing while large spans give their ranges back and their headers
// are bound to new ranges (core/span_release.cpp), and while spans grow into
// larger ranges, cached ones for a larger block and live ones for a realloc
// (core/span_grow.cpp): a validation must never read a header being rebound,
// and a freed span's handle must never be accepted, however the header was
// reused.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/allocator_core.h"
#include "size_class/size_classes.h"
#include "slab_alloc.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

namespace td = tslab::detail;

// Probes the probing threads must have made before a test's loop may end.
constexpr std::uint64_t MIN_PROBES = 1000;

TEST(MtPinRace, StaleProbesWhileSegmentsSleepAndWake) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  constexpr std::size_t SIZE = td::MAX_SMALL_SIZE;
  const std::size_t per_cycle = td::SLABS_PER_SEGMENT * td::class_capacity(td::class_of_size(SIZE));
  const std::size_t cycles = tslab_test::scaled(400);
  // What the probers read: the last pointer issued at each index (it may be live
  // again in the current cycle, so only non-destructive calls take it), and the
  // handles of the cycle that ended last (stale: every free of one must fail).
  std::vector<std::atomic<std::uintptr_t>> pointers(per_cycle);
  std::vector<std::atomic<SlabHandle>> ended(per_cycle);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> probes{0}, wrong_accepts{0};
  auto prober = [&](std::uint64_t seed) {
    tslab_test::Rng rng(seed);
    while (!done.load(std::memory_order_acquire)) {
      const std::size_t i = rng.next() % per_cycle;
      const auto p = reinterpret_cast<void*>(pointers[i].load(std::memory_order_acquire));
      (void)slab_usable_size(a, p);  // each pins the slab, whatever state it is in
      (void)slab_ptr_to_handle(a, p);
      const SlabHandle h = ended[i].load(std::memory_order_acquire);
      if (h != 0) {
        if (free_obj(a, h)) wrong_accepts.fetch_add(1, std::memory_order_relaxed);
        if (slab_handle_to_ptr(a, h) != nullptr) wrong_accepts.fetch_add(1, std::memory_order_relaxed);
      }
      probes.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread t1(prober, 1), t2(prober, 2);

  std::vector<void*> blocks(per_cycle);
  std::vector<SlabHandle> issued(per_cycle);
  // The cycles go on until the probers have run too: on a loaded machine they
  // may get no processor before the planned cycles are over.
  for (std::size_t c = 0; c < cycles || probes.load(std::memory_order_relaxed) < MIN_PROBES; ++c) {
    const EpochId e = epoch_current(a);
    for (std::size_t i = 0; i < per_cycle; ++i) {
      blocks[i] = alloc_obj_epoch(a, SIZE, e, &issued[i]);
      ASSERT_NE(blocks[i], nullptr);
      pointers[i].store(reinterpret_cast<std::uintptr_t>(blocks[i]), std::memory_order_release);
    }
    for (std::size_t i = 0; i < per_cycle; ++i) ASSERT_TRUE(free_obj(a, issued[i])) << "cycle " << c;
    // Every slab of the cycle empties: the close recycles them all and the
    // segment goes dormant; the next cycle wakes it.
    epoch_advance(a);
    for (std::size_t i = 0; i < per_cycle; ++i) ended[i].store(issued[i], std::memory_order_release);
  }
  done.store(true, std::memory_order_release);
  t1.join();
  t2.join();
  EXPECT_GT(probes.load(), 0u);
  EXPECT_EQ(wrong_accepts.load(), 0u) << "a stale handle was accepted";
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

// Two threads probing the large blocks a test publishes: the usable size of a
// pointer (live or not, 0 or at least the smallest span), its handle, and a free
// and a lookup of each retired handle, which must be refused.
class SpanProbers {
 public:
  static constexpr std::size_t SLOTS = 16;

  SpanProbers(SlabAllocator* a, std::uint64_t seed)
      : a_(a), pointers_(SLOTS), freed_(SLOTS), t1_([this, seed] { probe(seed); }), t2_([this, seed] {
          probe(seed + 1);
        }) {}

  // The block now in slot i; a handle that is to be refused from now on.
  void publish(std::size_t i, void* p) {
    pointers_[i].store(reinterpret_cast<std::uintptr_t>(p), std::memory_order_release);
  }
  void retire(std::size_t i, SlabHandle h) { freed_[i].store(h, std::memory_order_release); }

  ~SpanProbers() {
    if (t1_.joinable()) stop();  // a failed assertion left the test early
  }

  void stop() {
    done_.store(true, std::memory_order_release);
    t1_.join();
    t2_.join();
  }
  std::uint64_t probes() const { return probes_.load(); }
  std::uint64_t wrong_accepts() const { return wrong_accepts_.load(); }
  std::uint64_t wrong_sizes() const { return wrong_sizes_.load(); }

 private:
  void probe(std::uint64_t seed) {
    tslab_test::Rng rng(seed);
    while (!done_.load(std::memory_order_acquire)) {
      const std::size_t i = rng.next() % SLOTS;
      const auto p = reinterpret_cast<void*>(pointers_[i].load(std::memory_order_acquire));
      // Live or not, a span's usable size is 0 or at least its smallest block.
      const std::size_t usable = slab_usable_size(a_, p);
      if (usable != 0 && usable < td::MAX_SMALL_SIZE) wrong_sizes_.fetch_add(1, std::memory_order_relaxed);
      (void)slab_ptr_to_handle(a_, p);
      const SlabHandle h = freed_[i].load(std::memory_order_acquire);
      if (h != 0) {
        if (free_obj(a_, h)) wrong_accepts_.fetch_add(1, std::memory_order_relaxed);
        if (slab_handle_to_ptr(a_, h) != nullptr) wrong_accepts_.fetch_add(1, std::memory_order_relaxed);
      }
      probes_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  SlabAllocator* a_;
  std::vector<std::atomic<std::uintptr_t>> pointers_;
  std::vector<std::atomic<SlabHandle>> freed_;
  std::atomic<bool> done_{false};
  std::atomic<std::uint64_t> probes_{0}, wrong_accepts_{0}, wrong_sizes_{0};
  std::thread t1_, t2_;
};

TEST(MtPinRace, StaleProbesWhileLargeSpansAreReleasedAndRebound) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  // Every freed span's pages go back: no pages kept.
  ASSERT_TRUE(slab_set_warm_reserve(a, 0));
  ASSERT_TRUE(slab_set_large_retain(a, 0));
  const std::size_t rounds = tslab_test::scaled(3000);
  SpanProbers probers(a, 3);
  tslab_test::Rng rng(5);
  for (std::size_t r = 0; r < rounds || probers.probes() < MIN_PROBES; ++r) {  // as above
    const std::size_t i = r % SpanProbers::SLOTS;
    SlabHandle h = 0;
    const std::size_t size = td::MAX_SMALL_SIZE + 1 + rng.next() % (2 << 20);
    void* p = alloc_obj_epoch(a, size, epoch_current(a), &h);
    ASSERT_NE(p, nullptr);
    probers.publish(i, p);
    ASSERT_TRUE(free_obj(a, h)) << "round " << r;
    probers.retire(i, h);
    // Every cached span's range goes back; the next spans bind their headers anew.
    if (r % 4 == 3) slab_collect(a);
  }
  probers.stop();
  SlabGlobalStats stats{};
  ASSERT_TRUE(slab_stats_global(a, &stats));
  EXPECT_GE(stats.spans_unmapped_total, rounds / 8) << "ranges went back and headers were rebound";
  EXPECT_GT(probers.probes(), 0u);
  EXPECT_EQ(probers.wrong_accepts(), 0u) << "a freed span's handle was accepted";
  EXPECT_EQ(probers.wrong_sizes(), 0u);
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

TEST(MtPinRace, StaleProbesWhileLargeSpansGrow) {
  tslab::Allocator allocator;
  SlabAllocator* a = allocator.c_allocator();
  td::AllocatorCore& core = *allocator.core();
  const std::size_t rounds = tslab_test::scaled(1500);
  SpanProbers probers(a, 13);
  tslab_test::Rng rng(15);
  // As above, and until more than `rounds` spans grew: a grow copies instead
  // while a prober pins the span, so how many grow depends on the scheduling.
  // 50 times the rounds is the watchdog.
  std::uint64_t grown = 0;
  for (std::size_t r = 0; r < rounds || probers.probes() < MIN_PROBES || (grown <= rounds && r < 50 * rounds);
       ++r) {
    const std::size_t i = r % SpanProbers::SLOTS;
    // A block of one segment's reservation, then a realloc beyond it: its span
    // grows, live (copied instead while a prober pins it).
    const std::size_t size = td::MAX_SMALL_SIZE + 1 + rng.next() % (3 << 20);
    auto* p = static_cast<unsigned char*>(allocator.allocate(size));
    ASSERT_NE(p, nullptr);
    p[0] = p[size - 1] = 1;
    probers.publish(i, p);
    const SlabHandle before = slab_ptr_to_handle(a, p);
    const std::size_t reserved = td::segment_map_lookup(p)->size;
    auto* q = static_cast<unsigned char*>(core.realloc_large(p, 5 << 20, 0));
    ASSERT_NE(q, nullptr) << "round " << r;
    // A larger span a probe pinned through the last collect may still be cached
    // and taken: then the block grows in place, its handle kept.
    if (reserved < (std::size_t{5} << 20)) {
      ASSERT_NE(q, p) << "beyond the reservation";
    }
    ASSERT_EQ(q[0], 1);
    ASSERT_EQ(q[size - 1], 1);
    if (q != p) probers.retire(i, before);
    probers.publish(i, q);
    SlabHandle h = slab_ptr_to_handle(a, q);
    ASSERT_TRUE(free_obj(a, h)) << "round " << r;
    probers.retire(i, h);
    // A block larger than the span just cached, warm: that span grows.
    const std::size_t j = (i + 1) % SpanProbers::SLOTS;
    auto* big = static_cast<unsigned char*>(allocator.allocate((9 << 20) + rng.next() % (3 << 20)));
    ASSERT_NE(big, nullptr);
    big[0] = 1;
    probers.publish(j, big);
    h = slab_ptr_to_handle(a, big);
    ASSERT_TRUE(free_obj(a, h)) << "round " << r;
    probers.retire(j, h);
    slab_collect(a);  // the cache empties but for spans a probe pins: new spans next
    SlabGlobalStats stats{};
    ASSERT_TRUE(slab_stats_global(a, &stats));
    grown = stats.spans_grown_total;
  }
  probers.stop();
  EXPECT_GT(grown, rounds) << "spans grew, cached and live";
  EXPECT_GT(probers.probes(), 0u);
  EXPECT_EQ(probers.wrong_accepts(), 0u) << "a freed or moved block's handle was accepted";
  EXPECT_EQ(probers.wrong_sizes(), 0u);
  EXPECT_SLAB_CHECK_OK(a);
}

}  // namespace
