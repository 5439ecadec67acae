// This file contains take_snapshot and the spare snapshot (stats/snapshot_buffer.h).
#include "stats/snapshot_buffer.h"

#include <atomic>
#include <cstring>

#include "core/allocator_core.h"

namespace tslab::detail {

namespace {

// The spare snapshot, zero until first used (no page of it is touched before).
CoreSnapshot g_spare;
// Held by one SnapshotBuffer at a time: acquire on taking it, release on giving
// it back, so each holder's writes end before the next one's begin.
std::atomic<bool> g_spare_taken{false};

}  // namespace

CoreSnapshot* SnapshotBuffer::borrow_spare() noexcept {
  return g_spare_taken.exchange(true, std::memory_order_acquire) ? nullptr : &g_spare;
}

void SnapshotBuffer::return_spare() noexcept { g_spare_taken.store(false, std::memory_order_release); }

void take_snapshot(const AllocatorCore& core, CoreSnapshot& out, std::uint32_t only_class,
                   bool measure_resident) noexcept {
  std::memset(static_cast<void*>(&out), 0, sizeof out);
  core.snapshot(out, only_class, measure_resident);
}

}  // namespace tslab::detail
