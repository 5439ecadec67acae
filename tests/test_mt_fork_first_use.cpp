// This file contains the regression test of a fork that races the first use of
// a layer: threads create the process's first allocators, epoch domains and
// arenas (whose layers register their fork participants then, and take their
// locks at once) while another thread forks. The child must find no lock held.
//
// The test process itself never touches tslab (this binary has no other test):
// every iteration forks a fresh process in which nothing is registered yet.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "epoch_domain.h"
#include "slab_alloc.h"
#include "slab_arena.h"
#include "test_util.h"

namespace {

std::atomic<bool> g_go{false}, g_stop{false};

// Each worker's first call is the creation of its own allocator: the first
// ones in the process, racing the fork.
void first_use_worker(int mode) {
  while (!g_go.load(std::memory_order_acquire)) {
  }
  SlabAllocator* a = slab_allocator_create();
  if (a == nullptr) return;
  while (!g_stop.load(std::memory_order_relaxed)) {
    if (mode == 2) {
      slab_allocator_free(a);
      a = slab_allocator_create();
      if (a == nullptr) return;
    } else if (mode == 0) {
      EpochDomain* d = epoch_domain_create(a);
      if (d != nullptr && epoch_domain_enter(d)) {
        if (void* p = slab_malloc_epoch(a, 128, d->epoch_id)) slab_free_checked(a, p);
        epoch_domain_exit(d);
      }
      if (d != nullptr) epoch_domain_destroy(d);
    } else {
      SlabArenaOptions o;
      if (!slab_arena_options_init(&o)) continue;
      o.chunk_size = 64 * 1024;
      if (SlabArena* arena = slab_arena_create(a, &o)) {
        for (int i = 0; i < 16; ++i) slab_arena_alloc(arena, 100, 16);
        slab_arena_destroy(arena);
      }
    }
  }
  slab_allocator_free(a);
}

// The forked child: every layer the workers were starting must work. Exit
// status 0, or the step that failed; a lock left held hangs it (SIGALRM).
int child_uses_every_layer() {
  alarm(120);  // generous: a loaded machine may run the child slowly
  SlabAllocator* fresh = slab_allocator_create();
  if (fresh == nullptr) return 1;
  SlabArena* arena = slab_arena_create(fresh, nullptr);
  if (arena == nullptr || slab_arena_alloc(arena, 100, 8) == nullptr || !slab_arena_destroy(arena)) return 2;
  EpochDomain* d = epoch_domain_create(fresh);
  if (d == nullptr || !epoch_domain_enter(d) || !epoch_domain_exit(d) || !epoch_domain_destroy(d)) return 3;
  slab_allocator_free(fresh);
  return 0;
}

// One fresh process: workers create the first allocators, domains and arenas;
// the main thread forks after `spins` of waiting; the child's status comes back.
int race_once(unsigned spins) {
  std::thread domains(first_use_worker, 0), arenas(first_use_worker, 1), allocators(first_use_worker, 2);
  g_go.store(true, std::memory_order_release);
  std::atomic<unsigned> spun{0};
  while (spun.fetch_add(1, std::memory_order_relaxed) < spins) {
  }
  const pid_t pid = fork();
  if (pid == 0) _exit(child_uses_every_layer());
  int status = 0;
  const bool waited = pid > 0 && waitpid(pid, &status, 0) == pid;
  g_stop.store(true, std::memory_order_relaxed);
  domains.join();
  arenas.join();
  allocators.join();
  if (!waited) return 51;
  if (WIFSIGNALED(status)) return 100 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

TEST(MtForkFirstUse, ForkRacingTheFirstRegistrationsLeavesNoLockHeld) {
  const int iterations = static_cast<int>(tslab_test::scaled(120));
  int failures = 0, last = 0;
  for (int i = 0; i < iterations; ++i) {
    const pid_t sub = fork();  // nothing of tslab is set up in it yet
    ASSERT_GE(sub, 0);
    if (sub == 0) _exit(race_once(static_cast<unsigned>((i * 2654435761u) % 400000u)));
    int status = 0;
    ASSERT_EQ(waitpid(sub, &status, 0), sub);
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
    if (rc != 0) ++failures, last = rc;
  }
  EXPECT_EQ(failures, 0) << "last failure: " << last
                         << " (100 + 14 = 114: a child hung on a lock held at fork)";
}

}  // namespace
