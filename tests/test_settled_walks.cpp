// This file contains tests of what a close and its owner's catch-up cost once
// objects outlive their activations (core/settled_slabs.cpp): the slabs they
// pin settle, and from then on a close and the owner's walk for empty slabs
// look only at the slabs that changed since, however many are settled. A
// request loop with a scope per request and a cache of survivors keeps
// thousands of such slabs, which every close and catch-up used to walk.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include "core/allocator_core.h"
#include "platform/process_fence.h"
#include "segment/segment_map.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/platform.hpp"
#include "tslab/stats.hpp"
#include "tslab/tslab.hpp"

namespace {

namespace td = tslab::detail;
using tslab::Error;
constexpr std::size_t SLAB = SLAB_PAGE_SIZE;
constexpr std::size_t BLOCK = 64;
constexpr std::size_t SLABS = 300;  // settled slabs, one survivor each
constexpr std::size_t ROUNDS = 20;  // survivors freed, a close after each

struct Settled {
  tslab::Allocator a;
  tslab::EpochId scope = SLAB_NO_EPOCH, other = SLAB_NO_EPOCH;
  std::vector<void*> survivors;  // the first block of each slab
  const td::Heap* heap = nullptr;

  // Fills SLABS slabs of the scope, keeps one block of each, and closes the
  // scope until every slab settled: its free pages went back, the close that
  // settled it found it unchanged, and the owner's catch-up saw it settled.
  void build() {
    scope = a.epoch_open();
    other = a.epoch_open();
    ASSERT_NE(scope, SLAB_NO_EPOCH);
    ASSERT_NE(other, SLAB_NO_EPOCH);
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < SLABS * (SLAB / BLOCK); ++i) {
      blocks.push_back(a.allocate(BLOCK, scope));
      ASSERT_NE(blocks.back(), nullptr);
      std::memset(blocks.back(), 1, BLOCK);
    }
    for (void* p : blocks) {
      if ((reinterpret_cast<std::uintptr_t>(p) & (SLAB - 1)) == 0)
        survivors.push_back(p);
      else
        ASSERT_EQ(a.deallocate(p), Error::ok);
    }
    ASSERT_EQ(survivors.size(), SLABS);
    heap = td::small_slab_of(survivors.front())->heap.load();
    ASSERT_NE(heap, nullptr);
    ASSERT_EQ(a.epoch_close(scope), Error::ok);  // first look
    ASSERT_EQ(a.epoch_close(other), Error::ok);  // second look: free pages go back
    close_scope_again();                         // they settle
    a.collect();                                 // the owner's walk sees them settled
    ASSERT_EQ(tslab::epoch_stats(a, scope).last_close_pinned_slabs, SLABS);
  }

  void close_scope_again() {
    const tslab::EpochId e = a.epoch_open();
    ASSERT_EQ(e, scope);
    ASSERT_EQ(a.epoch_close(e), Error::ok);
  }

  // Frees ROUNDS survivors, with `free_one`, each followed by a close of the
  // scope and the owner's walk for empty slabs (collect()). Each freed
  // survivor empties its slab, which must go back to the pool; the others
  // stay settled, unread.
  template <class FreeOne>
  void free_some(FreeOne free_one) {
    const std::uint64_t walked = heap->retired_slabs_examined();
    const std::uint64_t swept = a.core()->settled_slabs_swept();
    const tslab::GlobalStats before = tslab::stats(a);
    for (std::size_t i = 0; i < ROUNDS; ++i) {
      free_one(survivors.back());
      survivors.pop_back();
      close_scope_again();
      a.collect();
    }
    const tslab::GlobalStats after = tslab::stats(a);
    EXPECT_EQ(after.slabs_recycled_total - before.slabs_recycled_total, ROUNDS)
        << "a slab emptied while settled was not recycled";
    // What changed, not what is settled: a walk of every settled slab at each
    // of the ROUNDS closes and walks would count SLABS each time.
    EXPECT_LE(heap->retired_slabs_examined() - walked, 2 * ROUNDS) << "the owner walked settled slabs";
    EXPECT_LE(a.core()->settled_slabs_swept() - swept, 2 * ROUNDS) << "the closes swept settled slabs";
    EXPECT_EQ(tslab::epoch_stats(a, scope).last_close_pinned_slabs, survivors.size());
    EXPECT_ALLOCATOR_OK(a);
  }

  void free_the_rest() {
    for (void* p : survivors) ASSERT_EQ(a.deallocate(p), Error::ok);
    survivors.clear();
    close_scope_again();
    a.collect();
    EXPECT_EQ(tslab::epoch_stats(a, scope).last_close_pinned_slabs, 0u);
    EXPECT_ALLOCATOR_OK(a);
  }
};

