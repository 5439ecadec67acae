// This file contains the signal tests (DESIGN.md law 10). tslab, like malloc,
// is not async-signal-safe; but a close, an advance or a collect called from a
// handler that interrupted the same thread inside tslab must refuse with
// TSLAB_ERR_REENTRANT instead of waiting for its own thread forever. (Before:
// such an advance spun forever in the close's wait for allocations in
// progress.) Each scenario runs in a forked child with a watchdog alarm, so a
// hang fails the test instead of stalling it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <vector>

#include "hook_platform.h"
#include "segment/segment.h"
#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/platform.hpp"
#include "tslab/tslab.hpp"

namespace {

namespace td = tslab::detail;

// What the handler saw; plain globals are what a handler may touch.
tslab::Allocator* g_alloc = nullptr;
std::atomic<int> g_calls{0};
std::atomic<int> g_refused{0};
std::atomic<int> g_other_errors{0};
static_assert(std::atomic<int>::is_always_lock_free, "a handler may touch only lock-free atomics");

void handler_closes(int) {
  const int saved = errno;
  ++g_calls;
  // An advance that completes moves the ring (it has 16 slots); a refused one
  // leaves it where it was and says why.
  const tslab::EpochId before = g_alloc->epoch_current();
  if (g_alloc->epoch_advance() == before) {
    ++g_refused;
    if (tslab::last_error() != tslab::Error::reentrant) ++g_other_errors;
    if (g_alloc->epoch_close((before + 5) % g_alloc->epoch_count()) != tslab::Error::reentrant)
      ++g_other_errors;
  }
  errno = saved;
}

// Runs `scenario` in a child with a watchdog; returns the child's exit status
// (0 = the scenario's own checks passed), or -signal if it died.
template <typename Scenario>
int in_child(Scenario scenario) {
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(120);  // generous: a loaded machine may run the scenario slowly
    _exit(scenario());
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1000;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

int report(int code, const char* what) {
  std::fprintf(stderr, "signal child: %s (calls %d, refused %d, other errors %d)\n", what, g_calls.load(),
               g_refused.load(), g_other_errors.load());
  return code;
}

TEST(Signals, CloseFromAHandlerThatInterruptedAnAllocationIsRefused) {
  // The signal lands at an exact point: inside an allocation's slow path, while
  // it reserves a new segment (the allocator lock held, the quiescence marker
  // odd), and again while it faults in a slab's pages (marker odd, no lock).
  const int status = in_child([] {
    tslab_test::HookPlatform platform;
    tslab::Options options;
    options.platform = &platform;
    tslab::Allocator a(options);
    g_alloc = &a;
    signal(SIGUSR1, handler_closes);
    platform.on_next_reserve_of(td::SEGMENT_SIZE, [] { raise(SIGUSR1); });
    std::vector<void*> blocks;
    for (int i = 0; i < 3000; ++i) blocks.push_back(a.allocate(512, 0));  // several slabs: prefaults
    if (g_calls != 1) return report(1, "the reserve hook did not run once");
    if (g_refused != 1) return report(2, "an advance inside an allocation under the lock was not refused");
    platform.on_prefault([] { raise(SIGUSR1); });
    for (int i = 0; i < 3000; ++i) blocks.push_back(a.allocate(512, 0));
    platform.on_prefault(nullptr);
    if (g_calls < 2) return report(3, "no prefault hook ran");
    if (g_refused != g_calls) return report(4, "an advance inside an allocation was not refused");
    if (g_other_errors != 0) return report(6, "a close or collect was not refused with REENTRANT");
    for (void* p : blocks)
      if (p == nullptr || a.deallocate(p) != tslab::Error::ok) return report(7, "a block was lost");
    // Outside any allocation, the same calls work.
    const tslab::EpochId before = a.epoch_current();
    if (a.epoch_advance() == before) return report(8, "advance outside a handler");
    if (!a.check().ok) return report(9, a.check().message);
    return 0;
  });
  EXPECT_EQ(status, 0) << (status == -SIGALRM ? "hung: the handler's advance waited for its own thread" : "");
}

TEST(Signals, TimerSignalsCallingAdvanceNeverHang) {
  // A timer interrupts a thread at random points of its allocations; the
  // handler advances the same allocator. Every call either completes or is
  // refused, the process never hangs, and the allocator stays consistent. Frees
  // run with the signal blocked: tslab is not async-signal-safe, and a handler
  // that interrupted a free would find the thread's heap half updated.
  const int status = in_child([] {
    tslab::Allocator a;
    g_alloc = &a;
    struct sigaction sa {};
    sa.sa_handler = handler_closes;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, nullptr);
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    itimerval every{{0, 200}, {0, 200}};
    setitimer(ITIMER_PROF, &every, nullptr);
    tslab_test::Rng rng(5);
    std::vector<void*> live;
    // ITIMER_PROF fires on the scheduler's tick of CPU time (4 ms at HZ=250),
    // so a short run may see no signal at all: run until a few have arrived.
    // The watchdog ends a run that never sees one.
    const std::size_t rounds = tslab_test::scaled(4000);
    constexpr int MIN_CALLS = 8;
    for (std::size_t round = 0; round < rounds || g_calls < MIN_CALLS; ++round) {
      // Into whatever epoch is current: the handler may close it at any time.
      for (int i = 0; i < 256; ++i)
        if (void* p = a.allocate(rng.range(1, 4096), a.epoch_current())) live.push_back(p);
      pthread_sigmask(SIG_BLOCK, &prof, nullptr);
      for (void* p : live)
        if (a.deallocate(p) != tslab::Error::ok) return report(1, "a free failed");
      live.clear();
      pthread_sigmask(SIG_UNBLOCK, &prof, nullptr);
    }
    itimerval off{};
    setitimer(ITIMER_PROF, &off, nullptr);
    signal(SIGPROF, SIG_IGN);
    if (g_other_errors != 0) return report(5, "a close was not refused with REENTRANT");
    if (!a.check().ok) return report(6, a.check().message);
    std::fprintf(stderr, "signal child: %d handler calls, %d refused\n", g_calls.load(), g_refused.load());
    return 0;
  });
  EXPECT_EQ(status, 0) << (status == -SIGALRM ? "hung: the handler's advance waited for its own thread" : "");
}

// Large spans are carved out of chunks whose table a lock guards (platform/
// span_chunks.h). A handler that interrupted its own thread while it held that
// lock and reserves a span itself must not wait for it: it is given a mapping
// of its own. The process never hangs, and every range is usable.
std::atomic<int> g_bad_ranges{0};

void handler_reserves(int) {
  const int saved = errno;
  ++g_calls;
  tslab::OsPlatform& os = tslab::OsPlatform::instance();
  constexpr std::size_t SPAN = std::size_t{128} << 10;
  auto* p = static_cast<char*>(os.reserve(SPAN, std::size_t{64} << 10));
  if (p == nullptr || reinterpret_cast<std::uintptr_t>(p) % (std::size_t{64} << 10) != 0) {
    ++g_bad_ranges;
  } else {
    p[0] = 1;
    p[SPAN - 1] = 1;
    os.release(p, SPAN);
  }
  errno = saved;
}

TEST(Signals, SpanReservationsFromAHandlerThatInterruptedOneNeverHang) {
  const int status = in_child([] {
    g_calls = 0;
    struct sigaction sa {};
    sa.sa_handler = handler_reserves;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, nullptr);
    itimerval every{{0, 100}, {0, 100}};
    setitimer(ITIMER_PROF, &every, nullptr);
    tslab::OsPlatform& os = tslab::OsPlatform::instance();
    constexpr std::size_t G = std::size_t{64} << 10;
    constexpr int MIN_CALLS = 200;
    const std::size_t rounds = tslab_test::scaled(20000);
    char* held[16] = {};
    for (std::size_t round = 0; round < rounds || g_calls < MIN_CALLS; ++round) {
      for (std::size_t i = 0; i < 16; ++i) {
        held[i] = static_cast<char*>(os.reserve((i + 1) * G, G));
        if (held[i] == nullptr) return report(1, "a reservation failed");
        held[i][0] = static_cast<char>(i);
      }
      for (std::size_t i = 0; i < 16; ++i) {
        if (held[i][0] != static_cast<char>(i)) return report(2, "a range was handed out twice");
        os.release(held[i], (i + 1) * G);
      }
    }
    itimerval off{};
    setitimer(ITIMER_PROF, &off, nullptr);
    signal(SIGPROF, SIG_IGN);
    if (g_bad_ranges != 0) return report(3, "a handler's reservation failed");
    std::fprintf(stderr, "signal child: %d handler reservations\n", g_calls.load());
    return 0;
  });
  EXPECT_EQ(status, 0) << (status == -SIGALRM ? "hung: the handler waited for its own thread's lock" : "");
}

}  // namespace
