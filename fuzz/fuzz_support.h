// This file contains what every fuzz target shares: the finding report (a
// message, then a trap libFuzzer records as a crash), a reader that turns the
// input into numbers, the count of operations printed at exit, and the fill
// patterns written into blocks to detect overlap and corruption.
#ifndef TSLAB_FUZZ_FUZZ_SUPPORT_H
#define TSLAB_FUZZ_FUZZ_SUPPORT_H

#include <atomic>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace fuzz {

// Reports a finding and stops the process the way libFuzzer records a crash.
[[noreturn, gnu::format(printf, 1, 2)]] inline void finding(const char* format, ...) {
  std::fputs("\n==tslab-fuzz== FINDING: ", stderr);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputs("\n", stderr);
  std::fflush(stderr);
  __builtin_trap();
}

#define FUZZ_REQUIRE(condition, ...)                \
  do {                                              \
    if (!(condition)) ::fuzz::finding(__VA_ARGS__); \
  } while (0)

// Reads the input front to back; past its end every read is zero.
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }

  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(little_endian(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(little_endian(4)); }
  std::uint64_t u64() { return little_endian(8); }
  bool flag() { return (u8() & 1) != 0; }

  // Copies up to `n` bytes into `out`; returns how many there were.
  std::size_t bytes(std::uint8_t* out, std::size_t n) {
    std::size_t i = 0;
    for (; i < n && pos_ < size_; ++i) out[i] = data_[pos_++];
    return i;
  }

 private:
  std::uint64_t little_endian(unsigned width) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < width; ++i) v |= std::uint64_t{u8()} << (8 * i);
    return v;
  }

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// --- operation count -------------------------------------------------------

inline std::atomic<std::uint64_t> g_operations{0};
inline std::atomic<std::uint64_t> g_inputs{0};
inline const char* g_target_name = "fuzz";

inline void count_operation(std::uint64_t n = 1) { g_operations.fetch_add(n, std::memory_order_relaxed); }
inline void count_input() { g_inputs.fetch_add(1, std::memory_order_relaxed); }

inline void print_operations() {
  std::fprintf(stderr, "%s: ran %llu API operations over %llu inputs\n", g_target_name,
               static_cast<unsigned long long>(g_operations.load()),
               static_cast<unsigned long long>(g_inputs.load()));
}

// Prints the count when the process exits normally (libFuzzer's time or run limit).
inline void report_operations_at_exit(const char* target_name) {
  g_target_name = target_name;
  std::atexit(print_operations);
}

// --- fill patterns -----------------------------------------------------------

// The pattern loops are the harness, not tslab: no coverage tracing, and no
// address checks (blocks are tslab's own mapped memory, unknown to ASan anyway).
#define FUZZ_NOT_TRACED __attribute__((no_sanitize("coverage", "address"), noinline))

// The byte at `offset` of a block painted with `seed`: differs between seeds at
// every offset, so two overlapping blocks never both read intact.
[[gnu::always_inline]] inline std::uint8_t pattern_byte(std::uint64_t seed, std::size_t offset) {
  const auto mixed = static_cast<std::uint8_t>(offset * 0x9Du + (offset >> 8));
  return static_cast<std::uint8_t>(static_cast<std::uint8_t>(seed) ^ mixed);
}

FUZZ_NOT_TRACED inline void paint(void* block, std::size_t from, std::size_t to, std::uint64_t seed) {
  auto* bytes = static_cast<std::uint8_t*>(block);
  for (std::size_t i = from; i < to; ++i) bytes[i] = pattern_byte(seed, i);
}

// The first offset in [from, to) whose byte differs from the pattern, or `to`.
FUZZ_NOT_TRACED inline std::size_t first_damaged(const void* block, std::size_t from, std::size_t to,
                                                 std::uint64_t seed) {
  const auto* bytes = static_cast<const std::uint8_t*>(block);
  std::size_t i = from;
  for (; i + 64 <= to; i += 64) {  // whole lines first: the compiler vectorises these
    unsigned differences = 0;
    for (std::size_t k = i; k < i + 64; ++k) differences |= bytes[k] ^ pattern_byte(seed, k);
    if (differences != 0) break;
  }
  for (; i < to; ++i)
    if (bytes[i] != pattern_byte(seed, i)) return i;
  return to;
}

// A 64-bit mix (splitmix64), for seeds.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace fuzz

#endif  // TSLAB_FUZZ_FUZZ_SUPPORT_H
