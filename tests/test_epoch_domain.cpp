// Epoch domains (epoch_domain.h) and tslab::EpochScope on one or two threads:
// binding, LIFO nesting and its limit, every misuse case with its error and no
// state change, auto-close (once, not while held, not on a stale era),
// force_close, per-thread current domain, refcounts, allocation into a domain's
// epoch, and domain memory coming from tslab rather than the system malloc.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "epoch_domain.h"
#include "malloc_counter.h"
#include "slab_alloc.h"
#include "slab_arena.h"
#include "test_util.h"
#include "tslab/epoch_scope.hpp"
#include "tslab/tslab.hpp"

namespace {

// An allocator for one test, freed at the end.
struct Alloc {
  explicit Alloc(std::uint32_t epochs = SLAB_DEFAULT_EPOCH_COUNT) {
    SlabAllocatorOptions o{};
    o.epoch_count = epochs;
    a = slab_allocator_create_with(&o);
  }
  ~Alloc() { slab_allocator_free(a); }
  SlabAllocator* a;
};

std::uint64_t live_count(SlabAllocator* a, EpochId e) {
  SlabEpochInfo info{};
  EXPECT_TRUE(slab_epoch_info(a, e, &info));
  return info.live_count;
}

}  // namespace

TEST(EpochDomain, CreateBindsCurrentEpochAndEra) {
  Alloc A;
  ASSERT_NE(A.a, nullptr);
  epoch_advance(A.a);
  epoch_advance(A.a);
  const EpochId cur = epoch_current(A.a);
  ASSERT_EQ(cur, 2u);
  EpochDomain* d = epoch_domain_create(A.a);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->alloc, A.a);
  EXPECT_EQ(d->epoch_id, cur);
  EXPECT_EQ(d->era, slab_epoch_era(A.a, cur));
  EXPECT_NE(d->era, 0u);
  EXPECT_TRUE(d->auto_close);
  EXPECT_FALSE(d->closed);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, cur), 0u);
  // Never entered, auto-close: destroy closes the epoch (temporal-slab's behaviour).
  EXPECT_EQ(slab_epoch_state(A.a, cur), EPOCH_ACTIVE);
  EXPECT_TRUE(epoch_domain_destroy(d));
  EXPECT_EQ(slab_epoch_state(A.a, cur), EPOCH_CLOSING);
}

// Closing the current epoch leaves it current (README, "Epochs"). A domain or an
// EpochScope bound to it is still created and entered, as temporal-slab's
// epoch_domain_create is (domains of one epoch come and go while auto-close
// domains close it); what it refuses is allocation, with
// TSLAB_ERR_EPOCH_CLOSING, as an arena on it is refused.
TEST(EpochDomain, ADomainOnAClosedCurrentEpochTakesNoAllocation) {
  Alloc A;
  ASSERT_NE(A.a, nullptr);
  const EpochId cur = epoch_current(A.a);
  ASSERT_TRUE(epoch_close(A.a, cur));
  ASSERT_EQ(epoch_current(A.a), cur);
  EpochDomain* d = epoch_domain_create(A.a);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->epoch_id, cur);
  ASSERT_TRUE(epoch_domain_enter(d));
  EXPECT_EQ(slab_malloc_epoch(A.a, 64, d->epoch_id), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  EXPECT_TRUE(epoch_domain_exit(d));
  EXPECT_TRUE(epoch_domain_destroy(d));
  {
    tslab::EpochScope scope(A.a);
    EXPECT_TRUE(scope.ok());
    EXPECT_EQ(scope.allocate(64), nullptr);
    EXPECT_EQ(tslab::last_error(), tslab::Error::epoch_closing);
  }
  EXPECT_EQ(slab_arena_create(A.a, nullptr), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  EXPECT_EQ(slab_epoch_state(A.a, cur), EPOCH_CLOSING);
}

TEST(EpochDomain, WrapBindsGivenEpoch) {
  Alloc A;
  EpochDomain* d = epoch_domain_wrap(A.a, 5, false);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->epoch_id, 5u);
  EXPECT_EQ(d->era, slab_epoch_era(A.a, 5));
  EXPECT_FALSE(d->auto_close);
  ASSERT_TRUE(epoch_domain_enter(d));
  EXPECT_EQ(slab_epoch_get_refcount(A.a, 5), 1u);
  ASSERT_TRUE(epoch_domain_exit(d));
  EXPECT_EQ(slab_epoch_get_refcount(A.a, 5), 0u);
  ASSERT_TRUE(epoch_domain_destroy(d));
  EXPECT_EQ(slab_epoch_state(A.a, 5), EPOCH_ACTIVE);  // not auto-close: left open

  EpochDomain* w = epoch_domain_wrap(A.a, 7, true);
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->auto_close);
  ASSERT_TRUE(epoch_domain_destroy(w));
  EXPECT_EQ(slab_epoch_state(A.a, 7), EPOCH_CLOSING);

  EXPECT_EQ(epoch_domain_wrap(A.a, SLAB_DEFAULT_EPOCH_COUNT, true), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE);
}

