// This file contains a second thread that runs one task at a time for the fuzz
// targets and waits with the caller: frees and allocations made on it take
// tslab's cross-thread paths (remote frees, foreign heaps, pins) while the
// input's operations stay in one deterministic order.
#ifndef TSLAB_FUZZ_WORKER_H
#define TSLAB_FUZZ_WORKER_H

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace fuzz {

class Worker {
 public:
  // The process's worker, started on first use and never stopped.
  static Worker& instance() {
    static Worker* worker = new Worker();
    return *worker;
  }

  // Runs `task` on the worker thread and returns when it has finished.
  void run(const std::function<void()>& task) {
    std::unique_lock<std::mutex> lock(mutex_);
    task_ = &task;
    wake_.notify_one();
    done_.wait(lock, [this] { return task_ == nullptr; });
  }

 private:
  Worker() : thread_([this] { serve(); }) { thread_.detach(); }

  void serve() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return task_ != nullptr; });
      (*task_)();
      task_ = nullptr;
      done_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void()>* task_ = nullptr;
  std::thread thread_;
};

}  // namespace fuzz

#endif  // TSLAB_FUZZ_WORKER_H
