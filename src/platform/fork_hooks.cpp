// This file contains the fork handlers' table and the three handlers that walk
// it (platform/fork_hooks.h).
#include "platform/fork_hooks.h"

#include <pthread.h>

#include <atomic>

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
constinit std::atomic<bool> g_claimed[RANKS] = {};

pthread_once_t g_install_once = PTHREAD_ONCE_INIT;
bool g_installed = false;

// The ranks this thread's fork prepared: a participant registered while the
// fork was under way is neither released nor repaired by it.
[[gnu::tls_model("initial-exec")]] thread_local constinit bool tl_prepared[RANKS] = {};

void run_prepare() {
  for (std::size_t r = 0; r < RANKS; ++r) {
    const Slot& s = g_slots[r];
    tl_prepared[r] = s.set.load(std::memory_order_acquire);
    if (!tl_prepared[r]) continue;
    if (s.participant.prepare != nullptr) s.participant.prepare();
    if (s.lock != nullptr) s.lock->lock();
  }
}

// Parent or child: each prepared rank, highest first, runs its step and then
// lets go of its lock.
void run_after(bool child) {
  for (std::size_t r = RANKS; r-- > 0;) {
    if (!tl_prepared[r]) continue;
    const Slot& s = g_slots[r];
    void (*step)() noexcept = child ? s.participant.child : s.participant.parent;
    if (step != nullptr) step();
    if (s.lock != nullptr) s.lock->unlock();
  }
}

void run_parent() { run_after(false); }
void run_child() { run_after(true); }

void install() { g_installed = ::pthread_atfork(run_prepare, run_parent, run_child) == 0; }

bool claim(ForkRank rank, const ForkParticipant& participant, Mutex* lock) noexcept {
  ::pthread_once(&g_install_once, install);
  const auto r = static_cast<std::size_t>(rank);
  if (r < RANKS && !g_claimed[r].exchange(true, std::memory_order_acq_rel)) {
    g_slots[r].participant = participant;
    g_slots[r].lock = lock;
    // Publication point of a participant: from here a fork runs it.
    g_slots[r].set.store(true, std::memory_order_release);
  }
  return g_installed;
}

}  // namespace

bool fork_participate(ForkRank rank, const ForkParticipant& participant) noexcept {
  return claim(rank, participant, nullptr);
}

bool fork_hold_lock(ForkRank rank, Mutex& lock) noexcept { return claim(rank, ForkParticipant{}, &lock); }

}  // namespace tslab::detail
