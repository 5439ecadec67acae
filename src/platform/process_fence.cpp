// This file contains the process-wide fence (see process_fence.h).
#include "platform/process_fence.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>

namespace tslab::detail {

namespace {
std::once_flag g_once;
bool g_available = false;
}  // namespace

bool process_fence_init() noexcept {
  std::call_once(g_once, [] {
    g_available = ::syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  });
  return g_available;
}

bool process_fence() noexcept {
  return process_fence_init() && ::syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}

}  // namespace tslab::detail
