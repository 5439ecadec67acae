// This file contains the bookkeeping of fuzz_api_sequence's shadow model: adding
// and retiring blocks (painted, overlap-checked), what a free or a conversion by
// pointer or handle must do, and the whole-model checks against tslab.
#include "api_world.h"

#include <cinttypes>
#include <cstring>

#include "fuzz_support.h"

namespace fuzz {

namespace {

constexpr std::size_t HEAD_PAINT = 8192;
constexpr unsigned GRANULE_SHIFT = 16;  // tslab's segment map: 64 KiB granules, each one reservation's
constexpr std::size_t TAIL_PAINT = 4096;

// The painted part of a block: its head and its tail (all of a small block).
struct PaintRanges {
  std::size_t head_end;
  std::size_t tail_begin;
  std::size_t tail_end;
};

PaintRanges paint_ranges(std::size_t span) {
  const std::size_t head_end = span < HEAD_PAINT ? span : HEAD_PAINT;
  const std::size_t tail_begin = span - head_end > TAIL_PAINT ? span - TAIL_PAINT : head_end;
  return PaintRanges{head_end, tail_begin, span};
}

const char* kind_name(BlockKind kind) {
  switch (kind) {
    case BlockKind::slab:
      return "slab block";
    case BlockKind::arena:
      return "arena block";
    case BlockKind::thread_arena:
      return "thread-arena block";
  }
  return "block";
}

alignas(64) unsigned char g_arena_buffers[ARENA_BUFFERS][ARENA_BUFFER_BYTES];

bool in_arena_buffers(std::uintptr_t address) {
  const auto first = reinterpret_cast<std::uintptr_t>(&g_arena_buffers[0][0]);
  return address - first < sizeof g_arena_buffers;
}

}  // namespace

unsigned char* arena_buffer(int index) { return g_arena_buffers[index]; }

void require_outcome(const char* what, const Expectation& e, bool succeeded, TslabError error) {
  if (succeeded) {
    FUZZ_REQUIRE(e.may_succeed, "%s succeeded; it must fail (expected error %d)", what, e.error);
    return;
  }
  FUZZ_REQUIRE(!e.must_succeed, "%s failed with error %d (%s); it must succeed", what, error,
               slab_error_string(error));
  if (e.error == TSLAB_OK) return;
  FUZZ_REQUIRE(error == e.error || (e.other_error != TSLAB_OK && error == e.other_error),
               "%s failed with error %d (%s); expected %d (%s)", what, error, slab_error_string(error),
               e.error, slab_error_string(e.error));
}

World::World() {
  allocators.reserve(MAX_CREATIONS + 1);
  blocks.reserve(256);
}

// --- allocators ---------------------------------------------------------------

int World::add_allocator(SlabAllocator* api, std::uint32_t epoch_count, bool hosts_arenas) {
  for (const AllocatorRecord& old : allocators)
    FUZZ_REQUIRE(old.api != api, "a new allocator reuses the record of one destroyed in this input (%p)",
                 static_cast<void*>(api));
  allocators.push_back(
      AllocatorRecord{api, true, hosts_arenas, EpochModel(epoch_count, slab_epoch_era(api, 0))});
  ++allocators_created;
  return static_cast<int>(allocators.size()) - 1;
}

void World::forget_allocator(int a) {
  for (std::size_t i = live_slab_blocks.size(); i-- > 0;) {
    const int b = live_slab_blocks[i];
    if (blocks[b].owner == a) unlink_live(b);
  }
  allocators[a].live = false;
  for (int& slot : slots)
    if (slot == a) slot = NONE;
}

// --- blocks ----------------------------------------------------------------------

int World::add_block(BlockKind kind, int owner, void* p, std::size_t span, std::size_t size,
                     SlabHandle handle, std::uint32_t epoch) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  FUZZ_REQUIRE(address + span > address, "%s at %p of %zu bytes wraps the address space", kind_name(kind), p,
               span);
  auto next = live_by_address_.lower_bound(address);
  if (next != live_by_address_.end())
    FUZZ_REQUIRE(next->first >= address + span, "new %s [%p, +%zu) overlaps live %s at %#" PRIxPTR,
                 kind_name(kind), p, span, kind_name(blocks[next->second].kind), next->first);
  if (next != live_by_address_.begin()) {
    const BlockRecord& before = blocks[std::prev(next)->second];
    FUZZ_REQUIRE(before.address + before.span <= address,
                 "new %s at %p overlaps live %s [%#" PRIxPTR ", +%zu)", kind_name(kind), p,
                 kind_name(before.kind), before.address, before.span);
  }
  if (kind == BlockKind::slab) {
    FUZZ_REQUIRE(handle != 0, "live block %p has handle 0", p);
    FUZZ_REQUIRE(live_by_handle_.count(handle) == 0, "handle %#" PRIx64 " names two live blocks", handle);
  }
  BlockRecord record;
  record.kind = kind;
  record.owner = owner;
  record.address = address;
  record.span = span;
  record.size = size;
  record.handle = handle;
  record.epoch = epoch;
  record.seed = mix64(next_seed++);
  const PaintRanges r = paint_ranges(span);
  paint(p, 0, r.head_end, record.seed);
  paint(p, r.tail_begin, r.tail_end, record.seed);
  blocks.push_back(record);
  const int b = static_cast<int>(blocks.size()) - 1;
  link_live(b);
  if (kind == BlockKind::slab) note_owner(record, owner);
  if (kind == BlockKind::arena && arenas[owner].host != NONE && !in_arena_buffers(address))
    note_owner(record, arenas[owner].host);
  return b;
}

