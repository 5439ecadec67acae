// This file contains the one write every tslab diagnostic goes through: the
// options' report of a bad TSLAB_* value, a bad free's line, malloc_stats and
// the report at exit (platform/no_cancel.h wraps it for the layers above).
// Kept in the lowest layer so that the options' own report, made inside the
// first malloc, takes the same care.
#ifndef TSLAB_OPTIONS_DIAGNOSTIC_WRITE_H
#define TSLAB_OPTIONS_DIAGNOSTIC_WRITE_H

#include <cstddef>

namespace tslab::detail {

// Writes all of text[0, size) to `fd` with write(2): no allocation, no stdio
// lock, not a cancellation point (cancellation is disabled around it), and no
// SIGPIPE if nobody reads the pipe: the calling thread's signal mask and
// pending signals are left as they were, and so is errno. Gives up quietly if
// the descriptor refuses.
void write_diagnostic(int fd, const char* text, std::size_t size) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_OPTIONS_DIAGNOSTIC_WRITE_H