TEST(SettledWalks, TheOwnersFreesIntoSettledSlabsCostOnlyTheSlabsTheyChange) {
  if (!td::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closed pages stay, nothing settles";
  Settled t;
  ASSERT_NO_FATAL_FAILURE(t.build());
  t.free_some([&](void* p) { ASSERT_EQ(t.a.deallocate(p), Error::ok); });
  t.free_the_rest();
}

TEST(SettledWalks, AnotherThreadsFreesIntoSettledSlabsCostOnlyTheSlabsTheyChange) {
  if (!td::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closed pages stay, nothing settles";
  Settled t;
  ASSERT_NO_FATAL_FAILURE(t.build());
  // The free lands on the owner's remote queue; the owner's collection of it
  // is what brings the slab back to its walk.
  t.free_some([&](void* p) { std::thread([&] { EXPECT_EQ(t.a.deallocate(p), Error::ok); }).join(); });
  t.free_the_rest();
}

// A settled slab another thread empties is on the unsettled stack when its
// owner recycles it, before any close swept the stack: it must leave the stack
// before it enters the pool, where its segment's metadata may go back to the
// OS with the link in it (the checker finds a pooled slab on the stack).
TEST(SettledWalks, ASlabEmptiedWhileSettledLeavesTheUnsettledStackBeforeThePool) {
  if (!td::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closed pages stay, nothing settles";
  Settled t;
  ASSERT_NO_FATAL_FAILURE(t.build());
  const tslab::GlobalStats before = tslab::stats(t.a);
  for (std::size_t i = 0; i < ROUNDS; ++i) {
    // On another thread, a close the owner has not caught up with, which
    // sweeps the stack; then the free, which pushes the slab on it.
    void* p = t.survivors.back();
    t.survivors.pop_back();
    std::thread([&] {
      const tslab::EpochId e = t.a.epoch_open();
      EXPECT_NE(e, SLAB_NO_EPOCH);
      EXPECT_EQ(t.a.epoch_close(e), Error::ok);
      EXPECT_EQ(t.a.deallocate(p), Error::ok);
    }).join();
    // The owner's next slow path (a bin of a new activation) catches up: it
    // collects the free and recycles the emptied slab, with no close since.
    // Another class than the slab's, so the pool keeps it.
    const tslab::EpochId next = t.a.epoch_open();
    ASSERT_NE(next, SLAB_NO_EPOCH);
    void* q = t.a.allocate(4 * BLOCK, next);
    ASSERT_NE(q, nullptr);
    EXPECT_ALLOCATOR_OK(t.a);
    ASSERT_EQ(t.a.deallocate(q), Error::ok);
    ASSERT_EQ(t.a.epoch_close(next), Error::ok);
  }
  EXPECT_GE(tslab::stats(t.a).slabs_recycled_total - before.slabs_recycled_total, ROUNDS);
  EXPECT_EQ(tslab::epoch_stats(t.a, t.scope).last_close_pinned_slabs, SLABS - ROUNDS);
  t.free_the_rest();
}

// A signal handler that interrupts its thread's free between the two steps of
// the push (the flag set, the push not made) and calls collect() recycles the
// slab the free emptied: it must wait, as a pinned slab does, rather than enter
// the pool and be pushed there when the free resumes. Simulated: the flag is set
// as that free sets it; the free's resumption is a push made by hand.
TEST(SettledWalks, ASlabWhosePushIsInFlightWaitsOutsideThePool) {
  if (!td::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closed pages stay, nothing settles";
  Settled t;
  ASSERT_NO_FATAL_FAILURE(t.build());
  void* p = t.survivors.back();
  t.survivors.pop_back();
  td::Slab* s = td::small_slab_of(p);
  ASSERT_EQ(s->settled.load(), td::SETTLE_DONE);
  // The interrupted free's first steps: the slab unsettled, its flag taken.
  s->settled.store(td::SETTLE_NONE);
  s->unsettle_queued.store(true);
  ASSERT_EQ(t.a.deallocate(p), Error::ok);  // (finds the slab unsettled already: no push)
  const tslab::GlobalStats before = tslab::stats(t.a);
  t.a.collect();  // the handler's collect(): the slab is empty and recycled
  EXPECT_EQ(tslab::stats(t.a).slabs_recycled_total, before.slabs_recycled_total) << "it entered the pool";
  // The free resumes: its push.
  td::Slab* head = s->unsettled_stack->load();
  do {
    s->unsettled_next = head;
  } while (!s->unsettled_stack->compare_exchange_weak(head, s));
  EXPECT_ALLOCATOR_OK(t.a);
  // The next close sweeps the stack; the next recycling pools the slab.
  t.close_scope_again();
  t.a.collect();
  EXPECT_EQ(tslab::stats(t.a).slabs_recycled_total, before.slabs_recycled_total + 1);
  EXPECT_FALSE(s->unsettle_queued.load());
  EXPECT_ALLOCATOR_OK(t.a);
  t.free_the_rest();
}

// A change to a settled slab pushes it on the allocator's unsettled stack in
// two steps (its flag, then the push), and a thread can vanish in a fork
// between them. Simulated here: a settled slab whose flag is set but which is
// on no stack. In the child, a free into it must still reach the next closes,
// which return the freed block's page; the flag, left set, would have kept the
// free from pushing the slab, for the child's life.
TEST(SettledWalks, AChildSeesAFreeIntoASlabAVanishedThreadLeftHalfPushed) {
  if (!td::process_fence_init()) GTEST_SKIP() << "no process-wide fence: closed pages stay, nothing settles";
  constexpr std::size_t PAGE = 4096;
  tslab::Allocator a;
  const tslab::EpochId scope = a.epoch_open(), other = a.epoch_open();
  ASSERT_NE(scope, SLAB_NO_EPOCH);
  ASSERT_NE(other, SLAB_NO_EPOCH);
  std::vector<void*> blocks, kept;  // kept: the blocks at the starts of pages 0 and 2
  for (std::size_t i = 0; i < SLAB / BLOCK; ++i) {
    blocks.push_back(a.allocate(BLOCK, scope));
    ASSERT_NE(blocks.back(), nullptr);
    std::memset(blocks.back(), 1, BLOCK);
  }
  for (void* p : blocks) {
    const std::size_t offset = reinterpret_cast<std::uintptr_t>(p) & (SLAB - 1);
    if (offset == 0 || offset == 2 * PAGE)
      kept.push_back(p);
    else
      ASSERT_EQ(a.deallocate(p), Error::ok);
  }
  ASSERT_EQ(kept.size(), 2u);
  const auto close_again = [&] {
    const tslab::EpochId e = a.epoch_open();
    return e == scope && a.epoch_close(e) == Error::ok;
  };
  ASSERT_EQ(a.epoch_close(scope), Error::ok);
  ASSERT_EQ(a.epoch_close(other), Error::ok);
  ASSERT_TRUE(close_again());
  td::Slab* s = td::small_slab_of(kept[0]);
  ASSERT_EQ(s->settled.load(), td::SETTLE_DONE);
  const auto resident = [&] { return tslab::OsPlatform::instance().resident_bytes(s->start, SLAB); };
  ASSERT_EQ(resident(), 2 * PAGE);
  s->unsettle_queued.store(true);  // the flag set, the push never made

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (a.deallocate(kept[1]) != Error::ok) ::_exit(1);
    if (!close_again() || !close_again()) ::_exit(2);
    if (resident() != PAGE) ::_exit(3);
    ::_exit(a.check().ok ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the free failed, 2: a close failed, 3: the freed block's page "
                                       "stayed, 4: check failed";
  s->unsettle_queued.store(false);  // the parent's slab as it was
  for (void* p : kept) EXPECT_EQ(a.deallocate(p), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// A thread that entered every epoch slot (a scope per request) walks, after a
// close, only the bins that still hold an era: those of the activations it
// allocated in and that were open at its last walk. Reading every bin's era,
// 64 slots x 80 classes, was 13% of the time of 64 threads in nested scopes.
TEST(SettledWalks, AWalkLooksOnlyAtBinsThatHoldAnEra) {
  tslab::Options o;
  o.epoch_count = 64;
  tslab::Allocator a(o);
  constexpr std::size_t SIZES[] = {16, 128, 1000};
  std::vector<void*> kept;
  for (std::uint32_t i = 0; i < o.epoch_count; ++i) {
    const tslab::EpochId e = a.epoch_open();
    ASSERT_NE(e, SLAB_NO_EPOCH);
    for (const std::size_t size : SIZES) {
      void* p = a.allocate(size, e);
      ASSERT_NE(p, nullptr);
      kept.push_back(p);  // a survivor: its slab stays with the heap, retired
    }
    ASSERT_EQ(a.epoch_close(e), Error::ok);
  }
  const td::Heap* heap = td::small_slab_of(kept.front())->heap.load();
  ASSERT_NE(heap, nullptr);
  a.collect();  // the walk that retires the bins of all those closes
  EXPECT_ALLOCATOR_OK(a);

  const tslab::EpochId open = a.epoch_open();
  ASSERT_NE(open, SLAB_NO_EPOCH);
  void* p = a.allocate(64, open);
  ASSERT_NE(p, nullptr);
  const std::uint64_t before = heap->bins_examined();
  a.collect();  // a walk of the open epochs' bins, with every slot entered
  EXPECT_EQ(heap->bins_examined() - before, 1u) << "the walk read bins holding no era";

  ASSERT_EQ(a.deallocate(p), Error::ok);
  const std::uint64_t closing = heap->bins_examined();
  ASSERT_EQ(a.epoch_close(open), Error::ok);  // the closer's catch-up retires the one bin
  a.collect();
  EXPECT_EQ(heap->bins_examined() - closing, 1u);
  EXPECT_ALLOCATOR_OK(a);
  for (void* q : kept) EXPECT_EQ(a.deallocate(q), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
