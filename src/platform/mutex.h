// This file contains Mutex, the lock every tslab lock is made of: a Mutex
// that also counts, per thread, how many tslab locks the thread holds or is
// about to take. A call that would wait for its own thread (a close or advance
// from a signal handler that interrupted tslab on the same thread) reads the
// count and refuses with TSLAB_ERR_REENTRANT instead of deadlocking.
//
// The count goes up before the lock is taken and down after it is released, so
// a signal landing in between errs on the side of refusing.
#ifndef TSLAB_PLATFORM_MUTEX_H
#define TSLAB_PLATFORM_MUTEX_H

#include <atomic>
#include <mutex>

namespace tslab::detail {

[[gnu::tls_model("initial-exec")]] extern thread_local constinit unsigned tl_locks_held;

// True while the calling thread holds (or is taking) a tslab lock.
inline bool thread_holds_tslab_lock() noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return tl_locks_held != 0;
}

class Mutex {
 public:
  constexpr Mutex() noexcept = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() noexcept {
    ++tl_locks_held;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    m_.lock();
  }
  bool try_lock() noexcept {
    ++tl_locks_held;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (m_.try_lock()) return true;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    --tl_locks_held;
    return false;
  }
  void unlock() noexcept {
    m_.unlock();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    --tl_locks_held;
  }

 private:
  std::mutex m_;
};

using LockGuard = std::lock_guard<Mutex>;

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_MUTEX_H
