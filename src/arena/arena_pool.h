// This file contains the pool that ArenaCore records are allocated from: memory
// of tslab's own, obtained from the OS platform, never from the system malloc.
#ifndef TSLAB_ARENA_ARENA_POOL_H
#define TSLAB_ARENA_ARENA_POOL_H

namespace tslab::detail {

// Uninitialised memory for one ArenaCore, or nullptr if the OS refuses. Thread-safe.
void* arena_record_acquire() noexcept;
// Returns a record obtained from arena_record_acquire. Thread-safe.
void arena_record_release(void* record) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_ARENA_ARENA_POOL_H
