// This file contains the allocator records' table, their FIFO reuse after a
// quarantine (core/allocator_records.h).
#include "core/allocator_records.h"

#include <cstring>

#include "platform/fork_hooks.h"
#include "platform/mutex.h"
#include "segment/lazy_table.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

namespace {

struct RecordSlot {
  void* memory;        // the record, reserved once and never unmapped
  std::uint32_t next;  // next record number in the free queue
};

// Index = record number. Leaves of 4,096 slots (64 KiB), reserved as records are
// first carved from them.
using RecordSlots = LazyTable<RecordSlot, 20, 12>;
static_assert(RecordSlots::SIZE == MAX_ALLOCATOR_RECORDS + 1);

TSLAB_FORK_HELD constinit Mutex g_mutex;  // guards everything below
constinit RecordSlots g_slots;
bool g_slots_ready = false;
std::uint32_t g_carved = 0;                                        // record numbers 1..g_carved exist
std::uint32_t g_free_head = 0, g_free_tail = 0, g_free_count = 0;  // FIFO of dead records

}  // namespace

bool allocator_records_init() noexcept {
  // Held across fork(): the record table is as consistent in the child as here.
  fork_hold_lock(ForkRank::allocator_records, g_mutex);
  return true;
}

void* allocator_record_acquire(std::size_t size, std::uint32_t* number) noexcept {
  allocator_records_init();
  OsPlatform& os = OsPlatform::instance();
  const LockGuard lock(g_mutex);
  if (!g_slots_ready) g_slots.init_locked();
  g_slots_ready = true;
  if (g_free_count > RECORD_QUARANTINE) {
    const std::uint32_t n = g_free_head;
    RecordSlot& slot = *g_slots.write(n);
    g_free_head = slot.next;
    if (--g_free_count == 0) g_free_tail = 0;
    *number = n;
    // The dead allocator in it goes: its pages back, so they read as zero, as
    // the new allocator's tables need (core/allocator_core.h, tail_bytes).
    if (!os.decommit(slot.memory, size)) std::memset(slot.memory, 0, size);
    return slot.memory;
  }
  if (g_carved == MAX_ALLOCATOR_RECORDS) return nullptr;
  const std::uint32_t n = g_carved + 1;
  const std::size_t leaf = n / RecordSlots::LEAF_ENTRIES;
  if (!g_slots.has_leaf(leaf) && !g_slots.add_leaf_locked(leaf)) return nullptr;
  void* memory = os.reserve(size, os.page_size());
  if (memory == nullptr) return nullptr;
  g_carved = n;
  *g_slots.write(n) = RecordSlot{memory, 0};
  *number = n;
  return memory;
}

void allocator_record_release(std::uint32_t number) noexcept {
  const LockGuard lock(g_mutex);
  g_slots.write(number)->next = 0;
  if (g_free_count++ == 0)
    g_free_head = number;
  else
    g_slots.write(g_free_tail)->next = number;
  g_free_tail = number;
}

}  // namespace tslab::detail
