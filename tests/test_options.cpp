// This file contains the unit tests of the options table (tslab/options.h,
// src/options): the bool, whole-number and size parsers (suffixes, spellings,
// overflow of a suffixed size), invalid values named in their message, values set
// by the program before first use, the refusal to set after first use, unknown
// names, the description of the table, the upper bound of TSLAB_ARENA_SIZE, and
// values echoed in messages only as escaped, bounded printable ASCII.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "options/options.h"
#include "slab_arena.h"
#include "tslab/error.h"
#include "tslab/options.h"
#include "tslab/tslab.hpp"

namespace {

using tslab::detail::parse_bool;
using tslab::detail::parse_size;
using tslab::detail::parse_uint;

constexpr std::uint64_t KiB = 1024, MiB = KiB * KiB, GiB = MiB * KiB;

constexpr const char* ALL_VARIABLES[] = {"TSLAB_METRICS_PORT", "TSLAB_VERBOSE",    "TSLAB_SHOW_STATS",
                                         "TSLAB_ARENA_SIZE",   "TSLAB_ARENA_ZERO", "TSLAB_ARENA_OVERFLOW"};

// Each test starts and ends with every variable unset and the table unloaded.
class Options : public ::testing::Test {
 protected:
  void SetUp() override { clean(); }
  void TearDown() override { clean(); }
  static void clean() {
    for (const char* name : ALL_VARIABLES) ::unsetenv(name);
    tslab::detail::options_reset_for_testing();
  }
};

template <class Parser>
bool parses_to(Parser parse, const char* text, std::uint64_t expected) {
  std::uint64_t v = ~expected;
  return parse(text, &v) && v == expected;
}

template <class Parser>
bool refuses(Parser parse, const char* text) {
  std::uint64_t v = 12345;
  return !parse(text, &v) && v == 12345;  // nothing written on failure
}

std::uint64_t get(const char* name) {
  std::uint64_t v = ~std::uint64_t{0};
  EXPECT_TRUE(tslab_option_get(name, &v)) << name;
  return v;
}

}  // namespace

TEST_F(Options, BoolParser) {
  for (const char* t : {"1", "true", "TRUE", "True", "yes", "YES", "on", "On"})
    EXPECT_TRUE(parses_to(parse_bool, t, 1)) << t;
  for (const char* f : {"0", "false", "FALSE", "no", "No", "off", "OFF"})
    EXPECT_TRUE(parses_to(parse_bool, f, 0)) << f;
  for (const char* bad : {"", "2", "-1", "tru", "yess", "yes ", " 1", "01", "y", "n", "enable"})
    EXPECT_TRUE(refuses(parse_bool, bad)) << bad;
  EXPECT_TRUE(refuses(parse_bool, nullptr));
}

TEST_F(Options, UintParser) {
  EXPECT_TRUE(parses_to(parse_uint, "0", 0));
  EXPECT_TRUE(parses_to(parse_uint, "65535", 65535));
  EXPECT_TRUE(parses_to(parse_uint, "007", 7));
  EXPECT_TRUE(parses_to(parse_uint, "18446744073709551615", UINT64_MAX));
  for (const char* bad : {"18446744073709551616", "99999999999999999999999", "-1", "+1", "1.5", "0x10", "",
                          " 1", "1 ", "1k", "abc"})
    EXPECT_TRUE(refuses(parse_uint, bad)) << bad;
  EXPECT_TRUE(refuses(parse_uint, nullptr));
}

