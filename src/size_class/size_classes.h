// This file contains the size-class table: request size -> class, class -> block
// size, blocks per slab and the reciprocal used to turn an offset into a slot.
//
// Classes: 16..128 in 16-byte steps, then 8 classes per doubling up to 64 KiB
// (80 classes). Above 128 bytes a request wastes at most 1/8 of its size. Every
// class size is a multiple of 16, and slabs are 64 KiB aligned, so every block
// is aligned to alignof(std::max_align_t). Larger requests get a span of their own.
//
// Classes above 16 KiB hold 3, 2 or 1 blocks per slab. The rest of such a slab
// is address space only: carving writes a block's first 16 bytes, never the
// slab's tail, and blocks of a page or more are never faulted in ahead.
// They exist because a span of its own costs a reservation (a system call), at
// least a 64 KiB granule of address space, about 1.6 KiB of metadata and the
// allocator lock per block.
#ifndef TSLAB_SIZE_CLASS_SIZE_CLASSES_H
#define TSLAB_SIZE_CLASS_SIZE_CLASSES_H

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace tslab::detail {

inline constexpr std::size_t SLAB_SHIFT = 16;
inline constexpr std::size_t SLAB_SIZE = std::size_t{1} << SLAB_SHIFT;
inline constexpr std::size_t SEGMENT_SHIFT = 22;
inline constexpr std::size_t SEGMENT_SIZE = std::size_t{1} << SEGMENT_SHIFT;
inline constexpr std::size_t SLABS_PER_SEGMENT = SEGMENT_SIZE / SLAB_SIZE;
// The segment map's granule (segment/segment_map.h): the unit in which a large
// span below a segment reserves its range, so that spans of 64 KiB to 4 MiB lie
// side by side rather than one to a segment (their page tables and address
// space shared). A span of a segment or more reserves whole segments.
inline constexpr std::size_t MAP_GRANULE_SHIFT = SLAB_SHIFT;
inline constexpr std::size_t MAP_GRANULE = std::size_t{1} << MAP_GRANULE_SHIFT;
constexpr std::size_t span_unit(std::size_t bytes) {
  return bytes < SEGMENT_SIZE ? MAP_GRANULE : SEGMENT_SIZE;
}
inline constexpr std::uint32_t NUM_CLASSES = 80;
inline constexpr std::size_t MIN_BLOCK = 16;
inline constexpr std::size_t MAX_SMALL_SIZE = 65536;
// The largest block of any kind (a large span): beyond it, TSLAB_ERR_SIZE_TOO_LARGE.
inline constexpr std::size_t MAX_LARGE_SIZE = std::size_t{1} << 46;
inline constexpr std::size_t MAX_SLOTS = SLAB_SIZE / MIN_BLOCK;  // 4096
inline constexpr std::size_t BITMAP_WORDS = MAX_SLOTS / 64;      // 64
// Requests up to this size find their class through a table on the fast path.
inline constexpr std::size_t TABLE_MAX_SIZE = 1024;

constexpr std::uint32_t class_block_size(std::uint32_t cls) {
  if (cls < 8) return (cls + 1) * 16;
  const std::uint32_t group = (cls - 8) / 8;  // 0..8: 128<<group .. 256<<group
  const std::uint32_t step = (cls - 8) % 8;
  const std::uint32_t base = 128u << group;
  return base + (step + 1) * (base / 8);
}

// Precondition: 1 <= size <= MAX_SMALL_SIZE (0 is treated as 1).
constexpr std::uint32_t class_of_size(std::size_t size) {
  if (size <= 128) return size == 0 ? 0 : static_cast<std::uint32_t>((size - 1) >> 4);
  const std::size_t s = size - 1;
  const std::uint32_t e = static_cast<std::uint32_t>(std::bit_width(s)) - 1;  // 2^e <= s < 2^(e+1)
  const std::uint32_t step = static_cast<std::uint32_t>(s >> (e - 3)) - 8;
  return 8 + (e - 7) * 8 + step;
}

constexpr std::uint32_t class_capacity(std::uint32_t cls) {
  return static_cast<std::uint32_t>(SLAB_SIZE / class_block_size(cls));
}

// ceil(2^32 / size): slot = (offset * magic) >> 32 is exact for offset < 2^16.
constexpr std::uint32_t class_magic(std::uint32_t cls) {
  const std::uint64_t size = class_block_size(cls);
  return static_cast<std::uint32_t>(((std::uint64_t{1} << 32) + size - 1) / size);
}

inline constexpr auto CLASS_MAGIC = [] {
  std::array<std::uint32_t, NUM_CLASSES> table{};
  for (std::uint32_t c = 0; c < NUM_CLASSES; ++c) table[c] = class_magic(c);
  return table;
}();

// Slot of a block at `offset` from its slab's start, for class `cls`.
inline std::uint32_t slot_in_class(std::size_t offset, std::uint32_t cls) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(offset) * CLASS_MAGIC[cls]) >> 32);
}

inline constexpr auto SMALL_CLASS_TABLE = [] {
  std::array<std::uint8_t, TABLE_MAX_SIZE / 16 + 1> table{};
  for (std::size_t i = 0; i < table.size(); ++i) table[i] = static_cast<std::uint8_t>(class_of_size(i * 16));
  return table;
}();

// Fast-path lookup. Precondition: size <= MAX_SMALL_SIZE.
inline std::uint32_t size_to_class(std::size_t size) {
  if (size <= TABLE_MAX_SIZE) [[likely]]
    return SMALL_CLASS_TABLE[(size + 15) >> 4];
  return class_of_size(size);
}

// The class serving a request, or NUM_CLASSES if it gets a span of its own.
constexpr std::uint32_t class_for_request(std::size_t size) {
  return size <= MAX_SMALL_SIZE ? class_of_size(size) : NUM_CLASSES;
}

// Blocks per slab for a request; 0 for a size of 0 or a span of its own.
constexpr std::uint32_t blocks_per_slab_for_request(std::size_t size) {
  return size == 0 || size > MAX_SMALL_SIZE ? 0 : class_capacity(class_of_size(size));
}

// Block size of a class, or 0 out of range.
constexpr std::uint32_t block_size_or_zero(std::uint32_t cls) {
  return cls < NUM_CLASSES ? class_block_size(cls) : 0;
}

static_assert(class_block_size(NUM_CLASSES - 1) == MAX_SMALL_SIZE);
static_assert(class_of_size(MAX_SMALL_SIZE) == NUM_CLASSES - 1);
static_assert(class_of_size(129) == 8 && class_block_size(8) == 144);
static_assert(class_capacity(0) == MAX_SLOTS);
static_assert(class_capacity(NUM_CLASSES - 1) == 1 && class_block_size(NUM_CLASSES - 1) == SLAB_SIZE);

}  // namespace tslab::detail

#endif  // TSLAB_SIZE_CLASS_SIZE_CLASSES_H
