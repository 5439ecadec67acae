// This file contains the ArenaCore record pool (platform/record_pool.h).
#include "arena/arena_pool.h"

#include "arena/arena_core.h"
#include "platform/record_pool.h"

namespace tslab::detail {

namespace {
constinit RecordPool g_arena_records(sizeof(ArenaCore), alignof(ArenaCore));
}  // namespace

void* arena_record_acquire() noexcept { return g_arena_records.acquire(); }
void arena_record_release(void* record) noexcept { g_arena_records.release(record); }

}  // namespace tslab::detail
