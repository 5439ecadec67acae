// This file contains take_snapshot.
#include "stats/snapshot_buffer.h"

#include <cstring>

#include "core/allocator_core.h"

namespace tslab::detail {

void take_snapshot(const AllocatorCore& core, CoreSnapshot& out, std::uint32_t only_class,
                   bool measure_resident) noexcept {
  std::memset(static_cast<void*>(&out), 0, sizeof out);
  core.snapshot(out, only_class, measure_resident);
}

}  // namespace tslab::detail
