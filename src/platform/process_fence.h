// This file contains the process-wide fence: membarrier(PRIVATE_EXPEDITED),
// which makes every running thread of the process execute a full memory barrier.
// It lets a rare operation (closing an epoch) order itself against a frequent one
// (allocating) that only uses plain stores: the asymmetric half of a Dekker pair.
#ifndef TSLAB_PLATFORM_PROCESS_FENCE_H
#define TSLAB_PLATFORM_PROCESS_FENCE_H

namespace tslab::detail {

// Registers the process once; false if the kernel offers no expedited membarrier.
bool process_fence_init() noexcept;
// A full barrier on every thread of the process; false if unavailable.
bool process_fence() noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_PROCESS_FENCE_H