TEST_F(Options, SizeParserSuffixesAndSpellings) {
  EXPECT_TRUE(parses_to(parse_size, "0", 0));
  EXPECT_TRUE(parses_to(parse_size, "4096", 4096));
  for (const char* t : {"4k", "4K", "4kb", "4KB", "4kB", "4KiB", "4kib", "4KIB"})
    EXPECT_TRUE(parses_to(parse_size, t, 4 * KiB)) << t;
  EXPECT_TRUE(parses_to(parse_size, "1m", MiB));
  EXPECT_TRUE(parses_to(parse_size, "3MiB", 3 * MiB));
  EXPECT_TRUE(parses_to(parse_size, "2G", 2 * GiB));
  EXPECT_TRUE(parses_to(parse_size, "64gb", 64 * GiB));
  for (const char* bad : {"", "k", "m1", "1.5m", "1 k", "1kk", "1kbx", "1kibb", "1b", "1t", "1i", "-1k",
                          "+1k", " 1k", "1k ", "0x1k"})
    EXPECT_TRUE(refuses(parse_size, bad)) << bad;
  EXPECT_TRUE(refuses(parse_size, nullptr));
}

TEST_F(Options, SizeParserRefusesEveryOverflow) {
  // The digits alone do not fit 64 bits.
  EXPECT_TRUE(refuses(parse_size, "99999999999999999999g"));
  EXPECT_TRUE(refuses(parse_size, "99999999999999999999"));
  // The digits fit, the scaled value does not.
  EXPECT_TRUE(refuses(parse_size, "17179869184g"));        // 2^34 GiB = 2^64
  EXPECT_TRUE(refuses(parse_size, "17592186044416m"));     // 2^44 MiB = 2^64
  EXPECT_TRUE(refuses(parse_size, "18014398509481984k"));  // 2^54 KiB = 2^64
  EXPECT_TRUE(refuses(parse_size, "18446744073709551615k"));
  // The largest that fit.
  EXPECT_TRUE(parses_to(parse_size, "17179869183g", UINT64_MAX - GiB + 1));
  EXPECT_TRUE(parses_to(parse_size, "18014398509481983k", UINT64_MAX - KiB + 1));
  EXPECT_TRUE(parses_to(parse_size, "18446744073709551615", UINT64_MAX));
}

TEST_F(Options, DefaultsWhenUnset) {
  EXPECT_EQ(get("TSLAB_METRICS_PORT"), 0u);
  EXPECT_EQ(get("TSLAB_VERBOSE"), 0u);
  EXPECT_EQ(get("TSLAB_SHOW_STATS"), 0u);
  EXPECT_EQ(get("TSLAB_ARENA_SIZE"), MiB);
  EXPECT_EQ(get("TSLAB_ARENA_ZERO"), 1u);
  EXPECT_EQ(get("TSLAB_ARENA_OVERFLOW"), static_cast<std::uint64_t>(TSLAB_ARENA_OVERFLOW_GROW));
  for (const char* name : ALL_VARIABLES) EXPECT_EQ(tslab_option_error(name), nullptr) << name;
}

TEST_F(Options, EnvironmentValuesAreRead) {
  ::setenv("TSLAB_METRICS_PORT", "9100", 1);
  ::setenv("TSLAB_VERBOSE", "yes", 1);
  ::setenv("TSLAB_ARENA_SIZE", "256KiB", 1);
  ::setenv("TSLAB_ARENA_ZERO", "off", 1);
  ::setenv("TSLAB_ARENA_OVERFLOW", "FallBack", 1);
  tslab::detail::options_reset_for_testing();
  EXPECT_EQ(get("TSLAB_METRICS_PORT"), 9100u);
  EXPECT_EQ(get("TSLAB_VERBOSE"), 1u);
  EXPECT_EQ(get("TSLAB_ARENA_SIZE"), 256 * KiB);
  EXPECT_EQ(get("TSLAB_ARENA_ZERO"), 0u);
  EXPECT_EQ(get("TSLAB_ARENA_OVERFLOW"), static_cast<std::uint64_t>(TSLAB_ARENA_OVERFLOW_FALLBACK));
}

