// This file contains a program whose first allocation is a calloc of a large
// array, run under the preload: the block must come zeroed from the OS, not be
// cleared by writing it, so the process stays small until it touches the array.
// Prints "first_calloc: ok" or what failed; exits 1 on failure.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)
#define BLOCK (256 * MIB)

// Resident bytes of the process, read without allocating (no stdio).
static size_t resident_bytes(void) {
  char text[128] = {0};
  const int fd = open("/proc/self/statm", O_RDONLY);
  if (fd < 0) return (size_t)-1;
  const ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return (size_t)-1;
  const char* space = strchr(text, ' ');
  return space == NULL ? (size_t)-1 : strtoull(space + 1, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

static int fail(const char* what) {
  const char prefix[] = "first_calloc: FAIL ";
  if (write(1, prefix, sizeof prefix - 1) < 0 || write(1, what, strlen(what)) < 0 || write(1, "\n", 1) < 0)
    return 1;
  return 1;
}

int main(void) {
  unsigned char* p = calloc(BLOCK, 1);  // the process's first allocation
  if (p == NULL) return fail("calloc of 256 MiB returned NULL");
  const size_t resident = resident_bytes();
  if (resident > 64 * MIB)
    return fail("256 MiB calloc'ed and untouched made the process resident beyond 64 MiB");
  for (size_t i = 0; i < BLOCK; i += MIB / 2)
    if (p[i] != 0 || p[i + MIB / 2 - 1] != 0) return fail("a calloc'ed byte is not zero");
  p[0] = p[BLOCK - 1] = 1;
  free(p);
  const char ok[] = "first_calloc: ok\n";
  return write(1, ok, sizeof ok - 1) < 0;
}
