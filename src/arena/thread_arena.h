// This file contains thread-local arenas: each thread's arena, created lazily from
// the TSLAB_ARENA_* options over one process-wide allocator, guarded against
// re-entrant initialisation, destroyed at thread exit or on request.
#ifndef TSLAB_ARENA_THREAD_ARENA_H
#define TSLAB_ARENA_THREAD_ARENA_H

#include <cstdint>

#include "arena/arena_core.h"

namespace tslab::detail {

enum class ThreadArenaState : std::uint8_t { none, creating, ready };

// One per thread, trivially destructible: the thread's arena and its state.
struct ThreadArenaSlot {
  ArenaCore* arena;
  ThreadArenaState state;
};

[[gnu::tls_model("initial-exec")]] extern thread_local constinit ThreadArenaSlot tl_arena_slot;

// Creates the calling thread's arena (thread_arena's slow path).
ArenaCore* thread_arena_create() noexcept;

// The calling thread's arena, created on first use; nullptr with the reason
// recorded (TSLAB_ERR_REENTRANT with a message on stderr if this thread is
// creating its arena right now, TSLAB_ERR_BAD_OPTION_VALUE, ...).
[[gnu::always_inline]] inline ArenaCore* thread_arena() noexcept {
  if (tl_arena_slot.state == ThreadArenaState::ready) [[likely]]
    return tl_arena_slot.arena;
  return thread_arena_create();
}

// The calling thread's arena if it has one, without creating it.
inline ArenaCore* thread_arena_if_created() noexcept {
  return tl_arena_slot.state == ThreadArenaState::ready ? tl_arena_slot.arena : nullptr;
}
// Destroys the calling thread's arena, if any; the next thread_arena() makes a new one.
void thread_arena_destroy() noexcept;

// Test hook, not for production use: `hook(arg)` runs inside every thread-arena
// creation, after the re-entry guard is set and before anything is allocated, so
// a test can call back into thread_arena() from there. nullptr removes it.
void set_thread_arena_init_hook_for_testing(void (*hook)(void*), void* arg) noexcept;
// Test hook: thread arenas created and not yet destroyed, process-wide.
std::uint64_t thread_arenas_live_for_testing() noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_ARENA_THREAD_ARENA_H
