// This file contains the platform contract: the only way tslab obtains and
// returns memory. The allocator core calls nothing else of the OS (and never the
// system malloc). Every primitive is called on slow paths only.
//
// Contract, for every implementation:
//   reserve(size, alignment)  size and alignment are multiples of page_size(),
//                             alignment a power of two. Returns readable and
//                             writable memory aligned to `alignment` whose pages
//                             are zero on first touch, or nullptr on refusal (a
//                             range not so aligned is given back and counts as a
//                             refusal). Never throws. The zero bytes
//                             are relied on (metadata is not written until used,
//                             so untouched pages stay uncommitted): a platform that
//                             recycles memory must clear it first.
//   release(p, size)          gives back a whole range returned by reserve().
//   decommit(p, size)         page-aligned subrange of a reservation: physical pages
//                             go back to the OS; the range stays reserved and reads
//                             as zero afterwards. Returns false on refusal.
//   commit(p, size)           makes a decommitted range usable again. Returns false
//                             on refusal.
//   prefault(p, size)         a hint: back the page-aligned range with physical pages
//                             now, in one call, because it is about to be written.
//                             Returns false if not done (the range stays usable).
//   page_size()               the OS page size, a power of two.
//   resident_bytes(p, size)   bytes of the range that are resident now.
//   grow_into(from, size, to, to_size)
//                             optional: the reservation [from, from + size) moves,
//                             contents and committed pages included, without a
//                             copy, to the start of the reservation [to, to +
//                             to_size) (to_size > size), grown to fill it; `from` is
//                             given back. Returns false if not done: `from` is then
//                             as it was, and `to` given back or, where it cannot
//                             be told from another mapping any more, left alone.
//                             Called only when can_grow(); the default only gives
//                             `to` back.
//   can_grow()                true if grow_into can ever succeed (default false).
//   resident_pages(p, size, pages)
//                             optional: for each page of the page-aligned range,
//                             one byte of `pages`, bit 0 set if the page is
//                             resident now. Returns false if not known (the
//                             default), and the caller assumes every page is.
//   reserve_at(p, size)       optional: reserve() of exactly [p, p + size), a
//                             range an earlier reserve() returned and release()
//                             gave back; nullptr if it cannot be had there now
//                             (the default: never). Never replaces a mapping
//                             that holds part of the range. A segment whose
//                             range went back for want of address space takes
//                             it again this way.
//   can_reserve_at()          true if reserve_at can ever succeed (default
//                             false): only then do such ranges go back.
//
// Usable from C++17; the compile-time check of the contract (PlatformImpl) is
// there only from C++20 on.
#ifndef TSLAB_PLATFORM_HPP
#define TSLAB_PLATFORM_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#if __cplusplus >= 202002L
#include <concepts>
#endif

namespace tslab {

class Platform {
 public:
  virtual void* reserve(std::size_t size, std::size_t alignment) noexcept = 0;
  virtual void release(void* p, std::size_t size) noexcept = 0;
  virtual bool commit(void* p, std::size_t size) noexcept = 0;
  virtual bool decommit(void* p, std::size_t size) noexcept = 0;
  virtual bool prefault(void* p, std::size_t size) noexcept = 0;
  virtual std::size_t page_size() const noexcept = 0;
  virtual std::size_t resident_bytes(const void* p, std::size_t size) const noexcept = 0;
  virtual bool grow_into(void* from, std::size_t size, void* to, std::size_t to_size) noexcept {
    (void)from, (void)size;
    release(to, to_size);
    return false;
  }
  virtual bool can_grow() const noexcept { return false; }
  virtual bool resident_pages(const void* p, std::size_t size, unsigned char* pages) const noexcept {
    (void)p, (void)size, (void)pages;
    return false;
  }
  virtual void* reserve_at(void* p, std::size_t size) noexcept {
    (void)p, (void)size;
    return nullptr;
  }
  virtual bool can_reserve_at() const noexcept { return false; }

