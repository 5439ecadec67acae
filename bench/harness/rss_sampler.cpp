// This file contains the RSS sampling thread and the phase marks.
#include "harness/rss_sampler.hpp"

#include <time.h>

#include <cstring>
#include <string>
#include <vector>

#include "harness/rss_timing.hpp"

namespace bench {

RssSampler::RssSampler(std::uint64_t interval_ms, std::size_t capacity)
    : interval_ns_((interval_ms == 0 ? 1 : interval_ms) * 1000000u),
      capacity_(capacity == 0 ? 1 : capacity),
      times_(static_cast<double*>(map_buffer(capacity_ * sizeof(double)))),
      values_(static_cast<double*>(map_buffer(capacity_ * sizeof(double)))) {}

RssSampler::~RssSampler() {
  stop();
  unmap_buffer(times_, capacity_ * sizeof(double));
  unmap_buffer(values_, capacity_ * sizeof(double));
}

void RssSampler::start() {
  start_ns_ = mono_ns();
  stop_.store(false, std::memory_order_relaxed);
  thread_ = std::thread([this] { run(); });
}

void RssSampler::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);
  thread_.join();
}

double RssSampler::seconds_since_start() const { return static_cast<double>(mono_ns() - start_ns_) / 1e9; }

void RssSampler::mark(const char* phase) {
  if (marks_ >= kMaxMarks) return;
  mark_t_[marks_] = seconds_since_start();
  std::strncpy(mark_name_[marks_], phase, kNameSize - 1);
  ++marks_;
}

void RssSampler::run() {
  std::uint64_t next = start_ns_;
  while (!stop_.load(std::memory_order_acquire) && count_ < capacity_) {
    const std::uint64_t now = mono_ns();
    times_[count_] = static_cast<double>(now - start_ns_) / 1e9;
    values_[count_] = static_cast<double>(rss_bytes()) / (1024.0 * 1024.0);
    ++count_;
    next += interval_ns_;
    const std::uint64_t after = mono_ns();
    if (next > after) {
      const std::uint64_t wait = next - after;
      timespec ts{static_cast<time_t>(wait / 1000000000u), static_cast<long>(wait % 1000000000u)};
      nanosleep(&ts, nullptr);
    } else {
      next = after;  // fell behind (the machine is busy): sample as soon as possible
    }
  }
}

void RssSampler::report(Figures& out) const {
  out.add_series("t", std::vector<double>(times_, times_ + count_));
  out.add_series("rss_mib", std::vector<double>(values_, values_ + count_));
  out.add_series("phase_t", std::vector<double>(mark_t_, mark_t_ + marks_));
  std::string names;
  for (std::size_t i = 0; i < marks_; ++i) names += (i ? "|" : "") + std::string(mark_name_[i]);
  out.add_string("phases", names);
}

}  // namespace bench
