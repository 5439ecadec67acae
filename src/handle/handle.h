// This file contains the 64-bit handle layout.
//
//   bits  0..12  slot in the slab (13 bits)
//   bits 13..34  slab id in the allocator's registry (22 bits)
//   bits 35..51  slab generation, low 17 bits
//   bits 52..63  allocator tag (12 bits, never 0, so no valid handle is 0)
//
// A handle is accepted only if its tag is this allocator's, its slab id is
// registered, its generation is the slab's current one and its slot is live.
#ifndef TSLAB_HANDLE_HANDLE_H
#define TSLAB_HANDLE_HANDLE_H

#include <cstdint>

namespace tslab::detail {

inline constexpr unsigned HANDLE_SLOT_BITS = 13;
inline constexpr unsigned HANDLE_ID_BITS = 22;
inline constexpr unsigned HANDLE_GEN_BITS = 17;
inline constexpr unsigned HANDLE_TAG_BITS = 12;
static_assert(HANDLE_SLOT_BITS + HANDLE_ID_BITS + HANDLE_GEN_BITS + HANDLE_TAG_BITS == 64);

inline constexpr std::uint32_t MAX_SLAB_IDS = 1u << HANDLE_ID_BITS;
inline constexpr std::uint32_t HANDLE_GEN_MASK = (1u << HANDLE_GEN_BITS) - 1;

struct HandleParts {
  std::uint32_t slot;
  std::uint32_t slab_id;
  std::uint32_t generation;  // low HANDLE_GEN_BITS bits
  std::uint32_t tag;
};

constexpr std::uint64_t handle_encode(std::uint32_t tag, std::uint32_t generation, std::uint32_t slab_id,
                                      std::uint32_t slot) {
  return (std::uint64_t{tag} << (HANDLE_SLOT_BITS + HANDLE_ID_BITS + HANDLE_GEN_BITS)) |
         (std::uint64_t{generation & HANDLE_GEN_MASK} << (HANDLE_SLOT_BITS + HANDLE_ID_BITS)) |
         (std::uint64_t{slab_id} << HANDLE_SLOT_BITS) | slot;
}

constexpr HandleParts handle_decode(std::uint64_t h) {
  return HandleParts{
      static_cast<std::uint32_t>(h & ((1u << HANDLE_SLOT_BITS) - 1)),
      static_cast<std::uint32_t>((h >> HANDLE_SLOT_BITS) & (MAX_SLAB_IDS - 1)),
      static_cast<std::uint32_t>((h >> (HANDLE_SLOT_BITS + HANDLE_ID_BITS)) & HANDLE_GEN_MASK),
      static_cast<std::uint32_t>(h >> (HANDLE_SLOT_BITS + HANDLE_ID_BITS + HANDLE_GEN_BITS)),
  };
}

static_assert(handle_decode(handle_encode(0xABC, 0x1FFFF, 0x3FFFFF, 0x1FFF)).tag == 0xABC);
static_assert(handle_decode(handle_encode(0xABC, 0x1FFFF, 0x3FFFFF, 0x1FFF)).slot == 0x1FFF);

}  // namespace tslab::detail

#endif  // TSLAB_HANDLE_HANDLE_H
