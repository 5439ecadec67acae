/* This file contains first_malloc_in_libc, run under the malloc override: the
 * process's first allocation is made by the C library while it holds a lock of
 * its own, which whatever tslab starts at its first use must not take again.
 *
 *   first_malloc_in_libc atexit     40 exit handlers before any malloc: the C
 *                                   library keeps 32 without allocating, and
 *                                   allocates for the 33rd holding its exit
 *                                   handlers' lock (run with TSLAB_SHOW_STATS=1,
 *                                   whose report at exit is such a handler).
 *   first_malloc_in_libc setlocale  takes a port, then runs itself again with
 *                                   TSLAB_METRICS_PORT naming it (the socket is
 *                                   inherited, so the port is in use) and a UTF-8
 *                                   locale: the first malloc is setlocale's,
 *                                   under its lock; the endpoint's failure is
 *                                   reported with the system's reason, which
 *                                   strerror would read from the locale.
 *   first_malloc_in_libc before_main  the same port, and nothing started before
 *                                   the first malloc: main finds the process
 *                                   with one thread and tslab_option_set still
 *                                   open (the options are read at first use).
 *
 * Prints "first_malloc_in_libc: ok" and exits 0; a hang ends with SIGALRM. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <locale.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char** environ;
/* The drop-in's; weak, so that the program loads without it. */
extern bool tslab_option_set(const char* name, const char* value) __attribute__((weak));

static void nothing(void) {}

static int many_exit_handlers(void) {
  for (int i = 0; i < 40; ++i)
    if (atexit(nothing) != 0) return 2;
  return 0;
}

/* Runs this program again in `mode` with the port of a socket it listens on in
 * TSLAB_METRICS_PORT and LC_ALL=C.UTF-8, the rest of the environment kept but
 * for other locale variables. Built without allocating. */
static int again_with_busy_port(char* self, char* mode) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, (struct sockaddr*)&address, sizeof address) != 0 || listen(fd, 1) != 0 ||
      getsockname(fd, (struct sockaddr*)&address, &length) != 0)
    return 3;
  static char port[64];
  static char* env[512];
  size_t n = 0;
  for (char** e = environ; *e != NULL && n < 500; ++e)
    if (strncmp(*e, "LANG=", 5) != 0 && strncmp(*e, "LC_", 3) != 0 &&
        strncmp(*e, "TSLAB_METRICS_PORT=", 19) != 0)
      env[n++] = *e;
  snprintf(port, sizeof port, "TSLAB_METRICS_PORT=%u", (unsigned)ntohs(address.sin_port));
  env[n++] = port;
  env[n++] = "LC_ALL=C.UTF-8";
  env[n++] = "FIRST_MALLOC_IN_LIBC_AGAIN=1";
  env[n] = NULL;
  char* args[] = {self, mode, NULL};
  execve("/proc/self/exe", args, env);
  return 4;
}

static int locale_with_busy_port(void) {
  if (setlocale(LC_ALL, "") == NULL) return 5;
  if (setlocale(LC_ALL, "C") == NULL) return 6; /* hung here: the lock was left broken */
  if (setlocale(LC_ALL, "") == NULL) return 7;
  return 0;
}

/* The Threads: line of /proc/self/status, read without allocating; -1 if unread. */
static int threads_now(void) {
  char status[4096];
  const int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return -1;
  const ssize_t n = read(fd, status, sizeof status - 1);
  close(fd);
  if (n <= 0) return -1;
  status[n] = '\0';
  const char* line = strstr(status, "\nThreads:");
  return line == NULL ? -1 : atoi(line + 9);
}

static int nothing_before_first_malloc(void) {
  if (threads_now() != 1) return 8;
  if (tslab_option_set == NULL || !tslab_option_set("TSLAB_WARM_RESERVE", "2m")) return 9;
  void* volatile p = malloc(100);
  free(p);
  return p != NULL ? 0 : 10;
}

int main(int argc, char** argv) {
  alarm(30);
  int result = 1;
  if (argc > 1 && strcmp(argv[1], "atexit") == 0)
    result = many_exit_handlers();
  else if (argc > 1 && getenv("FIRST_MALLOC_IN_LIBC_AGAIN") == NULL)
    result = again_with_busy_port(argv[0], argv[1]);
  else if (argc > 1 && strcmp(argv[1], "setlocale") == 0)
    result = locale_with_busy_port();
  else if (argc > 1 && strcmp(argv[1], "before_main") == 0)
    result = nothing_before_first_malloc();
  if (result == 0) puts("first_malloc_in_libc: ok");
  return result;
}
