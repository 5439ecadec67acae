// This file contains tslab's arena C++ API, over the C API of slab_arena.h (whose
// comment describes chunks, overflow policies, zeroing and the error codes):
//   tslab::Arena        a bump arena used by one thread at a time
//   tslab::SharedArena  the same, allocated from by many threads at once
//   tslab::EpochArena   an arena whose chunks live in one epoch, closed with it
//   tslab::ThreadArena  the calling thread's arena, created on first use
//   tslab::ArenaResource  a std::pmr::memory_resource over any of them
//
//   tslab::Allocator alloc;
//   tslab::Arena scratch(alloc);                   // TSLAB_ARENA_* options
//   if (!scratch) { /* tslab::last_error() says why */ }
//   auto* node = scratch.make<Node>(1, 2);         // constructed in place
//   char* text = scratch.allocate_array<char>(len);
//   scratch.reset();                               // everything at once
//
// An arena never runs destructors: make<T> takes trivially destructible types.
// Construction does not throw; an arena that could not be created is !ok() and
// every allocation from it fails with Error::invalid_argument.
#ifndef TSLAB_ARENA_HPP
#define TSLAB_ARENA_HPP

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <type_traits>
#include <utility>

#include "slab_arena.h"
#include "tslab/exceptions.hpp"
#include "tslab/tslab.hpp"

namespace tslab {

enum class ArenaOverflow : int {
  error = TSLAB_ARENA_OVERFLOW_ERROR,
  grow = TSLAB_ARENA_OVERFLOW_GROW,
  fallback = TSLAB_ARENA_OVERFLOW_FALLBACK,
};

using ArenaOptions = SlabArenaOptions;
using ArenaStats = SlabArenaStats;

// The options from TSLAB_ARENA_SIZE, TSLAB_ARENA_ZERO and TSLAB_ARENA_OVERFLOW.
// Error::bad_option_value if one is invalid; arena_config_error() names it.
inline Error arena_options_from_environment(ArenaOptions& out) noexcept {
  return slab_arena_options_init(&out) ? Error::ok : last_error();
}
inline const char* arena_config_error() noexcept { return slab_arena_config_error(); }

// What every arena offers. Movable, not copyable; a moved-from arena is !ok().
class BasicArena {
 public:
  BasicArena(const BasicArena&) = delete;
  BasicArena& operator=(const BasicArena&) = delete;
  BasicArena(BasicArena&& other) noexcept : arena_(std::exchange(other.arena_, nullptr)) {}
  BasicArena& operator=(BasicArena&& other) noexcept {
    if (this != &other) {
      close();
      arena_ = std::exchange(other.arena_, nullptr);
    }
    return *this;
  }
  ~BasicArena() { close(); }

  bool ok() const noexcept { return arena_ != nullptr; }
  explicit operator bool() const noexcept { return ok(); }

  // `size` bytes aligned to `alignment` (a power of two), or nullptr (last_error()).
  void* allocate(std::size_t size, std::size_t alignment = alignof(std::max_align_t)) noexcept {
    return slab_arena_alloc(arena_, size, alignment);
  }
  // Room for `n` objects of type T, uninitialised; n * sizeof(T) never wraps.
  template <class T>
  T* allocate_array(std::size_t n) noexcept {
    const std::size_t bytes = n > SIZE_MAX / sizeof(T) ? SIZE_MAX : n * sizeof(T);
    return static_cast<T*>(allocate(bytes, alignof(T)));
  }
  // A T constructed in the arena, or nullptr. Its destructor will never run.
  template <class T, class... Args>
  T* make(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    static_assert(std::is_trivially_destructible_v<T>, "an arena never runs destructors");
    void* p = allocate(sizeof(T), alignof(T));
    return p == nullptr ? nullptr : ::new (p) T(std::forward<Args>(args)...);
  }

  // Every block at once. Needs the arena to itself, even a shared one.
  Error reset() noexcept { return slab_arena_reset(arena_) ? Error::ok : last_error(); }
  ArenaStats stats() const noexcept {
    ArenaStats s{};
    slab_arena_stats(arena_, &s);
    return s;
  }
  // Destroys the arena now (the destructor does it otherwise); an epoch arena
  // closes its epoch here. Error::stale_epoch if that epoch was re-activated
  // meanwhile (the arena's memory is freed all the same). ok() is false afterwards.
  Error close() noexcept {
    if (arena_ == nullptr) return Error::ok;
    SlabArena* a = std::exchange(arena_, nullptr);
    return slab_arena_destroy(a) ? Error::ok : last_error();
  }

  SlabArena* c_arena() const noexcept { return arena_; }

 protected:
  BasicArena() = default;

