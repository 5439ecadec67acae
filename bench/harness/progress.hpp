// This file contains the driver's progress display on stderr: a bar redrawn in
// place when stderr is a terminal, one line per finished measurement otherwise.
#ifndef TSLAB_BENCH_HARNESS_PROGRESS_HPP
#define TSLAB_BENCH_HARNESS_PROGRESS_HPP

#include <cstddef>
#include <cstdint>
#include <string>

namespace bench {

class Progress {
 public:
  explicit Progress(std::size_t total_steps);
  ~Progress();

  // A measurement starts: `what` names it ("request  mimalloc  run 2/3").
  void begin(const std::string& what);
  // Redraws the bar with the elapsed time (terminal only); cheap to call often.
  void tick();
  // The measurement ended; `result` is a short figure or an error.
  void end(const std::string& result);
  // Clears the bar (terminal) so that the report starts on a clean line.
  void finish();

 private:
  void draw();

  std::size_t total_, done_ = 0;
  bool tty_;
  bool drawn_ = false;
  std::string what_;
  std::uint64_t start_ns_, step_ns_ = 0;
};

}  // namespace bench

#endif
