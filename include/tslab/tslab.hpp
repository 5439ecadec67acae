// This file contains tslab's C++ API: tslab::Allocator, the std::pmr resource
// and the STL allocator bound to an allocator and an epoch.
//
// An epoch is a lifetime phase (a request, a frame, a batch). Objects of one
// epoch never share a slab with objects of another, so a phase's memory drains
// together. Verbs, each with one meaning:
//   epoch_advance()  the current epoch becomes CLOSING, the next ring slot ACTIVE
//   epoch_close(e)   epoch e becomes CLOSING: no new allocations, frees still work
//   deallocate(p)    frees one block; ~Allocator returns everything at once
#ifndef TSLAB_TSLAB_HPP
#define TSLAB_TSLAB_HPP

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>

#include "slab_alloc.h"
#include "tslab/error.h"
#include "tslab/exceptions.hpp"
#include "tslab/platform.hpp"

namespace tslab {

namespace detail {
class AllocatorCore;
}

using Handle = std::uint64_t;
using EpochId = std::uint32_t;

enum class Error : int {
  ok = TSLAB_OK,
  invalid_argument = TSLAB_ERR_INVALID_ARGUMENT,
  size_zero = TSLAB_ERR_SIZE_ZERO,
  size_too_large = TSLAB_ERR_SIZE_TOO_LARGE,
  bad_alignment = TSLAB_ERR_BAD_ALIGNMENT,
  epoch_out_of_range = TSLAB_ERR_EPOCH_OUT_OF_RANGE,
  epoch_closing = TSLAB_ERR_EPOCH_CLOSING,
  out_of_memory = TSLAB_ERR_OUT_OF_MEMORY,
  invalid_handle = TSLAB_ERR_INVALID_HANDLE,
  stale_handle = TSLAB_ERR_STALE_HANDLE,
  foreign = TSLAB_ERR_FOREIGN,
  not_allocated = TSLAB_ERR_NOT_ALLOCATED,
  interior_pointer = TSLAB_ERR_INTERIOR_POINTER,
  double_free = TSLAB_ERR_DOUBLE_FREE,
  stale_epoch = TSLAB_ERR_STALE_EPOCH,
  domain_misuse = TSLAB_ERR_DOMAIN_MISUSE,
  unknown_option = TSLAB_ERR_UNKNOWN_OPTION,
  bad_option_value = TSLAB_ERR_BAD_OPTION_VALUE,
  options_frozen = TSLAB_ERR_OPTIONS_FROZEN,
  arena_full = TSLAB_ERR_ARENA_FULL,
  reentrant = TSLAB_ERR_REENTRANT,
  system = TSLAB_ERR_SYSTEM,
  no_free_epoch = TSLAB_ERR_NO_FREE_EPOCH,
  permanent = TSLAB_ERR_PERMANENT,
};

// Why the calling thread's last failed call failed.
Error last_error() noexcept;
const char* to_string(Error e) noexcept;

enum class EpochState { active = EPOCH_ACTIVE, closing = EPOCH_CLOSING };

struct Options {
  std::uint32_t epoch_count = SLAB_DEFAULT_EPOCH_COUNT;  // 1..SLAB_MAX_EPOCH_COUNT
  Platform* platform = nullptr;                          // nullptr: the OS
};

struct Allocation {
  void* ptr = nullptr;
  Handle handle = 0;
};

struct CheckReport {
  bool ok = true;
  char message[256] = {};  // first violation, when !ok
};

// Owns one tslab allocator. Non-copyable, movable; a moved-from Allocator is empty
// (valid() is false): every call on it fails with Error::invalid_argument.
class Allocator {
 public:
  // Throws std::bad_alloc if the OS refuses the allocator's own memory, and
  // std::invalid_argument for an epoch_count outside 1..SLAB_MAX_EPOCH_COUNT.
  explicit Allocator(const Options& options = {});
  ~Allocator();
  Allocator(Allocator&& other) noexcept;
  Allocator& operator=(Allocator&& other) noexcept;
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  bool valid() const noexcept;

  // The allocator's name in its statistics (slab_allocator_set_name): at most 31
  // bytes, no control characters, else Error::invalid_argument; nullptr or ""
  // clears it. name() copies it like slab_allocator_name and returns its length.
  Error set_name(const char* name) noexcept;
  std::size_t name(char* out, std::size_t out_size) const noexcept;

  // Pointer API. Failure returns nullptr and sets last_error(). Size 0 returns
  // a unique minimum-size block.
  void* allocate(std::size_t size) noexcept;
  void* allocate(std::size_t size, EpochId epoch) noexcept;
  // `alignment`: a non-zero power of two; Error::size_too_large beyond 2^46.
  void* allocate_aligned(std::size_t size, std::size_t alignment) noexcept;
  void* allocate_aligned(std::size_t size, std::size_t alignment, EpochId epoch) noexcept;
  // nullptr is Error::ok. Never corrupts on a bad pointer.
  Error deallocate(void* ptr) noexcept;
  // 0 if `ptr` is not a live block of this allocator.
  std::size_t usable_size(const void* ptr) const noexcept;

