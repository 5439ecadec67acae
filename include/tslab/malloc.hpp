// This file contains tslab::MallocScope, the RAII form of a lifetime scope of
// the malloc override (tslab/malloc.h, libtslab-malloc or
// tslab::malloc_override): from its construction to its destruction, every
// plain malloc and new of the constructing thread goes into a fresh epoch of
// the process allocator, and the destruction closes that epoch, so the pages
// of what died in the scope go back to the OS at once. What survives stays
// valid, may be freed from any thread, and returns its pages when freed.
//
//   void handle(const Request& request) {
//     tslab::MallocScope scope("request");
//     third_party_parse(request);  // its mallocs and news land in the scope's epoch
//   }                              // what died in it goes back to the OS here
//
// Scopes nest, last in first out, per thread: a MallocScope is neither copied
// nor moved, and is destroyed on the thread that made it. When no epoch slot
// is free, a scope shares the enclosing scope's epoch (shares_epoch()) and its
// end closes nothing; malloc never fails because of scopes. A scope destroyed
// before a scope nested in it, or on another thread, is a misuse: the thread's
// last error reads TSLAB_ERR_DOMAIN_MISUSE and no other scope ends; the first
// ends with the last scope nested in it, the second with its thread
// (tslab_scope_end_checked).
#ifndef TSLAB_MALLOC_HPP
#define TSLAB_MALLOC_HPP

#include "tslab/malloc.h"

namespace tslab {

class MallocScope {
 public:
  // `label` (may be nullptr) names the scope's epoch in statistics.
  explicit MallocScope(const char* label = nullptr) noexcept
      : enclosing_(tslab_scope_epoch()), epoch_(tslab_scope_begin(label)), scope_(tslab_scope_innermost()) {}
  ~MallocScope() { tslab_scope_end_checked(scope_); }
  MallocScope(const MallocScope&) = delete;
  MallocScope& operator=(const MallocScope&) = delete;

  // The epoch the thread's plain allocations go to while the scope is innermost.
  EpochId epoch() const noexcept { return epoch_; }
  // True when the scope had to share the enclosing scope's epoch (or epoch 0).
  bool shares_epoch() const noexcept { return epoch_ == enclosing_; }

 private:
  EpochId enclosing_;
  EpochId epoch_;
  uint64_t scope_;  // tslab_scope_innermost() of this scope
};

}  // namespace tslab

#endif  // TSLAB_MALLOC_HPP
