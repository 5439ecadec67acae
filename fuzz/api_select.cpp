// This file contains the argument selectors of fuzz_api_sequence: how input
// bytes become allocators, epochs, sizes, alignments, blocks, addresses and
// handles, biased towards the values where tslab's checks have edges.
#include <cstdint>

#include "api_ops.h"
#include "tslab/options.h"

namespace fuzz {

namespace {

constexpr std::size_t KiB = 1024, MiB = KiB * KiB, GiB = MiB * KiB;
constexpr std::size_t LARGEST_REQUEST = std::size_t{1} << 46;

// A signed offset of up to +-2^23 bytes from the next three bytes.
std::int64_t signed_delta(ByteReader& r) {
  const std::uint32_t raw = r.u8() | (std::uint32_t{r.u8()} << 8) | (std::uint32_t{r.u8()} << 16);
  return static_cast<std::int64_t>(raw) - (std::int64_t{1} << 23);
}

std::size_t class_boundary_size(ByteReader& r) {
  const std::uint32_t cls = r.u8() % slab_size_class_count();
  const std::size_t size = slab_class_size(cls);
  switch (r.u8() % 3) {
    case 0:
      return size - 1;
    case 1:
      return size;
    default:
      return size + 1;
  }
}

std::size_t refused_size(ByteReader& r) {
  switch (r.u8() % 4) {
    case 0:
      return SIZE_MAX;
    case 1:
      return SIZE_MAX - r.u16();
    case 2:
      return LARGEST_REQUEST + 1 + r.u16();
    default:
      return std::size_t{1} << 63;
  }
}

SlabHandle with_slot(SlabHandle h, std::uint64_t slot) {
  return (h & ~std::uint64_t{0xFFF}) | (slot & 0xFFF);
}
SlabHandle with_slab_id(SlabHandle h, std::uint64_t id) {
  return (h & ~(std::uint64_t{0xFFFFFF} << 12)) | ((id & 0xFFFFFF) << 12);
}
SlabHandle with_generation(SlabHandle h, std::uint64_t generation) {
  return (h & ((std::uint64_t{1} << 36) - 1)) | (generation << 36);
}

}  // namespace

bool valid_alignment(std::size_t alignment) {
  return alignment != 0 && (alignment & (alignment - 1)) == 0 && alignment <= GiB;
}

void prime_last_error() { tslab_option_set("TSLAB_FUZZ_PRIMING_NO_SUCH_OPTION", ""); }

std::optional<int> pick_allocator(const World& w, ByteReader& r, bool allow_arena_host) {
  const std::uint8_t v = r.u8();
  switch (v % 8) {
    case 6: {
      const int dead = pick_destroyed_allocator(w, r);
      return dead == NONE ? std::nullopt : std::optional<int>(dead);
    }
    case 7:
      return NONE;  // a NULL allocator
    case 5:
      if (allow_arena_host && w.arena_host != NONE) return w.arena_host;
      [[fallthrough]];
    default: {
      const int a = w.slots[v % MODEL_SLOTS];
      return a == NONE ? std::nullopt : std::optional<int>(a);
    }
  }
}

int pick_destroyed_allocator(const World& w, ByteReader& r) {
  int dead = 0;
  for (const AllocatorRecord& a : w.allocators) dead += a.live ? 0 : 1;
  if (dead == 0) return NONE;
  int wanted = r.u8() % dead;
  for (std::size_t i = 0; i < w.allocators.size(); ++i)
    if (!w.allocators[i].live && wanted-- == 0) return static_cast<int>(i);
  return NONE;
}

std::uint32_t pick_epoch(const World& w, int a, ByteReader& r) {
  const std::uint8_t v = r.u8();
  const bool live = w.alive(a);
  const std::uint32_t count = live ? w.allocators[a].epochs.count() : SLAB_DEFAULT_EPOCH_COUNT;
  if (v < 160) return live ? w.allocators[a].epochs.current() : 0;
  switch (v % 4) {
    case 0:
    case 1:
      return r.u8() % count;
    case 2:
      return count;  // the first epoch out of range
    default:
      return r.u32();
  }
}

std::size_t pick_size(ByteReader& r) {
  switch (r.u8() % 16) {
    case 0:
      return 0;
    case 1:
    case 2:
      return 1 + r.u8() % 16;
    case 3:
    case 4:
    case 5:
      return 1 + r.u16() % 1024;
    case 6:
    case 7:
      return class_boundary_size(r);
    case 8:
      return 16 * KiB;
    case 9:
      return 16 * KiB + 1;
    case 10:
    case 11:
      return 16 * KiB + r.u32() % MiB;
    case 12:
      return std::size_t{1} << (20 + r.u8() % 13);  // 1 MiB .. 4 GiB
    case 13:
      return refused_size(r);
    default:
      return 1 + r.u16() % (16 * KiB);
  }
}

std::size_t pick_alignment(ByteReader& r) {
  switch (r.u8() % 10) {
    case 0:
      return 0;
    case 1: {
      const std::size_t odd = (r.u16() | 1u) + 2;  // 3, 5, ... never a power of two
      return odd;
    }
    case 2:
      return std::size_t{24} << (r.u8() % 8);  // even, not a power of two
    case 3:
      return std::size_t{1} << (31 + r.u8() % 33);  // beyond 1 GiB (and 1 << 63)
    case 4:
      return std::size_t{1} << (r.u8() % 31);  // any supported power, up to 1 GiB
    default:
      return std::size_t{1} << (r.u8() % 13);  // up to a page
  }
}

int pick_block(const World& w, ByteReader& r) {
  const std::uint16_t v = r.u16();
  if (w.blocks.empty()) return NONE;
  if ((v & 1) == 0 && !w.live_slab_blocks.empty())
    return w.live_slab_blocks[(v >> 1) % w.live_slab_blocks.size()];
  return static_cast<int>((v >> 1) % w.blocks.size());
}

int pick_live_block(const World& w, ByteReader& r) {
  const std::uint16_t v = r.u16();
  if (w.live_slab_blocks.empty()) return NONE;
  return w.live_slab_blocks[v % w.live_slab_blocks.size()];
}

std::uintptr_t pick_garbage_address(const World& w, ByteReader& r) {
  const std::uint8_t mode = r.u8() % 6;
  if (mode >= 2 && mode <= 3 && w.blocks.empty()) return r.u64();
  switch (mode) {
    case 0:
      return r.u64();
    case 1:
      return r.u64() & ((std::uint64_t{1} << 47) - 1) & ~std::uint64_t{15};
    case 2:
      return w.blocks[pick_block(w, r)].address + signed_delta(r);
    case 3:
      return w.blocks[pick_block(w, r)].address + static_cast<std::int8_t>(r.u8());
    case 4:
      return r.u64() | (std::uint64_t{1} << 47);
    default:
      return 0;
  }
}

SlabHandle pick_garbage_handle(const World& w, ByteReader& r) {
  const std::uint8_t mode = r.u8() % 8;
  const int b = pick_block(w, r);
  const SlabHandle base = b == NONE ? r.u64() : w.blocks[b].handle;
  switch (mode) {
    case 0:
      return r.u64();
    case 1:
      return base ^ (std::uint64_t{1} << (r.u8() % 64));
    case 2:
      return with_slot(base, r.u16());
    case 3:
      return with_generation(base, (base >> 36) + static_cast<std::int8_t>(r.u8()));
    case 4:
      return with_generation(base, r.u32());
    case 5:
      return with_slab_id(base, ((base >> 12) & 0xFFFFFF) + static_cast<std::int8_t>(r.u8()));
    case 6:
      return 0;
    default:
      return base;
  }
}

}  // namespace fuzz