void World::note_owner(const BlockRecord& block, int allocator) {
  const std::uintptr_t last = (block.address + block.span - 1) >> GRANULE_SHIFT;
  for (std::uintptr_t g = block.address >> GRANULE_SHIFT; g <= last; ++g)
    granule_owner_[g] = {allocator, false};
  if (block.kind == BlockKind::slab)
    slab_id_owner_[static_cast<std::uint32_t>(block.handle >> 12) & 0xFFFFFF] = allocator;
}

// A span's reservation may be unmapped any time after its block is freed (its
// allocator keeps a bounded cache of them); an arena chunk is such a block of its
// host, freed when the arena is reset or destroyed.
void World::note_span_freed(const BlockRecord& block) {
  if (block.kind == BlockKind::slab && !block.own_span) return;
  const std::uintptr_t last = (block.address + block.span - 1) >> GRANULE_SHIFT;
  for (std::uintptr_t g = block.address >> GRANULE_SHIFT; g <= last; ++g) {
    const auto it = granule_owner_.find(g);
    if (it != granule_owner_.end()) it->second.released_maybe = true;
  }
}

World::GranuleOwner World::granule_owner(std::uintptr_t address) const {
  const auto it = granule_owner_.find(address >> GRANULE_SHIFT);
  return it != granule_owner_.end() && alive(it->second.allocator) ? it->second : GranuleOwner{};
}

int World::slab_id_owner(SlabHandle h) const {
  const auto it = slab_id_owner_.find(static_cast<std::uint32_t>(h >> 12) & 0xFFFFFF);
  return it != slab_id_owner_.end() && alive(it->second) ? it->second : NONE;
}

void World::require_intact(int b, const char* why) const {
  const BlockRecord& block = blocks[b];
  const auto* p = reinterpret_cast<const void*>(block.address);
  const PaintRanges r = paint_ranges(block.span);
  std::size_t bad = first_damaged(p, 0, r.head_end, block.seed);
  if (bad == r.head_end) bad = first_damaged(p, r.tail_begin, r.tail_end, block.seed);
  FUZZ_REQUIRE(bad == r.tail_end, "%s %p (%zu bytes, epoch %u) is corrupt at offset %zu when %s",
               kind_name(block.kind), p, block.span, block.epoch, bad, why);
}

void World::retire_block(int b, const char* why) {
  require_intact(b, why);
  unlink_live(b);
}

void World::link_live(int b) {
  BlockRecord& block = blocks[b];
  block.live = true;
  live_by_address_.emplace(block.address, b);
  if (block.kind != BlockKind::slab) return;
  live_by_handle_.emplace(block.handle, b);
  block.live_slot = live_slab_blocks.size();
  live_slab_blocks.push_back(b);
}

void World::unlink_live(int b) {
  BlockRecord& block = blocks[b];
  if (!block.live) return;
  block.live = false;
  live_by_address_.erase(block.address);
  note_span_freed(block);
  if (block.kind != BlockKind::slab) return;
  live_by_handle_.erase(block.handle);
  const int last = live_slab_blocks.back();
  live_slab_blocks[block.live_slot] = last;
  blocks[last].live_slot = block.live_slot;
  live_slab_blocks.pop_back();
}

