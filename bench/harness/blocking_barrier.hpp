// This file contains BlockingBarrier: a reusable barrier whose waiters sleep
// (mutex and condition variable, no allocation), for threads that wait long
// enough that spinning would take CPU from the threads being measured.
#ifndef TSLAB_BENCH_HARNESS_BLOCKING_BARRIER_HPP
#define TSLAB_BENCH_HARNESS_BLOCKING_BARRIER_HPP

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace bench {

class BlockingBarrier {
 public:
  explicit BlockingBarrier(unsigned parties) : parties_(parties) {}

  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::uint64_t generation = generation_;
    if (++arrived_ == parties_) {
      arrived_ = 0;
      ++generation_;
      lock.unlock();
      released_.notify_all();
      return;
    }
    released_.wait(lock, [&] { return generation_ != generation; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  const unsigned parties_;
  unsigned arrived_ = 0;
  std::uint64_t generation_ = 0;
};

}  // namespace bench

#endif