TEST(EpochDomain, NullArgumentsAreReported) {
  EXPECT_EQ(epoch_domain_create(nullptr), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(epoch_domain_wrap(nullptr, 0, true), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_FALSE(epoch_domain_enter(nullptr));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_FALSE(epoch_domain_exit(nullptr));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_FALSE(epoch_domain_destroy(nullptr));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_FALSE(epoch_domain_force_close(nullptr));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(epoch_domain_current(), nullptr);
  EXPECT_EQ(epoch_domain_allocator(), nullptr);
}

TEST(EpochDomain, NestsToDepth64AndRefusesThe65th) {
  Alloc A;
  ASSERT_EQ(EPOCH_DOMAIN_MAX_DEPTH, 64u);
  std::vector<EpochDomain*> ds;
  for (std::uint32_t i = 0; i <= EPOCH_DOMAIN_MAX_DEPTH; ++i) {
    ds.push_back(epoch_domain_wrap(A.a, i % 4, false));
    ASSERT_NE(ds.back(), nullptr);
  }
  for (std::uint32_t i = 0; i < EPOCH_DOMAIN_MAX_DEPTH; ++i) {
    ASSERT_TRUE(epoch_domain_enter(ds[i])) << "depth " << i;
    EXPECT_EQ(epoch_domain_current(), ds[i]);
  }
  for (EpochId e = 0; e < 4; ++e) EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 16u);

  // The 65th: refused, nothing changes.
  EXPECT_FALSE(epoch_domain_enter(ds[EPOCH_DOMAIN_MAX_DEPTH]));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_EQ(epoch_domain_current(), ds[EPOCH_DOMAIN_MAX_DEPTH - 1]);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, 0), 16u);
  // The refused domain was not left entered: it can be destroyed.
  EXPECT_TRUE(epoch_domain_destroy(ds[EPOCH_DOMAIN_MAX_DEPTH]));

  for (std::uint32_t i = EPOCH_DOMAIN_MAX_DEPTH; i-- > 0;) {
    EXPECT_EQ(epoch_domain_current(), ds[i]);
    ASSERT_TRUE(epoch_domain_exit(ds[i])) << "depth " << i;
  }
  EXPECT_EQ(epoch_domain_current(), nullptr);
  for (EpochId e = 0; e < 4; ++e) EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 0u);
  for (std::uint32_t i = 0; i < EPOCH_DOMAIN_MAX_DEPTH; ++i) EXPECT_TRUE(epoch_domain_destroy(ds[i]));
}

TEST(EpochDomain, SameDomainMayNestOnItsThread) {
  Alloc A;
  EpochDomain* d = epoch_domain_create(A.a);
  const EpochId e = d->epoch_id;
  ASSERT_TRUE(epoch_domain_enter(d));
  ASSERT_TRUE(epoch_domain_enter(d));
  EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 2u);
  ASSERT_TRUE(epoch_domain_exit(d));
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_ACTIVE);  // still entered once
  EXPECT_EQ(epoch_domain_current(), d);
  ASSERT_TRUE(epoch_domain_exit(d));
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_CLOSING);
  EXPECT_TRUE(d->closed);
  EXPECT_TRUE(epoch_domain_destroy(d));
}