namespace {

// With `name` set to `text`, the option reads as invalid, and its message (and the
// one on stderr) names the variable and the value.
void expect_invalid(const char* name, const char* text, const char* reason) {
  ::setenv(name, text, 1);
  tslab::detail::options_reset_for_testing();
  ::testing::internal::CaptureStderr();
  std::uint64_t v = 777;
  EXPECT_FALSE(tslab_option_get(name, &v)) << name << "=" << text;
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  EXPECT_EQ(v, 777u);
  const char* message = tslab_option_error(name);
  ASSERT_NE(message, nullptr) << name << "=" << text;
  const std::string m = message;
  EXPECT_NE(m.find(name), std::string::npos) << m;
  EXPECT_NE(m.find(std::string("\"") + text + "\""), std::string::npos) << m;
  EXPECT_NE(m.find(reason), std::string::npos) << m;
  EXPECT_NE(printed.find(m), std::string::npos) << printed;
  // Only this option is invalid.
  for (const char* other : ALL_VARIABLES) {
    if (std::strcmp(other, name) != 0) {
      EXPECT_EQ(tslab_option_error(other), nullptr) << other;
    }
  }
  ::unsetenv(name);
  tslab::detail::options_reset_for_testing();
}

}  // namespace

TEST_F(Options, InvalidValuesAreNamedNeverDefaulted) {
  expect_invalid("TSLAB_ARENA_SIZE", "99999999999999999999g", "not valid");
  expect_invalid("TSLAB_ARENA_SIZE", "17179869184g", "not valid");
  expect_invalid("TSLAB_ARENA_SIZE", "12q", "not valid");
  expect_invalid("TSLAB_ARENA_SIZE", "1k", "out of range [4k, 1g]");     // below 4 KiB
  expect_invalid("TSLAB_ARENA_SIZE", "1025m", "out of range [4k, 1g]");  // above 1 GiB
  expect_invalid("TSLAB_ARENA_SIZE", "65g", "out of range [4k, 1g]");
  expect_invalid("TSLAB_METRICS_PORT", "65536", "out of range");
  expect_invalid("TSLAB_METRICS_PORT", "http", "not valid");
  expect_invalid("TSLAB_VERBOSE", "maybe", "not valid");
  expect_invalid("TSLAB_ARENA_OVERFLOW", "spill", "not valid");
}

// An allocator's own options, when invalid, are reported (above) and their
// defaults used: an allocator is still made, with the documented figures.
TEST_F(Options, AnInvalidAllocatorOptionGivesItsDefault) {
  ::setenv("TSLAB_WARM_RESERVE", "lots", 1);
  ::setenv("TSLAB_LARGE_RETAIN", "2g", 1);  // above its 1g bound
  tslab::detail::options_reset_for_testing();
  ::testing::internal::CaptureStderr();
  {
    tslab::Allocator a;
    ASSERT_NE(a.c_allocator(), nullptr);
    EXPECT_EQ(a.warm_reserve(), std::size_t{6} << 20);
    EXPECT_EQ(a.large_retain(), std::size_t{64} << 20);
  }
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(printed.find("TSLAB_WARM_RESERVE"), std::string::npos) << printed;
  EXPECT_NE(printed.find("TSLAB_LARGE_RETAIN"), std::string::npos) << printed;
  ::unsetenv("TSLAB_WARM_RESERVE");
  ::unsetenv("TSLAB_LARGE_RETAIN");
  tslab::detail::options_reset_for_testing();
}

TEST_F(Options, AVariableSetToNothingIsUnset) {
  ::setenv("TSLAB_ARENA_ZERO", "", 1);
  ::setenv("TSLAB_ARENA_SIZE", "", 1);
  tslab::detail::options_reset_for_testing();
  std::uint64_t v = 777;
  EXPECT_TRUE(tslab_option_get("TSLAB_ARENA_ZERO", &v));
  EXPECT_EQ(v, 1u);
  EXPECT_TRUE(tslab_option_get("TSLAB_ARENA_SIZE", &v));
  EXPECT_EQ(v, 1024u * 1024);
  EXPECT_EQ(tslab_option_error("TSLAB_ARENA_ZERO"), nullptr);
  ::unsetenv("TSLAB_ARENA_ZERO");
  ::unsetenv("TSLAB_ARENA_SIZE");
  tslab::detail::options_reset_for_testing();
}

