// This file contains ZeroedTail: tables laid out one after another in the
// zero-filled memory that follows an object in a record of its own, each sized
// for the entries the object uses, and not constructed: their all-zero bytes
// are their initial state, as the compilers and sanitizers we build with treat
// them (the same contract as a heap's bins, heap/heap.cpp). So a table's pages
// are written, and committed, only where an entry is: an allocator of 16 epoch
// slots touches the pages of 16 slots, not of the 256 its record can hold.
//
// The same walk measures: a tail started at 0 with no owner gives the bytes the
// tables take (end()), for a start of the same alignment (64).
#ifndef TSLAB_PLATFORM_ZEROED_TAIL_H
#define TSLAB_PLATFORM_ZEROED_TAIL_H

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace tslab::detail {

class ZeroedTail {
 public:
  // The largest alignment a table may ask for: a tail's start has it.
  static constexpr std::size_t MAX_ALIGN = 64;

  explicit constexpr ZeroedTail(std::uintptr_t start) noexcept : next_(start) {}

  // The next table of n entries, into owner->*field (owner nullptr: only
  // measured). Nothing is constructed, and nothing needs destroying.
  template <class Owner, class T>
  constexpr void take(T* Owner::*field, Owner* owner, std::size_t n) noexcept {
    static_assert(std::is_trivially_destructible_v<T>, "a tail's tables are never destroyed");
    static_assert(alignof(T) <= MAX_ALIGN);
    next_ = (next_ + alignof(T) - 1) & ~std::uintptr_t{alignof(T) - 1};
    if (owner != nullptr) owner->*field = reinterpret_cast<T*>(next_);
    next_ += n * sizeof(T);
  }

  // Where the tables taken so far end (from a start of 0: the bytes they take).
  constexpr std::uintptr_t end() const noexcept { return next_; }

 private:
  std::uintptr_t next_;
};

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_ZEROED_TAIL_H
