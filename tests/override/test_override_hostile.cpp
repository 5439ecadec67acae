// This file contains the malloc override's tests against hostile callers:
// signal handlers that call malloc and free while they interrupted malloc or
// free on the same thread, or a tslab call holding a tslab lock (a collect, a
// close, an advance, a scope's end, a trim); the reserve such handlers are
// served from (its blocks reused, every free of them checked); bad frees made
// by a thread with a cancellation pending; diagnostics written to a pipe nobody
// reads; the epoch API turned on the process
// allocator; the alignments at the edges of what memalign, aligned_alloc and
// posix_memalign accept; and frees of pointers tslab never returned.
//
// Each hostile case runs in a child process: a failure there is a crash, a
// hang or a corrupted block, and the child's exit status reports it. The parent
// kills a child still running after WATCHDOG_SECONDS, so a deadlock fails the
// test instead of stalling the run; nothing here measures time.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "override/boot_reserve.h"
#include "platform/thread_entry.h"
#include "slab_alloc.h"
#include "slab_arena.h"
#include "slab_stats.h"
#include "tslab/malloc.h"

namespace {

constexpr int WATCHDOG_SECONDS = 300;
// For a child that would deadlock if tslab waited for its own thread: it ends
// in well under a second when it does not.
constexpr int DEADLOCK_SECONDS = 60;

// --- system calls made inside tslab ----------------------------------------
// madvise and munmap are defined below in place of the C library's. Armed,
// each raises SIGUSR1 on the calling thread before it is made (up to
// MAX_OS_CALL_RAISES times, and not from the handler itself), so a signal
// handler runs at known points inside tslab: a collect, a close or a trim hands
// pages back with them while holding the allocator's lock, and a free of a
// span beyond the warm reserve does so inside free when nothing is retained
// beyond it (TSLAB_LARGE_RETAIN=0).
constexpr long MAX_OS_CALL_RAISES = 64;
std::atomic<bool> g_raise_in_os_calls{false};
std::atomic<long> g_os_call_raises{0};
volatile sig_atomic_t g_in_handler;

void raise_if_armed() {
  if (!g_raise_in_os_calls.load(std::memory_order_relaxed) || g_in_handler) return;
  if (g_os_call_raises.fetch_add(1, std::memory_order_relaxed) >= MAX_OS_CALL_RAISES) return;
  raise(SIGUSR1);
}

}  // namespace

extern "C" int madvise(void* p, size_t bytes, int advice) noexcept {
  raise_if_armed();
  return static_cast<int>(syscall(SYS_madvise, p, bytes, advice));
}

extern "C" int munmap(void* p, size_t bytes) noexcept {
  raise_if_armed();
  return static_cast<int>(syscall(SYS_munmap, p, bytes));
}

