/* This file contains read_to_end for the preload programs: what a pipe carries
 * until its last writer closes it, kept up to a buffer's size. */
#ifndef TSLAB_TESTS_PRELOAD_PIPE_TEXT_H
#define TSLAB_TESTS_PRELOAD_PIPE_TEXT_H

#include <string.h>
#include <unistd.h>

/* Reads `fd` to its end (a writer that writes more than `size` is not blocked)
 * and keeps the first `size` - 1 bytes in `text`, terminated. */
static void read_to_end(int fd, char* text, size_t size) {
  size_t kept = 0;
  for (;;) {
    char chunk[4096];
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    const size_t room = size - 1 - kept, keep = (size_t)n < room ? (size_t)n : room;
    memcpy(text + kept, chunk, keep);
    kept += keep;
  }
  text[kept] = '\0';
}

#endif /* TSLAB_TESTS_PRELOAD_PIPE_TEXT_H */
