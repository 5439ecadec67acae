// This file contains the shadow model fuzz_api_sequence keeps of everything it
// made through the public C API in one input: allocators (live or destroyed)
// with their epoch rings, every block (its allocator, address, handle, size,
// epoch, fill pattern, live or not), arenas and their blocks, epoch domains and
// the calling thread's stack of entered domains. From it the target derives what
// each call must do, and it checks that tslab did exactly that.
#ifndef TSLAB_FUZZ_API_WORLD_H
#define TSLAB_FUZZ_API_WORLD_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

#include "epoch_domain.h"
#include "epoch_model.h"
#include "slab_alloc.h"
#include "slab_arena.h"

namespace fuzz {

inline constexpr int NONE = -1;
// Allocators an input allocates from; a fourth one hosts the arenas.
inline constexpr int MODEL_SLOTS = 3;
// tslab reuses a destroyed allocator's, arena's or domain's record only after 64
// later destroys of that kind; an input creates fewer, so none of its stale
// pointers ever names a newer object.
inline constexpr std::size_t MAX_CREATIONS = 48;
// Allocators are slow to make (their metadata is mapped and zeroed): a few per input.
inline constexpr std::size_t MAX_ALLOCATORS = 8;
// Caller buffers arenas may start from.
inline constexpr int ARENA_BUFFERS = 4;
inline constexpr std::size_t ARENA_BUFFER_BYTES = 64 * 1024;

struct AllocatorRecord {
  SlabAllocator* api = nullptr;
  bool live = false;
  bool hosts_arenas = false;
  EpochModel epochs;
};

enum class BlockKind : std::uint8_t { slab, arena, thread_arena };

struct BlockRecord {
  BlockKind kind = BlockKind::slab;
  int owner = NONE;  // allocator index (slab) or arena index (arena)
  std::uintptr_t address = 0;
  std::size_t span = 0;  // bytes the block covers: usable size, or the arena request (at least 1)
  std::size_t size = 0;  // bytes requested
  SlabHandle handle = 0;
  std::uint32_t epoch = 0;
  std::uint64_t seed = 0;
  bool live = false;
  std::size_t live_slot = 0;  // position in World::live_slab_blocks while live
  // The block may sit in a span of its own (large or over-aligned), whose
  // reservation tslab may unmap once the block is freed.
  bool own_span = false;
};

struct ArenaRecord {
  SlabArena* api = nullptr;
  bool live = false;
  int host = NONE;  // allocator index, NONE for an arena over a caller buffer only
  std::uint32_t epoch = 0;
  std::uint64_t era = 0;
  TslabArenaOverflow overflow = TSLAB_ARENA_OVERFLOW_GROW;
  bool zero = false;
  bool close_epoch = false;
  int buffer = NONE;  // index of the caller buffer it uses
  std::size_t buffer_size = 0;
  std::vector<int> blocks;
  std::uint64_t bytes_used = 0;
  std::uint64_t resets = 0;
};

struct DomainRecord {
  EpochDomain* api = nullptr;
  bool live = false;
  int allocator = NONE;
  std::uint32_t epoch = 0;
  std::uint64_t era = 0;
  bool auto_close = false;
  bool closed = false;
  std::uint32_t depth = 0;  // times entered on this thread
};

// What a call must do: succeed, fail (with `error` unless it is TSLAB_OK), or
// either (`may_succeed`, and a failure then reads `error` or `other_error`).
struct Expectation {
  bool must_succeed = false;
  bool may_succeed = false;
  TslabError error = TSLAB_OK;
  TslabError other_error = TSLAB_OK;
};

inline Expectation succeed() { return Expectation{true, true, TSLAB_OK, TSLAB_OK}; }
inline Expectation fail(TslabError error = TSLAB_OK) { return Expectation{false, false, error, TSLAB_OK}; }
inline Expectation maybe(TslabError error, TslabError other = TSLAB_OK) {
  return Expectation{false, true, error, other};
}

// Checks the outcome of a call against `e`; `error` is slab_last_error() read by
// the thread that made the call, right after it.
void require_outcome(const char* what, const Expectation& e, bool succeeded, TslabError error);

class World {
 public:
  World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // --- allocators ---
  std::vector<AllocatorRecord> allocators;
  int slots[MODEL_SLOTS] = {NONE, NONE, NONE};
  int arena_host = NONE;
  std::size_t allocators_created = 0;

