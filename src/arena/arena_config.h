// This file contains how arenas read their configuration from the options table
// (src/options): TSLAB_ARENA_SIZE, TSLAB_ARENA_ZERO and TSLAB_ARENA_OVERFLOW.
#ifndef TSLAB_ARENA_ARENA_CONFIG_H
#define TSLAB_ARENA_ARENA_CONFIG_H

#include "slab_arena.h"

namespace tslab::detail {

// Fills *out from the options (read once per process); epoch is
// SLAB_ARENA_CURRENT_EPOCH and every other field off. False, with
// TSLAB_ERR_BAD_OPTION_VALUE recorded, if an option is invalid: its field then
// holds the built-in default, and arena_config_error() names it.
bool arena_options_from_table(SlabArenaOptions* out) noexcept;

// The message of the first invalid TSLAB_ARENA_* option, or nullptr.
const char* arena_config_error() noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_ARENA_ARENA_CONFIG_H
