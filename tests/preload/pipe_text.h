/* This file contains read_to_end and read_until for the preload programs: what
 * a pipe carries until its last writer closes it, kept up to a buffer's size;
 * read_until also gives up at a deadline. */
#ifndef TSLAB_TESTS_PRELOAD_PIPE_TEXT_H
#define TSLAB_TESTS_PRELOAD_PIPE_TEXT_H

#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double pipe_text_now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Reads `fd` to its end (a writer that writes more than `size` is not blocked)
 * and keeps the first `size` - 1 bytes in `text`, terminated. With `seconds` >
 * 0, gives up that many seconds from now: returns 0 then (`text` keeps what
 * came), else 1. */
static inline int read_until(int fd, char* text, size_t size, double seconds) {
  const double deadline = pipe_text_now_s() + seconds;
  size_t kept = 0;
  int ended = 1;
  for (;;) {
    if (seconds > 0) {
      const double left = deadline - pipe_text_now_s();
      if (left <= 0) {
        ended = 0;
        break;
      }
      struct pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, (int)(left * 1000) + 1) <= 0) continue;
    }
    char chunk[4096];
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    const size_t room = size - 1 - kept, keep = (size_t)n < room ? (size_t)n : room;
    memcpy(text + kept, chunk, keep);
    kept += keep;
  }
  text[kept] = '\0';
  return ended;
}

/* read_until without a deadline. */
static inline void read_to_end(int fd, char* text, size_t size) { (void)read_until(fd, text, size, 0); }

#endif /* TSLAB_TESTS_PRELOAD_PIPE_TEXT_H */
