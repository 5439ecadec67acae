// This file contains the ArenaCore record pool (platform/record_pool.h).
#include "arena/arena_pool.h"

#include "arena/arena_core.h"
#include "platform/fork_hooks.h"
#include "platform/record_pool.h"

namespace tslab::detail {

namespace {
TSLAB_FORK_HELD constinit RecordPool g_arena_records(sizeof(ArenaCore), alignof(ArenaCore));
}  // namespace

void* arena_record_acquire() noexcept {
  // Held across fork(): the pool is as consistent in the child as here.
  fork_hold_lock(ForkRank::arena_records, g_arena_records.mutex());
  return g_arena_records.acquire();
}
void arena_record_release(void* record) noexcept { g_arena_records.release(record); }

}  // namespace tslab::detail
