// This file contains the options table (include/tslab/options.h): one row per
// TSLAB_* variable, one parser, loaded exactly once.
#ifndef TSLAB_OPTIONS_OPTIONS_H
#define TSLAB_OPTIONS_OPTIONS_H

#include <cstddef>
#include <cstdint>

#include "tslab/error.h"

namespace tslab::detail {

enum class OptionId : std::uint8_t {
  metrics_port,
  verbose,
  show_stats,
  arena_size,
  arena_zero,
  arena_overflow,
  warm_reserve,
  bad_free,
  close_rss,
  pin_sample,
  large_retain,
  count
};

struct OptionValue {
  std::uint64_t value = 0;
  bool ok = false;  // false: the variable is set to something that does not parse; value is then the default
};

// The option's value, loading the table on first use (thread-safe, once).
OptionValue option(OptionId id) noexcept;
// The message for an invalid option, or nullptr.
const char* option_error(OptionId id) noexcept;
// The id of `name`, or OptionId::count.
OptionId option_by_name(const char* name) noexcept;
// Before first use: override from text. TSLAB_OK or the reason it was refused.
TslabError option_set(OptionId id, const char* text) noexcept;

// Characters of an option's value that a message repeats at most.
inline constexpr std::size_t OPTION_ECHO_LIMIT = 64;

// Writes `text` as a message shows it, quoted: printable ASCII as is (a quote or
// backslash escaped with a backslash), every other byte as \xHH, so no value can
// send control sequences to a terminal; cut after OPTION_ECHO_LIMIT characters
// and then followed by "... (N bytes)". Exposed for tests.
void echo_value(const char* text, char* out, std::size_t out_size) noexcept;

// Parsers, exposed for tests. False if `text` is not a well-formed value.
bool parse_bool(const char* text, std::uint64_t* out) noexcept;
bool parse_size(const char* text, std::uint64_t* out) noexcept;
bool parse_uint(const char* text, std::uint64_t* out) noexcept;

// The table as text (tslab_options_describe).
std::size_t describe_options(char* out, std::size_t out_size) noexcept;

// Test hook: forget the loaded table so the next use reads the environment again.
// Only safe while no other thread uses options.
void options_reset_for_testing() noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_OPTIONS_OPTIONS_H
