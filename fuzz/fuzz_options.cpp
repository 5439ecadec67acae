// This file contains the fuzz_options target: the option parsers of
// src/options (bool, size, whole number) and the escaping of values in messages,
// each against an independent reading of the grammar in tslab/options.h, and the
// options table as a whole: values set by the program or the environment, read
// once, frozen afterwards, their error messages, the description of the table
// and the arena options built from it. The table is reset between inputs with
// the test hook options_reset_for_testing().
//
// Input: entries, each an action byte (low 3 bits: the action, the rest: which
// option), a length byte and that many bytes of text.
#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "fuzz_support.h"
#include "options/options.h"
#include "slab_arena.h"
#include "tslab/options.h"

namespace fuzz {

namespace {

constexpr std::uint64_t KiB = 1024, MiB = KiB * KiB, GiB = MiB * KiB;

enum class Kind { boolean, uint, size, overflow };

struct Spec {
  const char* name;
  Kind kind;
  std::uint64_t fallback;
  std::uint64_t min;
  std::uint64_t max;
};

// The table as tslab/options.h documents it.
constexpr Spec SPECS[] = {
    {"TSLAB_METRICS_PORT", Kind::uint, 0, 0, 65535},
    {"TSLAB_VERBOSE", Kind::boolean, 0, 0, 1},
    {"TSLAB_SHOW_STATS", Kind::boolean, 0, 0, 1},
    {"TSLAB_ARENA_SIZE", Kind::size, 1 * MiB, 4 * KiB, 1 * GiB},
    {"TSLAB_ARENA_ZERO", Kind::boolean, 1, 0, 1},
    {"TSLAB_ARENA_OVERFLOW", Kind::overflow, TSLAB_ARENA_OVERFLOW_GROW, 0, 2},
};
constexpr int OPTIONS = static_cast<int>(std::size(SPECS));
constexpr int ARENA_SIZE = 3, ARENA_ZERO = 4, ARENA_OVERFLOW = 5;

// --- an independent reading of the grammar ---

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_ignoring_case(const std::string& a, const char* b) {
  if (a.size() != std::strlen(b)) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::optional<std::uint64_t> reference_bool(const std::string& t) {
  for (const char* yes : {"1", "true", "yes", "on"})
    if (same_ignoring_case(t, yes)) return 1;
  for (const char* no : {"0", "false", "no", "off"})
    if (same_ignoring_case(t, no)) return 0;
  return std::nullopt;
}

// Leading digits as a number; nullopt if there are none or they overflow.
std::optional<std::uint64_t> leading_digits(const std::string& t, std::size_t* end) {
  std::uint64_t v = 0;
  std::size_t i = 0;
  for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
    const auto digit = static_cast<std::uint64_t>(t[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  *end = i;
  if (i == 0) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> reference_uint(const std::string& t) {
  std::size_t end = 0;
  const auto v = leading_digits(t, &end);
  return v && end == t.size() ? v : std::nullopt;
}

std::optional<std::uint64_t> reference_size(const std::string& t) {
  std::size_t end = 0;
  const auto digits = leading_digits(t, &end);
  if (!digits) return std::nullopt;
  if (end == t.size()) return digits;
  const char suffix = lower(t[end]);
  const std::uint64_t scale = suffix == 'k' ? KiB : suffix == 'm' ? MiB : suffix == 'g' ? GiB : 0;
  if (scale == 0) return std::nullopt;
  const std::string rest = t.substr(end + 1);
  if (!rest.empty() && !same_ignoring_case(rest, "b") && !same_ignoring_case(rest, "ib")) return std::nullopt;
  if (*digits > UINT64_MAX / scale) return std::nullopt;
  return *digits * scale;
}

std::optional<std::uint64_t> reference_overflow(const std::string& t) {
  const char* const names[] = {"error", "grow", "fallback"};
  for (std::uint64_t i = 0; i < 3; ++i)
    if (same_ignoring_case(t, names[i])) return i;
  return std::nullopt;
}

// The value of option `o` for `text`, or nullopt if it does not parse or is out of range.
std::optional<std::uint64_t> reference_value(int o, const std::string& text) {
  std::optional<std::uint64_t> v;
  switch (SPECS[o].kind) {
    case Kind::boolean:
      v = reference_bool(text);
      break;
    case Kind::uint:
      v = reference_uint(text);
      break;
    case Kind::size:
      v = reference_size(text);
      break;
    case Kind::overflow:
      v = reference_overflow(text);
      break;
  }
  if (v && (*v < SPECS[o].min || *v > SPECS[o].max)) return std::nullopt;
  return v;
}

// A value as a message shows it (tslab/options.h): quoted, printable ASCII as is,
// a quote or backslash behind a backslash, any other byte as \xHH, cut once the
// shown characters would pass OPTION_ECHO_LIMIT, then "... (N bytes)".
std::string reference_echo(const std::string& t) {
  std::string shown;
  std::size_t taken = 0;
  for (; taken < t.size(); ++taken) {
    const auto c = static_cast<unsigned char>(t[taken]);
    char escaped[8];
    if (c == '"' || c == '\\')
      std::snprintf(escaped, sizeof escaped, "\\%c", c);
    else if (c >= 0x20 && c < 0x7f)
      std::snprintf(escaped, sizeof escaped, "%c", c);
    else
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
    if (shown.size() + std::strlen(escaped) > tslab::detail::OPTION_ECHO_LIMIT) break;
    shown += escaped;
  }
  std::string out = "\"" + shown + "\"";
  if (taken < t.size()) out += "... (" + std::to_string(t.size()) + " bytes)";
  return out;
}

// --- the model of the table ---

struct OptionModel {
  std::optional<std::string> environment;  // set and not empty
  std::optional<std::uint64_t> program;    // set by tslab_option_set
};

struct TableModel {
  OptionModel options[OPTIONS];
  bool loaded = false;

  // The value the table must hold once loaded, nullopt if invalid.
  std::optional<std::uint64_t> value(int o) const {
    const OptionModel& m = options[o];
    if (m.program) return m.program;
    if (m.environment) return reference_value(o, *m.environment);
    return SPECS[o].fallback;
  }
};

// Runs `read` with stderr sent to /dev/null: loading a table with invalid
// values reports each on stderr (once, at the load).
template <class Read>
void quietly(Read read) {
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  const int null = ::open("/dev/null", O_WRONLY);
  if (null >= 0) ::dup2(null, STDERR_FILENO);
  read();
  std::fflush(stderr);
  if (saved >= 0) ::dup2(saved, STDERR_FILENO);
  if (saved >= 0) ::close(saved);
  if (null >= 0) ::close(null);
}

void reset_table(TableModel& model) {
  for (const Spec& s : SPECS) ::unsetenv(s.name);
  tslab::detail::options_reset_for_testing();
  model = TableModel{};
}

// --- actions ---

template <class Parser>
void check_parser(const char* what, Parser parse, const std::string& text,
                  std::optional<std::uint64_t> want) {
  std::uint64_t got = 0x5A5A5A5A5A5A5A5Aull;
  const bool ok = parse(text.c_str(), &got);
  count_operation();
  FUZZ_REQUIRE(ok == want.has_value(), "%s(%s) returned %d", what, reference_echo(text).c_str(), ok);
  if (ok)
    FUZZ_REQUIRE(got == *want, "%s(%s) = %" PRIu64 ", expected %" PRIu64, what, reference_echo(text).c_str(),
                 got, *want);
  else
    FUZZ_REQUIRE(got == 0x5A5A5A5A5A5A5A5Aull, "%s(%s) failed but wrote its output", what,
                 reference_echo(text).c_str());
}

void check_echo(const std::string& text, std::size_t out_size) {
  const std::string want = reference_echo(text);
  char out[256];
  std::memset(out, '#', sizeof out);
  if (out_size > sizeof out - 1) out_size = sizeof out - 1;
  tslab::detail::echo_value(text.c_str(), out, out_size);
  count_operation();
  FUZZ_REQUIRE(out[out_size] == '#', "echo_value wrote past %zu bytes", out_size);
  if (out_size == 0) return;
  const std::string prefix = want.substr(0, out_size - 1);
  FUZZ_REQUIRE(std::strlen(out) < out_size && prefix == out, "echo_value(%s) wrote \"%s\", expected \"%s\"",
               want.c_str(), out, prefix.c_str());
}

void set_option(TableModel& model, int o, const std::string& text) {
  const bool unknown = o >= OPTIONS;
  const char* name = unknown ? "TSLAB_NOT_AN_OPTION" : SPECS[o].name;
  const bool ok = tslab_option_set(name, text.c_str());
  const TslabError error = slab_last_error();
  count_operation();
  // Nothing is the default, as a variable set to nothing is.
  const auto value = unknown        ? std::nullopt
                     : text.empty() ? std::optional<std::uint64_t>(SPECS[o].fallback)
                                    : reference_value(o, text);
  TslabError want = TSLAB_OK;
  if (unknown)
    want = TSLAB_ERR_UNKNOWN_OPTION;
  else if (!value)
    want = TSLAB_ERR_BAD_OPTION_VALUE;
  else if (model.loaded)
    want = TSLAB_ERR_OPTIONS_FROZEN;
  FUZZ_REQUIRE(ok == (want == TSLAB_OK), "tslab_option_set(%s, %s) returned %d", name,
               reference_echo(text).c_str(), ok);
  FUZZ_REQUIRE(ok || error == want, "tslab_option_set(%s, %s): error %d, expected %d", name,
               reference_echo(text).c_str(), error, want);
  if (ok) model.options[o].program = value;
}

void set_environment(TableModel& model, int o, const std::string& text) {
  if (o >= OPTIONS) return;
  ::setenv(SPECS[o].name, text.c_str(), 1);
  // Read at the first load only; set to nothing counts as unset.
  if (!model.loaded)
    model.options[o].environment = text.empty() ? std::nullopt : std::optional<std::string>(text);
}

void check_option(const TableModel& model, int o) {
  const Spec& spec = SPECS[o];
  const auto want = model.value(o);
  std::uint64_t got = 0;
  const bool ok = tslab_option_get(spec.name, &got);
  FUZZ_REQUIRE(ok == want.has_value(), "tslab_option_get(%s) returned %d", spec.name, ok);
  if (ok) FUZZ_REQUIRE(got == *want, "%s = %" PRIu64 ", expected %" PRIu64, spec.name, got, *want);
  const char* message = tslab_option_error(spec.name);
  FUZZ_REQUIRE((message == nullptr) == want.has_value(), "tslab_option_error(%s) is %s", spec.name,
               message == nullptr ? "NULL" : message);
  if (message == nullptr) return;
  FUZZ_REQUIRE(std::strncmp(message, spec.name, std::strlen(spec.name)) == 0,
               "message \"%s\" does not name %s", message, spec.name);
  for (const char* c = message; *c != '\0'; ++c)
    FUZZ_REQUIRE(*c >= 0x20 && *c < 0x7f, "message for %s holds byte %#x", spec.name,
                 static_cast<unsigned char>(*c));
  const std::string shown = reference_echo(*model.options[o].environment);
  FUZZ_REQUIRE(std::strstr(message, shown.c_str()) != nullptr, "message \"%s\" does not show the value as %s",
               message, shown.c_str());
}

void check_describe(std::size_t out_size) {
  const std::size_t needed = tslab_options_describe(nullptr, 0);
  std::string full(needed + 1, '\0');
  FUZZ_REQUIRE(tslab_options_describe(full.data(), full.size()) == needed, "describe: two lengths");
  full.resize(needed);
  for (const Spec& s : SPECS)
    FUZZ_REQUIRE(full.find(s.name) != std::string::npos, "the description leaves out %s", s.name);
  std::string cut(out_size + 1, '#');
  FUZZ_REQUIRE(tslab_options_describe(cut.data(), out_size) == needed, "describe(%zu): another length",
               out_size);
  FUZZ_REQUIRE(cut[out_size] == '#', "describe(%zu) wrote past its buffer", out_size);
  if (out_size == 0) return;
  const std::size_t kept = needed < out_size - 1 ? needed : out_size - 1;
  FUZZ_REQUIRE(std::strlen(cut.c_str()) == kept && full.compare(0, kept, cut.c_str()) == 0,
               "describe(%zu) is not the description cut", out_size);
}

void check_arena_options(const TableModel& model) {
  SlabArenaOptions o;
  const bool ok = slab_arena_options_init(&o);
  const auto size = model.value(ARENA_SIZE), zero = model.value(ARENA_ZERO),
             overflow = model.value(ARENA_OVERFLOW);
  FUZZ_REQUIRE(ok == (size && zero && overflow), "slab_arena_options_init returned %d", ok);
  FUZZ_REQUIRE(
      o.chunk_size == size.value_or(SPECS[ARENA_SIZE].fallback) &&
          o.zero_on_reset == (zero.value_or(SPECS[ARENA_ZERO].fallback) != 0) &&
          static_cast<std::uint64_t>(o.overflow) == overflow.value_or(SPECS[ARENA_OVERFLOW].fallback),
      "arena options %zu/%d/%d differ from the table", o.chunk_size, o.zero_on_reset, o.overflow);
  const char* message = slab_arena_config_error();
  FUZZ_REQUIRE((message == nullptr) == ok, "slab_arena_config_error() is %s",
               message == nullptr ? "NULL" : message);
  const int first_bad = !size ? ARENA_SIZE : !zero ? ARENA_ZERO : ARENA_OVERFLOW;
  if (message != nullptr)
    FUZZ_REQUIRE(std::strstr(message, SPECS[first_bad].name) == message, "\"%s\" does not name %s", message,
                 SPECS[first_bad].name);
}

void load_and_check(TableModel& model, std::size_t describe_size) {
  quietly([] { tslab_options_describe(nullptr, 0); });  // the first use loads the table
  model.loaded = true;
  for (int o = 0; o < OPTIONS; ++o) check_option(model, o);
  check_describe(describe_size);
  check_arena_options(model);
  FUZZ_REQUIRE(std::strcmp(tslab_option_error("TSLAB_NOT_AN_OPTION"), "unknown option") == 0,
               "an unknown option has no message");
  std::uint64_t v = 0;
  FUZZ_REQUIRE(!tslab_option_get("TSLAB_NOT_AN_OPTION", &v) && slab_last_error() == TSLAB_ERR_UNKNOWN_OPTION,
               "an unknown option was read");
  count_operation(OPTIONS * 2 + 5);
}

void run_entry(TableModel& model, ByteReader& r) {
  const std::uint8_t action = r.u8();
  char bytes[256] = {};
  const std::size_t n = r.bytes(reinterpret_cast<std::uint8_t*>(bytes), r.u8());
  const std::string text(bytes, strnlen(bytes, n));
  const int option = (action >> 3) % (OPTIONS + 1);
  switch (action & 7) {
    case 0:
      return check_parser("parse_bool", tslab::detail::parse_bool, text, reference_bool(text));
    case 1:
      return check_parser("parse_size", tslab::detail::parse_size, text, reference_size(text));
    case 2:
      return check_parser("parse_uint", tslab::detail::parse_uint, text, reference_uint(text));
    case 3:
      return set_option(model, option, text);
    case 4:
      return set_environment(model, option, text);
    case 5:
      return load_and_check(model, n);
    case 6:
      return reset_table(model);
    default:
      return check_echo(text, n);
  }
}

}  // namespace

}  // namespace fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::report_operations_at_exit("fuzz_options");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::ByteReader r(data, size);
  fuzz::TableModel model;
  fuzz::reset_table(model);
  while (!r.empty()) fuzz::run_entry(model, r);
  fuzz::load_and_check(model, size);
  fuzz::reset_table(model);
  fuzz::count_input();
  return 0;
}
