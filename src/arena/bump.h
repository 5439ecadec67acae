// This file contains the bump arithmetic of arenas: where a block of a given size
// and alignment fits in a chunk, computed so that no sum can wrap, whatever the
// chunk address, offset, size and alignment.
//
// Every quantity is an offset into the chunk. The padding comes from the low bits
// of the address only, and each length is compared with the room that is left
// before anything is added to it, so an offset near SIZE_MAX or a size of
// SIZE_MAX can only fail to fit, never wrap into a small "fitting" value.
#ifndef TSLAB_ARENA_BUMP_H
#define TSLAB_ARENA_BUMP_H

#include <cstddef>
#include <cstdint>

namespace tslab::detail {

// A non-zero power of two.
constexpr bool is_power_of_two(std::size_t alignment) noexcept {
  return alignment != 0 && (alignment & (alignment - 1)) == 0;
}

// Where a block goes: [start, end) as offsets from the chunk's first byte.
struct BumpFit {
  std::size_t start = 0;
  std::size_t end = 0;
};

// Places `size` bytes aligned to `alignment` (a power of two) after the first
// `offset` of the `capacity` bytes that start at address `base`. False if they do
// not fit (or offset > capacity); then *out is unchanged.
constexpr bool bump_fit(std::uintptr_t base, std::size_t offset, std::size_t capacity, std::size_t size,
                        std::size_t alignment, BumpFit* out) noexcept {
  if (offset > capacity) return false;
  const std::size_t mask = alignment - 1;
  // The address base + offset modulo the alignment, without forming base + offset.
  const std::size_t misalignment = ((static_cast<std::size_t>(base) & mask) + (offset & mask)) & mask;
  const std::size_t padding = (alignment - misalignment) & mask;
  const std::size_t room = capacity - offset;
  if (padding > room || size > room - padding) return false;
  out->start = offset + padding;
  out->end = out->start + size;
  return true;
}

}  // namespace tslab::detail

#endif  // TSLAB_ARENA_BUMP_H
