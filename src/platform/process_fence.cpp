// This file contains the process-wide fence (see process_fence.h).
#include "platform/process_fence.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace tslab::detail {

namespace {
// 0 not asked yet, 1 available, -1 not. No once-guard: registering is
// idempotent, so threads that race here all register, and a fork that lands in
// the middle leaves nothing half done in the child (a once-guard in progress
// would stay so there forever).
std::atomic<int> g_state{0};
}  // namespace

bool process_fence_init() noexcept {
  int state = g_state.load(std::memory_order_acquire);
  if (state == 0) {
    state = ::syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 ? 1 : -1;
    g_state.store(state, std::memory_order_release);
  }
  return state == 1;
}

bool process_fence() noexcept {
  return process_fence_init() && ::syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}

}  // namespace tslab::detail
