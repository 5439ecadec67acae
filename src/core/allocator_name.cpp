// This file contains the allocator's name (slab_allocator_set_name): at most
// SLAB_ALLOCATOR_NAME_SIZE - 1 bytes, no control characters, copied into the
// core under the allocator lock, where snapshots read it.
#include <cstring>

#include "core/allocator_core.h"

namespace tslab::detail {

namespace {

// The length of `name` if it can be an allocator's name, else SIZE_MAX: too
// long, or a control character (below 0x20, or DEL) anywhere in it.
std::size_t valid_name_length(const char* name) noexcept {
  std::size_t n = 0;
  for (; name[n] != '\0'; ++n) {
    const auto c = static_cast<unsigned char>(name[n]);
    if (n + 1 >= SLAB_ALLOCATOR_NAME_SIZE || c < 0x20 || c == 0x7f) return SIZE_MAX;
  }
  return n;
}

}  // namespace

bool AllocatorCore::set_name(const char* name) noexcept {
  if (!alive_or_error()) return false;
  const std::size_t n = name == nullptr ? 0 : valid_name_length(name);
  if (n == SIZE_MAX) {
    set_error(TSLAB_ERR_INVALID_ARGUMENT);
    return false;
  }
  const CountedLock lock(mutex_, counters_);
  if (n != 0) std::memcpy(name_, name, n);
  std::memset(name_ + n, 0, sizeof name_ - n);
  return true;
}

std::size_t AllocatorCore::name(char* out, std::size_t out_size) const noexcept {
  if (out != nullptr && out_size != 0) out[0] = '\0';
  if (!alive_or_error()) return 0;
  const LockGuard lock(mutex_);  // read with the statistics: not counted
  const std::size_t n = std::strlen(name_);
  if (out != nullptr && out_size != 0) {
    const std::size_t copied = n < out_size - 1 ? n : out_size - 1;
    std::memcpy(out, name_, copied);
    out[copied] = '\0';
  }
  return n;
}

}  // namespace tslab::detail
