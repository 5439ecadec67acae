// This file contains the per-thread count of tslab locks held (platform/mutex.h)
// and the thread's entry word (platform/thread_entry.h).
#include "platform/mutex.h"

namespace tslab::detail {

thread_local constinit unsigned tl_locks_held = 0;
thread_local constinit ThreadEntry tl_entry = {0, false};

}  // namespace tslab::detail