TEST(EpochDomain, LifoViolationIsRefusedAndChangesNothing) {
  Alloc A;
  EpochDomain* a = epoch_domain_create(A.a);
  EpochDomain* b = epoch_domain_wrap(A.a, a->epoch_id, false);
  EpochDomain* never = epoch_domain_wrap(A.a, a->epoch_id, false);
  const EpochId e = a->epoch_id;
  ASSERT_TRUE(epoch_domain_enter(a));
  ASSERT_TRUE(epoch_domain_enter(b));
  ASSERT_EQ(slab_epoch_get_refcount(A.a, e), 2u);

  EXPECT_FALSE(epoch_domain_exit(a));  // b is innermost
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_EQ(epoch_domain_current(), b);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 2u);
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_ACTIVE);

  EXPECT_FALSE(epoch_domain_exit(never));  // never entered
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 2u);

  ASSERT_TRUE(epoch_domain_exit(b));
  EXPECT_EQ(epoch_domain_current(), a);
  ASSERT_TRUE(epoch_domain_exit(a));
  EXPECT_EQ(epoch_domain_current(), nullptr);
  EXPECT_FALSE(epoch_domain_exit(a));  // already exited
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 0u);
  EXPECT_TRUE(epoch_domain_destroy(a));
  EXPECT_TRUE(epoch_domain_destroy(b));
  EXPECT_TRUE(epoch_domain_destroy(never));
}

TEST(EpochDomain, UseFromAnotherThreadIsRefused) {
  Alloc A;
  EpochDomain* d = epoch_domain_wrap(A.a, 0, true);
  ASSERT_TRUE(epoch_domain_enter(d));
  bool exit_ok = true, enter_ok = true;
  TslabError exit_err = TSLAB_OK, enter_err = TSLAB_OK;
  EpochDomain* other_current = d;
  std::thread t([&] {
    exit_ok = epoch_domain_exit(d);
    exit_err = slab_last_error();
    enter_ok = epoch_domain_enter(d);
    enter_err = slab_last_error();
    other_current = epoch_domain_current();
  });
  t.join();
  EXPECT_FALSE(exit_ok);
  EXPECT_EQ(exit_err, TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_FALSE(enter_ok);
  EXPECT_EQ(enter_err, TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_EQ(other_current, nullptr);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, 0), 1u);
  EXPECT_EQ(slab_epoch_state(A.a, 0), EPOCH_ACTIVE);
  EXPECT_EQ(epoch_domain_current(), d);
  ASSERT_TRUE(epoch_domain_exit(d));
  EXPECT_EQ(slab_epoch_state(A.a, 0), EPOCH_CLOSING);
  EXPECT_TRUE(epoch_domain_destroy(d));
}

// A thread that ends with a domain entered leaves it entered (epoch_domain.h):
// no later thread enters or exits it, also one that got the ended thread's
// thread-local memory (joined threads' stacks are reused), whose address was
// taken for the same thread before.
TEST(EpochDomain, ADomainLeftEnteredByAnEndedThreadStaysRefusedToLaterOnes) {
  Alloc A;
  EpochDomain* d = epoch_domain_wrap(A.a, 1, true);
  std::thread([&] { ASSERT_TRUE(epoch_domain_enter(d)); }).join();
  for (int i = 0; i < 8; ++i) {
    bool entered = true, exited = true;
    TslabError enter_err = TSLAB_OK, exit_err = TSLAB_OK;
    std::thread([&] {
      entered = epoch_domain_enter(d);
      enter_err = slab_last_error();
      exited = epoch_domain_exit(d);
      exit_err = slab_last_error();
    }).join();
    EXPECT_FALSE(entered) << i;
    EXPECT_EQ(enter_err, TSLAB_ERR_DOMAIN_MISUSE) << i;
    EXPECT_FALSE(exited) << i;
    EXPECT_EQ(exit_err, TSLAB_ERR_DOMAIN_MISUSE) << i;
  }
  EXPECT_EQ(slab_epoch_get_refcount(A.a, 1), 1u);
  EXPECT_EQ(slab_epoch_state(A.a, 1), EPOCH_ACTIVE);
  EXPECT_FALSE(epoch_domain_destroy(d)) << "still entered";
}

