// Epoch domains under concurrency: many threads creating, entering, allocating
// into, exiting and destroying domains on one allocator while another thread
// advances (and wraps) the ring; and exactly one auto-close among holders that
// exit at the same time.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "epoch_domain.h"
#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/epoch_scope.hpp"

namespace {

struct Tally {
  std::atomic<std::uint64_t> entered{0};
  std::atomic<std::uint64_t> stale_enters{0};    // ring wrapped between create and enter
  std::atomic<std::uint64_t> closing_allocs{0};  // the epoch was advanced past meanwhile
  std::atomic<std::uint64_t> allocated{0};
  std::atomic<std::uint64_t> unexpected{0};  // anything correct use must never see
  std::atomic<std::uint64_t> first_bad_error{0};

  void bad(TslabError e) {
    unexpected.fetch_add(1);
    std::uint64_t none = 0;
    first_bad_error.compare_exchange_strong(none, static_cast<std::uint64_t>(e) + 1000);
  }
};

// One domain's life on the calling thread. `variant` picks create, wrap
// (auto-close or not), a nested inner domain and the RAII scope.
void domain_round(SlabAllocator* a, std::uint64_t tid, std::uint64_t i, Tally& t) {
  const std::uint64_t variant = i % 6;
  if (variant == 5) {
    tslab::EpochScope scope(a);
    if (!scope.ok()) {
      if (tslab::last_error() == tslab::Error::stale_epoch)
        t.stale_enters.fetch_add(1);
      else
        t.bad(static_cast<TslabError>(tslab::last_error()));
      return;
    }
    t.entered.fetch_add(1);
    if (epoch_domain_current() != scope.domain()) t.bad(TSLAB_ERR_DOMAIN_MISUSE);
    void* p = scope.allocate(24 + i % 200);
    if (p == nullptr) {
      if (slab_last_error() == TSLAB_ERR_EPOCH_CLOSING)
        t.closing_allocs.fetch_add(1);
      else
        t.bad(slab_last_error());
    } else {
      t.allocated.fetch_add(1);
      if (!scope.deallocate(p)) t.bad(slab_last_error());
    }
    return;
  }

  EpochDomain* d =
      variant < 3 ? epoch_domain_create(a) : epoch_domain_wrap(a, epoch_current(a), variant == 3);
  if (d == nullptr) {
    t.bad(slab_last_error());
    return;
  }
  if (!epoch_domain_enter(d)) {
    if (slab_last_error() == TSLAB_ERR_STALE_EPOCH)
      t.stale_enters.fetch_add(1);
    else
      t.bad(slab_last_error());
    if (!epoch_domain_destroy(d)) t.bad(slab_last_error());
    return;
  }
  t.entered.fetch_add(1);
  if (epoch_domain_current() != d || epoch_domain_allocator() != a) t.bad(TSLAB_ERR_DOMAIN_MISUSE);

  void* blocks[8] = {};
  const std::size_t n = 1 + i % 8;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t size = 16 + (i * 37 + k * 101) % 700;
    blocks[k] = slab_malloc_epoch(epoch_domain_allocator(), size, epoch_domain_current()->epoch_id);
    if (blocks[k] == nullptr) {
      if (slab_last_error() == TSLAB_ERR_EPOCH_CLOSING)
        t.closing_allocs.fetch_add(1);
      else
        t.bad(slab_last_error());
      continue;
    }
    t.allocated.fetch_add(1);
    tslab_test::fill_pattern(blocks[k], size, tslab_test::make_tag(tid, i * 8 + k));
  }

  if (variant == 1) {  // a nested domain of the same epoch
    EpochDomain* inner = epoch_domain_wrap(a, d->epoch_id, false);
    if (inner == nullptr) {
      t.bad(slab_last_error());
    } else {
      if (epoch_domain_enter(inner)) {
        if (epoch_domain_current() != inner) t.bad(TSLAB_ERR_DOMAIN_MISUSE);
        if (!epoch_domain_exit(inner)) t.bad(slab_last_error());
      } else if (slab_last_error() != TSLAB_ERR_STALE_EPOCH) {
        t.bad(slab_last_error());
      }
      if (!epoch_domain_destroy(inner)) t.bad(slab_last_error());
    }
  }

  for (std::size_t k = 0; k < n; ++k) {
    if (blocks[k] == nullptr) continue;
    const std::size_t size = 16 + (i * 37 + k * 101) % 700;
    if (!tslab_test::check_pattern(blocks[k], size, tslab_test::make_tag(tid, i * 8 + k)))
      t.bad(TSLAB_ERR_NOT_ALLOCATED);
    if (!slab_free_checked(a, blocks[k])) t.bad(slab_last_error());
  }
  if (!epoch_domain_exit(d)) t.bad(slab_last_error());
  if (epoch_domain_current() != nullptr) t.bad(TSLAB_ERR_DOMAIN_MISUSE);
  if (!epoch_domain_destroy(d)) t.bad(slab_last_error());
}

}  // namespace

