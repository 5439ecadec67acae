// This file contains tslab::EpochScope, the RAII form of an epoch domain
// (epoch_domain.h): the constructor creates (or wraps) a domain and enters it,
// the destructor exits and destroys it. The C API's rules apply unchanged:
// scopes nest LIFO on one thread, an auto-close scope closes its epoch when the
// last holder leaves and the era still matches, and misuse is reported through
// tslab::last_error(), never undefined behaviour.
//
//   {
//     tslab::EpochScope request(alloc);         // binds alloc's current epoch
//     void* p = request.allocate(256);          // lands in request.epoch()
//     ...
//   }                                           // exit + destroy: epoch closes
//
// A scope on the stack is always destroyed in LIFO order on the thread that made
// it. A scope that failed to enter (ok() is false) destroys its domain without
// closing anything. A scope destroyed out of order or on another thread cannot exit: its
// domain stays entered (and is not freed), and last_error() is domain_misuse.
#ifndef TSLAB_EPOCH_SCOPE_HPP
#define TSLAB_EPOCH_SCOPE_HPP

#include <cstddef>
#include <cstdint>

#include "epoch_domain.h"
#include "slab_alloc.h"
#include "tslab/tslab.hpp"

namespace tslab {

class EpochScope {
 public:
  // A new auto-close domain bound to the allocator's current epoch, entered.
  explicit EpochScope(SlabAllocator* alloc) noexcept : domain_(slab_epoch_domain_create(alloc)) { enter(); }
  explicit EpochScope(Allocator& alloc) noexcept : EpochScope(c_allocator(alloc)) {}
  // A domain wrapping `epoch` (its current activation), entered.
  EpochScope(SlabAllocator* alloc, EpochId epoch, bool auto_close) noexcept
      : domain_(slab_epoch_domain_wrap(alloc, epoch, auto_close)) {
    enter();
  }
  EpochScope(Allocator& alloc, EpochId epoch, bool auto_close) noexcept
      : EpochScope(c_allocator(alloc), epoch, auto_close) {}

  ~EpochScope() {
    if (domain_ == nullptr) return;
    if (!entered_) {
      domain_->auto_close = false;  // a scope that never entered closes nothing
    } else if (!slab_epoch_domain_exit(domain_)) {
      return;  // still entered: cannot be freed
    }
    slab_epoch_domain_destroy(domain_);
  }

  EpochScope(const EpochScope&) = delete;
  EpochScope& operator=(const EpochScope&) = delete;
  EpochScope(EpochScope&&) = delete;
  EpochScope& operator=(EpochScope&&) = delete;

  // Whether the domain was created and entered; if not, last_error() says why.
  bool ok() const noexcept { return entered_; }
  EpochDomain* domain() const noexcept { return domain_; }
  SlabAllocator* allocator() const noexcept { return domain_ == nullptr ? nullptr : domain_->alloc; }
  EpochId epoch() const noexcept { return domain_ == nullptr ? 0 : domain_->epoch_id; }
  std::uint64_t era() const noexcept { return domain_ == nullptr ? 0 : domain_->era; }

  // A block of `size` bytes in the scope's epoch through slab_malloc_epoch
  // (nullptr on failure, e.g. the epoch is CLOSING, or Error::size_zero for a
  // size of 0); free it with deallocate() or slab_free().
  void* allocate(std::size_t size) noexcept {
    if (domain_ == nullptr) return nullptr;
    return slab_malloc_epoch(domain_->alloc, size, domain_->epoch_id);
  }
  bool deallocate(void* p) noexcept { return domain_ != nullptr && slab_free_checked(domain_->alloc, p); }

  // Closes the scope's epoch now if its era still matches (Error::stale_epoch if not).
  bool force_close() noexcept { return domain_ != nullptr && slab_epoch_domain_force_close(domain_); }

 private:
  // A SlabAllocator* names the same object as the C++ allocator's core.
  static SlabAllocator* c_allocator(Allocator& alloc) noexcept {
    return reinterpret_cast<SlabAllocator*>(alloc.core());
  }
  void enter() noexcept { entered_ = domain_ != nullptr && slab_epoch_domain_enter(domain_); }

  EpochDomain* domain_;
  bool entered_ = false;
};

}  // namespace tslab

#endif  // TSLAB_EPOCH_SCOPE_HPP