TEST_F(Options, SetBeforeFirstUseWinsOverTheEnvironment) {
  ::setenv("TSLAB_ARENA_ZERO", "0", 1);
  ::setenv("TSLAB_ARENA_SIZE", "bogus", 1);
  tslab::detail::options_reset_for_testing();
  EXPECT_TRUE(tslab_option_set("TSLAB_ARENA_ZERO", "1"));
  EXPECT_TRUE(tslab_option_set("TSLAB_ARENA_SIZE", "2m"));  // also repairs an invalid environment value
  EXPECT_TRUE(tslab_option_set("TSLAB_ARENA_SIZE", "4m"));  // the last set before first use counts
  EXPECT_EQ(get("TSLAB_ARENA_ZERO"), 1u);
  EXPECT_EQ(get("TSLAB_ARENA_SIZE"), 4 * MiB);
  EXPECT_EQ(tslab_option_error("TSLAB_ARENA_SIZE"), nullptr);
  char table[1024];
  tslab_options_describe(table, sizeof table);
  EXPECT_NE(std::string(table).find("program"), std::string::npos) << table;
}

// A set to nothing is a variable set to nothing: the default, and it wins over
// the environment as any set does.
TEST_F(Options, SetToNothingIsTheDefault) {
  ::setenv("TSLAB_ARENA_SIZE", "8m", 1);
  ::setenv("TSLAB_ARENA_ZERO", "0", 1);
  tslab::detail::options_reset_for_testing();
  EXPECT_TRUE(tslab_option_set("TSLAB_ARENA_SIZE", "2m"));
  EXPECT_TRUE(tslab_option_set("TSLAB_ARENA_SIZE", ""));  // the last set counts
  EXPECT_TRUE(tslab_option_set("TSLAB_ARENA_ZERO", ""));
  EXPECT_EQ(get("TSLAB_ARENA_SIZE"), MiB);
  EXPECT_EQ(get("TSLAB_ARENA_ZERO"), 1u);
  EXPECT_EQ(tslab_option_error("TSLAB_ARENA_SIZE"), nullptr);
  ::unsetenv("TSLAB_ARENA_SIZE");
  ::unsetenv("TSLAB_ARENA_ZERO");
  tslab::detail::options_reset_for_testing();
}

TEST_F(Options, SetAfterFirstUseIsRefusedAsFrozen) {
  EXPECT_EQ(get("TSLAB_VERBOSE"), 0u);  // first use
  EXPECT_FALSE(tslab_option_set("TSLAB_VERBOSE", "1"));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_OPTIONS_FROZEN);
  EXPECT_FALSE(tslab_option_set("TSLAB_ARENA_SIZE", "2m"));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_OPTIONS_FROZEN);
  EXPECT_EQ(get("TSLAB_VERBOSE"), 0u);
  EXPECT_EQ(get("TSLAB_ARENA_SIZE"), MiB);
}

TEST_F(Options, RefusedSetsChangeNothing) {
  EXPECT_FALSE(tslab_option_set("TSLAB_ARENA_SIZE", "lots"));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  EXPECT_FALSE(tslab_option_set("TSLAB_ARENA_SIZE", "1k"));  // out of range
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  EXPECT_FALSE(tslab_option_set("TSLAB_ARENA_SIZE", nullptr));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  EXPECT_EQ(get("TSLAB_ARENA_SIZE"), MiB);
  EXPECT_EQ(tslab_option_error("TSLAB_ARENA_SIZE"), nullptr);
}