  // Handle API. A size of 0 fails with Error::size_zero.
  Allocation allocate_with_handle(std::size_t size, EpochId epoch) noexcept;
  Error free_handle(Handle handle) noexcept;
  void* handle_to_ptr(Handle handle) const noexcept;
  Handle ptr_to_handle(const void* ptr) const noexcept;

  // Epochs.
  // epoch_close returns the pages of the epoch's empty slabs before it returns;
  // the era overload refuses (Error::stale_epoch) a slot re-activated since.
  EpochId epoch_current() const noexcept;
  EpochId epoch_advance() noexcept;
  // A long-lived epoch held outside the rotation until it is closed; nullopt-like
  // SLAB_NO_EPOCH (last_error() says why) if none can be opened.
  EpochId epoch_open() noexcept;
  // The warm reserve (slab_set_warm_reserve): committed empty slabs kept across
  // closes for reuse. Error::invalid_argument beyond 1 GiB.
  Error set_warm_reserve(std::size_t bytes) noexcept;
  std::size_t warm_reserve() const noexcept;
  // Large-span retention (slab_set_large_retain): freed large blocks kept
  // committed beyond the warm reserve for about a second. Error::invalid_argument beyond 1 GiB.
  Error set_large_retain(std::size_t bytes) noexcept;
  std::size_t large_retain() const noexcept;
  bool epoch_held(EpochId epoch) const noexcept;
  Error epoch_close(EpochId epoch) noexcept;
  Error epoch_close(EpochId epoch, std::uint64_t era) noexcept;
  // Closes the epoch and frees every block still live in it (slab_epoch_destroy).
  Error epoch_destroy(EpochId epoch, std::uint64_t* released = nullptr) noexcept;
  EpochState epoch_state(EpochId epoch) const noexcept;
  std::uint64_t epoch_era(EpochId epoch) const noexcept;
  std::uint32_t epoch_count() const noexcept;
  // Per-epoch metadata (state, era, open_since, live blocks, refcount, RSS around
  // the last close, label); a zeroed record for an out-of-range epoch.
  SlabEpochInfo epoch_info(EpochId epoch) const noexcept;
  Error set_epoch_label(EpochId epoch, const char* label) noexcept;

  // Memory return for lifetime-unaware use: the pages of every empty slab that no
  // live thread's cache holds go back now; other threads' caches follow the next
  // time they need a slab. Returns the bytes handed back.
  std::uint64_t collect() noexcept;
  // Resident bytes of the allocator's own memory (slabs, spans, metadata).
  std::uint64_t resident_bytes() const noexcept;

  // Invariants (call while no other thread uses the allocator) and counters.
  CheckReport check() const noexcept;
  PerfCounters perf_counters(std::uint32_t size_class) const noexcept;

  detail::AllocatorCore* core() const noexcept { return core_; }

  // The same allocator through the C API (slab_alloc.h, slab_stats.h).
  SlabAllocator* c_allocator() const noexcept { return reinterpret_cast<SlabAllocator*>(core_); }

 private:
  void release() noexcept;
  detail::AllocatorCore* core_;  // never null: an empty Allocator refers to a dead one
};

// A std::pmr::memory_resource that allocates from one allocator into one epoch.
// do_allocate throws std::bad_alloc on failure. Two resources are equal when they
// share an allocator (either can free the other's memory).
class PmrResource final : public std::pmr::memory_resource {
 public:
  PmrResource(Allocator& allocator, EpochId epoch) noexcept : allocator_(&allocator), epoch_(epoch) {}
  Allocator& allocator() const noexcept { return *allocator_; }
  EpochId epoch() const noexcept { return epoch_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;

  Allocator* allocator_;
  EpochId epoch_;
};

// A standard allocator for containers, bound to an allocator and an epoch.
template <class T>
class StlAllocator {
 public:
  using value_type = T;

  StlAllocator(Allocator& allocator, EpochId epoch) noexcept : allocator_(&allocator), epoch_(epoch) {}
  template <class U>
  StlAllocator(const StlAllocator<U>& other) noexcept : allocator_(other.allocator_), epoch_(other.epoch_) {}

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) failure::bad_array_new_length();
    void* p = allocator_->allocate_aligned(n * sizeof(T), alignof(T), epoch_);
    if (p == nullptr) failure::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { allocator_->deallocate(p); }

  // Equal when either can free what the other allocated: the same allocator,
  // whatever the epochs.
  template <class U>
  bool operator==(const StlAllocator<U>& other) const noexcept {
    return allocator_ == other.allocator_;
  }
  // C++17 does not derive != from == (containers use both).
  template <class U>
  bool operator!=(const StlAllocator<U>& other) const noexcept {
    return allocator_ != other.allocator_;
  }

 private:
  template <class U>
  friend class StlAllocator;
  Allocator* allocator_;
  EpochId epoch_;
};

}  // namespace tslab

#endif  // TSLAB_TSLAB_HPP
