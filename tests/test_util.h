// This file contains small helpers shared by the tslab tests: workload scaling
// through TSLAB_TEST_SCALE, a deterministic random generator, byte patterns that
// identify a block's owner, and shortcuts for the invariant checker and counters.
#ifndef TSLAB_TESTS_TEST_UTIL_H
#define TSLAB_TESTS_TEST_UTIL_H

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>

#include "slab_alloc.h"
#include "slab_stats.h"
#include "tslab/tslab.hpp"

namespace tslab_test {

// Percentage applied to workload sizes. TSLAB_TEST_SCALE=10 runs a tenth of the
// work, 200 twice as much. Unset or unparsable means 100.
inline std::uint64_t scale_percent() {
  const char* s = std::getenv("TSLAB_TEST_SCALE");
  if (s == nullptr || *s == '\0') return 100;
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (end == s || v < 0) return 100;
  return static_cast<std::uint64_t>(v);
}

// `n` scaled by TSLAB_TEST_SCALE percent, never below 1.
inline std::size_t scaled(std::size_t n) {
  const unsigned __int128 r = static_cast<unsigned __int128>(n) * scale_percent() / 100u;
  if (r < 1) return 1;
  if (r > static_cast<unsigned __int128>(SIZE_MAX)) return SIZE_MAX;
  return static_cast<std::size_t>(r);
}

// splitmix64: small, fast, deterministic for a given seed.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (inclusive).
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi) { return lo + next() % (hi - lo + 1); }
  bool coin() { return (next() & 1u) != 0; }

 private:
  std::uint64_t state_;
};

inline bool is_aligned(const void* p, std::size_t alignment) {
  return (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0;
}

// Index of the 64 KiB-aligned slab window that holds `p`.
inline std::uintptr_t slab_window(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) / SLAB_PAGE_SIZE;
}

// The byte at offset `i` of a block tagged `tag`.
inline std::uint8_t pattern_byte(std::uint64_t tag, std::size_t i) {
  const std::uint64_t x = tag * 0x9E3779B97F4A7C15ull + i * 0x100000001B3ull;
  return static_cast<std::uint8_t>((x >> 29) ^ (x >> 7) ^ i);
}

// Writes `tag` into the first 8 bytes (when they fit) and a tag-derived pattern
// into the rest of `size` bytes.
inline void fill_pattern(void* p, std::size_t size, std::uint64_t tag) {
  auto* b = static_cast<std::uint8_t*>(p);
  std::size_t i = 0;
  if (size >= sizeof(tag)) {
    std::memcpy(b, &tag, sizeof(tag));
    i = sizeof(tag);
  }
  for (; i < size; ++i) b[i] = pattern_byte(tag, i);
}

// True if `size` bytes at `p` hold exactly what fill_pattern(p, size, tag) wrote.
inline bool check_pattern(const void* p, std::size_t size, std::uint64_t tag) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  std::size_t i = 0;
  if (size >= sizeof(tag)) {
    std::uint64_t t = 0;
    std::memcpy(&t, b, sizeof(t));
    if (t != tag) return false;
    i = sizeof(tag);
  }
  for (; i < size; ++i)
    if (b[i] != pattern_byte(tag, i)) return false;
  return true;
}

// Index of the first byte of [p, p + size) that is not zero, or size.
inline std::size_t first_nonzero(const void* p, std::size_t size) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < size; ++i)
    if (b[i] != 0) return i;
  return size;
}

// A tag naming (thread, sequence number).
inline std::uint64_t make_tag(std::uint64_t thread, std::uint64_t seq) {
  return (thread << 48) ^ seq ^ 0x5A5A000000000000ull;
}

// Sum of new_slab_count over every size class.
// Allocates n blocks with alloc(i) and checks that none is null and none is
// handed out twice (a block left on a free list twice would be) nor is one of
// `seen`. Returns them with `seen`, for the caller to free.
template <class Alloc>
std::set<void*> distinct_blocks(std::size_t n, Alloc alloc, std::set<void*> seen = {}) {
  for (std::size_t i = 0; i < n; ++i) {
    void* p = alloc(i);
    if (p == nullptr) {
      ADD_FAILURE() << "allocation " << i << " failed";
      break;
    }
    if (!seen.insert(p).second) {
      ADD_FAILURE() << "block " << p << " handed out twice";
      break;
    }
  }
  return seen;
}

inline std::uint64_t total_new_slabs(SlabAllocator* a) {
  std::uint64_t total = 0;
  PerfCounters pc{};
  for (std::uint32_t c = 0; c < slab_size_class_count(); ++c)
    if (get_perf_counters(a, c, &pc)) total += pc.new_slab_count;
  return total;
}

// The allocator's global statistics (a failed read fails the test).
inline SlabGlobalStats global_stats(tslab::Allocator& a) {
  SlabGlobalStats s{};
  EXPECT_TRUE(slab_stats_global(a.c_allocator(), &s));
  return s;
}

inline std::uint64_t total_new_slabs(const tslab::Allocator& a) {
  std::uint64_t total = 0;
  for (std::uint32_t c = 0; c < slab_size_class_count(); ++c) total += a.perf_counters(c).new_slab_count;
  return total;
}

// A reusable spin barrier for a fixed number of threads (cheap to cross often).
class SpinBarrier {
 public:
  explicit SpinBarrier(unsigned count) : count_(count) {}
  void arrive_and_wait() {
    const unsigned gen = generation_.load(std::memory_order_acquire);
    if (waiting_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) {
      waiting_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_acq_rel);
      return;
    }
    while (generation_.load(std::memory_order_acquire) == gen) std::this_thread::yield();
  }

 private:
  const unsigned count_;
  std::atomic<unsigned> waiting_{0};
  std::atomic<unsigned> generation_{0};
};

}  // namespace tslab_test

// Invariant checks with the checker's own message on failure.
#define EXPECT_ALLOCATOR_OK(alloc)                            \
  do {                                                        \
    const tslab::CheckReport tslab_report_ = (alloc).check(); \
    EXPECT_TRUE(tslab_report_.ok) << tslab_report_.message;   \
  } while (0)

#define EXPECT_SLAB_CHECK_OK(alloc)                                                 \
  do {                                                                              \
    char tslab_msg_[256] = {0};                                                     \
    EXPECT_TRUE(slab_check((alloc), tslab_msg_, sizeof(tslab_msg_))) << tslab_msg_; \
  } while (0)

#endif  // TSLAB_TESTS_TEST_UTIL_H
