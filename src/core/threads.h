// This file contains the process-wide thread bookkeeping: the list of live
// allocators, each thread's record of its heaps, and the thread-exit hook that
// abandons them.
#ifndef TSLAB_CORE_THREADS_H
#define TSLAB_CORE_THREADS_H

#include <cstddef>
#include <cstdint>

namespace tslab::detail {

class AllocatorCore;

// Creates the thread-exit key once; false if the system refused. Thread-safe.
bool threads_init() noexcept;
std::uint64_t next_allocator_uid() noexcept;
// The id the next allocator made will get: every allocator made so far has a lower one.
std::uint64_t allocator_uid_watermark() noexcept;
void register_live(AllocatorCore* core) noexcept;
void unregister_live(AllocatorCore* core) noexcept;
// Calls fn(core, context) for each live allocator under the live lock, so none
// is destroyed meanwhile. fn may take the allocator's own lock, nothing global.
void for_each_live(void (*fn)(const AllocatorCore& core, void* context), void* context) noexcept;
std::size_t live_allocator_count() noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_CORE_THREADS_H
