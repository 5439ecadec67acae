// This file contains the bootstrap reserve (override/boot_reserve.h).
//
// The reserve is cut into blocks of power-of-two capacities, 16 bytes to
// 1 MiB (the block's class), each at an address that is a multiple of its
// capacity: any block of a class serves any alignment up to its capacity. A
// freed block goes onto its class's free list and is reused as it is. An
// allocation takes a block from its class's list, else cuts one from the
// untouched end of the reserve, else splits a larger free block, else merges:
// it takes every listed block off the lists and lists their bytes again as the
// largest aligned blocks that fit, so that blocks split for small requests are
// whole again for a large one; a run of them that ends at the untouched end
// joins it instead. One merge at a time: an allocation that finds another under
// way fails rather than wait. A fork waits for a merge under way (which never
// waits for anything) and holds off new ones until it is done, so that no
// child starts with the blocks a merge had taken off the lists. The bytes
// skipped to align a block cut from the end, and the rest of a split block, go
// onto the lists the same way.
//
// The free lists are stacks of 16-byte granule numbers, each head one 64-bit
// word: the top granule and a count of changes, so that a block popped and
// pushed back while a pop was reading it makes that pop's exchange fail (no
// ABA). The links live beside the reserve, never in a block a caller holds.
// Two bitmaps, a bit per granule, record where a block was ever handed out and
// which blocks are allocated now, so a free is checked exactly: a double free,
// and a free of any other address in the reserve, are refused, a free inside
// an allocated block as an interior pointer.
#include "override/boot_reserve.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstdint>

#include "platform/fork_hooks.h"

