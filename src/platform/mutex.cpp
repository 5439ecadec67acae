// This file contains the per-thread count of tslab locks held (platform/mutex.h).
#include "platform/mutex.h"

namespace tslab::detail {

thread_local constinit unsigned tl_locks_held = 0;

}  // namespace tslab::detail