TEST(MtEpochDomain, ManyThreadsWhileTheRingAdvances) {
  SlabAllocatorOptions o{};
  o.epoch_count = 8;  // a small ring wraps often
  SlabAllocator* a = slab_allocator_create_with(&o);
  ASSERT_NE(a, nullptr);
  constexpr unsigned WORKERS = 4;
  const std::uint64_t iterations = tslab_test::scaled(3000);
  Tally tally;
  std::atomic<unsigned> running{WORKERS};
  std::atomic<std::uint64_t> advances{0};

  std::vector<std::thread> threads;
  for (unsigned w = 0; w < WORKERS; ++w) {
    threads.emplace_back([&, w] {
      for (std::uint64_t i = 0; i < iterations; ++i) domain_round(a, w + 1, i, tally);
      running.fetch_sub(1);
    });
  }
  std::thread advancer([&] {
    while (running.load() != 0) {
      epoch_advance(a);
      advances.fetch_add(1);
      std::this_thread::yield();
    }
  });
  for (std::thread& t : threads) t.join();
  advancer.join();

  EXPECT_EQ(tally.unexpected.load(), 0u) << "first unexpected error + 1000: " << tally.first_bad_error.load();
  EXPECT_GT(tally.entered.load(), 0u);
  EXPECT_GT(tally.allocated.load(), 0u);
  EXPECT_EQ(tally.entered.load() + tally.stale_enters.load(), WORKERS * iterations);
  // Every hold was released or dropped by a re-activation: no stray count left.
  for (EpochId e = 0; e < 8; ++e) EXPECT_EQ(slab_epoch_get_refcount(a, e), 0u) << "epoch " << e;
  EXPECT_SLAB_CHECK_OK(a);
  std::printf("advances %llu, entered %llu, stale enters %llu, allocs into closing epochs %llu\n",
              static_cast<unsigned long long>(advances.load()),
              static_cast<unsigned long long>(tally.entered.load()),
              static_cast<unsigned long long>(tally.stale_enters.load()),
              static_cast<unsigned long long>(tally.closing_allocs.load()));
  slab_allocator_free(a);
}

