// This file contains the regression tests of a fork that races the first use of
// a layer: threads create the process's first allocators, epoch domains and
// arenas (whose layers register their fork participants then, and take their
// locks at once) while another thread forks. The child must find no lock held.
// And a fork while another thread makes the process's first read of the options
// table, before any allocator exists: the child must find the table usable.
//
// The test process itself never touches tslab (this binary has no other test):
// every iteration forks a fresh process in which nothing is registered yet.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "epoch_domain.h"
#include "slab_alloc.h"
#include "slab_arena.h"
#include "test_util.h"
#include "tslab/options.h"

namespace {

std::atomic<bool> g_go{false}, g_stop{false};

// A child's exit status, or 100 + the signal that ended it.
int exit_code(int status) { return WIFSIGNALED(status) ? 100 + WTERMSIG(status) : WEXITSTATUS(status); }

// Runs body(i) in `iterations` fresh processes (forked from this one, which
// never touches tslab); the number that did not exit 0, the last status in *last.
template <class Body>
int failures_in_fresh_processes(int iterations, int* last, Body body) {
  int failures = 0;
  for (int i = 0; i < iterations; ++i) {
    const pid_t sub = fork();  // nothing of tslab is set up in it yet
    if (sub == 0) _exit(body(i));
    int status = 0;
    const int rc = sub > 0 && waitpid(sub, &status, 0) == sub ? exit_code(status) : 52;
    if (rc != 0) ++failures, *last = rc;
  }
  return failures;
}

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
  return waited ? exit_code(status) : 51;
}

TEST(MtForkFirstUse, ForkRacingTheFirstRegistrationsLeavesNoLockHeld) {
  int last = 0;
  const int failures = failures_in_fresh_processes(
      static_cast<int>(tslab_test::scaled(120)), &last,
      [](int i) { return race_once(static_cast<unsigned>((i * 2654435761u) % 400000u)); });
  EXPECT_EQ(failures, 0) << "last failure: " << last
                         << " (100 + 14 = 114: a child hung on a lock held at fork)";
}

// The first read of the options table, on a thread of its own in a fresh
// process, with the fork made while it runs. The environment is made long
// (every variable the table reads is looked up in it) so that the read takes
// milliseconds: the fork lands inside it nearly always, where before it
// landed there 1 time in 100 with an ordinary environment. Exit status 0, or
// the step that failed; a table left half-loaded hangs the child (SIGALRM).
extern "C" char** environ;

int fork_during_first_options_read() {
  static std::vector<std::string> texts;
  static std::vector<char*> long_environment;
  for (char** e = environ; *e != nullptr; ++e) long_environment.push_back(*e);
  for (int i = 0; i < 200000; ++i) texts.push_back("TSLAB_TEST_FILLER_" + std::to_string(i) + "=1");
  for (std::string& t : texts) long_environment.push_back(t.data());
  long_environment.push_back(nullptr);
  environ = long_environment.data();

  std::atomic<bool> reading{false}, forked{false};
  std::thread reader([&] {
    reading.store(true, std::memory_order_release);
    std::uint64_t v = 0;
    (void)tslab_option_get("TSLAB_WARM_RESERVE", &v);  // the process's first
    // Alive at the fork, as a thread a program forks beside is (ThreadSanitizer
    // reports one that ended unjoined before it as leaked in the child).
    while (!forked.load(std::memory_order_acquire)) {
    }
  });
  while (!reading.load(std::memory_order_acquire)) {
  }
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(30);  // healthy: milliseconds, seconds on a loaded machine
    std::uint64_t v = 0;
    if (!tslab_option_get("TSLAB_WARM_RESERVE", &v)) _exit(1);
    SlabAllocator* a = slab_allocator_create();
    if (a == nullptr) _exit(2);
    slab_allocator_free(a);
    _exit(0);
  }
  forked.store(true, std::memory_order_release);
  int status = 0;
  const bool waited = pid > 0 && waitpid(pid, &status, 0) == pid;
  reader.join();
  return waited ? exit_code(status) : 51;
}

TEST(MtForkFirstUse, ForkDuringTheFirstOptionsReadLeavesTheTableUsable) {
  int last = 0;
  const int failures = failures_in_fresh_processes(static_cast<int>(tslab_test::scaled(8)), &last,
                                                   [](int) { return fork_during_first_options_read(); });
  EXPECT_EQ(failures, 0) << "last failure: " << last
                         << " (100 + 14 = 114: a child hung on a half-loaded options table)";
}

// A fork from a signal handler that interrupted its own thread's options set
// (which holds the table's BUSY state for a moment) must not wait for that
// thread: the handler's thread finishes the set once the handler returns.
std::atomic<long> g_handler_forks{0};
std::atomic<pid_t> g_setter_tid{0};
std::atomic<bool> g_setting{true};

void forking_handler(int) {
  const int saved = errno;
  const pid_t c = fork();
  if (c == 0) _exit(0);
  if (c > 0) waitpid(c, nullptr, 0);
  g_handler_forks.fetch_add(1, std::memory_order_relaxed);
  errno = saved;
}

int fork_from_handlers_during_options_sets() {
  alarm(60);  // healthy: well under a second; a handler waiting for itself hangs
  struct sigaction sa = {};
  sa.sa_handler = forking_handler;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  std::thread setter([] {
    g_setter_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
    while (g_setting.load(std::memory_order_relaxed)) (void)tslab_option_set("TSLAB_VERBOSE", "0");
  });
  while (g_setter_tid.load() == 0) {
  }
  for (int i = 0; i < 300; ++i) {
    const long before = g_handler_forks.load();
    syscall(SYS_tgkill, getpid(), g_setter_tid.load(), SIGUSR1);
    while (g_handler_forks.load() == before) {  // the handler's fork came back
    }
  }
  g_setting.store(false);
  setter.join();
  return 0;
}

TEST(MtForkFirstUse, AForkFromAHandlerThatInterruptedAnOptionsSetDoesNotWaitForItself) {
  int last = 0;
  const int failures =
      failures_in_fresh_processes(static_cast<int>(std::max<std::size_t>(tslab_test::scaled(4), 2)), &last,
                                  [](int) { return fork_from_handlers_during_options_sets(); });
  EXPECT_EQ(failures, 0) << "last failure: " << last << " (100 + 14 = 114: a fork waited for its own thread)";
}

}  // namespace