TEST(EpochDomain, DomainMovesToAnotherThreadOnceFullyExited) {
  Alloc A;
  EpochDomain* d = epoch_domain_wrap(A.a, 1, false);
  ASSERT_TRUE(epoch_domain_enter(d));
  ASSERT_TRUE(epoch_domain_exit(d));
  bool ok = false;
  std::thread t([&] { ok = epoch_domain_enter(d) && epoch_domain_current() == d && epoch_domain_exit(d); });
  t.join();
  EXPECT_TRUE(ok);
  EXPECT_TRUE(epoch_domain_destroy(d));
}

TEST(EpochDomain, DestroyWhileEnteredIsRefused) {
  Alloc A;
  EpochDomain* d = epoch_domain_create(A.a);
  const EpochId e = d->epoch_id;
  ASSERT_TRUE(epoch_domain_enter(d));
  EXPECT_FALSE(epoch_domain_destroy(d));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_EQ(epoch_domain_current(), d);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 1u);
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_ACTIVE);

  // Entered on another thread: refused as well.
  EpochDomain* w = epoch_domain_wrap(A.a, e, false);
  std::atomic<int> step{0};
  std::thread t([&] {
    const bool entered = epoch_domain_enter(w);
    step.store(entered ? 1 : -1);
    while (step.load() != 2) std::this_thread::yield();
    epoch_domain_exit(w);
    step.store(3);
  });
  while (step.load() == 0) std::this_thread::yield();
  ASSERT_EQ(step.load(), 1);
  EXPECT_FALSE(epoch_domain_destroy(w));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 2u);
  step.store(2);
  t.join();
  EXPECT_EQ(step.load(), 3);
  EXPECT_TRUE(epoch_domain_destroy(w));

  ASSERT_TRUE(epoch_domain_exit(d));
  EXPECT_TRUE(epoch_domain_destroy(d));
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_CLOSING);
}

TEST(EpochDomain, AutoCloseClosesOnceWhenTheLastHolderExits) {
  Alloc A;
  EpochDomain* a = epoch_domain_create(A.a);
  EpochDomain* b = epoch_domain_create(A.a);
  const EpochId e = a->epoch_id;
  ASSERT_EQ(b->epoch_id, e);
  ASSERT_TRUE(epoch_domain_enter(a));
  ASSERT_TRUE(epoch_domain_enter(b));
  ASSERT_TRUE(epoch_domain_exit(b));  // a still holds the epoch
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_ACTIVE);
  EXPECT_FALSE(b->closed);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 1u);
  ASSERT_TRUE(epoch_domain_exit(a));  // the last holder
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_CLOSING);
  EXPECT_TRUE(a->closed);
  EXPECT_FALSE(b->closed);
  // Destroying the domains afterwards changes nothing.
  EXPECT_TRUE(epoch_domain_destroy(b));
  EXPECT_TRUE(epoch_domain_destroy(a));
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_CLOSING);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 0u);
}

TEST(EpochDomain, AutoCloseWaitsForAHolderOnAnotherThread) {
  Alloc A;
  EpochDomain* a = epoch_domain_create(A.a);
  const EpochId e = a->epoch_id;
  EpochDomain* held = epoch_domain_wrap(A.a, e, false);
  std::atomic<int> step{0};
  std::thread t([&] {
    step.store(epoch_domain_enter(held) ? 1 : -1);
    while (step.load() != 2) std::this_thread::yield();
    step.store(epoch_domain_exit(held) ? 3 : -3);
  });
  while (step.load() == 0) std::this_thread::yield();
  ASSERT_EQ(step.load(), 1);
  ASSERT_TRUE(epoch_domain_enter(a));
  ASSERT_TRUE(epoch_domain_exit(a));
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_ACTIVE);  // the other thread still holds it
  EXPECT_FALSE(a->closed);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 1u);
  step.store(2);
  t.join();
  ASSERT_EQ(step.load(), 3);
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_ACTIVE);  // `held` is not auto-close
  EXPECT_EQ(slab_epoch_get_refcount(A.a, e), 0u);
  EXPECT_TRUE(epoch_domain_destroy(held));
  // Fully exited auto-close domain, nobody holds the epoch: destroy closes it.
  EXPECT_TRUE(epoch_domain_destroy(a));
  EXPECT_EQ(slab_epoch_state(A.a, e), EPOCH_CLOSING);
}

