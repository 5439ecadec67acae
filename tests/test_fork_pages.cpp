// This file contains the test of what a fork's child writes (platform/fork_hooks.h):
// every page the child's fork steps write is a copy of the parent's page, a page
// fault each, paid by every fork of a process that links tslab (a shell, a
// build, a server spawning helpers). The steps must write a bounded set of pages
// (the locks, the forking thread's own), never one per segment, heap or cached
// span: a child forked from a process with hundreds of MiB of small blocks, a
// dozen heaps and stashed spans takes no more faults in its steps than one
// forked from a process with one block.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "platform/sanitizers.h"
#include "slab_alloc.h"

namespace {

// The minor faults a child has taken when fork() returns in it: the kernel
// starts its count at zero, so these are the child's fork steps (and the C
// library's own, the same in every fork).
long child_faults_at_start() {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const long faults = usage.ru_minflt;
    _exit(write(fds[1], &faults, sizeof faults) == static_cast<ssize_t>(sizeof faults) ? 0 : 1);
  }
  long faults = -1;
  if (pid > 0 && read(fds[0], &faults, sizeof faults) != static_cast<ssize_t>(sizeof faults)) faults = -1;
  int status = 0;
  if (pid > 0 && (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
    faults = -1;
  close(fds[0]);
  close(fds[1]);
  return faults;
}

// The fewest of a few forks: a fault the machine adds now and then (the stack
// growing, a page the C library touches once) counts once at most.
long fewest_child_faults() {
  long fewest = -1;
  for (int i = 0; i < 5; ++i) {
    const long faults = child_faults_at_start();
    if (faults < 0) return -1;
    if (fewest < 0 || faults < fewest) fewest = faults;
  }
  return fewest;
}

// `alloc` grows by `blocks` small blocks of 512 B to 2 KiB,
// `heaps` heaps of threads that exited (every other one with a block this
// thread freed since: its slab is queued for that heap) and `spans` large
// spans this thread freed (stashed for it, then cached).
void grow(SlabAllocator* alloc, std::vector<void*>& kept, std::size_t blocks, int heaps, int spans) {
  for (std::size_t i = 0; i < blocks; ++i) {
    void* p = slab_malloc_epoch(alloc, 512 + (i % 4) * 512, 0);
    ASSERT_NE(p, nullptr);
    kept.push_back(p);
  }
  for (int t = 0; t < heaps; ++t) {
    void* theirs = nullptr;
    std::thread([&] { theirs = slab_malloc_epoch(alloc, 96, 0); }).join();
    ASSERT_NE(theirs, nullptr);
    if (t % 2 == 0)
      slab_free(alloc, theirs);
    else
      kept.push_back(theirs);
  }
  for (int i = 0; i < spans; ++i) {
    void* big = slab_malloc_epoch(alloc, (std::size_t{1} << 17) + static_cast<std::size_t>(i) * 65536, 0);
    ASSERT_NE(big, nullptr);
    slab_free(alloc, big);
  }
}

TEST(ForkPages, AChildsForkStepsWriteNoPagePerSegmentHeapOrSpan) {
  // ThreadSanitizer's runtime writes its shadow of every page the child touches.
  if (TSLAB_THREAD_SANITIZER) GTEST_SKIP() << "the thread sanitizer's own fork steps write pages per mapping";
  SlabAllocator* alloc = slab_allocator_create();
  ASSERT_NE(alloc, nullptr);
  std::vector<void*> kept;
  // One of each kind first, so that both measurements run the same code (each
  // page of it a fault in the child) and the C library's own fork steps for a
  // process that has had threads.
  grow(alloc, kept, 1, 1, 1);
  const long small_process = fewest_child_faults();
  ASSERT_GE(small_process, 0);
  // Tens of segments of small blocks (about 48 MiB), a dozen heaps, two dozen spans.
  grow(alloc, kept, 48000, 12, 24);
  const long large_process = fewest_child_faults();
  ASSERT_GE(large_process, 0);
  // Before the steps wrote only where something changed, the larger process's
  // children took about 20 faults more here (a pin count's page per segment, a
  // queue head's per heap, the stash's and its spans' pages and a system call
  // per stashed span).
  EXPECT_LE(large_process, small_process + 2)
      << "child faults at fork: " << small_process << " in the small process, " << large_process
      << " after it grew by 48000 blocks, 12 heaps and 24 spans";
  for (void* p : kept) slab_free(alloc, p);
  slab_allocator_free(alloc);
}

// The forking thread keeps its stash of freed large spans in the child (the
// steps no longer empty it); another thread's, which may have been halfway
// through a stash at the fork, goes to the cache. The child's allocator passes
// the checker (stashes free, unlisted elsewhere, their bytes counted), takes its
// next large blocks from the kept stash, and passes it again.
TEST(ForkPages, AChildKeepsTheForkingThreadsStashConsistent) {
  SlabAllocator* alloc = slab_allocator_create();
  ASSERT_NE(alloc, nullptr);
  std::thread other([&] {  // a heap with a stash of its own, its thread gone
    for (int i = 0; i < 8; ++i) slab_free(alloc, slab_malloc_epoch(alloc, std::size_t{1} << 18, 0));
  });
  other.join();
  for (int i = 0; i < 8; ++i)
    slab_free(alloc, slab_malloc_epoch(alloc, (std::size_t{1} << 17) + i * 65536, 0));
  const pid_t pid = fork();
  if (pid == 0) {
    char message[256];
    if (!slab_check(alloc, message, sizeof message)) _exit(2);
    for (int i = 0; i < 8; ++i) {
      void* p = slab_malloc_epoch(alloc, (std::size_t{1} << 17) + i * 65536, 0);
      if (p == nullptr) _exit(3);
      static_cast<char*>(p)[0] = 1;
      slab_free(alloc, p);
    }
    _exit(slab_check(alloc, message, sizeof message) ? 0 : 4);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  slab_allocator_free(alloc);
}

}  // namespace