  bool alive(int a) const { return a != NONE && allocators[a].live; }
  SlabAllocator* api_of(int a) const { return a == NONE ? nullptr : allocators[a].api; }
  // Records a new allocator; a finding if it reuses a record destroyed in this input.
  int add_allocator(SlabAllocator* api, std::uint32_t epoch_count, bool hosts_arenas);
  // After slab_allocator_free: every block of it is gone.
  void forget_allocator(int a);

  // --- blocks ---
  std::vector<BlockRecord> blocks;
  std::vector<int> live_slab_blocks;
  std::uint64_t next_seed = 1;

  // Records a block tslab handed out and paints it; a finding if it overlaps a live one.
  int add_block(BlockKind kind, int owner, void* p, std::size_t span, std::size_t size, SlabHandle handle,
                std::uint32_t epoch);
  // Checks its pattern, then forgets it (call before the free that must succeed).
  void retire_block(int b, const char* why);
  void require_intact(int b, const char* why) const;
  // The live block starting exactly at `address`, the live block containing it.
  int live_block_at(std::uintptr_t address) const;
  int live_block_containing(std::uintptr_t address) const;
  int live_block_with_handle(SlabHandle h) const;

  // --- expectations of calls by pointer or handle ---
  Expectation expect_free_pointer(int target, std::uintptr_t address) const;
  Expectation expect_free_handle(int target, SlabHandle h) const;
  // The block a conversion must find (NONE: the call must report nothing).
  int expect_block_by_pointer(int target, std::uintptr_t address) const;
  int expect_block_by_handle(int target, SlabHandle h) const;

  // --- arenas ---
  std::vector<ArenaRecord> arenas;
  std::size_t arenas_created = 0;
  bool buffer_in_use[ARENA_BUFFERS] = {};

  int add_arena(const ArenaRecord& record);
  void retire_arena_blocks(int arena);
  void retire_thread_arena_blocks();

  // --- domains ---
  std::vector<DomainRecord> domains;
  std::size_t domains_created = 0;
  std::vector<int> entered;  // this thread's entered domains, innermost last

  int add_domain(const DomainRecord& record);

  // --- whole-model checks ---
  // Every live block intact and resolvable, slab_check and the epoch ring of
  // every live allocator as modelled.
  void verify_allocator(int a) const;
  void verify_everything() const;
  void verify_epochs(int a) const;

 private:
  void link_live(int b);
  void unlink_live(int b);

  // The allocator whose memory (a 64 KiB granule) or slab id a block showed. A
  // slab id stays its allocator's until the allocator is destroyed; so does a
  // granule of small slabs. A granule of a freed span may have gone back to the
  // OS (released_maybe), and then no allocator owns it.
  struct GranuleOwner {
    int allocator = NONE;
    bool released_maybe = false;
  };
  GranuleOwner granule_owner(std::uintptr_t address) const;
  int slab_id_owner(SlabHandle h) const;
  void note_owner(const BlockRecord& block, int allocator);
  void note_span_freed(const BlockRecord& block);

  std::map<std::uintptr_t, int> live_by_address_;
  std::unordered_map<SlabHandle, int> live_by_handle_;
  std::unordered_map<std::uintptr_t, GranuleOwner> granule_owner_;
  std::unordered_map<std::uint32_t, int> slab_id_owner_;
};

// The caller buffers arenas start from (one per live arena at most).
unsigned char* arena_buffer(int index);

}  // namespace fuzz

#endif  // TSLAB_FUZZ_API_WORLD_H
