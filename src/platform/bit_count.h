// This file contains bit_count, a population count that compiles to a few
// inline instructions on every x86-64 (std::popcount becomes a call into libgcc
// unless the build assumes the POPCNT instruction, which the baseline lacks).
#ifndef TSLAB_PLATFORM_BIT_COUNT_H
#define TSLAB_PLATFORM_BIT_COUNT_H

#include <cstdint>

namespace tslab::detail {

constexpr std::uint32_t bit_count(std::uint64_t x) noexcept {
#if defined(__POPCNT__)
  return static_cast<std::uint32_t>(__builtin_popcountll(x));
#else
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return static_cast<std::uint32_t>((x * 0x0101010101010101ull) >> 56);
#endif
}

static_assert(bit_count(0) == 0 && bit_count(~std::uint64_t{0}) == 64 &&
              bit_count(0x8000000000000001ull) == 2);

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_BIT_COUNT_H