namespace {

// Runs `body` in a child process (stderr to /dev/null unless `keep_stderr`);
// returns its exit code, or 128 + the signal that ended it, or -1 if the
// watchdog had to kill it after `deadline_seconds`.
int run_in_child(const std::function<int()>& body, bool keep_stderr = false,
                 int deadline_seconds = WATCHDOG_SECONDS) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (!keep_stderr) {
      const int null_fd = ::open("/dev/null", O_WRONLY);
      dup2(null_fd, STDERR_FILENO);
    }
    _exit(body());
  }
  int status = 0;
  for (int waited_ms = 0;; waited_ms += 10) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0) return -2;
    if (waited_ms >= deadline_seconds * 1000) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    usleep(10'000);
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// --- signal handlers that allocate -----------------------------------------

// The main loop's blocks carry their owner's stamp; a block handed out twice
// (to the loop and to a handler) shows as a stamp overwritten.
constexpr std::uint64_t LOOP_STAMP = 0x6c6f6f70'6c6f6f70;
constexpr std::uint64_t HANDLER_STAMP = 0x68616e64'68616e64;

std::size_t g_handler_size;
std::size_t g_handler_alignment;      // 0: malloc; else posix_memalign with it
std::atomic<long> g_misaligned{0};    // handler blocks not at their alignment
volatile sig_atomic_t g_loop_inside;  // the loop is inside malloc or free
std::atomic<long> g_reentries{0};     // handler runs that interrupted malloc or free
std::atomic<void*> g_handed_over{nullptr};

void allocating_handler(int) {
  if (g_loop_inside) g_reentries.fetch_add(1, std::memory_order_relaxed);
  void* blocks[4];
  for (int i = 0; i < 4; ++i) {
    const std::size_t size = g_handler_size + static_cast<std::size_t>(i) * 24;
    if (g_handler_alignment == 0) {
      blocks[i] = malloc(size);
    } else if (posix_memalign(&blocks[i], g_handler_alignment, size) != 0) {
      blocks[i] = nullptr;
    } else if (reinterpret_cast<std::uintptr_t>(blocks[i]) % g_handler_alignment != 0) {
      g_misaligned.fetch_add(1, std::memory_order_relaxed);
    }
    if (blocks[i] == nullptr) continue;  // the reserve for re-entrant calls may run out
    auto* words = static_cast<std::uint64_t*>(blocks[i]);
    for (std::size_t w = 0; w < size / 8; ++w) words[w] = HANDLER_STAMP;
  }
  for (void* b : blocks) free(b);
  // A block the loop allocated, freed here: possibly while the loop is in free.
  free(g_handed_over.exchange(nullptr, std::memory_order_acq_rel));
}

// malloc and free in a loop while a 50 µs timer's handler allocates and frees
// too; returns 0 if no block was handed out twice and the handler interrupted
// malloc or free at least `min_reentries` times.
int allocate_under_signal_storm(std::size_t loop_size, std::size_t handler_size, long min_reentries) {
  g_handler_size = handler_size;
  struct sigaction sa = {};
  sa.sa_handler = allocating_handler;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, nullptr);
  const itimerval every_50us = {{0, 50}, {0, 50}};
  setitimer(ITIMER_REAL, &every_50us, nullptr);
  constexpr int SLOTS = 256;
  std::uint64_t* keep[SLOTS] = {};
  std::size_t sizes[SLOTS] = {};
  for (long i = 0; i < 200'000'000 && (i < 200'000 || g_reentries < min_reentries); ++i) {
    const int k = static_cast<int>(i & (SLOTS - 1));
    if (keep[k] != nullptr) {
      for (std::size_t w = 0; w < sizes[k] / 8; ++w)
        if (keep[k][w] != LOOP_STAMP) return 2;  // handed out twice
    }
    g_loop_inside = 1;
    free(keep[k]);
    sizes[k] = loop_size + static_cast<std::size_t>(i % 7) * 40;
    keep[k] = static_cast<std::uint64_t*>(malloc(sizes[k]));
    g_loop_inside = 0;
    if (keep[k] == nullptr) return 3;
    for (std::size_t w = 0; w < sizes[k] / 8; ++w) keep[k][w] = LOOP_STAMP;
    if ((i & 63) == 0) {
      g_loop_inside = 1;
      void* given = malloc(loop_size);
      g_loop_inside = 0;
      g_loop_inside = 1;
      free(g_handed_over.exchange(given, std::memory_order_acq_rel));
      g_loop_inside = 0;
    }
  }
  const itimerval off = {};
  setitimer(ITIMER_REAL, &off, nullptr);
  if (g_reentries < min_reentries) return 4;
  TslabMallocCounters counters;
  tslab_malloc_counters(&counters);
  // The handler's calls that found malloc busy went to the re-entrant paths.
  if (counters.reentrant_allocations + counters.reentrant_allocations_refused == 0) return 5;
  char message[256];
  if (!slab_check(tslab_malloc_allocator(), message, sizeof message)) return 6;
  if (g_misaligned.load() != 0) return 7;
  return 0;
}

TEST(MallocSignals, HandlerAllocatingWhileSmallMallocIsInterrupted) {
  EXPECT_EQ(run_in_child([] { return allocate_under_signal_storm(64, 64, 2000); }), 0);
}

// The blocks a handler gets from the reserve for re-entrant calls keep the
// alignment it asked for (the reserve's own address is only 64-byte aligned).
TEST(MallocSignals, HandlerAlignedAllocationsKeepTheirAlignment) {
  EXPECT_EQ(run_in_child([] {
              g_handler_alignment = 4096;
              return allocate_under_signal_storm(64, 48, 2000);
            }),
            0);
}

TEST(MallocSignals, HandlerAllocatingWhileLargeMallocIsInterrupted) {
  // Above the largest size class: spans, taken under the allocator's lock.
  EXPECT_EQ(run_in_child([] { return allocate_under_signal_storm(20000, 20000, 200); }), 0);
}

TEST(MallocSignals, HandlerFreesAreCarriedOutLater) {
  EXPECT_EQ(run_in_child([] {
              const int r = allocate_under_signal_storm(64, 1000, 2000);
              if (r != 0) return r;
              TslabMallocCounters counters;
              tslab_malloc_counters(&counters);
              if (counters.reentrant_frees_deferred == 0) return 7;
              // Every deferred free was carried out or counted as dropped, and
              // none is queued once the thread allocated through its slow path.
              for (int i = 0; i < 100000; ++i) free(malloc(static_cast<std::size_t>(i % 8000) + 1));
              tslab_malloc_counters(&counters);
              return counters.reentrant_frees_queued == 0 ? 0 : 8;
            }),
            0);
}

// Threads whose handlers queue frees and that exit before calling malloc or
// free again: their exit carries the queued frees out, none is left queued.
constexpr int HANDED_BLOCKS = 16;
void* volatile g_exit_blocks[HANDED_BLOCKS];
volatile sig_atomic_t g_exit_freed;
std::atomic<pid_t> g_worker_tid{0};

void freeing_handler(int) {
  const int i = g_exit_freed;
  if (i >= HANDED_BLOCKS) return;
  free(g_exit_blocks[i]);
  g_exit_freed = i + 1;
}

// Churns until the handler freed every handed block, then exits at once.
void* exiting_thread(void*) {
  for (void* volatile& b : g_exit_blocks) b = malloc(1 << 20);
  g_exit_freed = 0;
  g_worker_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
  void* keep[32] = {};
  for (long i = 0; g_exit_freed < HANDED_BLOCKS; ++i) {
    const long k = i & 31;
    free(keep[k]);
    keep[k] = malloc(48);
  }
  return nullptr;  // keep[] stays allocated: no free after the handler's last
}

TEST(MallocSignals, FreesQueuedOnAnExitingThreadAreCarriedOut) {
  EXPECT_EQ(run_in_child([] {
              struct sigaction sa = {};
              sa.sa_handler = freeing_handler;
              sigaction(SIGUSR1, &sa, nullptr);
              for (int round = 0; round < 60; ++round) {
                g_worker_tid.store(0);
                pthread_t thread;
                if (pthread_create(&thread, nullptr, exiting_thread, nullptr) != 0) return 2;
                while (g_worker_tid.load() == 0) usleep(10);
                while (g_exit_freed < HANDED_BLOCKS) {
                  syscall(SYS_tgkill, getpid(), g_worker_tid.load(), SIGUSR1);
                  usleep(200);
                }
                pthread_join(thread, nullptr);
              }
              TslabMallocCounters counters;
              tslab_malloc_counters(&counters);
              if (counters.reentrant_frees_deferred == 0) return 3;  // no handler interrupted free
              return counters.reentrant_frees_queued == 0 ? 0 : 4;
            }),
            0);
}

// --- handlers that interrupt tslab holding a lock --------------------------

// A tslab block the handler frees: a large span, whose free takes the
// allocator's lock.
std::atomic<void*> g_victim{nullptr};
std::atomic<long> g_lock_handler_runs{0};
std::atomic<long> g_lock_handler_failures{0};

// Allocates a large and a small block and frees them, and frees the victim.
void allocating_in_lock_handler(int) {
  const int saved = errno;
  g_in_handler = 1;
  g_lock_handler_runs.fetch_add(1, std::memory_order_relaxed);
  void* large = malloc(std::size_t{64} << 10);  // beyond the size classes: a span
  void* small = malloc(64);
  if (large == nullptr || small == nullptr) g_lock_handler_failures.fetch_add(1, std::memory_order_relaxed);
  free(small);
  free(large);
  free(g_victim.exchange(nullptr, std::memory_order_acq_rel));
  g_in_handler = 0;
  errno = saved;
}

// After `setup`, runs `operation` (a tslab call on the process allocator that
// hands pages back while holding a tslab lock) with the handler raised from
// inside it; returns 0 if it came back, at least one handler run was served
// outside the core, every handler allocation succeeded, and the handler's
// queued free was carried out by the thread's next malloc.
int interrupt_holding_a_lock(const std::function<void()>& setup, const std::function<void()>& operation) {
  struct sigaction sa = {};
  sa.sa_handler = allocating_in_lock_handler;
  sigaction(SIGUSR1, &sa, nullptr);
  setup();
  g_victim.store(malloc(std::size_t{256} << 10));
  TslabMallocCounters before;
  tslab_malloc_counters(&before);
  g_raise_in_os_calls.store(true);
  operation();
  g_raise_in_os_calls.store(false);
  if (g_os_call_raises.load() == 0 || g_lock_handler_runs.load() == 0) return 2;  // never interrupted
  if (g_lock_handler_failures.load() != 0) return 3;
  TslabMallocCounters after;
  tslab_malloc_counters(&after);
  if (after.reentrant_allocations == before.reentrant_allocations) return 4;  // never inside tslab
  free(malloc(100));  // carries out what the handler queued
  tslab_malloc_counters(&after);
  if (after.reentrant_frees_queued != 0 || after.reentrant_frees_dropped != 0) return 5;
  if (g_victim.load() != nullptr) return 6;
  char message[256];
  return slab_check(tslab_malloc_allocator(), message, sizeof message) ? 0 : 7;
}

TEST(MallocSignalsInsideALock, HandlerMallocDuringCollectOfTheProcessAllocator) {
  EXPECT_EQ(run_in_child(
                [] {
                  return interrupt_holding_a_lock(
                      [] { free(malloc(std::size_t{1} << 20)); },  // a span for the collect to hand back
                      [] { slab_collect(tslab_malloc_allocator()); });
                },
                false, DEADLOCK_SECONDS),
            0);
}

// Fills an epoch of the process allocator with blocks and frees them all, with
// no warm reserve: closing the epoch hands every slab back.
void fill_and_empty(EpochId e) {
  SlabAllocator* a = tslab_malloc_allocator();
  slab_set_warm_reserve(a, 0);
  static void* blocks[4000];
  for (void*& b : blocks) b = slab_malloc_epoch(a, 1000, e);
  for (void* b : blocks) free(b);
}

TEST(MallocSignalsInsideALock, HandlerMallocDuringEpochCloseOfTheProcessAllocator) {
  EXPECT_EQ(run_in_child(
                [] {
                  static EpochId e;
                  return interrupt_holding_a_lock(
                      [] {
                        e = slab_epoch_open(tslab_malloc_allocator());
                        fill_and_empty(e);
                      },
                      [] { epoch_close(tslab_malloc_allocator(), e); });
                },
                false, DEADLOCK_SECONDS),
            0);
}

TEST(MallocSignalsInsideALock, HandlerMallocDuringEpochAdvanceOfTheProcessAllocator) {
  EXPECT_EQ(run_in_child(
                [] {
                  return interrupt_holding_a_lock(
                      [] { fill_and_empty(epoch_advance(tslab_malloc_allocator())); },
                      [] { epoch_advance(tslab_malloc_allocator()); });
                },
                false, DEADLOCK_SECONDS),
            0);
}

TEST(MallocSignalsInsideALock, HandlerMallocDuringScopeEnd) {
  EXPECT_EQ(run_in_child(
                [] {
                  return interrupt_holding_a_lock(
                      [] {
                        tslab_scope_begin("interrupted");
                        fill_and_empty(tslab_scope_epoch());
                      },
                      [] { tslab_scope_end(); });
                },
                false, DEADLOCK_SECONDS),
            0);
}

TEST(MallocSignalsInsideALock, HandlerMallocDuringTrim) {
  EXPECT_EQ(run_in_child(
                [] {
                  return interrupt_holding_a_lock([] { free(malloc(std::size_t{1} << 20)); },
                                                  [] { malloc_trim(0); });
                },
                false, DEADLOCK_SECONDS),
            0);
}

// --- handlers that interrupt tslab's work on the thread's own heap ----------
// A collect, or the catch-up after a close, rewrites the calling thread's bins
// (their free lists and slabs) holding no lock. A handler that runs in the
// middle must not use that heap: its blocks come from the reserve, as for a
// handler that interrupted malloc. Signals come from another thread, every
// few microseconds, so they land anywhere in the work; each round leaves the
// thread's bins full of free blocks and partly used slabs for the work to take.

constexpr int HEAP_WORK_BLOCKS = 20000;
constexpr int HANDLER_BLOCKS = 64;
std::uint64_t* g_handler_blocks[HANDLER_BLOCKS];
volatile sig_atomic_t g_handler_next;
std::atomic<long> g_heap_work_handler_runs{0};
std::atomic<long> g_heap_work_corruptions{0};

void mark(std::uint64_t* q) {
  q[0] = reinterpret_cast<std::uintptr_t>(q);
  q[1] = ~reinterpret_cast<std::uintptr_t>(q);
}
bool marked(const std::uint64_t* q) {
  return q[0] == reinterpret_cast<std::uintptr_t>(q) && q[1] == ~reinterpret_cast<std::uintptr_t>(q);
}

// Checks every block it holds, frees the oldest and takes a new one of the
// sizes the interrupted thread uses.
void heap_work_handler(int) {
  const int saved = errno;
  g_heap_work_handler_runs.fetch_add(1, std::memory_order_relaxed);
  for (std::uint64_t* q : g_handler_blocks)
    if (q != nullptr && !marked(q)) g_heap_work_corruptions.fetch_add(1, std::memory_order_relaxed);
  const int i = g_handler_next % HANDLER_BLOCKS;
  g_handler_next = g_handler_next + 1;
  free(g_handler_blocks[i]);
  auto* q = static_cast<std::uint64_t*>(malloc(16 + static_cast<std::size_t>(i % 4) * 16));
  if (q != nullptr) mark(q);
  g_handler_blocks[i] = q;
  errno = saved;
}

// Sends SIGUSR1 to the calling thread every 20 µs, from a thread of its own,
// until stop_signal_sender.
std::atomic<bool> g_stop_signals{false};
std::atomic<pid_t> g_signalled_tid{0};

pthread_t start_signal_sender() {
  g_signalled_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
  g_stop_signals.store(false);
  pthread_t sender;
  pthread_create(
      &sender, nullptr,
      [](void*) -> void* {
        while (!g_stop_signals.load(std::memory_order_relaxed)) {
          syscall(SYS_tgkill, getpid(), g_signalled_tid.load(), SIGUSR1);
          const timespec pause = {0, 20000};
          nanosleep(&pause, nullptr);
        }
        return nullptr;
      },
      nullptr);
  return sender;
}

void stop_signal_sender(pthread_t sender) {
  g_stop_signals.store(true);
  pthread_join(sender, nullptr);
  signal(SIGUSR1, SIG_IGN);
}

// Runs `rounds` rounds of: fill, free all but every 50th block, `work` on the
// process allocator, free the rest, with SIGUSR1 sent to this thread all the
// while. 0 if no block was corrupted, no free was refused and the allocator
// checks out.
int heap_work_under_signals(int rounds, const std::function<void()>& work) {
  struct sigaction sa = {};
  sa.sa_handler = heap_work_handler;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  TslabMallocCounters before;
  tslab_malloc_counters(&before);
  const pthread_t sender = start_signal_sender();
  static std::uint64_t* blocks[HEAP_WORK_BLOCKS];
  unsigned seed = 1;
  long corrupted = 0;
  for (int r = 0; r < rounds; ++r) {
    for (std::uint64_t*& q : blocks) {
      q = static_cast<std::uint64_t*>(malloc(16 + static_cast<std::size_t>(rand_r(&seed) % 4) * 16));
      if (q != nullptr) mark(q);
    }
    for (int i = 0; i < HEAP_WORK_BLOCKS; ++i) {
      if (blocks[i] != nullptr && !marked(blocks[i])) ++corrupted;
      if (i % 50 != 0) free(blocks[i]), blocks[i] = nullptr;
    }
    work();
    for (std::uint64_t*& q : blocks) free(q), q = nullptr;
  }
  stop_signal_sender(sender);
  if (g_heap_work_handler_runs.load() == 0) return 2;
  if (corrupted != 0 || g_heap_work_corruptions.load() != 0) return 3;
  TslabMallocCounters after;
  tslab_malloc_counters(&after);
  if (after.bad_frees != before.bad_frees) return 4;  // a live block's free refused
  char message[256];
  return slab_check(tslab_malloc_allocator(), message, sizeof message) ? 0 : 5;
}

TEST(MallocSignalsInOwnHeapWork, HandlerMallocDuringCollectOfTheProcessAllocator) {
  EXPECT_EQ(run_in_child(
                [] { return heap_work_under_signals(3000, [] { slab_collect(tslab_malloc_allocator()); }); },
                false, WATCHDOG_SECONDS),
            0);
}

TEST(MallocSignalsInOwnHeapWork, HandlerMallocDuringTheCatchUpAfterAnAdvance) {
  EXPECT_EQ(run_in_child(
                [] { return heap_work_under_signals(1000, [] { epoch_advance(tslab_malloc_allocator()); }); },
                false, WATCHDOG_SECONDS),
            0);
}

// --- signal handlers that begin and end scopes ------------------------------

// A handler's scope nests inside whatever the interrupted thread was doing with
// its own scopes, even halfway through a begin or an end: the handler's scope
// takes its own epoch (or shares one) and ends it, and the thread's scopes are
// as they were when the handler returns.
std::atomic<long> g_scope_handler_runs{0};
std::atomic<long> g_scope_handler_failures{0};

void scope_handler(int) {
  const int saved = errno;
  g_scope_handler_runs.fetch_add(1, std::memory_order_relaxed);
  const EpochId outside = tslab_scope_epoch();
  const std::uint32_t depth = tslab_scope_depth();
  const EpochId mine = tslab_scope_begin("handler");
  void* p = malloc(48);
  free(p);
  if (tslab_scope_epoch() != mine || !tslab_scope_end())
    g_scope_handler_failures.fetch_add(1, std::memory_order_relaxed);
  // Back where it began, unless its end also ended the thread's innermost
  // scope because that one's end had come early (tslab_scope_end ends such
  // scopes too, whichever code calls it).
  const std::uint32_t after = tslab_scope_depth();
  if (after > depth || (after == depth && tslab_scope_epoch() != outside))
    g_scope_handler_failures.fetch_add(1, std::memory_order_relaxed);
  errno = saved;
}

// The process allocator's epoch slots held now (by a scope, or left held).
int held_epoch_slots() {
  SlabAllocator* a = tslab_malloc_allocator();
  int held = 0;
  for (EpochId e = 1; e < slab_epoch_count(a); ++e) held += slab_epoch_is_held(a, e) ? 1 : 0;
  return held;
}

// Begins and ends scopes inside an outer one while SIGUSR1's handler does the
// same; 0 if every scope ended where it should have and no epoch slot stays held.
int scopes_under_signals(long min_handler_runs) {
  struct sigaction sa = {};
  sa.sa_handler = scope_handler;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  const int held_before = held_epoch_slots();
  const EpochId outer = tslab_scope_begin("outer");
  const std::uint64_t outer_id = tslab_scope_innermost();
  const pthread_t sender = start_signal_sender();
  int result = 0;
  for (long i = 0; result == 0 && i < 100'000'000 && (i < 100'000 || g_scope_handler_runs < min_handler_runs);
       ++i) {
    const EpochId inner = tslab_scope_begin("inner");
    void* p = malloc(64);
    free(p);
    if (tslab_scope_epoch() != inner) result = 2;  // the thread allocates into another scope's epoch
    if (i % 2 == 0) {
      if (!tslab_scope_end()) result = 3;
    } else {
      // The inner scope's end asked for early (as tslab::MallocScope may): it
      // ends with the scope nested in it, in the end's loop over such scopes.
      const std::uint64_t early = tslab_scope_innermost();
      tslab_scope_begin("nested");
      if (tslab_scope_end_checked(early) || !tslab_scope_end()) result = 3;
    }
    // Back in the outer scope, which nothing ended.
    if (tslab_scope_epoch() != outer || tslab_scope_depth() != 1 || tslab_scope_innermost() != outer_id)
      result = 4;
  }
  stop_signal_sender(sender);
  if (result != 0) return result;
  if (g_scope_handler_runs.load() < min_handler_runs) return 5;
  if (g_scope_handler_failures.load() != 0) return 6;
  if (!tslab_scope_end() || tslab_scope_depth() != 0) return 7;
  // Every scope closed the epoch it opened: none is left held for good.
  if (held_epoch_slots() != held_before) return 8;
  char message[256];
  return slab_check(tslab_malloc_allocator(), message, sizeof message) ? 0 : 9;
}

TEST(MallocSignals, HandlerScopesNestInsideTheInterruptedThreadsScopes) {
  EXPECT_EQ(run_in_child([] { return scopes_under_signals(50'000); }, false, WATCHDOG_SECONDS), 0)
      << "2: the thread's scope lost its epoch, 3: its end failed, 4: its end did not restore the outer "
         "scope, 5: too few signals, 6: a handler's scope went wrong, 7: the outer scope, 8: epoch slots "
         "left held, 9: check";
}

// --- the reserve for re-entrant calls --------------------------------------

constexpr long CHURN_ROUNDS = 40000;  // far more bytes than the reserve holds
std::atomic<long> g_churn_failures{0};
std::atomic<long> g_churn_dirty{0};
std::atomic<bool> g_churned{false};

// Allocates and frees over and over, many times the reserve in all, never
// holding more than one block: every allocation must succeed. A block calloc
// returns is clear even when it is one freed before.
void churning_handler(int) {
  const int saved = errno;
  if (g_churned.exchange(true)) return;
  for (long i = 0; i < CHURN_ROUNDS; ++i) {
    const std::size_t size = 16 + static_cast<std::size_t>(i % 300) * 8;
    auto* p = static_cast<unsigned char*>(i % 2 == 0 ? malloc(size) : calloc(1, size));
    if (p == nullptr) {
      g_churn_failures.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (i % 2 != 0) {
      for (std::size_t b = 0; b < size; ++b)
        if (p[b] != 0) g_churn_dirty.fetch_add(1, std::memory_order_relaxed);
    }
    memset(p, 0xa5, size);
    free(p);
  }
  errno = saved;
}

// Installs `handler` for SIGUSR1 and frees a block whose free decommits its
// pages (256 MiB: beyond the warm reserve, and no retention beyond it), with
// the signal raised from inside that free; false if the block could not be had.
bool free_with_handler_inside(void (*handler)(int)) {
  struct sigaction sa = {};
  sa.sa_handler = handler;
  sigaction(SIGUSR1, &sa, nullptr);
  if (!slab_set_large_retain(tslab_malloc_allocator(), 0)) return false;
  void* huge = malloc(std::size_t{256} << 20);
  if (huge == nullptr) return false;
  g_raise_in_os_calls.store(true);
  free(huge);
  g_raise_in_os_calls.store(false);
  return true;
}

TEST(MallocReentrantReserve, FreedBlocksAreReusedSoAHandlerNeverRunsOut) {
  EXPECT_EQ(run_in_child([] {
              TslabMallocCounters before;
              tslab_malloc_counters(&before);
              if (!free_with_handler_inside(churning_handler)) return 2;
              if (!g_churned.load()) return 3;
              TslabMallocCounters after;
              tslab_malloc_counters(&after);
              // Every handler allocation came from the reserve, and none failed.
              if (after.reentrant_allocations - before.reentrant_allocations != CHURN_ROUNDS) return 4;
              if (g_churn_failures.load() != 0 || after.reentrant_allocations_refused != 0) return 5;
              return g_churn_dirty.load() == 0 ? 0 : 6;
            }),
            0);
}

constexpr std::size_t MAX_SMALL_RESERVE_BLOCKS = 70000;  // more than 1 MiB of 16-byte blocks
void* g_small_reserve_blocks[MAX_SMALL_RESERVE_BLOCKS];
std::atomic<long> g_large_after_small{-1};

// Cuts the whole reserve into 16-byte blocks (allocating until one is
// refused), frees them all, then asks for 256 KiB: the freed blocks must be
// whole again for it.
void fragmenting_handler(int) {
  const int saved = errno;
  if (g_large_after_small.load() != -1) return;
  std::size_t n = 0;
  while (n < MAX_SMALL_RESERVE_BLOCKS && (g_small_reserve_blocks[n] = malloc(16)) != nullptr) ++n;
  for (std::size_t i = 0; i < n; ++i) free(g_small_reserve_blocks[i]);
  void* large = malloc(std::size_t{256} << 10);
  g_large_after_small.store(n == MAX_SMALL_RESERVE_BLOCKS ? 2 : large != nullptr ? 0 : 1);
  free(large);
  errno = saved;
}

TEST(MallocReentrantReserve, BlocksSplitForSmallRequestsServeALargeOneOnceFreed) {
  EXPECT_EQ(run_in_child([] {
              if (!free_with_handler_inside(fragmenting_handler)) return 3;
              return static_cast<int>(g_large_after_small.load());  // -1: the handler never ran
            }),
            0);
}

// Free blocks that reach the reserve's untouched end join it, so a request
// that needs that end's room is served once they are freed. Cuts 16-byte
// blocks until the untouched end lies inside the reserve's one 512 KiB-aligned
// range, frees them all, and asks for 512 KiB. Direct calls, in a child: the
// reserve is the process's.
TEST(MallocReentrantReserve, FreeBlocksAtTheUntouchedEndJoinIt) {
  EXPECT_EQ(run_in_child([] {
              constexpr std::uintptr_t HALF = std::uintptr_t{512} << 10;
              static void* held[70000];
              std::size_t n = 0;
              held[n++] = tslab::detail::boot_alloc(16);
              if (held[0] == nullptr) return 2;
              const std::uintptr_t aligned =
                  (reinterpret_cast<std::uintptr_t>(held[0]) + HALF - 1) & ~(HALF - 1);
              for (;;) {
                void* p = tslab::detail::boot_alloc(16);
                if (p == nullptr || n == std::size(held)) return 3;
                held[n++] = p;
                if (reinterpret_cast<std::uintptr_t>(p) >= aligned) break;
              }
              for (std::size_t i = 0; i < n; ++i)
                if (tslab::detail::boot_free(held[i]) != TSLAB_OK) return 4;
              void* big = tslab::detail::boot_alloc(HALF);
              return big != nullptr && tslab::detail::boot_free(big) == TSLAB_OK ? 0 : 1;
            }),
            0);
}

std::atomic<long> g_exactness_result{-1};

// Frees a reserve block twice and frees an address inside one: 0 if both are
// refused as bad frees and the freed block is reused afterwards.
int free_reserve_blocks_badly() {
  TslabMallocCounters before;
  tslab_malloc_counters(&before);
  auto* block = static_cast<char*>(malloc(100));
  void* neighbour = malloc(100);
  if (block == nullptr || neighbour == nullptr) return 2;
  free(block + 16);  // inside a block: refused
  free(block);
  free(block);  // double: refused
  TslabMallocCounters after;
  tslab_malloc_counters(&after);
  if (after.bad_frees - before.bad_frees != 2) return 3;
  if (after.reentrant_allocations - before.reentrant_allocations != 2) return 4;  // both from the reserve
  void* again = malloc(100);                                                      // the freed block, reused
  free(neighbour);
  free(again);
  tslab_malloc_counters(&after);
  if (after.bad_frees - before.bad_frees != 2) return 5;
  return again == block ? 0 : 6;
}

void bad_freeing_handler(int) {
  const int saved = errno;
  if (g_exactness_result.load() == -1) g_exactness_result.store(free_reserve_blocks_badly());
  errno = saved;
}

TEST(MallocReentrantReserve, DoubleAndInteriorFreesOfReserveBlocksAreRefused) {
  EXPECT_EQ(run_in_child([] {
              if (!free_with_handler_inside(bad_freeing_handler)) return 2;
              return static_cast<int>(g_exactness_result.load());
            }),
            0);
}

// A free inside an allocated reserve block is reported as an interior pointer,
// as one inside a slab's block is; inside a freed one, as a pointer nothing
// was allocated at; the block's own start, freed twice, as a double free.
TEST(MallocReentrantReserve, EachBadFreeOfTheReserveGetsItsOwnError) {
  EXPECT_EQ(run_in_child([] {
              auto* block = static_cast<char*>(tslab::detail::boot_alloc(100));  // a block of 128 bytes
              auto* big = static_cast<char*>(tslab::detail::boot_alloc(4096));
              if (block == nullptr || big == nullptr) return 2;
              using tslab::detail::boot_free;
              if (boot_free(block + 1) != TSLAB_ERR_INTERIOR_POINTER) return 3;
              if (boot_free(block + 16) != TSLAB_ERR_INTERIOR_POINTER) return 4;
              if (boot_free(block + 127) != TSLAB_ERR_INTERIOR_POINTER) return 5;
              if (boot_free(big + 2048) != TSLAB_ERR_INTERIOR_POINTER) return 6;
              if (boot_free(big + 4095) != TSLAB_ERR_INTERIOR_POINTER) return 7;
              if (boot_free(block) != TSLAB_OK) return 8;
              if (boot_free(block) != TSLAB_ERR_DOUBLE_FREE) return 9;
              if (boot_free(block + 16) != TSLAB_ERR_NOT_ALLOCATED) return 10;
              return boot_free(big) == TSLAB_OK ? 0 : 11;
            }),
            0);
}

// A reserve block freed later by its thread outside tslab (the common case: a
// signal handler's allocation, freed after it returned) goes back to the
// reserve and is no refused free: neither the allocator's invalid_frees_total
// nor the override's bad frees move. They counted one per block before.
TEST(MallocReentrantReserve, FreeingReserveBlocksLaterCountsNoRefusedFree) {
  EXPECT_EQ(run_in_child([] {
              void* warm = malloc(64);  // the process allocator exists
              free(warm);
              SlabGlobalStats before{};
              before.size = sizeof before;
              TslabMallocCounters counters_before;
              tslab_malloc_counters(&counters_before);
              if (!slab_stats_global(tslab_malloc_allocator(), &before)) return 2;
              void* blocks[64];
              for (void*& b : blocks) {
                b = tslab::detail::boot_alloc(48);
                if (b == nullptr) return 3;
              }
              for (void* b : blocks) free(b);
              for (void*& b : blocks) b = tslab::detail::boot_alloc(48);
              for (void* b : blocks) operator delete(b);
              SlabGlobalStats after{};
              after.size = sizeof after;
              if (!slab_stats_global(tslab_malloc_allocator(), &after)) return 4;
              TslabMallocCounters counters_after;
              tslab_malloc_counters(&counters_after);
              if (after.invalid_frees_total != before.invalid_frees_total) return 5;
              if (counters_after.bad_frees != counters_before.bad_frees) return 6;
              // Each block went back: the reserve hands the same addresses out again.
              void* again = tslab::detail::boot_alloc(48);
              const bool reused = again == blocks[63] || again == blocks[0];
              if (again != nullptr) free(again);
              return reused ? 0 : 7;
            }),
            0);
}

// The same while the thread has a free queued (a handler's free of a tslab
// block, carried out by the thread's next call): that call takes the slow path,
// which gave the reserve block to the core first, counted as refused.
TEST(MallocReentrantReserve, AReserveBlockFreedWithAFreeQueuedCountsNoRefusedFree) {
  EXPECT_EQ(run_in_child([] {
              void* warm = malloc(64);
              void* queued = malloc(64);
              free(warm);
              SlabGlobalStats before{};
              before.size = sizeof before;
              if (!slab_stats_global(tslab_malloc_allocator(), &before)) return 2;
              void* block = tslab::detail::boot_alloc(48);
              if (block == nullptr) return 3;
              {
                const tslab::detail::InsideTslab inside;  // as a signal handler inside malloc
                free(queued);                             // queued
              }
              free(block);  // runs the queued free too
              SlabGlobalStats after{};
              after.size = sizeof after;
              if (!slab_stats_global(tslab_malloc_allocator(), &after)) return 4;
              if (after.invalid_frees_total != before.invalid_frees_total) return 5;
              if (after.live_blocks != before.live_blocks - 1) return 6;  // `queued` was freed
              return 0;
            }),
            0);
}

// --- cancellation ---------------------------------------------------------

std::atomic<int> g_step{0};

// A thread with a deferred cancellation pending makes a bad free (its report is
// a write(2), a cancellation point), prints malloc_stats, then reaches its own
// cancellation point.
void* cancelled_thread(void* bad) {
  pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, nullptr);
  g_step.store(1);
  while (g_step.load() != 2) {
  }
  free(bad);
  free(bad);
  malloc_stats();
  g_step.store(3);
  pthread_testcancel();
  return nullptr;
}

TEST(MallocCancellation, PendingCancelIsNotActedOnInsideFree) {
  EXPECT_EQ(run_in_child([] {
              void* bad = malloc(64);
              free(bad);  // the thread frees it twice more
              pthread_t t;
              pthread_create(&t, nullptr, cancelled_thread, bad);
              while (g_step.load() != 1) {
              }
              pthread_cancel(t);
              g_step.store(2);
              void* result = nullptr;
              pthread_join(t, &result);
              if (result != PTHREAD_CANCELED) return 2;
              return g_step.load() == 3 ? 0 : 3;  // cancelled after its frees, not inside one
            }),
            0);
}

// --- diagnostics nobody reads ----------------------------------------------

// stderr a pipe whose reader is gone, SIGPIPE at its default (which ends the
// process): a bad free's line and malloc_stats' summary are written into it.
// Each must return, and leave the thread's signal mask and pending signals as
// they were (the program's own next write to the pipe still gets SIGPIPE).
TEST(MallocDiagnostics, WritingToAPipeNobodyReadsLeavesTheProcessRunning) {
  EXPECT_EQ(run_in_child(
                [] {
                  signal(SIGPIPE, SIG_DFL);
                  int fds[2];
                  if (pipe(fds) != 0) return 2;
                  close(fds[0]);
                  dup2(fds[1], STDERR_FILENO);
                  sigset_t before;
                  pthread_sigmask(SIG_SETMASK, nullptr, &before);
                  void* volatile p = malloc(64);
                  free(p);
                  free(p);  // a double free, reported to nobody
                  malloc_stats();
                  sigset_t after;
                  pthread_sigmask(SIG_SETMASK, nullptr, &after);
                  if (sigismember(&after, SIGPIPE) != sigismember(&before, SIGPIPE)) return 3;
                  sigset_t pending;
                  sigpending(&pending);
                  return sigismember(&pending, SIGPIPE) == 1 ? 4 : 0;
                },
                /*keep_stderr=*/true),
            0);
}

// A SIGPIPE the program holds blocked and pending when the diagnostic is
// written stays pending: only the signal tslab's own write raised is taken back.
TEST(MallocDiagnostics, ASigpipeAlreadyPendingStaysPending) {
  EXPECT_EQ(run_in_child(
                [] {
                  sigset_t pipe_set;
                  sigemptyset(&pipe_set);
                  sigaddset(&pipe_set, SIGPIPE);
                  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
                  raise(SIGPIPE);
                  int fds[2];
                  if (pipe(fds) != 0) return 2;
                  close(fds[0]);
                  dup2(fds[1], STDERR_FILENO);
                  void* volatile p = malloc(64);
                  free(p);
                  free(p);
                  sigset_t pending;
                  sigpending(&pending);
                  if (sigismember(&pending, SIGPIPE) != 1) return 3;
                  sigset_t mask;
                  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
                  return sigismember(&mask, SIGPIPE) == 1 ? 0 : 4;
                },
                /*keep_stderr=*/true),
            0);
}

// --- the epoch API on the process allocator -------------------------------

TEST(MallocEpochZero, AdvanceCloseAndDestroyLeaveMallocWorking) {
  EXPECT_EQ(run_in_child([] {
              SlabAllocator* a = tslab_malloc_allocator();
              void* before = malloc(100);
              epoch_advance(a);
              if (slab_epoch_state(a, 0) != EPOCH_ACTIVE) return 2;
              if (epoch_close(a, 0)) return 3;
              if (slab_last_error() != TSLAB_ERR_PERMANENT) return 4;
              if (slab_epoch_destroy(a, 0, nullptr)) return 5;
              if (slab_last_error() != TSLAB_ERR_PERMANENT) return 6;
              slab_allocator_free(a);
              if (slab_last_error() != TSLAB_ERR_PERMANENT) return 7;
              errno = 0;
              void* small = malloc(100);
              void* large = malloc(100000);
              char* copy = strdup("still working");
              if (small == nullptr || large == nullptr || copy == nullptr || errno != 0) return 8;
              if (slab_usable_size(a, small) == 0 || slab_usable_size(a, before) == 0) return 9;
              free(small), free(large), free(copy), free(before);
              // A scope's epoch closed under it: its allocations go on elsewhere.
              tslab_scope_begin("closed under the scope");
              if (!epoch_close(a, tslab_scope_epoch())) return 10;
              void* in_scope = malloc(100);
              if (in_scope == nullptr) return 11;
              free(in_scope);
              tslab_scope_end();
              // No epoch of the process allocator is destroyed: a scope's blocks
              // may belong to code that knows nothing of it (libc's own buffers).
              tslab_scope_begin("destroy refused");
              char* kept = strdup("kept");
              const std::uint32_t scope_epoch = tslab_scope_epoch();
              std::uint64_t released = 7;
              if (slab_epoch_destroy(a, scope_epoch, &released)) return 12;
              if (slab_last_error() != TSLAB_ERR_PERMANENT || released != 7) return 13;
              if (slab_usable_size(a, kept) == 0 || strcmp(kept, "kept") != 0) return 14;
              tslab_scope_end();
              free(kept);
              // An arena that closes its epoch at its end, over epoch 0: the
              // close is refused, and the destroy says why.
              SlabArenaOptions ao;
              slab_arena_options_init(&ao);
              ao.epoch = 0;
              ao.close_epoch = true;
              SlabArena* arena = slab_arena_create(a, &ao);
              if (arena == nullptr || slab_arena_alloc(arena, 100, 8) == nullptr) return 15;
              if (slab_arena_destroy(arena)) return 16;
              if (slab_last_error() != TSLAB_ERR_PERMANENT) return 17;
              // A slot opened on it closes, and rejoins the ring, under the
              // names the preload exports.
              const EpochId held = slab_epoch_open(a);
              if (held == SLAB_NO_EPOCH || !slab_epoch_is_held(a, held)) return 18;
              const std::uint64_t era = slab_epoch_era(a, held);
              char* in_held = static_cast<char*>(slab_malloc_epoch(a, 64, held));
              if (in_held == nullptr) return 19;
              if (!slab_epoch_close_era(a, held, era) || slab_epoch_is_held(a, held)) return 20;
              if (slab_epoch_close(a, 0) || slab_last_error() != TSLAB_ERR_PERMANENT) return 21;
              const EpochId current = slab_epoch_current(a);
              if (slab_epoch_advance(a) == current || slab_epoch_state(a, 0) != EPOCH_ACTIVE) return 22;
              free(in_held);
              return 0;
            }),
            0);
}

// --- alignments at the edges ---------------------------------------------

TEST(MallocAlignment, HugeAlignmentsFailWithEnomemNotEinval) {
  // Beyond what any reservation could hold: ENOMEM, as for any size that does not fit.
  errno = 0;
  EXPECT_EQ(aligned_alloc(std::size_t{1} << 63, 100), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* out = nullptr;
  const int r = posix_memalign(&out, std::size_t{1} << 50, 100);
  EXPECT_EQ(r, ENOMEM);
  // Large but possible alignments are served.
  for (std::size_t alignment : {std::size_t{1} << 31, std::size_t{1} << 33}) {
    errno = 0;
    void* p = aligned_alloc(alignment, 100);
    ASSERT_NE(p, nullptr) << alignment << " errno " << errno;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u);
    memset(p, 1, 100);
    free(p);
    ASSERT_EQ(posix_memalign(&out, alignment, 4096), 0) << alignment;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(out) % alignment, 0u);
    free(out);
  }
}

TEST(MallocAlignment, MemalignRefusesAlignmentsItCannotRound) {
  // memalign rounds up to a power of two; beyond the largest one it is EINVAL, as glibc's.
  for (std::size_t alignment : {SIZE_MAX, (std::size_t{1} << 63) + 1}) {
    errno = 0;
    EXPECT_EQ(memalign(alignment, 10), nullptr) << alignment;
    EXPECT_EQ(errno, EINVAL) << alignment;
  }
  void* p = memalign(33, 10);  // rounded to 64
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 64, 0u);
  free(p);
}

// --- bad pointers --------------------------------------------------------

TEST(MallocBadPointers, ReallocOfAPointerTslabNeverReturnedIsEinval) {
  EXPECT_EQ(run_in_child([] {
              alignas(16) static char not_a_block[64];
              errno = 0;
              if (realloc(not_a_block, 10) != nullptr) return 2;
              return errno == EINVAL ? 0 : 3;
            }),
            0);
}

// --- realloc racing a free of its block ------------------------------------

// One block, realloc'ed by one thread and freed (slab_free_checked, which says
// whether it freed) by another, which then trims, round after round. A program
// bug, which must still end in one sequential order: if realloc moved the block,
// its own free of the old one came first, so the racing free failed and the
// copy holds the old bytes; a free that succeeded came first, so realloc found
// no block (or resized it in place). And nothing may crash: a trim may unmap a
// freed span's range under a copy that does not hold it. `from` is the block's
// size, `to` the realloc's; a move that is not a large block's resize copies.
int realloc_racing_free(std::size_t from, std::size_t to, long rounds) {
  SlabAllocator* const process = tslab_malloc_allocator();
  pthread_barrier_t start, done;
  pthread_barrier_init(&start, nullptr, 3);
  pthread_barrier_init(&done, nullptr, 3);
  struct Shared {
    void* p = nullptr;
    void* q = nullptr;
    bool freed = false;
    unsigned spin = 0;
    bool stop = false;
  } shared;
  struct Args {
    Shared* shared;
    pthread_barrier_t *start, *done;
    SlabAllocator* process;
    std::size_t to;
  } args{&shared, &start, &done, process, to};
  auto reallocer = [](void* a) -> void* {
    auto* x = static_cast<Args*>(a);
    for (;;) {
      pthread_barrier_wait(x->start);
      if (x->shared->stop) return nullptr;
      x->shared->q = realloc(x->shared->p, x->to);
      pthread_barrier_wait(x->done);
    }
  };
  auto freer = [](void* a) -> void* {
    auto* x = static_cast<Args*>(a);
    for (;;) {
      pthread_barrier_wait(x->start);
      if (x->shared->stop) return nullptr;
      for (unsigned i = x->shared->spin; i > 0; --i) asm volatile("");
      x->shared->freed = slab_free_checked(x->process, x->shared->p);
      malloc_trim(0);
      pthread_barrier_wait(x->done);
    }
  };
  pthread_t t1, t2;
  pthread_create(&t1, nullptr, reallocer, &args);
  pthread_create(&t2, nullptr, freer, &args);
  int result = 0;
  std::uint64_t seed = 0x9e3779b97f4a7c15u;
  for (long r = 0; r < rounds && result == 0; ++r) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    shared.p = malloc(from);
    if (shared.p == nullptr) return 10;
    memset(shared.p, 0x5a, from);
    shared.spin = static_cast<unsigned>(seed % 4000);
    pthread_barrier_wait(&start);
    pthread_barrier_wait(&done);
    auto* q = static_cast<unsigned char*>(shared.q);
    if (q != nullptr && q != shared.p) {
      if (shared.freed) result = 2;  // both the move and the free succeeded
      for (std::size_t i = 0; i < (from < to ? from : to) && result == 0; i += 512)
        if (q[i] != 0x5a) result = 3;  // the copy was taken from a freed block
    }
    if (q != nullptr) free(q);
  }
  shared.stop = true;
  pthread_barrier_wait(&start);
  pthread_join(t1, nullptr);
  pthread_join(t2, nullptr);
  return result;
}

// A handler that moves a block of the interrupted thread's own heap with
// realloc: its free of the old block must be queued, as a handler's free is,
// not made inside the malloc or free it interrupted.
constexpr int HANDLER_POOL = 60000;
void* g_handler_pool[HANDLER_POOL];
std::atomic<int> g_handler_pool_next{0};

void reallocating_handler(int) {
  const int saved = errno;
  const int i = g_handler_pool_next.fetch_add(1, std::memory_order_relaxed);
  if (i < HANDLER_POOL && g_handler_pool[i] != nullptr) {
    void* q = realloc(g_handler_pool[i], 200);  // another class: a move by copy
    g_handler_pool[i] = nullptr;
    free(q);
  }
  errno = saved;
}

TEST(MallocReallocRace, AHandlerMovingAnOwnBlockWhileMallocIsInterrupted) {
  EXPECT_EQ(run_in_child([] {
              for (void*& b : g_handler_pool) b = malloc(64);
              struct sigaction sa = {};
              sa.sa_handler = reallocating_handler;
              sa.sa_flags = SA_RESTART;
              sigaction(SIGALRM, &sa, nullptr);
              const itimerval every_50us = {{0, 50}, {0, 50}};
              setitimer(ITIMER_REAL, &every_50us, nullptr);
              constexpr int KEPT = 512;
              std::uint64_t* kept[KEPT] = {};
              for (long i = 0; i < 20'000'000 && g_handler_pool_next.load() < HANDLER_POOL; ++i) {
                std::uint64_t*& k = kept[i & (KEPT - 1)];
                const auto stamp = reinterpret_cast<std::uintptr_t>(k);
                if (k != nullptr && (k[0] != stamp || k[7] != ~stamp)) return 2;  // handed out twice
                free(k);
                k = static_cast<std::uint64_t*>(malloc(64));
                k[0] = reinterpret_cast<std::uintptr_t>(k);
                k[7] = ~k[0];
              }
              const itimerval off = {};
              setitimer(ITIMER_REAL, &off, nullptr);
              char message[256];
              if (!slab_check(tslab_malloc_allocator(), message, sizeof message)) return 3;
              TslabMallocCounters counters;
              tslab_malloc_counters(&counters);
              return counters.bad_frees != 0 ? 4 : 0;
            }),
            0);
}

TEST(MallocReallocRace, ALargeBlockShrunkToASmallOneWhileAnotherThreadFreesIt) {
  EXPECT_EQ(run_in_child([] { return realloc_racing_free(std::size_t{1} << 20, 65536, 20000); }), 0);
}

TEST(MallocReallocRace, ASmallBlockGrownToALargeOneWhileAnotherThreadFreesIt) {
  EXPECT_EQ(run_in_child([] { return realloc_racing_free(1000, 100000, 20000); }), 0);
}

TEST(MallocReallocRace, ASmallBlockMovedToAnotherClassWhileAnotherThreadFreesIt) {
  EXPECT_EQ(run_in_child([] { return realloc_racing_free(100, 3000, 20000); }), 0);
}

}  // namespace