int World::live_block_at(std::uintptr_t address) const {
  const auto it = live_by_address_.find(address);
  return it == live_by_address_.end() ? NONE : it->second;
}

int World::live_block_containing(std::uintptr_t address) const {
  auto it = live_by_address_.upper_bound(address);
  if (it == live_by_address_.begin()) return NONE;
  --it;
  const BlockRecord& block = blocks[it->second];
  return address - block.address < block.span ? it->second : NONE;
}

int World::live_block_with_handle(SlabHandle h) const {
  const auto it = live_by_handle_.find(h);
  return it == live_by_handle_.end() ? NONE : it->second;
}

// --- expectations ------------------------------------------------------------------

Expectation World::expect_free_pointer(int target, std::uintptr_t address) const {
  if (!alive(target)) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  if (address == 0) return succeed();
  const int at = live_block_at(address);
  if (at != NONE && blocks[at].kind == BlockKind::slab && blocks[at].owner == target) return succeed();
  const int inside = live_block_containing(address);
  if (inside != NONE && blocks[inside].kind == BlockKind::slab) {
    // A live block's allocator is live, and its memory stays that allocator's.
    if (blocks[inside].owner != target) return fail(TSLAB_ERR_FOREIGN);
    return fail(TSLAB_ERR_INTERIOR_POINTER);
  }
  const GranuleOwner owner = granule_owner(address);
  if (owner.allocator == NONE || owner.allocator == target) return fail();
  return owner.released_maybe ? Expectation{false, false, TSLAB_ERR_FOREIGN, TSLAB_ERR_NOT_ALLOCATED}
                              : fail(TSLAB_ERR_FOREIGN);
}

Expectation World::expect_free_handle(int target, SlabHandle h) const {
  if (!alive(target)) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  const int b = live_block_with_handle(h);
  if (b != NONE) return blocks[b].owner == target ? succeed() : fail(TSLAB_ERR_FOREIGN);
  const std::uint64_t slab_id = (h >> 12) & 0xFFFFFF;
  if (slab_id == 0) return fail(TSLAB_ERR_INVALID_HANDLE);
  const int owner = slab_id_owner(h);
  return owner != NONE && owner != target ? fail(TSLAB_ERR_FOREIGN) : fail();
}

int World::expect_block_by_pointer(int target, std::uintptr_t address) const {
  if (!alive(target)) return NONE;
  const int b = live_block_at(address);
  return b != NONE && blocks[b].kind == BlockKind::slab && blocks[b].owner == target ? b : NONE;
}

int World::expect_block_by_handle(int target, SlabHandle h) const {
  if (!alive(target)) return NONE;
  const int b = live_block_with_handle(h);
  return b != NONE && blocks[b].owner == target ? b : NONE;
}

// --- arenas and domains --------------------------------------------------------------

int World::add_arena(const ArenaRecord& record) {
  for (const ArenaRecord& old : arenas)
    FUZZ_REQUIRE(old.api != record.api, "a new arena reuses the record of one destroyed in this input (%p)",
                 static_cast<void*>(record.api));
  arenas.push_back(record);
  ++arenas_created;
  return static_cast<int>(arenas.size()) - 1;
}

void World::retire_arena_blocks(int arena) {
  for (int b : arenas[arena].blocks)
    if (blocks[b].live) retire_block(b, "its arena is reset or destroyed");
  arenas[arena].blocks.clear();
}

void World::retire_thread_arena_blocks() {
  for (auto it = live_by_address_.begin(); it != live_by_address_.end();) {
    const int b = it->second;
    ++it;
    if (blocks[b].kind == BlockKind::thread_arena) retire_block(b, "the thread arena is reset or destroyed");
  }
}

int World::add_domain(const DomainRecord& record) {
  for (const DomainRecord& old : domains)
    FUZZ_REQUIRE(old.api != record.api, "a new domain reuses the record of one destroyed in this input (%p)",
                 static_cast<void*>(record.api));
  domains.push_back(record);
  ++domains_created;
  return static_cast<int>(domains.size()) - 1;
}

// --- whole-model checks ----------------------------------------------------------------