namespace tslab::detail {
namespace {

constexpr std::size_t BOOT_BYTES = std::size_t{1} << 20;
constexpr std::size_t GRANULE = 16;
constexpr std::size_t GRANULES = BOOT_BYTES / GRANULE;
constexpr std::size_t BITMAP_WORDS = GRANULES / 64;
constexpr std::uint32_t CLASSES = 17;  // capacity GRANULE << class: 16 B .. 1 MiB
constexpr std::uint32_t NO_CLASS = CLASSES;

alignas(64) constinit char g_boot[BOOT_BYTES];
constinit std::atomic<std::size_t> g_cut{0};  // bytes from the start cut into blocks
// The class of the block starting at a granule (written before the block is
// pushed or handed out, read after its bits say it is).
constinit std::atomic<std::uint8_t> g_class[GRANULES];
constinit std::atomic<std::uint64_t> g_started[BITMAP_WORDS];  // a block was handed out here
constinit std::atomic<std::uint64_t> g_live[BITMAP_WORDS];     // ...and is allocated now
// Free lists: a head per class (top granule + 1, change count << 32) and the
// link of each listed block (next granule + 1, 0 at the bottom).
constinit std::atomic<std::uint64_t> g_free_heads[CLASSES];
constinit std::atomic<std::uint32_t> g_links[GRANULES];

std::size_t capacity(std::uint32_t cls) noexcept { return GRANULE << cls; }

// The smallest class whose capacity holds `size` and is a multiple of
// `alignment`; NO_CLASS if none.
std::uint32_t class_for(std::size_t size, std::size_t alignment) noexcept {
  const std::size_t need = size > alignment ? size : alignment;
  for (std::uint32_t c = 0; c < CLASSES; ++c)
    if (capacity(c) >= need) return c;
  return NO_CLASS;
}

std::uint64_t head_word(std::uint32_t top, std::uint64_t old) noexcept {
  return (((old >> 32) + 1) << 32) | top;
}

void push(std::uint32_t cls, std::size_t granule) noexcept {
  std::atomic<std::uint64_t>& head = g_free_heads[cls];
  std::uint64_t old = head.load(std::memory_order_relaxed);
  for (;;) {
    g_links[granule].store(static_cast<std::uint32_t>(old), std::memory_order_relaxed);
    // Linearization point of a push: the exchange that makes the block the top.
    if (head.compare_exchange_weak(old, head_word(static_cast<std::uint32_t>(granule + 1), old),
                                   std::memory_order_release, std::memory_order_relaxed))
      return;
  }
}

// The granule + 1 of a block popped off the class's list, 0 if it is empty.
std::uint32_t pop(std::uint32_t cls) noexcept {
  std::atomic<std::uint64_t>& head = g_free_heads[cls];
  std::uint64_t old = head.load(std::memory_order_acquire);
  for (;;) {
    const auto top = static_cast<std::uint32_t>(old);
    if (top == 0) return 0;
    const std::uint32_t next = g_links[top - 1].load(std::memory_order_relaxed);
    // Linearization point of a pop: the exchange that moves the top; it fails if
    // the head changed since it was read (the change count moves every time).
    if (head.compare_exchange_weak(old, head_word(next, old), std::memory_order_acquire,
                                   std::memory_order_acquire))
      return top;
  }
}

// Puts the bytes [from, to) of the reserve onto the free lists, as the largest
// blocks that fit at addresses that are multiples of their capacities.
void free_range(std::size_t from, std::size_t to) noexcept {
  const auto base = reinterpret_cast<std::uintptr_t>(g_boot);
  while (from < to) {
    std::uint32_t cls = 0;
    while (cls + 1 < CLASSES && (base + from) % capacity(cls + 1) == 0 && from + capacity(cls + 1) <= to)
      ++cls;
    g_class[from / GRANULE].store(static_cast<std::uint8_t>(cls), std::memory_order_relaxed);
    push(cls, from / GRANULE);
    from += capacity(cls);
  }
}

// The granule + 1 of a block of the class cut from the untouched end, 0 if
// it has no room.
std::uint32_t cut(std::uint32_t cls) noexcept {
  const auto base = reinterpret_cast<std::uintptr_t>(g_boot);
  const std::size_t size = capacity(cls);
  std::size_t cut_so_far = g_cut.load(std::memory_order_relaxed);
  for (;;) {
    const std::size_t start = ((base + cut_so_far + size - 1) & ~(size - 1)) - base;
    if (start > BOOT_BYTES - size) return 0;
    // Reservation point of [cut_so_far, start + size): one compare-and-swap.
    if (g_cut.compare_exchange_weak(cut_so_far, start + size, std::memory_order_relaxed)) {
      free_range(cut_so_far, start);
      return static_cast<std::uint32_t>(start / GRANULE + 1);
    }
  }
}

// The granule + 1 of a block of the class split off a larger free block, 0 if
// there is none.
std::uint32_t split(std::uint32_t cls) noexcept {
  for (std::uint32_t larger = cls + 1; larger < CLASSES; ++larger) {
    if (const std::uint32_t top = pop(larger)) {
      const std::size_t start = (top - 1) * GRANULE;
      free_range(start + capacity(cls), start + capacity(larger));
      return top;
    }
  }
  return 0;
}

std::uint64_t bit_of(std::size_t granule) noexcept { return std::uint64_t{1} << (granule % 64); }

// 0, or the token of the thread merging (or forking: fork_prepare).
TSLAB_FORK_HELD constinit std::atomic<std::uintptr_t> g_merging{0};
[[gnu::tls_model("initial-exec")]] thread_local constinit char tl_token = 0;
std::uintptr_t my_token() noexcept { return reinterpret_cast<std::uintptr_t>(&tl_token); }
constinit std::uint64_t g_merge_free[BITMAP_WORDS];  // the merge's blocks, a bit per granule

// Lists the free granules [first, end) again, merged; a run that ends where the
// untouched end starts becomes part of it (unless a cut moved it meanwhile).
void relist_run(std::size_t first, std::size_t end) noexcept {
  std::size_t cut_at = end * GRANULE;
  if (g_cut.compare_exchange_strong(cut_at, first * GRANULE, std::memory_order_relaxed)) return;
  free_range(first * GRANULE, end * GRANULE);
}

// Takes every block off the lists and lists their bytes again, merged; false if
// another merge is under way (perhaps on this thread, interrupted by a signal:
// never waited for). A block freed or taken meanwhile by another thread is
// simply not part of this merge: the blocks this one popped are its own until
// it lists them again.
bool merge_free_blocks() noexcept {
  std::uintptr_t idle = 0;
  if (!g_merging.compare_exchange_strong(idle, my_token(), std::memory_order_acquire)) return false;
  for (std::uint64_t& w : g_merge_free) w = 0;
  for (std::uint32_t cls = 0; cls < CLASSES; ++cls) {
    while (const std::uint32_t top = pop(cls)) {
      const std::size_t first = top - 1, count = capacity(cls) / GRANULE;
      for (std::size_t g = first; g < first + count; ++g) g_merge_free[g / 64] |= bit_of(g);
    }
  }
  for (std::size_t g = 0; g < GRANULES;) {
    if (g_merge_free[g / 64] == 0) {  // a word with no free granule
      g = (g / 64 + 1) * 64;
      continue;
    }
    if ((g_merge_free[g / 64] & bit_of(g)) == 0) {
      ++g;
      continue;
    }
    std::size_t end = g + 1;
    while (end < GRANULES && (g_merge_free[end / 64] & bit_of(end)) != 0) ++end;
    relist_run(g, end);
    g = end;
  }
  g_merging.store(0, std::memory_order_release);
  return true;
}

TSLAB_FORK_HELD bool g_fork_holds_merge = false;  // written by the forking thread only

void fork_prepare() noexcept {
  // This thread's own merge, interrupted (fork from a signal handler): the
  // thread finishes it after the handler returns, in the parent and the child.
  if (g_merging.load(std::memory_order_acquire) == my_token()) return;
  std::uintptr_t idle = 0;
  while (!g_merging.compare_exchange_weak(idle, my_token(), std::memory_order_acquire)) {
    idle = 0;
    sched_yield();  // a merge takes no lock and ends
  }
  g_fork_holds_merge = true;
}
TSLAB_FORK_STEP void fork_release() noexcept {
  if (!g_fork_holds_merge) return;
  g_fork_holds_merge = false;
  g_merging.store(0, std::memory_order_release);
}
[[gnu::constructor]] void install_fork_handlers() {
  ::pthread_atfork(fork_prepare, fork_release, fork_release);
}

// The granule + 1 of a block of the class: listed, else cut from the untouched
// end, else split off a larger one; 0 if none.
std::uint32_t take(std::uint32_t cls) noexcept {
  std::uint32_t top = pop(cls);
  if (top == 0) top = cut(cls);
  if (top == 0) top = split(cls);
  return top;
}

// The granule number of p, or GRANULES if no block can start at p.
std::size_t granule_of(const void* p) noexcept {
  const auto offset = static_cast<std::size_t>(static_cast<const char*>(p) - g_boot);
  return offset % GRANULE == 0 ? offset / GRANULE : GRANULES;
}

// Whether `p` (in the reserve) lies inside an allocated block, after its
// start. Blocks lie at addresses that are multiples of their capacity, so only
// one start per class can hold `p`: the highest such multiple at or below it.
// Read without a lock: `p` is a bad free either way, and this picks only the
// error it is reported with.
bool inside_allocated_block(const void* p) noexcept {
  const auto base = reinterpret_cast<std::uintptr_t>(g_boot);
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  for (std::uint32_t cls = 0; cls < CLASSES; ++cls) {
    const std::uintptr_t start = address & ~(std::uintptr_t{capacity(cls)} - 1);
    if (start < base) break;
    const std::size_t granule = (start - base) / GRANULE;
    if ((g_live[granule / 64].load(std::memory_order_acquire) & bit_of(granule)) != 0 &&
        g_class[granule].load(std::memory_order_relaxed) == cls)
      return start != address;
  }
  return false;
}

}  // namespace

bool is_boot(const void* p) noexcept {
  const auto* c = static_cast<const char*>(p);
  return c >= g_boot && c < g_boot + BOOT_BYTES;
}

void* boot_alloc(std::size_t size, std::size_t alignment) noexcept {
  const std::uint32_t cls = class_for(size, alignment);
  if (cls == NO_CLASS) return nullptr;
  std::uint32_t top = take(cls);
  if (top == 0 && merge_free_blocks()) top = take(cls);
  if (top == 0) return nullptr;
  const std::size_t granule = top - 1;
  g_class[granule].store(static_cast<std::uint8_t>(cls), std::memory_order_relaxed);
  g_started[granule / 64].fetch_or(bit_of(granule), std::memory_order_release);
  // Linearization point of a block's allocation: its live bit set.
  g_live[granule / 64].fetch_or(bit_of(granule), std::memory_order_release);
  return g_boot + granule * GRANULE;
}

TslabError boot_free(const void* p) noexcept {
  const std::size_t granule = granule_of(p);
  if (granule == GRANULES || (g_started[granule / 64].load(std::memory_order_acquire) & bit_of(granule)) == 0)
    return inside_allocated_block(p) ? TSLAB_ERR_INTERIOR_POINTER : TSLAB_ERR_NOT_ALLOCATED;
  // Linearization point of a block's free: the one that clears its live bit.
  const std::uint64_t before = g_live[granule / 64].fetch_and(~bit_of(granule), std::memory_order_acq_rel);
  // Not allocated here now: freed already, or the start of a block since
  // merged into one that holds `p` inside it.
  if ((before & bit_of(granule)) == 0)
    return inside_allocated_block(p) ? TSLAB_ERR_INTERIOR_POINTER : TSLAB_ERR_DOUBLE_FREE;
  push(g_class[granule].load(std::memory_order_relaxed), granule);
  return TSLAB_OK;
}

std::size_t boot_size(const void* p) noexcept {
  const std::size_t granule = granule_of(p);
  if (granule == GRANULES || (g_live[granule / 64].load(std::memory_order_acquire) & bit_of(granule)) == 0)
    return 0;
  return capacity(g_class[granule].load(std::memory_order_relaxed));
}

}  // namespace tslab::detail
