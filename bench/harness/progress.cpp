// This file contains the progress bar and the per-measurement log lines.
#include "harness/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "harness/rss_timing.hpp"

namespace bench {

Progress::Progress(std::size_t total_steps)
    : total_(total_steps == 0 ? 1 : total_steps), tty_(isatty(STDERR_FILENO) == 1), start_ns_(mono_ns()) {}

Progress::~Progress() { finish(); }

void Progress::begin(const std::string& what) {
  what_ = what;
  step_ns_ = mono_ns();
  if (tty_)
    draw();
  else
    std::fprintf(stderr, "[%zu/%zu] %s ...", done_ + 1, total_, what_.c_str());
  std::fflush(stderr);
}

void Progress::tick() {
  if (tty_) draw();
}

void Progress::end(const std::string& result) {
  ++done_;
  if (tty_) {
    if (result.rfind("FAILED", 0) == 0) {
      std::fprintf(stderr, "\r\033[K%s: %s\n", what_.c_str(), result.c_str());
      drawn_ = false;
    }
    draw();
  } else {
    std::fprintf(stderr, " %s\n", result.c_str());
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (tty_ && drawn_) std::fputs("\r\033[K", stderr);
  drawn_ = false;
  std::fflush(stderr);
}

void Progress::draw() {
  constexpr std::size_t kWidth = 30;
  const std::size_t filled = done_ * kWidth / total_;
  char bar[kWidth + 1];
  for (std::size_t i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : (i == filled ? '>' : '.');
  bar[kWidth] = '\0';
  const double elapsed = static_cast<double>(mono_ns() - start_ns_) / 1e9;
  std::fprintf(stderr, "\r\033[K[%s] %zu/%zu %5.0fs  %s", bar, done_, total_, elapsed,
               done_ < total_ ? what_.c_str() : "done");
  drawn_ = true;
  std::fflush(stderr);
}

}  // namespace bench
