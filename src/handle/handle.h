// This file contains the 64-bit handle layout, the one place it is defined.
//
//   bits  0..11  slot in the slab (12 bits: a 64 KiB slab holds at most 4,096 blocks)
//   bits 12..35  slab id in the process-wide registry (24 bits, never 0)
//   bits 36..63  the id's generation when the handle was issued (28 bits)
//
// Ids and generations are process-wide (handle/registry.h): an id's generation
// moves on whenever its slab starts a new life (recycled, a large span reused)
// and whenever the id changes owner (its allocator is destroyed), and it never
// repeats: an id whose generation would pass 2^28 - 1 is retired for good. So
// (id, generation) names one life of one slab in the whole process, however many
// slabs and allocators come and go, and a handle is accepted only
//   - by the allocator that owns the id (else TSLAB_ERR_FOREIGN),
//   - while the generation is the id's current one (else TSLAB_ERR_STALE_HANDLE),
//   - for a slot that is live (else a double free or TSLAB_ERR_NOT_ALLOCATED).
// Limits: 2^24 - 64 slab ids in a process at once (1 TiB of 64 KiB slabs, or that
// many large spans), 2^28 lives per id. Handle 0 is never valid.
#ifndef TSLAB_HANDLE_HANDLE_H
#define TSLAB_HANDLE_HANDLE_H

#include <cstdint>

namespace tslab::detail {

inline constexpr unsigned HANDLE_SLOT_BITS = 12;
inline constexpr unsigned HANDLE_ID_BITS = 24;
inline constexpr unsigned HANDLE_GEN_BITS = 28;
static_assert(HANDLE_SLOT_BITS + HANDLE_ID_BITS + HANDLE_GEN_BITS == 64);

inline constexpr std::uint32_t MAX_SLAB_IDS = 1u << HANDLE_ID_BITS;
inline constexpr std::uint32_t HANDLE_GEN_MASK = (1u << HANDLE_GEN_BITS) - 1;

struct HandleParts {
  std::uint32_t slot;
  std::uint32_t slab_id;
  std::uint32_t generation;
};

constexpr std::uint64_t handle_encode(std::uint32_t generation, std::uint32_t slab_id, std::uint32_t slot) {
  return (std::uint64_t{generation & HANDLE_GEN_MASK} << (HANDLE_SLOT_BITS + HANDLE_ID_BITS)) |
         (std::uint64_t{slab_id & (MAX_SLAB_IDS - 1)} << HANDLE_SLOT_BITS) |
         (slot & ((1u << HANDLE_SLOT_BITS) - 1));
}

constexpr HandleParts handle_decode(std::uint64_t h) {
  return HandleParts{
      static_cast<std::uint32_t>(h & ((1u << HANDLE_SLOT_BITS) - 1)),
      static_cast<std::uint32_t>((h >> HANDLE_SLOT_BITS) & (MAX_SLAB_IDS - 1)),
      static_cast<std::uint32_t>(h >> (HANDLE_SLOT_BITS + HANDLE_ID_BITS)),
  };
}

static_assert(handle_decode(handle_encode(HANDLE_GEN_MASK, MAX_SLAB_IDS - 1, 4095)).generation ==
              HANDLE_GEN_MASK);
static_assert(handle_decode(handle_encode(HANDLE_GEN_MASK, MAX_SLAB_IDS - 1, 4095)).slab_id ==
              MAX_SLAB_IDS - 1);
static_assert(handle_decode(handle_encode(HANDLE_GEN_MASK, MAX_SLAB_IDS - 1, 4095)).slot == 4095);

}  // namespace tslab::detail

#endif  // TSLAB_HANDLE_HANDLE_H
