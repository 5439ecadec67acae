// This file contains fuzz_api_sequence's arena operations: arenas over the
// arena-host allocator (any chunk size, overflow policy, zeroing, sharing, epoch
// and caller buffer, valid or not), their allocations (every block aligned,
// zeroed when promised, overlapping nothing), reset, destroy (twice, too) and
// statistics; and the calling thread's thread-local arena.
#include <cinttypes>
#include <cstring>

#include "api_ops.h"
#include "tslab/options.h"

namespace fuzz {

namespace {

constexpr std::size_t KiB = 1024, MiB = KiB * KiB;
constexpr std::size_t LARGEST_BLOCK = 4 * MiB;  // larger ones could be huge spans zeroed in full

bool zeroed(const void* p, std::size_t n) {
  const auto* bytes = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (bytes[i] != 0) return false;
  return true;
}

std::size_t pick_arena_size(ByteReader& r) {
  switch (r.u8() % 10) {
    case 0:
      return 0;
    case 1:
    case 2:
      return 1 + r.u8() % 64;
    case 3:
    case 4:
      return 1 + r.u16() % (4 * KiB);
    case 5:
      return r.u32() % (256 * KiB);
    case 6:
      return 256 * KiB + r.u32() % (LARGEST_BLOCK - 256 * KiB);
    case 7:
      return SLAB_ARENA_MAX_REQUEST + 1 + r.u16();
    case 8:
      return SIZE_MAX - r.u8();
    default:
      return 1 + r.u8();
  }
}

std::size_t pick_chunk_size(ByteReader& r) {
  switch (r.u8() % 8) {
    case 0:
      return SLAB_ARENA_MIN_CHUNK;
    case 1:
      return 4 * KiB;
    case 2:
      return 64 * KiB;
    case 3:
      return MiB;
    case 4:
      return SLAB_ARENA_MIN_CHUNK + r.u16();
    case 5:
      return SLAB_ARENA_MIN_CHUNK - 1;
    case 6:
      return SLAB_ARENA_MAX_CHUNK + 1 + r.u16();
    default:
      return 0;
  }
}

int free_buffer(const World& w) {
  for (int i = 0; i < ARENA_BUFFERS; ++i)
    if (!w.buffer_in_use[i]) return i;
  return NONE;
}

// Chooses the caller buffer (or an inconsistent one); returns the pool index used.
int pick_buffer(const World& w, ByteReader& r, SlabArenaOptions* o) {
  const std::uint8_t mode = r.u8() % 8;
  const std::size_t size = 1 + r.u16() % ARENA_BUFFER_BYTES;
  const int index = free_buffer(w);
  switch (mode) {
    case 0:
    case 1:
      if (index == NONE) return NONE;
      o->buffer = arena_buffer(index);
      o->buffer_size = size;
      return index;
    case 2:
      if (index == NONE) return NONE;
      o->buffer = arena_buffer(index);  // a buffer of no bytes: inconsistent
      o->buffer_size = 0;
      return index;
    case 3:
      o->buffer_size = size;  // bytes with no buffer: inconsistent
      return NONE;
    case 4:
      o->buffer = reinterpret_cast<void*>(UINTPTR_MAX - 63);  // wraps the address space
      o->buffer_size = 4096;
      return NONE;
    default:
      return NONE;
  }
}

// slab_arena.h's rules for options that are consistent.
bool options_consistent(bool with_allocator, const SlabArenaOptions& o) {
  if (o.overflow != TSLAB_ARENA_OVERFLOW_ERROR && o.overflow != TSLAB_ARENA_OVERFLOW_GROW &&
      o.overflow != TSLAB_ARENA_OVERFLOW_FALLBACK)
    return false;
  if ((o.buffer == nullptr) != (o.buffer_size == 0)) return false;
  if (o.buffer != nullptr && reinterpret_cast<std::uintptr_t>(o.buffer) > UINTPTR_MAX - o.buffer_size)
    return false;
  if (!with_allocator)
    return o.buffer != nullptr && o.overflow == TSLAB_ARENA_OVERFLOW_ERROR && !o.close_epoch;
  const bool takes_chunks = o.buffer == nullptr || o.overflow == TSLAB_ARENA_OVERFLOW_GROW;
  return !takes_chunks || (o.chunk_size >= SLAB_ARENA_MIN_CHUNK && o.chunk_size <= SLAB_ARENA_MAX_CHUNK);
}

Expectation expect_create(const World& w, int host, const SlabArenaOptions& o, std::uint32_t* epoch) {
  if (host != NONE && !w.alive(host)) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  if (!options_consistent(host != NONE, o)) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  if (host == NONE) return succeed();
  const EpochModel& epochs = w.allocators[host].epochs;
  *epoch = o.epoch == SLAB_ARENA_CURRENT_EPOCH ? epochs.current() : o.epoch;
  if (!epochs.in_range(*epoch)) return fail(TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  if (!epochs.open(*epoch)) return fail(TSLAB_ERR_EPOCH_CLOSING);
  return succeed();
}

// An arena takes new chunks and fallback blocks only while its epoch activation is open.
bool still_bound(const World& w, const ArenaRecord& a) {
  if (a.host == NONE) return false;
  const EpochModel& epochs = w.allocators[a.host].epochs;
  return epochs.open(a.epoch) && epochs.era(a.epoch) == a.era;
}

Expectation expect_arena_alloc(const World& w, const ArenaRecord& a, std::size_t size,
                               std::size_t alignment) {
  if (!valid_alignment(alignment)) return fail(TSLAB_ERR_BAD_ALIGNMENT);
  if (size > SLAB_ARENA_MAX_REQUEST) return fail(TSLAB_ERR_SIZE_TOO_LARGE);
  if (!a.live) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  if (a.overflow == TSLAB_ARENA_OVERFLOW_ERROR) return maybe(TSLAB_ERR_ARENA_FULL);
  if (!still_bound(w, a)) return maybe(TSLAB_ERR_EPOCH_CLOSING, TSLAB_ERR_STALE_EPOCH);
  if (alignment > 64 * MiB) return maybe(TSLAB_ERR_OUT_OF_MEMORY);
  return succeed();
}

void record_arena_block(World& w, int arena, void* p, std::size_t size, std::size_t alignment, BlockKind kind,
                        bool zero) {
  const std::size_t span = size == 0 ? 1 : size;
  FUZZ_REQUIRE(reinterpret_cast<std::uintptr_t>(p) % alignment == 0, "arena block %p is not %zu-byte aligned",
               p, alignment);
  const std::size_t checked = span < 16 * KiB ? span : 16 * KiB;
  FUZZ_REQUIRE(!zero || zeroed(p, checked), "arena block %p of %zu bytes does not read as zero", p, size);
  const int b = w.add_block(kind, arena, p, span, size, 0, 0);
  if (kind == BlockKind::arena) w.arenas[arena].blocks.push_back(b);
}

int pick_arena(const World& w, ByteReader& r) {
  const std::uint8_t v = r.u8();
  if (w.arenas.empty()) return NONE;
  return v % static_cast<int>(w.arenas.size());
}

void ensure_arena_host(World& w, ByteReader& r) {
  if (w.arena_host != NONE) return;  // one per input, outside MAX_ALLOCATORS
  w.arena_host = create_allocator(w, 1 + r.u8() % 8, true);
}

bool thread_arena_zeroes() {
  std::uint64_t zero = 1;
  return tslab_option_get("TSLAB_ARENA_ZERO", &zero) && zero != 0;
}

void release_buffer(World& w, ArenaRecord& a) {
  if (a.buffer != NONE) w.buffer_in_use[a.buffer] = false;
  a.buffer = NONE;
}

}  // namespace

void op_arena_create(World& w, ByteReader& r) {
  ensure_arena_host(w, r);
  const std::uint8_t how = r.u8();
  SlabArenaOptions o{};
  o.chunk_size = pick_chunk_size(r);
  const std::uint8_t overflow = r.u8() % 4;
  o.overflow = static_cast<TslabArenaOverflow>(overflow);  // 3: in the enum's range, not a policy
  o.zero_on_reset = (how & 1) != 0;
  o.shared = (how & 2) != 0;
  o.close_epoch = (how & 4) != 0;
  o.epoch = (how & 0x18) != 0 ? SLAB_ARENA_CURRENT_EPOCH : pick_epoch(w, w.arena_host, r);
  const int buffer = pick_buffer(w, r, &o);
  const std::uint8_t who = how >> 5;
  const bool null_allocator = who == 7;
  int host = w.arena_host;
  if (who == 6) {
    const int dead = pick_destroyed_allocator(w, r);
    if (dead != NONE) host = dead;
  }
  if (null_allocator) host = NONE;
  if (w.arenas_created >= MAX_CREATIONS || (!null_allocator && host == NONE)) return;
  std::uint32_t epoch = 0;
  const Expectation want = expect_create(w, host, o, &epoch);
  prime_last_error();
  SlabArena* api = slab_arena_create(w.api_of(host), &o);
  count_operation();
  require_outcome("slab_arena_create", want, api != nullptr, slab_last_error());
  if (api == nullptr) return;
  if (o.buffer != nullptr && o.zero_on_reset)
    FUZZ_REQUIRE(zeroed(o.buffer, o.buffer_size), "a zeroing arena left its caller buffer unzeroed");
  ArenaRecord a;
  a.api = api;
  a.live = true;
  a.host = host;
  a.epoch = epoch;
  a.era = host == NONE ? 0 : w.allocators[host].epochs.era(epoch);
  a.overflow = o.overflow;
  a.zero = o.zero_on_reset;
  a.close_epoch = o.close_epoch;
  a.buffer = buffer;
  a.buffer_size = o.buffer_size;
  if (buffer != NONE) w.buffer_in_use[buffer] = true;
  w.add_arena(a);
}

void op_arena_alloc(World& w, ByteReader& r) {
  const int a = pick_arena(w, r);
  const std::size_t size = pick_arena_size(r);
  std::size_t alignment = pick_alignment(r);
  if (alignment > 1 && alignment <= 4096 && r.flag()) alignment = 1 << (r.u8() % 5);
  if (a == NONE) return;
  const ArenaRecord& arena = w.arenas[a];
  const Expectation want = expect_arena_alloc(w, arena, size, alignment);
  prime_last_error();
  void* p = slab_arena_alloc(arena.api, size, alignment);
  count_operation();
  require_outcome("slab_arena_alloc", want, p != nullptr, slab_last_error());
  if (p == nullptr) return;
  record_arena_block(w, a, p, size, alignment, BlockKind::arena, arena.zero);
  w.arenas[a].bytes_used += size == 0 ? 1 : size;
}

void op_arena_reset(World& w, ByteReader& r) {
  const int a = pick_arena(w, r);
  if (a == NONE) return;
  ArenaRecord& arena = w.arenas[a];
  if (arena.live) w.retire_arena_blocks(a);
  prime_last_error();
  const bool ok = slab_arena_reset(arena.api);
  count_operation();
  require_outcome("slab_arena_reset", arena.live ? succeed() : fail(TSLAB_ERR_INVALID_ARGUMENT), ok,
                  slab_last_error());
  if (!ok) return;
  arena.bytes_used = 0;
  ++arena.resets;
  if (arena.buffer != NONE && arena.zero)
    FUZZ_REQUIRE(zeroed(arena_buffer(arena.buffer), arena.buffer_size),
                 "reset left caller-buffer bytes unzeroed");
}

void destroy_arena(World& w, int a) {
  ArenaRecord& arena = w.arenas[a];
  Expectation want = arena.live ? succeed() : fail(TSLAB_ERR_INVALID_ARGUMENT);
  bool closes = false;
  if (arena.live && arena.close_epoch) {
    closes = w.allocators[arena.host].epochs.era(arena.epoch) == arena.era;
    if (!closes) want = fail(TSLAB_ERR_STALE_EPOCH);
  }
  if (arena.live) w.retire_arena_blocks(a);
  prime_last_error();
  const bool ok = slab_arena_destroy(arena.api);
  count_operation();
  require_outcome("slab_arena_destroy", want, ok, slab_last_error());
  if (closes) w.allocators[arena.host].epochs.close_era(arena.epoch, arena.era);
  arena.live = false;
  release_buffer(w, arena);
}

void op_arena_destroy(World& w, ByteReader& r) {
  const int a = pick_arena(w, r);
  if (a != NONE) destroy_arena(w, a);
}

void op_arena_stats(World& w, ByteReader& r) {
  const int a = pick_arena(w, r);
  if (a == NONE) return;
  const ArenaRecord& arena = w.arenas[a];
  SlabArenaStats stats{};
  prime_last_error();
  const bool ok = slab_arena_stats(arena.api, r.flag() ? nullptr : &stats);
  const TslabError error = slab_last_error();
  count_operation();
  if (!ok) {
    FUZZ_REQUIRE(error == TSLAB_ERR_INVALID_ARGUMENT, "slab_arena_stats failed with error %d", error);
    return;
  }
  FUZZ_REQUIRE(arena.live, "slab_arena_stats of a destroyed arena succeeded");
  FUZZ_REQUIRE(stats.bytes_used == arena.bytes_used && stats.resets == arena.resets && stats.chunks >= 1,
               "arena stats: %" PRIu64 " bytes used, %" PRIu64 " resets, %" PRIu64 " chunks; model %" PRIu64
               " bytes, %" PRIu64 " resets",
               stats.bytes_used, stats.resets, stats.chunks, arena.bytes_used, arena.resets);
}

void destroy_thread_arena(World& w) {
  w.retire_thread_arena_blocks();
  FUZZ_REQUIRE(slab_thread_arena_destroy(), "slab_thread_arena_destroy failed");
  count_operation();
}

void op_thread_arena(World& w, ByteReader& r) {
  const std::uint8_t how = r.u8() % 6;
  if (how == 0) {
    w.retire_thread_arena_blocks();
    FUZZ_REQUIRE(slab_thread_arena_reset(), "slab_thread_arena_reset failed");
    count_operation();
    return;
  }
  if (how == 1) return destroy_thread_arena(w);
  if (how == 2) {
    // The thread's arena is destroyed only through slab_thread_arena_destroy.
    SlabArena* mine = slab_thread_arena();
    FUZZ_REQUIRE(mine != nullptr, "slab_thread_arena failed: %d", slab_last_error());
    prime_last_error();
    FUZZ_REQUIRE(!slab_arena_destroy(mine) && slab_last_error() == TSLAB_ERR_INVALID_ARGUMENT,
                 "slab_arena_destroy of the thread arena was not refused");
    count_operation(2);
    return;
  }
  const std::size_t size = pick_arena_size(r);
  const std::size_t alignment = pick_alignment(r);
  Expectation want = succeed();
  if (!valid_alignment(alignment))
    want = fail(TSLAB_ERR_BAD_ALIGNMENT);
  else if (size > SLAB_ARENA_MAX_REQUEST)
    want = fail(TSLAB_ERR_SIZE_TOO_LARGE);
  else if (alignment > 64 * MiB)
    want = maybe(TSLAB_ERR_OUT_OF_MEMORY);
  prime_last_error();
  void* p = slab_thread_arena_alloc(size, alignment);
  count_operation();
  require_outcome("slab_thread_arena_alloc", want, p != nullptr, slab_last_error());
  if (p != nullptr)
    record_arena_block(w, NONE, p, size, alignment, BlockKind::thread_arena, thread_arena_zeroes());
}

}  // namespace fuzz