TEST_F(Options, UnknownNamesAndNullArguments) {
  std::uint64_t v = 0;
  EXPECT_FALSE(tslab_option_set("TSLAB_NO_SUCH_THING", "1"));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_UNKNOWN_OPTION);
  EXPECT_FALSE(tslab_option_set(nullptr, "1"));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_UNKNOWN_OPTION);
  EXPECT_FALSE(tslab_option_get("TSLAB_NO_SUCH_THING", &v));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_UNKNOWN_OPTION);
  EXPECT_FALSE(tslab_option_get("tslab_verbose", &v));  // names are exact
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_UNKNOWN_OPTION);
  EXPECT_FALSE(tslab_option_get("TSLAB_VERBOSE", nullptr));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(tslab_option_error("TSLAB_NO_SUCH_THING"), "unknown option");
  EXPECT_EQ(tslab::detail::option_by_name("TSLAB_ARENA_ZERO"), tslab::detail::OptionId::arena_zero);
  EXPECT_EQ(tslab::detail::option_by_name(nullptr), tslab::detail::OptionId::count);
}

TEST_F(Options, DescribeListsEveryOptionAndTruncatesSafely) {
  ::setenv("TSLAB_ARENA_OVERFLOW", "error", 1);
  ::setenv("TSLAB_VERBOSE", "nonsense", 1);
  tslab::detail::options_reset_for_testing();
  ::testing::internal::CaptureStderr();
  const std::size_t needed = tslab_options_describe(nullptr, 0);
  ::testing::internal::GetCapturedStderr();
  ASSERT_GT(needed, 0u);
  std::string full(needed + 1, '\0');
  EXPECT_EQ(tslab_options_describe(full.data(), full.size()), needed);
  EXPECT_EQ(std::strlen(full.c_str()), needed);
  for (const char* name : ALL_VARIABLES) EXPECT_NE(full.find(name), std::string::npos) << name;
  EXPECT_NE(full.find("environment"), std::string::npos);
  EXPECT_NE(full.find("default"), std::string::npos);
  EXPECT_NE(full.find("invalid"), std::string::npos);
  EXPECT_NE(full.find(" error "), std::string::npos) << full;
  // Truncated: NUL-terminated within the buffer, never past it.
  for (std::size_t size : {1u, 7u, 40u, 100u}) {
    std::string small(size + 8, 'X');
    EXPECT_EQ(tslab_options_describe(small.data(), size), needed);
    EXPECT_EQ(small[size - 1], '\0') << size;
    EXPECT_EQ(small.compare(0, size - 1, full, 0, size - 1), 0) << size;
    EXPECT_EQ(small.substr(size), std::string(8, 'X')) << size;
  }
}

TEST_F(Options, ArenaSizeAboveOneGibIsRefusedNamingTheRange) {
  ::setenv("TSLAB_ARENA_SIZE", "1g", 1);
  tslab::detail::options_reset_for_testing();
  EXPECT_EQ(get("TSLAB_ARENA_SIZE"), GiB);  // the bound itself is allowed

  EXPECT_FALSE(tslab_option_set("TSLAB_ARENA_SIZE", "1073741825"));  // frozen or not, never accepted
  ::setenv("TSLAB_ARENA_SIZE", "2g", 1);
  tslab::detail::options_reset_for_testing();
  EXPECT_FALSE(tslab_option_set("TSLAB_ARENA_SIZE", "1073741825"));
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  ::testing::internal::CaptureStderr();
  SlabArenaOptions o{};
  EXPECT_FALSE(slab_arena_options_init(&o));
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  EXPECT_EQ(o.chunk_size, MiB);  // the built-in default, reported as invalid
  const char* message = slab_arena_config_error();
  ASSERT_NE(message, nullptr);
  EXPECT_STREQ(message, "TSLAB_ARENA_SIZE=\"2g\" is out of range [4k, 1g]");
  EXPECT_EQ(printed, std::string("tslab: ") + message + "\n");

  SlabAllocator* alloc = slab_allocator_create();
  ASSERT_NE(alloc, nullptr);
  EXPECT_EQ(slab_arena_create(alloc, nullptr), nullptr);
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_BAD_OPTION_VALUE);
  slab_allocator_free(alloc);
}

