// This file contains the options table, its one-time load and the messages for
// invalid values (which show a value only escaped and cut, never raw).
//
// Load protocol. `state_` is UNLOADED, BUSY or LOADED, where BUSY is the holding
// thread's token. The thread that moves it UNLOADED -> BUSY (one CAS) reads every
// variable and publishes the table with a release store of LOADED; a thread that
// finds BUSY waits for the next state. A
// programmatic set takes the same BUSY state while the table is UNLOADED, so a
// set and a first use never interleave and no reader sees a half-written row.
//
// Fork. BUSY is a lock: a fork while another thread holds it would leave the
// child's table BUSY for good (every first use there would wait forever). So
// the fork's prepare step takes BUSY itself, waiting out a load or set under
// way (its holder takes no lock and finishes), and the parent and child steps
// give it back; a LOADED table needs neither. A fork from a signal handler that
// interrupted its own thread's hold (the word names that thread) does not wait:
// the thread finishes the hold after the handler returns, in the parent and in
// the child alike. The handlers are installed when the library loads, before
// any thread can be inside a load.
#include "options/options.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "options/diagnostic_write.h"
#include "tslab/options.h"

namespace tslab::detail {
namespace {

constexpr std::size_t ERROR_SIZE = 256;  // one row's message, escaped value included

// "tslab: <error>" on stderr with write(2), not stdio: this runs inside the first
// malloc (options/diagnostic_write.h: not a cancellation point, no SIGPIPE).
void report_bad_value(const char* error) noexcept {
  char line[sizeof "tslab: " + ERROR_SIZE];  // the prefix, a whole message, the newline
  std::size_t n = 0;
  for (const char* c = "tslab: "; *c != '\0';) line[n++] = *c++;
  for (const char* c = error; *c != '\0' && n + 2 < sizeof line;) line[n++] = *c++;
  line[n++] = '\n';
  write_diagnostic(STDERR_FILENO, line, n);
}

enum class Kind : std::uint8_t { boolean, uint, size, overflow, bad_free };

struct OptionSpec {
  const char* name;
  Kind kind;
  std::uint64_t fallback;  // the value when the variable is unset
  std::uint64_t min;
  std::uint64_t max;
  const char* meaning;
};

constexpr std::uint64_t KiB = 1024, MiB = KiB * KiB, GiB = MiB * KiB;

// The table. Indexed by OptionId.
constexpr OptionSpec SPECS[] = {
    {"TSLAB_METRICS_PORT", Kind::uint, 0, 0, 65535,
     "serve Prometheus text on 127.0.0.1:PORT/metrics (0: off)"},
    {"TSLAB_VERBOSE", Kind::boolean, 0, 0, 1, "report metrics-server events on stderr"},
    {"TSLAB_SHOW_STATS", Kind::boolean, 0, 0, 1,
     "print an allocator's summary on stderr when it is freed, and at exit"},
    // At most 1 GiB: every thread's arena takes one chunk of this size at its
    // first use, so the bound keeps a few hundred threads within a few hundred GiB
    // of address space (and RLIMIT_AS); a larger chunk gains nothing, since a block
    // above a quarter of a chunk gets a chunk of its own anyway.
    {"TSLAB_ARENA_SIZE", Kind::size, 1 * MiB, 4 * KiB, 1 * GiB, "chunk size of thread-local and new arenas"},
    {"TSLAB_ARENA_ZERO", Kind::boolean, 1, 0, 1, "arenas zero their used memory on reset"},
    {"TSLAB_ARENA_OVERFLOW", Kind::overflow, TSLAB_ARENA_OVERFLOW_GROW, 0, 2,
     "what a full arena does: error, grow or fallback"},
    // Per allocator. The default covers the slabs a batch epoch of the request
    // workload (bench/workloads/request.cpp: 4,096 requests of 16-1024 B objects on
    // each of two threads) takes: at 4 MiB 4 in 10 of its closes still had slabs
    // to return (a fence and a madvise), at 6 MiB none (docs/BENCHMARKS.md).
    {"TSLAB_WARM_RESERVE", Kind::size, 6 * MiB, 0, 1 * GiB,
     "committed empty slabs an allocator keeps across epoch closes for reuse, and as much of freed large "
     "spans (slab_collect returns them)"},
    {"TSLAB_BAD_FREE", Kind::bad_free, TSLAB_BAD_FREE_WARN, 0, 1,
     "what the malloc override does on a bad free (double, interior, foreign): warn (one line, continue) or "
     "abort"},
    {"TSLAB_CLOSE_RSS", Kind::boolean, 0, 0, 1,
     "read the process RSS before and after every epoch close, for the per-epoch statistics"},
    // Read once per allocator, at its creation. On, every allocation of that
    // allocator takes the slow path (core/pin_sample.h); off costs nothing.
    {"TSLAB_PIN_SAMPLE", Kind::uint, 0, 0, 1u << 30,
     "record the call stack of about one allocation in N (0: off); each epoch close then keeps the call "
     "sites whose sampled blocks are still live (slab_drain_report); costs every allocation the slow path"},
    // Per allocator. The default holds the buffers of a loop over 5-25 MiB
    // buffers (tslab bench large-buffer) without a page fault on reuse.
    {"TSLAB_LARGE_RETAIN", Kind::size, 64 * MiB, 0, 1 * GiB,
     "freed large spans an allocator keeps committed beyond the warm reserve, for about a second; an epoch "
     "close, slab_collect and malloc_trim return them at once"},
};
constexpr std::size_t COUNT = static_cast<std::size_t>(OptionId::count);
static_assert(sizeof(SPECS) / sizeof(SPECS[0]) == COUNT, "one row per OptionId");

enum class Source : std::uint8_t { fallback, environment, program };

struct Row {
  std::uint64_t value;
  bool ok;
  Source source;
  char error[ERROR_SIZE];
};

// UNLOADED, LOADED, or BUSY: the address of the holder's `tl_token`, never 0 or 1.
enum : std::uintptr_t { UNLOADED = 0, LOADED = 1 };
std::atomic<std::uintptr_t> state_{UNLOADED};
[[gnu::tls_model("initial-exec")]] thread_local constinit char tl_token = 0;
std::uintptr_t my_token() noexcept { return reinterpret_cast<std::uintptr_t>(&tl_token); }
Row rows_[COUNT];         // written only by the BUSY holder, read after LOADED
bool overridden_[COUNT];  // written only by the BUSY holder

const char* const OVERFLOW_NAMES[] = {"error", "grow", "fallback"};
const char* const BAD_FREE_NAMES[] = {"warn", "abort"};

bool equals_ignoring_case(const char* a, const char* b) noexcept {
  for (; *a != '\0' && *b != '\0'; ++a, ++b) {
    const char ca = (*a >= 'A' && *a <= 'Z') ? static_cast<char>(*a - 'A' + 'a') : *a;
    const char cb = (*b >= 'A' && *b <= 'Z') ? static_cast<char>(*b - 'A' + 'a') : *b;
    if (ca != cb) return false;
  }
  return *a == *b;
}

// Room for an echoed value: quotes, OPTION_ECHO_LIMIT characters, "... (N bytes)", NUL.
constexpr std::size_t ECHO_SIZE = OPTION_ECHO_LIMIT + 40;

// How a byte of a value is shown: itself if printable ASCII, a backslash before a
// quote or backslash, every other byte as \xHH. Writes up to 4 characters to
// `out` and returns how many.
std::size_t escape_byte(unsigned char c, char* out) noexcept {
  constexpr char HEX[] = "0123456789abcdef";
  if (c == '"' || c == '\\') {
    out[0] = '\\', out[1] = static_cast<char>(c);
    return 2;
  }
  if (c >= 0x20 && c < 0x7f) {
    out[0] = static_cast<char>(c);
    return 1;
  }
  out[0] = '\\', out[1] = 'x', out[2] = HEX[c >> 4], out[3] = HEX[c & 0xf];
  return 4;
}

// `v` for a message: a size with the largest suffix that divides it, else digits.
void format_bound(Kind kind, std::uint64_t v, char* out, std::size_t out_size) noexcept {
  const auto n = static_cast<unsigned long long>(v);
  if (kind == Kind::size && v != 0 && v % GiB == 0)
    std::snprintf(out, out_size, "%llug", n / GiB);
  else if (kind == Kind::size && v != 0 && v % MiB == 0)
    std::snprintf(out, out_size, "%llum", n / MiB);
  else if (kind == Kind::size && v != 0 && v % KiB == 0)
    std::snprintf(out, out_size, "%lluk", n / KiB);
  else
    std::snprintf(out, out_size, "%llu", n);
}

// Parses `text` for `spec`; on failure writes why into `error`, the value shown
// escaped and cut (echo_value), never as it came.
bool parse(const OptionSpec& spec, const char* text, std::uint64_t* out, char* error,
           std::size_t error_size) noexcept {
  std::uint64_t v = 0;
  bool ok = false;
  const char* expected = "";
  switch (spec.kind) {
    case Kind::boolean:
      ok = parse_bool(text, &v);
      expected = "0/1, true/false, yes/no or on/off";
      break;
    case Kind::uint:
      ok = parse_uint(text, &v);
      expected = "a whole number";
      break;
    case Kind::size:
      ok = parse_size(text, &v);
      expected = "a size: digits with an optional k, m or g suffix";
      break;
    case Kind::overflow:
      for (std::uint64_t i = 0; i < 3; ++i)
        if (equals_ignoring_case(text, OVERFLOW_NAMES[i])) v = i, ok = true;
      expected = "error, grow or fallback";
      break;
    case Kind::bad_free:
      for (std::uint64_t i = 0; i < 2; ++i)
        if (equals_ignoring_case(text, BAD_FREE_NAMES[i])) v = i, ok = true;
      expected = "warn or abort";
      break;
  }
  char shown[ECHO_SIZE];
  echo_value(text, shown, sizeof shown);
  if (!ok) {
    std::snprintf(error, error_size, "%s=%s is not valid: expected %s", spec.name, shown, expected);
    return false;
  }
  if (v < spec.min || v > spec.max) {
    char low[24], high[24];
    format_bound(spec.kind, spec.min, low, sizeof low);
    format_bound(spec.kind, spec.max, high, sizeof high);
    std::snprintf(error, error_size, "%s=%s is out of range [%s, %s]", spec.name, shown, low, high);
    return false;
  }
  *out = v;
  return true;
}

// Takes the BUSY state from UNLOADED. False if the table is (or becomes) LOADED.
bool acquire_unloaded() noexcept {
  for (;;) {
    std::uintptr_t s = state_.load(std::memory_order_acquire);
    if (s == LOADED) return false;
    if (s == UNLOADED && state_.compare_exchange_weak(s, my_token(), std::memory_order_acquire)) return true;
    std::this_thread::yield();  // another thread holds BUSY for a few microseconds
  }
}

// Gives BUSY back, as `next` (UNLOADED or LOADED).
void release_busy(std::uintptr_t next) noexcept { state_.store(next, std::memory_order_release); }

bool g_fork_holds_busy = false;  // written by the forking thread only

void fork_prepare() noexcept {
  // Interrupting its own thread's load or set (fork from a signal handler).
  if (state_.load(std::memory_order_acquire) == my_token()) return;
  // Written only when taken (as a rule the options are loaded): each page
  // written in a fork's cycle is a page fault, in prepare too.
  if (acquire_unloaded()) g_fork_holds_busy = true;
}
// Cold: a fork's child runs it (TSLAB_FORK_STEP, platform/fork_hooks.h).
[[gnu::cold]] void fork_release() noexcept {
  if (!g_fork_holds_busy) return;
  g_fork_holds_busy = false;
  release_busy(UNLOADED);
}
[[gnu::constructor]] void install_fork_handlers() {
  ::pthread_atfork(fork_prepare, fork_release, fork_release);
}

void load_once() noexcept {
  if (state_.load(std::memory_order_acquire) == LOADED) [[likely]]
    return;
  if (!acquire_unloaded()) return;
  for (std::size_t i = 0; i < COUNT; ++i) {
    Row& row = rows_[i];
    if (overridden_[i]) continue;  // tslab_option_set wins over the environment
    row.error[0] = '\0';
    const char* text = std::getenv(SPECS[i].name);
    if (text == nullptr || *text == '\0') {  // unset, or set to nothing: the default
      row.value = SPECS[i].fallback, row.ok = true, row.source = Source::fallback;
      continue;
    }
    row.source = Source::environment;
    row.ok = parse(SPECS[i], text, &row.value, row.error, sizeof row.error);
    if (!row.ok) {
      row.value = SPECS[i].fallback;
      report_bad_value(row.error);
    }
  }
  // Publication point of the table: every row above happens-before a LOADED read.
  release_busy(LOADED);
}

}  // namespace

void echo_value(const char* text, char* out, std::size_t out_size) noexcept {
  char shown[OPTION_ECHO_LIMIT + 1];
  std::size_t used = 0, taken = 0;
  for (; text[taken] != '\0'; ++taken) {
    char escaped[4];
    const std::size_t n = escape_byte(static_cast<unsigned char>(text[taken]), escaped);
    if (used + n > OPTION_ECHO_LIMIT) break;
    std::memcpy(shown + used, escaped, n);
    used += n;
  }
  shown[used] = '\0';
  if (text[taken] == '\0')
    std::snprintf(out, out_size, "\"%s\"", shown);
  else
    std::snprintf(out, out_size, "\"%s\"... (%zu bytes)", shown, std::strlen(text));
}

bool parse_uint(const char* text, std::uint64_t* out) noexcept {
  if (text == nullptr || *text < '0' || *text > '9') return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno == ERANGE || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_bool(const char* text, std::uint64_t* out) noexcept {
  if (text == nullptr) return false;
  static const char* const truthy[] = {"1", "true", "yes", "on"};
  static const char* const falsy[] = {"0", "false", "no", "off"};
  for (const char* t : truthy)
    if (equals_ignoring_case(text, t)) return *out = 1, true;
  for (const char* f : falsy)
    if (equals_ignoring_case(text, f)) return *out = 0, true;
  return false;
}

bool parse_size(const char* text, std::uint64_t* out) noexcept {
  if (text == nullptr || *text < '0' || *text > '9') return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long digits = std::strtoull(text, &end, 10);
  if (errno == ERANGE) return false;
  std::uint64_t scale = 1;
  switch (*end) {
    case '\0':
      break;
    case 'k':
    case 'K':
      scale = KiB;
      ++end;
      break;
    case 'm':
    case 'M':
      scale = MiB;
      ++end;
      break;
    case 'g':
    case 'G':
      scale = GiB;
      ++end;
      break;
    default:
      return false;
  }
  if (scale != 1 && *end != '\0' && !equals_ignoring_case(end, "ib") && !equals_ignoring_case(end, "b"))
    return false;
  if (scale == 1 && *end != '\0') return false;
  if (digits > UINT64_MAX / scale) return false;  // would wrap
  *out = digits * scale;
  return true;
}

OptionValue option(OptionId id) noexcept {
  load_once();
  const Row& row = rows_[static_cast<std::size_t>(id)];
  return {row.value, row.ok};
}

const char* option_error(OptionId id) noexcept {
  load_once();
  const Row& row = rows_[static_cast<std::size_t>(id)];
  return row.ok ? nullptr : row.error;
}

OptionId option_by_name(const char* name) noexcept {
  if (name == nullptr) return OptionId::count;
  for (std::size_t i = 0; i < COUNT; ++i)
    if (std::strcmp(SPECS[i].name, name) == 0) return static_cast<OptionId>(i);
  return OptionId::count;
}

TslabError option_set(OptionId id, const char* text) noexcept {
  if (id >= OptionId::count) return TSLAB_ERR_UNKNOWN_OPTION;
  if (text == nullptr) return TSLAB_ERR_BAD_OPTION_VALUE;
  const auto i = static_cast<std::size_t>(id);
  // Nothing, as a variable set to nothing: the default, whatever the environment says.
  const bool nothing = *text == '\0';
  std::uint64_t v = SPECS[i].fallback;
  char error[sizeof rows_[0].error];
  if (!nothing && !parse(SPECS[i], text, &v, error, sizeof error)) return TSLAB_ERR_BAD_OPTION_VALUE;
  if (!acquire_unloaded()) return TSLAB_ERR_OPTIONS_FROZEN;
  rows_[i] = Row{v, true, nothing ? Source::fallback : Source::program, {}};
  overridden_[i] = true;
  release_busy(UNLOADED);
  return TSLAB_OK;
}

void options_reset_for_testing() noexcept {
  for (std::size_t i = 0; i < COUNT; ++i) overridden_[i] = false;
  state_.store(UNLOADED, std::memory_order_release);
}

std::size_t describe_options(char* out, std::size_t out_size) noexcept {
  load_once();
  std::size_t needed = 0;
  for (std::size_t i = 0; i < COUNT; ++i) {
    const Row& row = rows_[i];
    char value[32];
    if (!row.ok)
      std::snprintf(value, sizeof value, "invalid");
    else if (SPECS[i].kind == Kind::overflow)
      std::snprintf(value, sizeof value, "%s", OVERFLOW_NAMES[row.value]);
    else if (SPECS[i].kind == Kind::bad_free)
      std::snprintf(value, sizeof value, "%s", BAD_FREE_NAMES[row.value]);
    else
      std::snprintf(value, sizeof value, "%llu", static_cast<unsigned long long>(row.value));
    const char* source = row.source == Source::environment ? "environment"
                         : row.source == Source::program   ? "program"
                                                           : "default";
    const std::size_t at = needed < out_size ? needed : out_size;
    const int n = std::snprintf(out == nullptr ? nullptr : out + at, out == nullptr ? 0 : out_size - at,
                                "%-22s %-10s %-12s %s\n", SPECS[i].name, value, source, SPECS[i].meaning);
    if (n > 0) needed += static_cast<std::size_t>(n);
  }
  return needed;
}

}  // namespace tslab::detail