TEST(EpochDomain, StaleEraIsNeverClosed) {
  Alloc A(4);
  EpochDomain* old = epoch_domain_create(A.a);
  ASSERT_EQ(old->epoch_id, 0u);
  const std::uint64_t old_era = old->era;
  ASSERT_TRUE(epoch_domain_enter(old));
  ASSERT_EQ(slab_epoch_get_refcount(A.a, 0), 1u);

  for (int i = 0; i < 4; ++i) epoch_advance(A.a);  // the ring wraps: slot 0 re-activated
  ASSERT_EQ(epoch_current(A.a), 0u);
  ASSERT_NE(slab_epoch_era(A.a, 0), old_era);
  ASSERT_EQ(slab_epoch_state(A.a, 0), EPOCH_ACTIVE);
  ASSERT_EQ(slab_epoch_get_refcount(A.a, 0), 0u);  // re-activation reset it

  // A domain of the new activation, held on another thread.
  EpochDomain* fresh = epoch_domain_create(A.a);
  ASSERT_EQ(fresh->epoch_id, 0u);
  std::atomic<int> step{0};
  std::thread t([&] {
    step.store(epoch_domain_enter(fresh) ? 1 : -1);
    while (step.load() != 2) std::this_thread::yield();
    step.store(epoch_domain_exit(fresh) ? 3 : -3);
  });
  while (step.load() == 0) std::this_thread::yield();
  ASSERT_EQ(step.load(), 1);
  ASSERT_EQ(slab_epoch_get_refcount(A.a, 0), 1u);

  // The stale domain's exit succeeds, closes nothing and takes nothing from the
  // new activation's count.
  ASSERT_TRUE(epoch_domain_exit(old));
  EXPECT_EQ(slab_epoch_state(A.a, 0), EPOCH_ACTIVE);
  EXPECT_FALSE(old->closed);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, 0), 1u);

  // Entering or force-closing the stale domain is refused.
  EXPECT_FALSE(epoch_domain_enter(old));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_EPOCH);
  EXPECT_EQ(epoch_domain_current(), nullptr);
  EXPECT_FALSE(epoch_domain_force_close(old));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_STALE_EPOCH);
  EXPECT_EQ(slab_epoch_state(A.a, 0), EPOCH_ACTIVE);
  EXPECT_EQ(slab_epoch_get_refcount(A.a, 0), 1u);
  // Destroying it closes nothing either.
  EXPECT_TRUE(epoch_domain_destroy(old));
  EXPECT_EQ(slab_epoch_state(A.a, 0), EPOCH_ACTIVE);

  // The new activation's own holder closes it.
  step.store(2);
  t.join();
  ASSERT_EQ(step.load(), 3);
  EXPECT_EQ(slab_epoch_state(A.a, 0), EPOCH_CLOSING);
  EXPECT_TRUE(fresh->closed);
  EXPECT_TRUE(epoch_domain_destroy(fresh));
}