TEST(MtEpochDomain, ExactlyOneAutoCloseAmongConcurrentHolders) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  constexpr unsigned WORKERS = 4;
  const std::uint64_t rounds = tslab_test::scaled(400);
  tslab_test::SpinBarrier barrier(WORKERS + 1);
  std::atomic<std::uint64_t> failures{0};
  std::atomic<unsigned> closers{0};
  std::atomic<EpochId> round_epoch{0};

  std::vector<std::thread> threads;
  for (unsigned w = 0; w < WORKERS; ++w) {
    threads.emplace_back([&, w] {
      for (std::uint64_t r = 0; r < rounds; ++r) {
        barrier.arrive_and_wait();  // 1: the round's epoch is current
        EpochDomain* d = epoch_domain_create(a);
        bool ok = d != nullptr && d->epoch_id == round_epoch.load() && epoch_domain_enter(d);
        void* p = ok ? slab_malloc_epoch(a, 64 + 64 * w, d->epoch_id) : nullptr;
        ok = ok && p != nullptr;
        barrier.arrive_and_wait();  // 2: every worker holds the epoch
        barrier.arrive_and_wait();  // 2b: the main thread has counted the holders
        ok = ok && slab_free_checked(a, p) && epoch_domain_exit(d);
        if (ok && d->closed) closers.fetch_add(1);
        barrier.arrive_and_wait();  // 3: every worker has exited
        barrier.arrive_and_wait();  // 4: the main thread has checked
        ok = ok && epoch_domain_destroy(d);
        if (!ok) failures.fetch_add(1);
      }
    });
  }
  std::uint64_t wrong_closers = 0, wrong_holds = 0, still_active = 0;
  for (std::uint64_t r = 0; r < rounds; ++r) {
    round_epoch.store(epoch_advance(a));
    closers.store(0);
    barrier.arrive_and_wait();  // 1
    barrier.arrive_and_wait();  // 2
    if (slab_epoch_get_refcount(a, round_epoch.load()) != WORKERS) ++wrong_holds;
    barrier.arrive_and_wait();  // 2b
    barrier.arrive_and_wait();  // 3
    if (closers.load() != 1) ++wrong_closers;
    if (slab_epoch_state(a, round_epoch.load()) != EPOCH_CLOSING) ++still_active;
    barrier.arrive_and_wait();  // 4
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_EQ(wrong_holds, 0u);
  EXPECT_EQ(wrong_closers, 0u);
  EXPECT_EQ(still_active, 0u);
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

// A destroy racing an enter on another thread: one of the two wins. Either the
// enter is refused, or the destroy is (domain still entered) and the entered
// thread exits normally; never both succeeding, which would leave that thread
// inside a destroyed domain it cannot exit and the epoch held for good.
TEST(MtEpochDomain, ADestroyRacingAnEnterOnAnotherThreadLeavesOneWinner) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  // Few rounds race at the window itself (most destroys win once the user thread
  // stops), so even a scaled-down run keeps 100 of them.
  const std::uint64_t rounds = std::max<std::uint64_t>(tslab_test::scaled(400), 100);
  std::uint64_t failed_exits = 0, stranded = 0, held_after = 0, wrong_errors = 0;
  std::uint64_t enters_won = 0;
  for (std::uint64_t r = 0; r < rounds; ++r) {
    const EpochId e = epoch_advance(a);
    EpochDomain* d = epoch_domain_wrap(a, e, false);
    ASSERT_NE(d, nullptr);
    std::atomic<bool> destroyed{false};
    std::atomic<bool> go{false}, entered_once{false};
    std::uint64_t my_failed_exits = 0, my_stranded = 0, my_wrong = 0, my_enters = 0;
    std::thread user([&] {
      while (!go.load(std::memory_order_acquire)) {
      }
      // A bounded number of tries: a destroy can win only between an exit and
      // the next enter, so a thread that never stops entering could starve it.
      for (int tries = 0; tries < 2000 && !destroyed.load(std::memory_order_acquire); ++tries) {
        if (epoch_domain_enter(d)) {
          ++my_enters;
          if (!epoch_domain_exit(d)) ++my_failed_exits;
          entered_once.store(true, std::memory_order_release);
        } else if (slab_last_error() != TSLAB_ERR_INVALID_ARGUMENT) {
          ++my_wrong;  // a destroyed (or being destroyed) domain is not ours to enter
        }
      }
      if (epoch_domain_current() != nullptr) ++my_stranded;
    });
    go.store(true, std::memory_order_release);
    // The destroys start once the user's enters and exits are under way.
    while (!entered_once.load(std::memory_order_acquire)) {
    }
    while (!epoch_domain_destroy(d)) {
      if (slab_last_error() != TSLAB_ERR_DOMAIN_MISUSE) {
        ++wrong_errors;
        break;
      }
    }
    destroyed.store(true, std::memory_order_release);
    user.join();
    failed_exits += my_failed_exits;
    stranded += my_stranded;
    wrong_errors += my_wrong;
    enters_won += my_enters;
    if (slab_epoch_get_refcount(a, e) != 0) ++held_after;
  }
  EXPECT_EQ(failed_exits, 0u) << "an enter won after the destroy did";
  EXPECT_EQ(stranded, 0u) << "a thread left inside a destroyed domain";
  EXPECT_EQ(held_after, 0u) << "a destroyed domain still holds its epoch";
  EXPECT_EQ(wrong_errors, 0u);
  std::printf("rounds %llu, enters that won %llu\n", static_cast<unsigned long long>(rounds),
              static_cast<unsigned long long>(enters_won));
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}

// Enters of a domain whose era is past are refused without taking the domain, so
// a destroy on another thread meanwhile is not refused as "still entered".
TEST(MtEpochDomain, StaleEntersDoNotBlockADestroy) {
  SlabAllocator* a = slab_allocator_create();
  ASSERT_NE(a, nullptr);
  const std::uint64_t rounds = std::max<std::uint64_t>(tslab_test::scaled(400), 100);
  std::uint64_t refused_destroys = 0, wrong_enters = 0;
  for (std::uint64_t r = 0; r < rounds; ++r) {
    EpochDomain* d = epoch_domain_wrap(a, epoch_current(a), false);
    ASSERT_NE(d, nullptr);
    for (std::uint32_t i = 0; i < slab_epoch_count(a); ++i) epoch_advance(a);  // d's era is past
    std::atomic<bool> done{false}, started{false};
    std::uint64_t my_wrong = 0;
    std::thread user([&] {
      while (!done.load(std::memory_order_acquire)) {
        if (epoch_domain_enter(d) ||
            (slab_last_error() != TSLAB_ERR_STALE_EPOCH && slab_last_error() != TSLAB_ERR_INVALID_ARGUMENT))
          ++my_wrong;
        started.store(true, std::memory_order_release);
      }
    });
    while (!started.load(std::memory_order_acquire)) {
    }
    if (!epoch_domain_destroy(d)) ++refused_destroys;
    done.store(true, std::memory_order_release);
    user.join();
    wrong_enters += my_wrong;
  }
  EXPECT_EQ(refused_destroys, 0u);
  EXPECT_EQ(wrong_enters, 0u);
  EXPECT_SLAB_CHECK_OK(a);
  slab_allocator_free(a);
}