  // A SlabAllocator* names the same object as the C++ allocator's core.
  static SlabAllocator* c_allocator(Allocator& alloc) noexcept {
    return reinterpret_cast<SlabAllocator*>(alloc.core());
  }
  // Options from the environment, or nullptr (and the arena stays !ok()).
  static const ArenaOptions* environment(ArenaOptions& out) noexcept {
    return slab_arena_options_init(&out) ? &out : nullptr;
  }
  void create(SlabAllocator* alloc, const ArenaOptions* options, bool shared) noexcept {
    if (options == nullptr) return;
    ArenaOptions o = *options;
    o.shared = shared;
    arena_ = slab_arena_create(alloc, &o);
  }

  SlabArena* arena_ = nullptr;
};

// A bump arena used by one thread at a time.
class Arena final : public BasicArena {
 public:
  // Chunks from `alloc`'s current epoch, options from the environment.
  explicit Arena(Allocator& alloc) noexcept {
    ArenaOptions o;
    create(c_allocator(alloc), environment(o), false);
  }
  Arena(Allocator& alloc, const ArenaOptions& options) noexcept {
    create(c_allocator(alloc), &options, false);
  }
  Arena(SlabAllocator* alloc, const ArenaOptions& options) noexcept { create(alloc, &options, false); }
  // Over a caller buffer alone: when it is full, allocations fail with Error::arena_full.
  Arena(void* buffer, std::size_t size, bool zero_on_reset = true) noexcept {
    ArenaOptions o{};
    o.overflow = TSLAB_ARENA_OVERFLOW_ERROR;
    o.zero_on_reset = zero_on_reset;
    o.epoch = SLAB_ARENA_CURRENT_EPOCH;
    o.buffer = buffer;
    o.buffer_size = size;
    create(nullptr, &o, false);
  }
};

// A bump arena that any number of threads allocate from at once.
class SharedArena final : public BasicArena {
 public:
  explicit SharedArena(Allocator& alloc) noexcept {
    ArenaOptions o;
    create(c_allocator(alloc), environment(o), true);
  }
  SharedArena(Allocator& alloc, const ArenaOptions& options) noexcept {
    create(c_allocator(alloc), &options, true);
  }
  SharedArena(SlabAllocator* alloc, const ArenaOptions& options) noexcept { create(alloc, &options, true); }
};

// An arena bound to the current activation of `epoch`: its chunks are allocated
// in that epoch, and close() (or the destructor) frees them and then closes the
// epoch if its era still matches, so the epoch's pages go back to the OS.
class EpochArena final : public BasicArena {
 public:
  EpochArena(Allocator& alloc, EpochId epoch, bool shared = false) noexcept {
    ArenaOptions o;
    if (environment(o) == nullptr) return;
    o.epoch = epoch;
    o.close_epoch = true;
    create(c_allocator(alloc), &o, shared);
  }
  EpochArena(Allocator& alloc, EpochId epoch, const ArenaOptions& options) noexcept {
    ArenaOptions o = options;
    o.epoch = epoch;
    o.close_epoch = true;
    create(c_allocator(alloc), &o, options.shared);
  }
};

// The calling thread's arena: created on first use from the TSLAB_ARENA_*
// options, destroyed at thread exit or by destroy(), created again afterwards.
class ThreadArena {
 public:
  ThreadArena() = delete;

  static void* allocate(std::size_t size, std::size_t alignment = alignof(std::max_align_t)) noexcept {
    return slab_thread_arena_alloc(size, alignment);
  }
  template <class T, class... Args>
  static T* make(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    static_assert(std::is_trivially_destructible_v<T>, "an arena never runs destructors");
    void* p = allocate(sizeof(T), alignof(T));
    return p == nullptr ? nullptr : ::new (p) T(std::forward<Args>(args)...);
  }
  static void reset() noexcept { slab_thread_arena_reset(); }
  static void destroy() noexcept { slab_thread_arena_destroy(); }
  // The arena itself (created if needed), or nullptr: last_error() says why.
  static SlabArena* get() noexcept { return slab_thread_arena(); }
  static ArenaStats stats() noexcept {
    ArenaStats s{};
    if (SlabArena* a = get()) slab_arena_stats(a, &s);
    return s;
  }
};

// A std::pmr::memory_resource over an arena: deallocation does nothing, the
// memory goes with the arena's reset or destruction. do_allocate throws
// std::bad_alloc on failure.
class ArenaResource final : public std::pmr::memory_resource {
 public:
  explicit ArenaResource(BasicArena& arena) noexcept : arena_(&arena) {}
  BasicArena& arena() const noexcept { return *arena_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = arena_->allocate(bytes, alignment);
    if (p == nullptr) failure::bad_alloc();
    return p;
  }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;  // same arena

  BasicArena* arena_;
};

}  // namespace tslab

#endif  // TSLAB_ARENA_HPP
