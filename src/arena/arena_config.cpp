// This file contains the arena configuration read from the options table.
#include "arena/arena_config.h"

#include "core/thread_cache.h"
#include "options/options.h"

namespace tslab::detail {

namespace {

constexpr OptionId ARENA_OPTIONS[] = {OptionId::arena_size, OptionId::arena_zero, OptionId::arena_overflow};

}  // namespace

bool arena_options_from_table(SlabArenaOptions* out) noexcept {
  *out = SlabArenaOptions{};
  out->chunk_size = std::size_t{1} << 20;
  out->overflow = TSLAB_ARENA_OVERFLOW_GROW;
  out->zero_on_reset = true;
  out->epoch = SLAB_ARENA_CURRENT_EPOCH;
  const OptionValue size = option(OptionId::arena_size);
  const OptionValue zero = option(OptionId::arena_zero);
  const OptionValue overflow = option(OptionId::arena_overflow);
  if (size.ok) out->chunk_size = static_cast<std::size_t>(size.value);
  if (zero.ok) out->zero_on_reset = zero.value != 0;
  if (overflow.ok) out->overflow = static_cast<TslabArenaOverflow>(overflow.value);
  if (size.ok && zero.ok && overflow.ok) return true;
  set_error(TSLAB_ERR_BAD_OPTION_VALUE);
  return false;
}

const char* arena_config_error() noexcept {
  for (OptionId id : ARENA_OPTIONS)
    if (const char* message = option_error(id)) return message;
  return nullptr;
}

}  // namespace tslab::detail
