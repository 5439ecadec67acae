// This file contains Mutex, the lock every tslab lock is made of: a Mutex
// that also counts, per thread, how many tslab locks the thread holds or is
// about to take. A call that would wait for its own thread (a close or advance
// from a signal handler that interrupted tslab on the same thread) reads the
// count and refuses with TSLAB_ERR_REENTRANT instead of deadlocking. A thread
// holding any lock is also marked inside tslab, once however many it holds
// (platform/thread_entry.h; a fork holds hundreds at once, more than that
// byte-wide mark counts): a malloc or free from such a handler stays out of
// the core (override/process_malloc.h).
//
// The count goes up before the lock is taken and down after it is released, so
// a signal landing in between errs on the side of refusing. The mark is raised
// before the count leaves 0 and lowered after it is back at 0: a handler that
// lands in between finds the mark raised while it takes and lets go of locks
// of its own, which put the count back as they found it.
//
// OuterMutex is the same lock uncounted, for the few locks held around calls
// that allocate through malloc (pthread_create, stdio) and never taken by an
// allocation or a free: a malloc made under it is served as usual.
//
// A pthread mutex, not std::mutex: std::mutex reports errors by throwing, which
// would tie the library to the C++ runtime (libtslab-malloc.so loads none).
#ifndef TSLAB_PLATFORM_MUTEX_H
#define TSLAB_PLATFORM_MUTEX_H

#include <pthread.h>

#include <atomic>
#include <mutex>

#include "platform/thread_entry.h"

namespace tslab::detail {

[[gnu::tls_model("initial-exec")]] extern thread_local constinit unsigned tl_locks_held;

// True while the calling thread holds (or is taking) a tslab lock.
inline bool thread_holds_tslab_lock() noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return tl_locks_held != 0;
}

template <bool COUNTED>
class BasicMutex {
 public:
  constexpr BasicMutex() noexcept = default;
  BasicMutex(const BasicMutex&) = delete;
  BasicMutex& operator=(const BasicMutex&) = delete;

  // A default mutex fails only when misused (EINVAL, EAGAIN for a recursive
  // count, neither possible here): the results are not looked at.
  void lock() noexcept {
    count_up();
    ::pthread_mutex_lock(&m_);
  }
  bool try_lock() noexcept {
    count_up();
    if (::pthread_mutex_trylock(&m_) == 0) return true;
    count_down();
    return false;
  }
  void unlock() noexcept {
    ::pthread_mutex_unlock(&m_);
    count_down();
  }

 private:
  static void count_up() noexcept {
    if constexpr (COUNTED) {
      if (tl_locks_held == 0) enter_tslab();
      std::atomic_signal_fence(std::memory_order_seq_cst);
      ++tl_locks_held;
    }
  }
  static void count_down() noexcept {
    if constexpr (COUNTED) {
      --tl_locks_held;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      if (tl_locks_held == 0) leave_tslab();
    }
  }

  pthread_mutex_t m_ = PTHREAD_MUTEX_INITIALIZER;
};

using Mutex = BasicMutex<true>;
using OuterMutex = BasicMutex<false>;

using LockGuard = std::lock_guard<Mutex>;

// Holds `mutex` for its scope when `take` is true (std::unique_lock's deferred
// form, without its exceptions).
class LockIf {
 public:
  LockIf(Mutex& mutex, bool take) noexcept : mutex_(take ? &mutex : nullptr) {
    if (mutex_ != nullptr) mutex_->lock();
  }
  ~LockIf() {
    if (mutex_ != nullptr) mutex_->unlock();
  }
  LockIf(const LockIf&) = delete;
  LockIf& operator=(const LockIf&) = delete;

 private:
  Mutex* mutex_;
};

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_MUTEX_H
