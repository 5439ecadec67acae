// This file contains helpers for tests that run a scenario in a forked child
// whose address space is capped (RLIMIT_AS, soft limit): the check macro of the
// child, the cap and the run. The limit never reaches the test process.
//
// Sanitizers reserve terabytes of shadow memory, so under ASan or TSan a capped
// scenario is skipped.
#ifndef TSLAB_TESTS_CAPPED_CHILD_H
#define TSLAB_TESTS_CAPPED_CHILD_H

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TSLAB_CAPPED_CHILD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TSLAB_CAPPED_CHILD_SANITIZED 1
#endif
#endif

// In a forked child: if `condition` is false, says where and what on stderr and
// exits with status 1. Formats into no heap memory (the cap may refuse it).
#define CHILD_CHECK(condition, ...)                                                \
  do {                                                                             \
    if (!(condition)) {                                                            \
      std::fprintf(stderr, "%s:%d: failed: %s: ", __FILE__, __LINE__, #condition); \
      std::fprintf(stderr, __VA_ARGS__);                                           \
      std::fputc('\n', stderr);                                                    \
      std::fflush(stderr);                                                         \
      ::_exit(1);                                                                  \
    }                                                                              \
  } while (0)

namespace tslab_test {

// Bytes of address space the process uses now (VmSize), or 0.
inline std::size_t address_space_in_use() {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  if (status == nullptr) return 0;
  char line[256];
  unsigned long long kib = 0;
  while (std::fgets(line, sizeof line, status) != nullptr)
    if (std::sscanf(line, "VmSize: %llu kB", &kib) == 1) break;
  std::fclose(status);
  return static_cast<std::size_t>(kib) * 1024;
}

// Caps the soft RLIMIT_AS at what is used now plus `margin` bytes.
inline void cap_address_space(std::size_t margin) {
  const std::size_t used = address_space_in_use();
  CHILD_CHECK(used != 0, "no VmSize in /proc/self/status");
  rlimit limit{};
  CHILD_CHECK(::getrlimit(RLIMIT_AS, &limit) == 0, "getrlimit: %s", std::strerror(errno));
  limit.rlim_cur = used + margin;
  CHILD_CHECK(::setrlimit(RLIMIT_AS, &limit) == 0, "setrlimit: %s", std::strerror(errno));
}

// Raises the soft RLIMIT_AS back to the hard limit.
inline void lift_address_space_cap() {
  rlimit limit{};
  CHILD_CHECK(::getrlimit(RLIMIT_AS, &limit) == 0, "getrlimit: %s", std::strerror(errno));
  limit.rlim_cur = limit.rlim_max;
  CHILD_CHECK(::setrlimit(RLIMIT_AS, &limit) == 0, "setrlimit: %s", std::strerror(errno));
}

// Runs `scenario` in a forked child and expects it to exit with status 0.
inline void expect_capped_child_passes(void (*scenario)()) {
#ifdef TSLAB_CAPPED_CHILD_SANITIZED
  (void)scenario;
  GTEST_SKIP() << "the sanitizer's shadow memory does not fit under an address-space cap";
#else
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    scenario();
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_FALSE(WIFSIGNALED(status)) << "the child was killed by signal " << WTERMSIG(status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's stderr above says what failed";
#endif
}

}  // namespace tslab_test

#endif  // TSLAB_TESTS_CAPPED_CHILD_H
