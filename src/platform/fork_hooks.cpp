// This file contains the fork handlers' table and the three handlers that walk
// it (platform/fork_hooks.h).
#include "platform/fork_hooks.h"

#include <pthread.h>

#include <atomic>
#include <cassert>

namespace tslab::detail {

namespace {

constexpr auto RANKS = static_cast<std::size_t>(ForkRank::count);

// Written once per rank before `set` (release); read by the handlers after it (acquire).
struct Slot {
  std::atomic<bool> set{false};
  ForkParticipant participant{};
  Mutex* lock = nullptr;  // taken after prepare, released before parent / child
};
constinit Slot g_slots[RANKS];

// Held by a fork from its prepare step to its parent or child step, and by a
// first registration: a participant is registered either before a fork's
// prepare (which then takes its lock) or after the fork (so its lock was not
// held at fork()), never in between, where a lock taken right after the
// registration would stay locked forever in the child. Hence the rule: a
// participant registers while its thread holds no tslab lock.
TSLAB_FORK_HELD constinit Mutex g_register_mutex;

pthread_once_t g_install_once = PTHREAD_ONCE_INIT;
bool g_installed = false;

void run_prepare() {
  g_register_mutex.lock();
  for (std::size_t r = 0; r < RANKS; ++r) {
    const Slot& s = g_slots[r];
    if (!s.set.load(std::memory_order_acquire)) continue;
    if (s.participant.prepare != nullptr) s.participant.prepare();
    if (s.lock != nullptr) s.lock->lock();
  }
}

// Parent or child: each registered rank (the set prepare saw: registration
// waits for the fork), highest first, runs its step and lets go of its lock.
TSLAB_FORK_STEP void run_after(bool child) {
  for (std::size_t r = RANKS; r-- > 0;) {
    const Slot& s = g_slots[r];
    if (!s.set.load(std::memory_order_relaxed)) continue;
    void (*step)() noexcept = child ? s.participant.child : s.participant.parent;
    if (step != nullptr) step();
    if (s.lock != nullptr) s.lock->unlock();
  }
  g_register_mutex.unlock();
}

void run_parent() { run_after(false); }
TSLAB_FORK_STEP void run_child() { run_after(true); }

void install() { g_installed = ::pthread_atfork(run_prepare, run_parent, run_child) == 0; }

// The handlers go in when the library loads, while the process is (as a rule)
// still single-threaded: no thread is ever inside the once-guard below when
// another forks, so a child never waits for an installation that will not end.
[[gnu::constructor]] void install_at_load() { ::pthread_once(&g_install_once, install); }

bool claim(ForkRank rank, const ForkParticipant& participant, Mutex* lock) noexcept {
  ::pthread_once(&g_install_once, install);
  const auto r = static_cast<std::size_t>(rank);
  if (r < RANKS && !g_slots[r].set.load(std::memory_order_acquire)) {
    assert(!thread_holds_tslab_lock() && "a fork participant registers while holding no tslab lock");
    const LockGuard guard(g_register_mutex);  // waits out a fork under way
    if (!g_slots[r].set.load(std::memory_order_relaxed)) {
      g_slots[r].participant = participant;
      g_slots[r].lock = lock;
      // Publication point of a participant: from here a fork runs it.
      g_slots[r].set.store(true, std::memory_order_release);
    }
  }
  return g_installed;
}

}  // namespace

bool fork_participate(ForkRank rank, const ForkParticipant& participant) noexcept {
  return claim(rank, participant, nullptr);
}

bool fork_hold_lock(ForkRank rank, Mutex& lock) noexcept { return claim(rank, ForkParticipant{}, &lock); }

}  // namespace tslab::detail
