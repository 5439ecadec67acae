// This file contains the list of live shared arenas, which fork() walks: the
// grow lock of every one is held across a fork, so no child finds an arena's
// lock held by a thread it does not have.
//
// A shared arena's growth holds its grow lock while it takes a chunk from the
// allocator (arena/arena_growth.cpp), i.e. while it takes allocator locks; the
// list's fork rank therefore comes before the allocators' (platform/fork_hooks.h).
#ifndef TSLAB_ARENA_SHARED_ARENAS_H
#define TSLAB_ARENA_SHARED_ARENAS_H

#include "platform/mutex.h"

namespace tslab::detail {

// A shared arena's entry: its grow lock, linked while the arena lives.
struct SharedArenaEntry {
  Mutex* grow_lock = nullptr;
  SharedArenaEntry* prev = nullptr;
  SharedArenaEntry* next = nullptr;
};

// Puts `entry` on the list (its grow_lock set), or takes it off. The caller holds
// no tslab lock. Thread-safe.
void shared_arena_track(SharedArenaEntry* entry) noexcept;
void shared_arena_untrack(SharedArenaEntry* entry) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_ARENA_SHARED_ARENAS_H