 protected:
  ~Platform() = default;
};

#if __cplusplus >= 202002L
// What any platform implementation must offer (checked at compile time).
template <class P>
concept PlatformImpl = std::derived_from<P, Platform> &&
    requires(P& p, const P& cp, void* ptr, std::size_t n) {
  { p.reserve(n, n) }
  noexcept->std::same_as<void*>;
  { p.release(ptr, n) }
  noexcept;
  { p.commit(ptr, n) }
  noexcept->std::same_as<bool>;
  { p.decommit(ptr, n) }
  noexcept->std::same_as<bool>;
  { p.prefault(ptr, n) }
  noexcept->std::same_as<bool>;
  { cp.page_size() }
  noexcept->std::same_as<std::size_t>;
};
#endif

// The operating system: mmap, madvise(MADV_DONTNEED), mremap, munmap, mincore.
class OsPlatform final : public Platform {
 public:
  void* reserve(std::size_t size, std::size_t alignment) noexcept override;
  void release(void* p, std::size_t size) noexcept override;
  bool commit(void* p, std::size_t size) noexcept override;
  bool decommit(void* p, std::size_t size) noexcept override;
  bool prefault(void* p, std::size_t size) noexcept override;
  std::size_t page_size() const noexcept override;
  std::size_t resident_bytes(const void* p, std::size_t size) const noexcept override;
  bool resident_pages(const void* p, std::size_t size, unsigned char* pages) const noexcept override;
  // mremap: the pages move with their page tables, without a copy or a fault.
  bool grow_into(void* from, std::size_t size, void* to, std::size_t to_size) noexcept override;
  // Not under an address-space cap (RLIMIT_AS), nor once a grow ran short of memory.
  bool can_grow() const noexcept override;
  // mmap with the range as its hint, kept only if the kernel put it there.
  void* reserve_at(void* p, std::size_t size) noexcept override;
  bool can_reserve_at() const noexcept override { return true; }

  // The process-wide instance used when an allocator is given no platform.
  static OsPlatform& instance() noexcept;
};

// Wraps another platform and refuses memory on demand, for tests.
// Thread-safe: the switches are atomics, read on every call.
class FaultInjectingPlatform final : public Platform {
 public:
  explicit FaultInjectingPlatform(Platform& inner) noexcept : inner_(inner) {}

  // Refuse every reserve/commit/grow from now on (true) or stop refusing (false).
  void refuse_all(bool on) noexcept { refuse_all_.store(on, std::memory_order_relaxed); }
  // Let `n` more reserve/commit/grow calls succeed, then refuse all of them.
  void refuse_after(std::int64_t n) noexcept { budget_.store(n, std::memory_order_relaxed); }
  // Stop refusing and forget any budget.
  void reset() noexcept;
  std::uint64_t refusals() const noexcept { return refusals_.load(std::memory_order_relaxed); }
  std::uint64_t reserve_calls() const noexcept { return reserves_.load(std::memory_order_relaxed); }
  std::uint64_t decommit_calls() const noexcept { return decommits_.load(std::memory_order_relaxed); }

  void* reserve(std::size_t size, std::size_t alignment) noexcept override;
  void release(void* p, std::size_t size) noexcept override;
  bool commit(void* p, std::size_t size) noexcept override;
  bool decommit(void* p, std::size_t size) noexcept override;
  bool prefault(void* p, std::size_t size) noexcept override { return inner_.prefault(p, size); }
  std::size_t page_size() const noexcept override { return inner_.page_size(); }
  std::size_t resident_bytes(const void* p, std::size_t size) const noexcept override {
    return inner_.resident_bytes(p, size);
  }
  // Refused as a reservation is.
  bool grow_into(void* from, std::size_t size, void* to, std::size_t to_size) noexcept override;
  bool can_grow() const noexcept override { return inner_.can_grow(); }
  bool resident_pages(const void* p, std::size_t size, unsigned char* pages) const noexcept override {
    return inner_.resident_pages(p, size, pages);
  }
  // Refused as a reservation is.
  void* reserve_at(void* p, std::size_t size) noexcept override;
  bool can_reserve_at() const noexcept override { return inner_.can_reserve_at(); }

 private:
  bool should_refuse() noexcept;

  Platform& inner_;
  std::atomic<bool> refuse_all_{false};
  std::atomic<std::int64_t> budget_{-1};  // < 0: unlimited
  std::atomic<std::uint64_t> refusals_{0};
  std::atomic<std::uint64_t> reserves_{0};
  std::atomic<std::uint64_t> decommits_{0};
};

#if __cplusplus >= 202002L
static_assert(PlatformImpl<OsPlatform>);
static_assert(PlatformImpl<FaultInjectingPlatform>);
#endif

}  // namespace tslab

#endif  // TSLAB_PLATFORM_HPP