TEST(EpochDomain, ForceCloseClosesTheBoundEpoch) {
  Alloc A;
  EpochDomain* d = epoch_domain_wrap(A.a, 3, false);
  ASSERT_TRUE(epoch_domain_enter(d));
  void* p = slab_malloc_epoch(A.a, 64, 3);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(epoch_domain_force_close(d));
  EXPECT_TRUE(d->closed);
  EXPECT_EQ(slab_epoch_state(A.a, 3), EPOCH_CLOSING);
  EXPECT_EQ(slab_malloc_epoch(A.a, 64, 3), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  EXPECT_TRUE(slab_free_checked(A.a, p));  // frees into a CLOSING epoch still work
  ASSERT_TRUE(epoch_domain_exit(d));
  EXPECT_TRUE(epoch_domain_destroy(d));
  EXPECT_SLAB_CHECK_OK(A.a);
}

TEST(EpochDomain, CurrentAndAllocatorArePerThread) {
  Alloc A, B;
  EpochDomain* da = epoch_domain_create(A.a);
  EpochDomain* db = epoch_domain_create(B.a);
  ASSERT_TRUE(epoch_domain_enter(da));
  tslab_test::SpinBarrier barrier(2);
  bool other_ok = false;
  std::thread t([&] {
    const bool before = epoch_domain_current() == nullptr && epoch_domain_allocator() == nullptr;
    const bool entered = epoch_domain_enter(db);
    barrier.arrive_and_wait();  // both threads have a domain entered now
    const bool sees_own = epoch_domain_current() == db && epoch_domain_allocator() == B.a;
    barrier.arrive_and_wait();
    const bool exited = epoch_domain_exit(db);
    other_ok = before && entered && sees_own && exited && epoch_domain_current() == nullptr;
  });
  barrier.arrive_and_wait();
  EXPECT_EQ(epoch_domain_current(), da);
  EXPECT_EQ(epoch_domain_allocator(), A.a);
  barrier.arrive_and_wait();
  t.join();
  EXPECT_TRUE(other_ok);
  EXPECT_EQ(epoch_domain_current(), da);
  ASSERT_TRUE(epoch_domain_exit(da));
  EXPECT_EQ(epoch_domain_current(), nullptr);
  EXPECT_EQ(epoch_domain_allocator(), nullptr);
  EXPECT_TRUE(epoch_domain_destroy(da));
  EXPECT_TRUE(epoch_domain_destroy(db));
}

TEST(EpochDomain, AllocationLandsInTheDomainEpoch) {
  Alloc A;
  epoch_advance(A.a);
  EpochDomain* d = epoch_domain_create(A.a);
  const EpochId e = d->epoch_id;
  ASSERT_EQ(e, 1u);
  ASSERT_TRUE(epoch_domain_enter(d));
  const std::uint64_t before = live_count(A.a, e);
  const std::uint64_t other_before = live_count(A.a, 0);
  std::vector<void*> blocks;
  for (int i = 0; i < 10; ++i) {
    SlabAllocator* cur = epoch_domain_allocator();
    ASSERT_EQ(cur, A.a);
    void* p = slab_malloc_epoch(cur, 48 + 16 * i, epoch_domain_current()->epoch_id);
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
  }
  EXPECT_EQ(live_count(A.a, e), before + 10);
  EXPECT_EQ(live_count(A.a, 0), other_before);
  for (void* p : blocks) EXPECT_TRUE(slab_free_checked(A.a, p));
  EXPECT_EQ(live_count(A.a, e), before);

  ASSERT_TRUE(epoch_domain_exit(d));  // auto-close
  EXPECT_TRUE(d->closed);
  EXPECT_EQ(slab_malloc_epoch(A.a, 64, e), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  SlabHandle h = 0;
  EXPECT_EQ(alloc_obj_epoch(A.a, 64, e, &h), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_CLOSING);
  EXPECT_TRUE(epoch_domain_destroy(d));
  EXPECT_SLAB_CHECK_OK(A.a);
}

TEST(EpochDomain, DomainsDoNotUseTheSystemMalloc) {
#if !MALLOC_COUNTER_ACTIVE
  GTEST_SKIP() << "malloc is interposed by the sanitizer";
#else
  Alloc A;
  // Interposition works in this binary.
  void* probe = nullptr;
  {
    malloc_counter::MallocCounted counted;
    probe = malloc(16);
  }
  free(probe);
  ASSERT_GE(malloc_counter::g_calls.load(), 1u);

  malloc_counter::g_calls.store(0);
  std::vector<EpochDomain*> ds(200);  // more than one pool chunk
  malloc_counter::t_counting = true;
  for (EpochDomain*& d : ds) d = epoch_domain_wrap(A.a, 2, false);
  bool ok = true;
  for (EpochDomain* d : ds) ok = ok && d != nullptr && epoch_domain_enter(d) && epoch_domain_exit(d);
  for (EpochDomain* d : ds) ok = ok && epoch_domain_destroy(d);
  EpochDomain* again = epoch_domain_create(A.a);  // from the free list
  ok = ok && again != nullptr && epoch_domain_destroy(again);
  malloc_counter::t_counting = false;
  EXPECT_TRUE(ok);
  EXPECT_EQ(malloc_counter::g_calls.load(), 0u);
#endif
}

TEST(EpochScope, EntersAndClosesWithRaii) {
  tslab::Allocator alloc;
  const EpochId e = alloc.epoch_current();
  void* p = nullptr;
  {
    tslab::EpochScope scope(alloc);
    ASSERT_TRUE(scope.ok());
    EXPECT_EQ(scope.epoch(), e);
    EXPECT_EQ(scope.era(), alloc.epoch_era(e));
    EXPECT_EQ(epoch_domain_current(), scope.domain());
    EXPECT_EQ(alloc.epoch_info(e).refcount, 1u);
    const std::uint64_t before = alloc.epoch_info(e).live_count;
    p = scope.allocate(100);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(alloc.epoch_info(e).live_count, before + 1);
    {
      tslab::EpochScope inner(alloc, 9, false);
      ASSERT_TRUE(inner.ok());
      EXPECT_EQ(epoch_domain_current(), inner.domain());
      EXPECT_EQ(inner.epoch(), 9u);
      void* q = inner.allocate(32);
      ASSERT_NE(q, nullptr);
      EXPECT_EQ(alloc.epoch_info(9).live_count, 1u);
      EXPECT_TRUE(inner.deallocate(q));
    }
    EXPECT_EQ(epoch_domain_current(), scope.domain());
    EXPECT_EQ(alloc.epoch_state(9), tslab::EpochState::active);
    EXPECT_EQ(alloc.epoch_state(e), tslab::EpochState::active);
  }
  EXPECT_EQ(epoch_domain_current(), nullptr);
  EXPECT_EQ(alloc.epoch_state(e), tslab::EpochState::closing);
  EXPECT_EQ(alloc.epoch_info(e).refcount, 0u);
  EXPECT_EQ(alloc.allocate(16, e), nullptr);
  EXPECT_EQ(tslab::last_error(), tslab::Error::epoch_closing);
  EXPECT_EQ(alloc.deallocate(p), tslab::Error::ok);
  EXPECT_ALLOCATOR_OK(alloc);
}

TEST(EpochScope, NestedScopesOfOneEpochCloseOnTheOuterExit) {
  tslab::Allocator alloc;
  const EpochId e = alloc.epoch_current();
  {
    tslab::EpochScope outer(alloc);
    ASSERT_TRUE(outer.ok());
    {
      tslab::EpochScope inner(alloc);
      ASSERT_TRUE(inner.ok());
      EXPECT_EQ(inner.epoch(), e);
      EXPECT_EQ(alloc.epoch_info(e).refcount, 2u);
    }
    EXPECT_EQ(alloc.epoch_state(e), tslab::EpochState::active);
    EXPECT_NE(outer.allocate(8), nullptr);
  }
  EXPECT_EQ(alloc.epoch_state(e), tslab::EpochState::closing);
}

TEST(EpochScope, FailedScopeReportsAndClosesNothing) {
  tslab::Allocator alloc;
  std::vector<EpochDomain*> ds;
  for (std::uint32_t i = 0; i < EPOCH_DOMAIN_MAX_DEPTH; ++i) {
    ds.push_back(epoch_domain_wrap(reinterpret_cast<SlabAllocator*>(alloc.core()), 1, false));
    ASSERT_TRUE(epoch_domain_enter(ds.back()));
  }
  const EpochId e = alloc.epoch_current();
  {
    tslab::EpochScope scope(alloc);
    EXPECT_FALSE(scope.ok());
    EXPECT_EQ(tslab::last_error(), tslab::Error::domain_misuse);
    EXPECT_EQ(epoch_domain_current(), ds.back());
  }
  EXPECT_EQ(alloc.epoch_state(e), tslab::EpochState::active);
  for (std::uint32_t i = EPOCH_DOMAIN_MAX_DEPTH; i-- > 0;) ASSERT_TRUE(epoch_domain_exit(ds[i]));
  for (EpochDomain* d : ds) EXPECT_TRUE(epoch_domain_destroy(d));

  // A stale wrapped epoch: refused with stale_epoch.
  tslab::Allocator small(tslab::Options{2, nullptr});
  EpochDomain* old = epoch_domain_wrap(reinterpret_cast<SlabAllocator*>(small.core()), 0, true);
  small.epoch_advance();
  small.epoch_advance();
  {
    tslab::EpochScope scope(small, 0, true);  // fresh wrap of the new activation: fine
    EXPECT_TRUE(scope.ok());
  }
  EXPECT_FALSE(epoch_domain_enter(old));
  EXPECT_EQ(tslab::last_error(), tslab::Error::stale_epoch);
  EXPECT_TRUE(epoch_domain_destroy(old));
}
