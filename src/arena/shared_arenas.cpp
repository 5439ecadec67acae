// This file contains the list of live shared arenas and its fork participant
// (arena/shared_arenas.h).
#include "arena/shared_arenas.h"

#include "platform/fork_hooks.h"

namespace tslab::detail {

namespace {

TSLAB_FORK_HELD constinit Mutex g_list_mutex;
constinit SharedArenaEntry* g_list = nullptr;

// Prepare: the list, then every listed arena's grow lock. A growth under way
// finishes first; one that starts later waits for the fork. No thread holds
// two grow locks, or the list's lock while it takes a grow lock, so the order
// is free of cycles.
void hold_for_fork() noexcept {
  g_list_mutex.lock();
  for (SharedArenaEntry* e = g_list; e != nullptr; e = e->next) e->grow_lock->lock();
}

// Parent and child: the same locks let go. In the child no thread was growing
// an arena (each growth either ended before the fork or had not begun).
TSLAB_FORK_STEP void let_go_after_fork() noexcept {
  for (SharedArenaEntry* e = g_list; e != nullptr; e = e->next) e->grow_lock->unlock();
  g_list_mutex.unlock();
}

}  // namespace

void shared_arena_track(SharedArenaEntry* entry) noexcept {
  fork_participate(ForkRank::shared_arenas, {hold_for_fork, let_go_after_fork, let_go_after_fork});
  const LockGuard guard(g_list_mutex);
  entry->prev = nullptr;
  entry->next = g_list;
  if (g_list != nullptr) g_list->prev = entry;
  g_list = entry;
}

void shared_arena_untrack(SharedArenaEntry* entry) noexcept {
  const LockGuard guard(g_list_mutex);
  if (entry->prev != nullptr)
    entry->prev->next = entry->next;
  else
    g_list = entry->next;
  if (entry->next != nullptr) entry->next->prev = entry->prev;
  entry->prev = entry->next = nullptr;
}

}  // namespace tslab::detail