namespace {

std::string echoed(const std::string& value) {
  char out[256];
  tslab::detail::echo_value(value.c_str(), out, sizeof out);
  return out;
}

// Every byte is printable ASCII or a newline.
bool printable_lines(const std::string& text) {
  for (unsigned char c : text)
    if (c != '\n' && (c < 0x20 || c >= 0x7f)) return false;
  return true;
}

}  // namespace

TEST_F(Options, EchoedValuesAreEscapedAndBounded) {
  EXPECT_EQ(echoed("12q"), "\"12q\"");
  EXPECT_EQ(echoed("\x1b[31mred\n"), "\"\\x1b[31mred\\x0a\"");
  EXPECT_EQ(echoed("caf\xc3\xa9\xff"), "\"caf\\xc3\\xa9\\xff\"");
  EXPECT_EQ(echoed("a\"b\\c\td"), "\"a\\\"b\\\\c\\x09d\"");
  // Exactly the limit is shown whole; one more character is cut.
  const std::string at_limit(tslab::detail::OPTION_ECHO_LIMIT, 'x');
  EXPECT_EQ(echoed(at_limit), "\"" + at_limit + "\"");
  EXPECT_EQ(echoed(at_limit + "y"), "\"" + at_limit + "\"... (65 bytes)");
  // An escape that would cross the limit is left out whole, never split.
  const std::string almost(tslab::detail::OPTION_ECHO_LIMIT - 2, 'x');
  EXPECT_EQ(echoed(almost + "\x1b"), "\"" + almost + "\"... (63 bytes)");
}

TEST_F(Options, ValuesWithControlBytesReachStderrEscapedAndCut) {
  const std::string long_value(10 * 1024, '7');
  ::setenv("TSLAB_ARENA_OVERFLOW", "\x1b]0;owned\x07\x1b[2J", 1);
  ::setenv("TSLAB_VERBOSE", "yes\nTSLAB: all good", 1);
  ::setenv("TSLAB_ARENA_ZERO", "\xc3\xa9t\xe9\x80\xff", 1);
  ::setenv("TSLAB_ARENA_SIZE", long_value.c_str(), 1);
  tslab::detail::options_reset_for_testing();
  ::testing::internal::CaptureStderr();
  std::uint64_t v = 0;
  EXPECT_FALSE(tslab_option_get("TSLAB_VERBOSE", &v));
  const std::string printed = ::testing::internal::GetCapturedStderr();

  EXPECT_TRUE(printable_lines(printed)) << printed;
  EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 4) << printed;  // one line per variable
  EXPECT_LT(printed.size(), 4 * 256u);
  EXPECT_STREQ(
      tslab_option_error("TSLAB_ARENA_OVERFLOW"),
      "TSLAB_ARENA_OVERFLOW=\"\\x1b]0;owned\\x07\\x1b[2J\" is not valid: expected error, grow or fallback");
  EXPECT_NE(printed.find("TSLAB_VERBOSE=\"yes\\x0aTSLAB: all good\""), std::string::npos) << printed;
  EXPECT_NE(printed.find("TSLAB_ARENA_ZERO=\"\\xc3\\xa9t\\xe9\\x80\\xff\""), std::string::npos) << printed;
  const std::string size_message = tslab_option_error("TSLAB_ARENA_SIZE");
  EXPECT_EQ(size_message,
            "TSLAB_ARENA_SIZE=\"" + long_value.substr(0, tslab::detail::OPTION_ECHO_LIMIT) +
                "\"... (10240 bytes) is not valid: expected a size: digits with an optional k, m "
                "or g suffix");
  EXPECT_NE(printed.find(size_message), std::string::npos);
  for (const char* name : ALL_VARIABLES) ::unsetenv(name);
}
