// This file contains where TSLAB_SHOW_STATS summaries are written: stderr, or a
// copy of it made when the option took effect, so that a program that closes
// stderr in its own exit handler (coreutils' close_stdout does) still shows the
// summaries printed at exit, after that handler ran. The child of a fork keeps
// no copy: its summary goes to its own stderr.
#ifndef TSLAB_STATS_STATS_OUTPUT_H
#define TSLAB_STATS_STATS_OUTPUT_H

namespace tslab::detail {

// Makes the copy of stderr (once; before the exit report is registered).
void keep_stats_output() noexcept;
// The child of a fork: closes the copy (the process has one thread).
void forget_stats_output_after_fork() noexcept;
// Writes a summary: to stderr while it is open (where the program points it
// now); once the program closed it, to the copy, if that still names the file
// stderr named when it was made (a program may close that number too and open
// something else on it).
void write_stats_output(const char* text) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_STATS_OUTPUT_H
