// This file contains the process-wide slab registry's leaves, its id
// blocks and free lists, and generation steps (handle/registry.h).
#include "handle/registry.h"

#include "platform/fork_hooks.h"
#include "platform/mutex.h"
#include "segment/segment_map.h"

namespace tslab::detail {

constinit Registry g_registry;

namespace {

constexpr std::uint32_t BLOCK = SLABS_PER_SEGMENT;

TSLAB_FORK_HELD constinit Mutex g_mutex;  // guards everything below and every owner change
std::uint32_t g_fresh = BLOCK;            // next never-used block; ids 0..BLOCK-1 are never used
std::uint32_t g_free_blocks = 0;          // first id of a free block of BLOCK ids, 0 = none
std::uint32_t g_free_singles = 0;         // a free id, 0 = none
std::atomic<std::uint64_t> g_in_use{0};
bool g_initialised = false;

// The entry of an id handed out at least once (its leaf exists), to write.
RegistryEntry& entry_of_issued(std::uint32_t id) { return *g_registry.write(id); }

std::uint32_t link_of(std::uint32_t id) {
  return static_cast<std::uint32_t>(entry_of_issued(id).link.load(std::memory_order_relaxed));
}
void set_link(std::uint32_t id, std::uintptr_t v) {
  entry_of_issued(id).link.store(v, std::memory_order_relaxed);
}

// Caller holds g_mutex. The first id of a free block, or 0.
std::uint32_t take_block_locked() {
  if (g_free_blocks != 0) {
    const std::uint32_t first = g_free_blocks;
    g_free_blocks = link_of(first);
    return first;
  }
  if (g_fresh > MAX_SLAB_IDS - BLOCK) return 0;
  const std::uint32_t first = g_fresh;
  const std::size_t leaf = first / Registry::LEAF_ENTRIES;
  if (!g_registry.has_leaf(leaf) && !g_registry.add_leaf_locked(leaf)) return 0;
  g_fresh += BLOCK;
  return first;
}

// Caller holds g_mutex. Linearization point of an id's new owner: the release
// store of the word, after the segment it names.
void own_locked(std::uint32_t id, std::uint32_t owner, SegmentHeader* segment) {
  RegistryEntry& e = entry_of_issued(id);
  set_link(id, reinterpret_cast<std::uintptr_t>(segment));
  const std::uint64_t generation = registry_generation(e.word.load(std::memory_order_relaxed));
  e.word.store(generation << 32 | owner, std::memory_order_release);
}

// Caller holds g_mutex. Frees one id; true if it can be used again (not retired).
bool disown_locked(std::uint32_t id) {
  RegistryEntry& e = entry_of_issued(id);
  const std::uint32_t generation = registry_generation(e.word.load(std::memory_order_relaxed));
  // Quiescence point of the id's owner: its allocator is gone, so every handle
  // naming the id reads stale from here.
  const std::uint32_t next = generation >= HANDLE_GEN_MASK ? GEN_RETIRED : generation + 1;
  e.word.store(std::uint64_t{next} << 32, std::memory_order_release);
  set_link(id, 0);
  return next != GEN_RETIRED;
}

}  // namespace

bool registry_init() noexcept {
  // Held across fork(): ids and owners are as consistent in the child as here.
  fork_hold_lock(ForkRank::registry, g_mutex);
  const LockGuard lock(g_mutex);
  if (!g_initialised) g_registry.init_locked();
  g_initialised = true;
  return true;
}

bool registry_acquire_block(std::uint32_t owner, SegmentHeader* segment, std::uint32_t* first) noexcept {
  if (!segment_map_cover(segment->base, segment->size)) return false;
  const LockGuard lock(g_mutex);
  const std::uint32_t id = take_block_locked();
  if (id == 0) return false;
  // Before the owner is published: a reader that finds its allocator as owner
  // reads the segment's first id to find the slab.
  *first = id;
  for (std::uint32_t i = 0; i < BLOCK; ++i) own_locked(id + i, owner, segment);
  g_in_use.fetch_add(BLOCK, std::memory_order_relaxed);
  return true;
}

bool registry_acquire_one(std::uint32_t owner, SegmentHeader* segment, std::uint32_t* id) noexcept {
  if (!segment_map_cover(segment->base, segment->size)) return false;
  const LockGuard lock(g_mutex);
  if (g_free_singles == 0) {
    const std::uint32_t first = take_block_locked();
    if (first == 0) return false;
    for (std::uint32_t i = BLOCK; i-- > 0;) {
      set_link(first + i, g_free_singles);
      g_free_singles = first + i;
    }
  }
  const std::uint32_t one = g_free_singles;
  g_free_singles = link_of(one);
  *id = one;  // before the owner is published, as above
  own_locked(one, owner, segment);
  g_in_use.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void registry_release(const SegmentHeader* segment) noexcept {
  const LockGuard lock(g_mutex);
  const std::uint32_t first = segment->first_id;
  const std::uint32_t count = segment->kind == SlabKind::small ? BLOCK : 1;
  bool whole = count == BLOCK;
  bool usable[BLOCK];
  for (std::uint32_t i = 0; i < count; ++i) {
    usable[i] = disown_locked(first + i);
    whole = whole && usable[i];
  }
  g_in_use.fetch_sub(count, std::memory_order_relaxed);
  if (whole) {
    set_link(first, g_free_blocks);
    g_free_blocks = first;
    return;
  }
  // A large span's id, or a block with a retired id: its usable ids go one by one.
  for (std::uint32_t i = 0; i < count; ++i) {
    if (!usable[i]) continue;
    set_link(first + i, g_free_singles);
    g_free_singles = first + i;
  }
}

std::uint32_t registry_next_generation(std::uint32_t id) noexcept {
  RegistryEntry& e = entry_of_issued(id);
  const std::uint64_t word = e.word.load(std::memory_order_relaxed);
  const std::uint32_t generation = registry_generation(word);
  const std::uint32_t next = generation >= HANDLE_GEN_MASK ? GEN_RETIRED : generation + 1;
  e.word.store(std::uint64_t{next} << 32 | registry_owner(word), std::memory_order_release);
  return next;
}

std::uint64_t registry_ids_in_use() noexcept { return g_in_use.load(std::memory_order_relaxed); }

void registry_set_generation_for_testing(std::uint32_t id, std::uint32_t generation) noexcept {
  RegistryEntry& e = entry_of_issued(id);
  const std::uint64_t word = e.word.load(std::memory_order_relaxed);
  e.word.store(std::uint64_t{generation} << 32 | registry_owner(word), std::memory_order_release);
}

}  // namespace tslab::detail