void World::verify_epochs(int a) const {
  const AllocatorRecord& rec = allocators[a];
  SlabAllocator* api = rec.api;
  const EpochModel& m = rec.epochs;
  FUZZ_REQUIRE(slab_epoch_count(api) == m.count(), "allocator %d: %u epochs, model %u", a,
               slab_epoch_count(api), m.count());
  FUZZ_REQUIRE(epoch_current(api) == m.current(), "allocator %d: current epoch %u, model %u", a,
               epoch_current(api), m.current());
  for (std::uint32_t e = 0; e < m.count(); ++e) {
    SlabEpochInfo info;
    FUZZ_REQUIRE(slab_epoch_info(api, e, &info), "allocator %d: slab_epoch_info(%u) failed", a, e);
    const EpochLifecycleState state = m.open(e) ? EPOCH_ACTIVE : EPOCH_CLOSING;
    FUZZ_REQUIRE(info.state == state && slab_epoch_state(api, e) == state,
                 "allocator %d epoch %u: state %d, model %d", a, e, info.state, state);
    FUZZ_REQUIRE(info.era == m.era(e) && slab_epoch_era(api, e) == m.era(e),
                 "allocator %d epoch %u: era %" PRIu64 ", model %" PRIu64, a, e, info.era, m.era(e));
    FUZZ_REQUIRE(info.refcount == m.refcount(e), "allocator %d epoch %u: refcount %u, model %u", a, e,
                 info.refcount, m.refcount(e));
    FUZZ_REQUIRE(m.label(e) == info.label, "allocator %d epoch %u: label \"%s\", model \"%s\"", a, e,
                 info.label, m.label(e).c_str());
  }
  SlabEpochInfo info;
  FUZZ_REQUIRE(!slab_epoch_info(api, m.count(), &info),
               "allocator %d: slab_epoch_info of epoch %u (out of range) succeeded", a, m.count());
  FUZZ_REQUIRE(slab_epoch_state(api, m.count()) == EPOCH_CLOSING,
               "allocator %d: an out-of-range epoch reads ACTIVE", a);
  FUZZ_REQUIRE(slab_epoch_era(api, m.count()) == 0, "allocator %d: an out-of-range epoch has an era", a);
}

void World::verify_allocator(int a) const {
  const AllocatorRecord& rec = allocators[a];
  char message[256] = "";
  FUZZ_REQUIRE(slab_check(rec.api, message, sizeof message), "allocator %d: slab_check failed: %s", a,
               message);
  verify_epochs(a);
  std::vector<std::uint64_t> live_per_epoch(rec.epochs.count(), 0);
  for (const int b : live_slab_blocks) {
    const BlockRecord& block = blocks[b];
    if (block.owner != a) continue;
    require_intact(b, "checked");
    void* p = reinterpret_cast<void*>(block.address);
    FUZZ_REQUIRE(slab_usable_size(rec.api, p) == block.span,
                 "live block %p: usable size %zu, when allocated %zu", p, slab_usable_size(rec.api, p),
                 block.span);
    FUZZ_REQUIRE(slab_ptr_to_handle(rec.api, p) == block.handle,
                 "live block %p: handle %#" PRIx64 ", model %#" PRIx64, p, slab_ptr_to_handle(rec.api, p),
                 block.handle);
    FUZZ_REQUIRE(slab_handle_to_ptr(rec.api, block.handle) == p,
                 "live handle %#" PRIx64 " resolves to %p, not %p", block.handle,
                 slab_handle_to_ptr(rec.api, block.handle), p);
    ++live_per_epoch[block.epoch];
  }
  if (rec.hosts_arenas) return;  // arena chunks are its blocks too, unmodelled
  for (std::uint32_t e = 0; e < rec.epochs.count(); ++e) {
    SlabEpochInfo info;
    slab_epoch_info(rec.api, e, &info);
    FUZZ_REQUIRE(info.live_count == live_per_epoch[e],
                 "allocator %d epoch %u: %" PRIu64 " live blocks, model %" PRIu64, a, e, info.live_count,
                 live_per_epoch[e]);
  }
}

void World::verify_everything() const {
  for (std::size_t a = 0; a < allocators.size(); ++a)
    if (allocators[a].live) verify_allocator(static_cast<int>(a));
  for (const auto& [address, b] : live_by_address_)
    if (blocks[b].kind != BlockKind::slab) require_intact(b, "checked");
}

}  // namespace fuzz
