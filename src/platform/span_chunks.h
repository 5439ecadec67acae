// This file contains SpanChunks: the reservations of up to 1 MiB (large spans)
// carved out of 4 MiB chunks, so that the ranges freed between live spans stay
// inside their chunk's mapping.
//
// A reservation of its own per span costs a mapping, and a range given back
// between two live ones splits theirs: a process keeping tens of thousands of
// large blocks with freed ones between them reached the kernel's limit on
// mappings (vm.max_map_count, 65,530 by default), where its other mmap calls,
// pthread_create's among them, fail. Chunks lie side by side, merged into few
// mappings, and one splits them only when it goes back whole; a reservation
// costs no system call.
//
// Bookkeeping only: the caller maps chunks, gives a freed range's pages back
// before it hands the range back (so that no taker can see them zeroed after
// it wrote them) and unmaps the chunks handed back to it. A chunk is a bitmap
// of its 64 granules of 64 KiB (1: taken); a span takes the lowest run of
// free granules at its alignment, from a chunk whose longest free run is the
// shortest that fits (chunks are kept in lists by that run, capped at a span's
// most granules), so a search looks at one chunk unless the alignment asks for
// more. Once one chunk is wholly free, a second that becomes so goes back to
// the OS: one is kept for the next spans.
//
// Chunks are aligned to their size, and found by address in a hash table.
// Thread-safe: a lock (a Mutex, platform/mutex.h) held only for bitmap work,
// never across a system call, which the caller holds across fork()
// (platform/fork_hooks.h). A call from a signal handler that interrupted a call
// on its own thread is answered busy, without waiting: the caller falls back on
// a mapping of its own (not while the thread forks: the fork holds the lock).
// Allocates nothing.
#ifndef TSLAB_PLATFORM_SPAN_CHUNKS_H
#define TSLAB_PLATFORM_SPAN_CHUNKS_H

#include <cstddef>
#include <cstdint>

#include "platform/mutex.h"

namespace tslab::detail {

class SpanChunks {
 public:
  static constexpr std::uintptr_t GRANULE = std::uintptr_t{64} << 10;
  static constexpr std::uintptr_t CHUNK = std::uintptr_t{4} << 20;
  static constexpr std::size_t GRANULES = CHUNK / GRANULE;  // per chunk
  static constexpr std::size_t MAX_SPAN = std::size_t{1} << 20;
  static constexpr std::size_t MAX_SPAN_GRANULES = MAX_SPAN / GRANULE;
  static constexpr std::size_t MAX_CHUNKS = 65536;  // 256 GiB of spans
  // Chunks lie below this address (the user half of a 4-level page table).
  static constexpr std::uintptr_t ADDRESS_LIMIT = std::uintptr_t{1} << 47;

  // no_room: no chunk has room, full: nor can another be added.
  enum class Result { done, no_room, full, busy };

  // True if a reservation of `size` at `alignment` is carved.
  static constexpr bool carves(std::size_t size, std::size_t alignment) noexcept {
    return size != 0 && size % GRANULE == 0 && size <= MAX_SPAN && alignment >= GRANULE &&
           alignment <= CHUNK && (alignment & (alignment - 1)) == 0;
  }

  // Carves `size` bytes at `alignment` (carves() holds) out of a chunk: *at is
  // the range's base when done.
  Result take(std::size_t size, std::size_t alignment, std::uintptr_t* at) noexcept;
  // Adds the chunk mapped at `base` (aligned to CHUNK), wholly free. no_room if
  // `base` is not a chunk's address, full if the table is: the caller unmaps it.
  Result add(std::uintptr_t base) noexcept;
  // add(base), then take(size, alignment, at) out of that chunk.
  Result add_and_take(std::uintptr_t base, std::size_t size, std::size_t alignment,
                      std::uintptr_t* at) noexcept;
  // True if `base` lies in a chunk; false too if the table is busy.
  bool holds(std::uintptr_t base) noexcept;
  // Gives [base, base + size) back (holds(base); its pages already given back).
  // When done, *unmap is a chunk left wholly free beside another (the caller
  // unmaps it), else 0. no_room if `base` lies in no chunk.
  Result give_back(std::uintptr_t base, std::size_t size, std::uintptr_t* unmap) noexcept;
  // Takes out a wholly free chunk, for the caller to unmap: *unmap, or 0 if none.
  Result drop_free_chunk(std::uintptr_t* unmap) noexcept;

  // The lock, for the fork hooks.
  static Mutex& mutex() noexcept { return mutex_; }
  // For tests, without the lock.
  std::size_t chunk_count() const noexcept { return chunks_; }

 private:
  static constexpr std::size_t WORDS = GRANULES / 64;
  static constexpr std::uint32_t NONE = 0;              // records are numbered from 1
  static constexpr std::size_t SLOTS = 2 * MAX_CHUNKS;  // of the hash table, a power of two

  struct Chunk {
    std::uintptr_t base = 0;  // 0: this record is free
    std::uint64_t taken[WORDS] = {};
    std::uint32_t free_granules = 0;
    std::uint32_t run = 0;                   // longest free run, capped at MAX_SPAN_GRANULES
    std::uint32_t prev = NONE, next = NONE;  // in the list of its run
  };

  bool lock() noexcept;
  void unlock() noexcept;
  std::uint32_t add_locked(std::uintptr_t base) noexcept;
  // The first taken granule of [first, first + n); GRANULES if none is.
  std::size_t first_taken(const Chunk& c, std::size_t first, std::size_t n) const noexcept;
  // Granule index of the lowest free run of `n` at a multiple of `step`; GRANULES if none.
  std::size_t find_run(const Chunk& c, std::size_t n, std::size_t step) const noexcept;
  void mark(Chunk& c, std::size_t first, std::size_t n, bool taken) noexcept;
  std::uint32_t longest_run(const Chunk& c) const noexcept;
  void link(std::uint32_t i) noexcept;
  void unlink(std::uint32_t i) noexcept;
  // Re-reads c's longest run and moves it to that list.
  void relist(std::uint32_t i) noexcept;
  bool carve_locked(std::uint32_t i, std::size_t n, std::size_t step, std::uintptr_t* at) noexcept;
  std::uint32_t chunk_of(std::uintptr_t address) const noexcept;
  static std::size_t slot_of(std::uintptr_t chunk_base) noexcept;
  void remove_locked(std::uint32_t i) noexcept;

  // One lock for every table, as the thread's busy mark is one for all (the
  // process has one table; tests make more): kept with the others a fork
  // holds (TSLAB_FORK_HELD) rather than on the table's busiest page.
  static Mutex mutex_;
  std::size_t chunks_ = 0;
  std::uint32_t free_record_ = NONE;                  // records given up, linked by next
  std::uint32_t records_used_ = 0;                    // records ever used
  std::uint32_t wholly_free_ = 0;                     // chunks with every granule free
  std::uint32_t by_run_[MAX_SPAN_GRANULES + 1] = {};  // list heads; chunks of run 0 are in none
  Chunk chunk_[MAX_CHUNKS + 1] = {};                  // chunk_[0] is not used
  // Record numbers by chunk address, open addressing with linear probing; NONE: empty.
  std::uint32_t slot_[SLOTS] = {};
};

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_SPAN_CHUNKS_H
