// This file contains SpanChunks (platform/span_chunks.h): the bitmaps of the
// chunks large spans are carved out of, and the lists that find a chunk with
// room.
#include "platform/span_chunks.h"

#include <atomic>

#include "platform/fork_hooks.h"

namespace tslab::detail {

TSLAB_FORK_HELD constinit Mutex SpanChunks::mutex_;

namespace {

// Set while this thread takes or holds a table: a signal handler that
// interrupted it there is answered busy rather than wait for its own thread.
[[gnu::tls_model("initial-exec")]] thread_local constinit bool tl_in_chunks = false;

constexpr std::size_t WORD_BITS = 64;

// Bits [from, from + n) of one word, n at most WORD_BITS - from.
constexpr std::uint64_t bits(std::size_t from, std::size_t n) {
  return (n == WORD_BITS ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1) << from;
}

}  // namespace

bool SpanChunks::lock() noexcept {
  if (tl_in_chunks) return false;
  tl_in_chunks = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  mutex_.lock();
  return true;
}

void SpanChunks::unlock() noexcept {
  mutex_.unlock();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tl_in_chunks = false;
}

std::size_t SpanChunks::first_taken(const Chunk& c, std::size_t first, std::size_t n) const noexcept {
  for (std::size_t at = first; at < first + n;) {
    const std::size_t shift = at % WORD_BITS;
    const std::size_t len = WORD_BITS - shift < first + n - at ? WORD_BITS - shift : first + n - at;
    const std::uint64_t hit = c.taken[at / WORD_BITS] & bits(shift, len);
    if (hit != 0) return at - shift + static_cast<std::size_t>(__builtin_ctzll(hit));
    at += len;
  }
  return GRANULES;
}

std::size_t SpanChunks::find_run(const Chunk& c, std::size_t n, std::size_t step) const noexcept {
  std::size_t at = 0;
  while (at + n <= GRANULES) {
    // The first free granule from `at`, rounded up to the alignment.
    std::size_t word = at / WORD_BITS;
    std::uint64_t free_bits = ~c.taken[word] & (~std::uint64_t{0} << (at % WORD_BITS));
    while (free_bits == 0 && word + 1 < WORDS) free_bits = ~c.taken[++word];
    if (free_bits == 0) return GRANULES;
    at = word * WORD_BITS + static_cast<std::size_t>(__builtin_ctzll(free_bits));
    at = (at + step - 1) & ~(step - 1);
    if (at + n > GRANULES) return GRANULES;
    const std::size_t taken = first_taken(c, at, n);
    if (taken == GRANULES) return at;
    at = taken + 1;
  }
  return GRANULES;
}

void SpanChunks::mark(Chunk& c, std::size_t first, std::size_t n, bool taken) noexcept {
  for (std::size_t at = first; at < first + n;) {
    const std::size_t shift = at % WORD_BITS;
    const std::size_t len = WORD_BITS - shift < first + n - at ? WORD_BITS - shift : first + n - at;
    std::uint64_t& word = c.taken[at / WORD_BITS];
    // Only granules that change count: a range given back twice frees nothing twice.
    const std::uint64_t change = (taken ? ~word : word) & bits(shift, len);
    word ^= change;
    const auto changed = static_cast<std::uint32_t>(__builtin_popcountll(change));
    c.free_granules = taken ? c.free_granules - changed : c.free_granules + changed;
    at += len;
  }
}

std::uint32_t SpanChunks::longest_run(const Chunk& c) const noexcept {
  constexpr std::size_t CAP = MAX_SPAN_GRANULES;
  std::size_t best = 0, run = 0;
  for (const std::uint64_t word : c.taken) {
    if (word == 0) {
      run += WORD_BITS;
    } else if (word == ~std::uint64_t{0}) {
      run = 0;
    } else {
      for (std::size_t b = 0; b < WORD_BITS; ++b) {
        if ((word >> b) & 1) {
          run = 0;
        } else if (++run > best) {
          best = run;
        }
      }
    }
    if (run > best) best = run;
    if (best >= CAP) return CAP;
  }
  return static_cast<std::uint32_t>(best);
}

void SpanChunks::link(std::uint32_t i) noexcept {
  Chunk& c = chunk_[i];
  c.prev = NONE;
  c.next = NONE;
  if (c.run == 0) return;  // full: in no list
  c.next = by_run_[c.run];
  if (c.next != NONE) chunk_[c.next].prev = i;
  by_run_[c.run] = i;
}

void SpanChunks::unlink(std::uint32_t i) noexcept {
  Chunk& c = chunk_[i];
  if (c.run == 0) return;
  (c.prev != NONE ? chunk_[c.prev].next : by_run_[c.run]) = c.next;
  if (c.next != NONE) chunk_[c.next].prev = c.prev;
  c.prev = c.next = NONE;
}

void SpanChunks::relist(std::uint32_t i) noexcept {
  unlink(i);
  chunk_[i].run = longest_run(chunk_[i]);
  link(i);
}

bool SpanChunks::carve_locked(std::uint32_t i, std::size_t n, std::size_t step, std::uintptr_t* at) noexcept {
  Chunk& c = chunk_[i];
  const std::size_t first = find_run(c, n, step);
  if (first == GRANULES) return false;
  if (c.free_granules == GRANULES) --wholly_free_;
  mark(c, first, n, true);
  relist(i);
  *at = c.base + first * GRANULE;
  return true;
}

SpanChunks::Result SpanChunks::take(std::size_t size, std::size_t alignment, std::uintptr_t* at) noexcept {
  if (!lock()) return Result::busy;
  const std::size_t n = size / GRANULE, step = alignment / GRANULE;
  // The chunk whose longest run is the shortest that fits; a wholly free chunk
  // last, so that it stays free to go back to the OS.
  std::uint32_t spare = NONE;
  for (std::size_t run = n; run <= MAX_SPAN_GRANULES; ++run)
    for (std::uint32_t i = by_run_[run]; i != NONE; i = chunk_[i].next) {
      if (chunk_[i].free_granules == GRANULES) {
        spare = i;
        continue;
      }
      if (carve_locked(i, n, step, at)) {
        unlock();
        return Result::done;
      }
    }
  const bool carved = spare != NONE && carve_locked(spare, n, step, at);
  const bool full = free_record_ == NONE && records_used_ == MAX_CHUNKS;
  unlock();
  return carved ? Result::done : full ? Result::full : Result::no_room;
}

std::uint32_t SpanChunks::add_locked(std::uintptr_t base) noexcept {
  std::uint32_t i = free_record_;
  if (i != NONE) {
    free_record_ = chunk_[i].next;
  } else if (records_used_ < MAX_CHUNKS) {
    i = ++records_used_;
  } else {
    return NONE;
  }
  Chunk& c = chunk_[i];
  for (std::uint64_t& word : c.taken) word = 0;
  c.free_granules = GRANULES;
  c.run = MAX_SPAN_GRANULES;
  c.base = base;
  link(i);
  std::size_t slot = slot_of(base);
  while (slot_[slot] != NONE) slot = (slot + 1) % SLOTS;  // never full: twice the records
  slot_[slot] = i;
  ++chunks_;
  ++wholly_free_;
  return i;
}

SpanChunks::Result SpanChunks::add(std::uintptr_t base) noexcept {
  if (base == 0 || base % CHUNK != 0 || base >= ADDRESS_LIMIT) return Result::no_room;
  if (!lock()) return Result::busy;
  const std::uint32_t i = add_locked(base);
  unlock();
  return i != NONE ? Result::done : Result::full;
}

SpanChunks::Result SpanChunks::add_and_take(std::uintptr_t base, std::size_t size, std::size_t alignment,
                                            std::uintptr_t* at) noexcept {
  if (base == 0 || base % CHUNK != 0 || base >= ADDRESS_LIMIT) return Result::no_room;
  if (!lock()) return Result::busy;
  const std::uint32_t i = add_locked(base);
  if (i != NONE) carve_locked(i, size / GRANULE, alignment / GRANULE, at);  // a free chunk fits any span
  unlock();
  return i != NONE ? Result::done : Result::full;
}

std::size_t SpanChunks::slot_of(std::uintptr_t chunk_base) noexcept {
  return static_cast<std::size_t>(((chunk_base / CHUNK) * 0x9e3779b97f4a7c15ull) >> 32) % SLOTS;
}

std::uint32_t SpanChunks::chunk_of(std::uintptr_t address) const noexcept {
  const std::uintptr_t base = address & ~(CHUNK - 1);
  for (std::size_t slot = slot_of(base); slot_[slot] != NONE; slot = (slot + 1) % SLOTS)
    if (chunk_[slot_[slot]].base == base) return slot_[slot];
  return NONE;
}

bool SpanChunks::holds(std::uintptr_t base) noexcept {
  if (!lock()) return false;
  const bool held = chunk_of(base) != NONE;
  unlock();
  return held;
}

void SpanChunks::remove_locked(std::uint32_t i) noexcept {
  Chunk& c = chunk_[i];
  unlink(i);
  // Out of the hash table; the entries after it in its probe run move up into
  // the gap where their probes would otherwise stop early (backward shift).
  std::size_t gap = slot_of(c.base);
  while (slot_[gap] != i) gap = (gap + 1) % SLOTS;
  for (std::size_t next = (gap + 1) % SLOTS; slot_[next] != NONE; next = (next + 1) % SLOTS) {
    const std::size_t home = slot_of(chunk_[slot_[next]].base);
    // `next` may move to the gap unless its home lies cyclically in (gap, next].
    const bool stays = gap < next ? (home > gap && home <= next) : (home > gap || home <= next);
    if (stays) continue;
    slot_[gap] = slot_[next];
    gap = next;
  }
  slot_[gap] = NONE;
  c.base = 0;
  c.run = 0;
  c.next = free_record_;
  free_record_ = i;
  --chunks_;
}

SpanChunks::Result SpanChunks::give_back(std::uintptr_t base, std::size_t size,
                                         std::uintptr_t* unmap) noexcept {
  *unmap = 0;
  if (!lock()) return Result::busy;
  const std::uint32_t i = chunk_of(base);
  if (i == NONE) {
    unlock();
    return Result::no_room;
  }
  Chunk& c = chunk_[i];
  const std::uintptr_t chunk_base = c.base;
  const std::size_t first = (base - chunk_base) / GRANULE;
  const std::size_t n = (size + GRANULE - 1) / GRANULE;
  const bool was_free = c.free_granules == GRANULES;
  mark(c, first, first + n <= GRANULES ? n : GRANULES - first, false);
  relist(i);
  if (c.free_granules == GRANULES && !was_free) {
    if (wholly_free_ != 0) {  // one wholly free chunk is kept, not two
      *unmap = chunk_base;
      remove_locked(i);
    } else {
      ++wholly_free_;
    }
  }
  unlock();
  return Result::done;
}

SpanChunks::Result SpanChunks::drop_free_chunk(std::uintptr_t* unmap) noexcept {
  *unmap = 0;
  if (!lock()) return Result::busy;
  for (std::uint32_t i = by_run_[MAX_SPAN_GRANULES]; i != NONE; i = chunk_[i].next) {
    if (chunk_[i].free_granules != GRANULES) continue;
    *unmap = chunk_[i].base;
    remove_locked(i);
    --wholly_free_;
    break;
  }
  unlock();
  return Result::done;
}

}  // namespace tslab::detail
