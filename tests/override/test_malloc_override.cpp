// This file contains the tests of the malloc override linked into the program
// (tslab::malloc_override): the malloc family's C and POSIX semantics, every
// operator new and delete, bad frees (reported and ignored, or abort), and
// lifetime scopes. Everything here, GoogleTest included, allocates through
// tslab, so each test also checks that the pointers it gets are tslab's.
#include <errno.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "slab_alloc.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/malloc.h"
#include "tslab/malloc.hpp"

extern "C" void free_sized(void* p, size_t size) noexcept;

// mincore calls, counted here: this definition stands in for the C library's.
std::atomic<unsigned long> g_mincore_calls{0};
extern "C" int mincore(void* start, size_t length, unsigned char* pages) noexcept {
  g_mincore_calls.fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(::syscall(SYS_mincore, start, length, pages));
}
extern "C" void free_aligned_sized(void* p, size_t alignment, size_t size) noexcept;

namespace {

SlabAllocator* process() { return tslab_malloc_allocator(); }

// True if `p` is a live block of the process allocator.
bool from_tslab(const void* p) { return slab_usable_size(process(), p) != 0; }

// Runs `fn` with stderr sent into a pipe; returns what it wrote.
template <typename Fn>
std::string capture_stderr(Fn fn) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const int saved = dup(STDERR_FILENO);
  dup2(fds[1], STDERR_FILENO);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  return out;
}

std::size_t lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

bool check_allocator() {
  char message[256] = "";
  const bool ok = slab_check(process(), message, sizeof message);
  if (!ok) ADD_FAILURE() << message;
  return ok;
}

// Compiler barrier: keeps a test's allocation calls from being folded away.
template <typename T>
T* opaque(T* p) {
  asm volatile("" : "+r"(p));
  return p;
}

TEST(MallocOverride, EveryFunctionIsServedByTslab) {
  void* m = malloc(40);
  void* c = calloc(3, 10);
  void* r = realloc(nullptr, 50);
  void* a = aligned_alloc(64, 128);
  void* mem = memalign(256, 10);
  void* v = valloc(10);
  void* pv = pvalloc(10);
  void* pm = nullptr;
  ASSERT_EQ(posix_memalign(&pm, 128, 100), 0);
  char* s = strdup("a string the C library copies");
  int* n = opaque(new int(7));
  int* arr = opaque(new int[100]);
  for (void* p :
       {m, c, r, a, mem, v, pv, pm, static_cast<void*>(s), static_cast<void*>(n), static_cast<void*>(arr)})
    EXPECT_TRUE(from_tslab(p)) << p;
  free(m), free(c), free(r), free(a), free(mem), free(v), free(pv), free(pm), free(s);
  delete n;
  delete[] arr;
  EXPECT_TRUE(check_allocator());
}

TEST(MallocOverride, MallocZeroIsUniqueAndFreeable) {
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) {
    void* p = malloc(0);
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
  }
  std::sort(blocks.begin(), blocks.end());
  EXPECT_EQ(std::adjacent_find(blocks.begin(), blocks.end()), blocks.end());
  const std::string err = capture_stderr([&] {
    for (void* p : blocks) free(p);
  });
  EXPECT_EQ(err, "");
}

TEST(MallocOverride, CallocZeroesAndRefusesOverflow) {
  for (std::size_t size : {1ul, 100ul, 5000ul, 20000ul, 3ul << 20}) {
    auto* p = static_cast<unsigned char*>(malloc(size));
    memset(p, 0xab, size);
    free(p);
    auto* z = static_cast<unsigned char*>(calloc(1, size));
    ASSERT_NE(z, nullptr);
    for (std::size_t i = 0; i < size; ++i) ASSERT_EQ(z[i], 0) << size << " at " << i;
    free(z);
  }
  volatile std::size_t half = SIZE_MAX / 2;  // not a constant: no compile-time warning
  errno = 0;
  EXPECT_EQ(calloc(half, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(reallocarray(nullptr, half, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(MallocOverride, ReallocKeepsContentsAndStaysInPlaceWithinAClass) {
  auto* p = static_cast<char*>(malloc(100));
  const std::size_t usable = malloc_usable_size(p);
  ASSERT_GE(usable, 100u);
  for (int i = 0; i < 100; ++i) p[i] = static_cast<char>(i);
  EXPECT_EQ(realloc(p, usable), p);  // grows within the block
  EXPECT_EQ(realloc(p, usable - 1), p);
  // Growing beyond the block moves it, contents kept.
  auto* q = static_cast<char*>(realloc(p, 100000));
  ASSERT_NE(q, nullptr);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(q[i], static_cast<char>(i));
  EXPECT_GE(malloc_usable_size(q), 100000u);
  // Shrinking to a much smaller class moves it into that class.
  auto* r = static_cast<char*>(realloc(q, 10));
  ASSERT_NE(r, nullptr);
  EXPECT_LT(malloc_usable_size(r), 100u);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(r[i], static_cast<char>(i));
  // A chain of growth through every range, large spans included.
  std::size_t size = 10;
  for (; size < (8u << 20); size = size * 3 / 2 + 1) {
    r = static_cast<char*>(realloc(r, size));
    ASSERT_NE(r, nullptr);
    r[size - 1] = 'x';
    ASSERT_EQ(r[0], 0);
  }
  free(r);
  EXPECT_TRUE(check_allocator());
}

TEST(MallocOverride, ReallocToZeroFreesAndReturnsNull) {
  void* p = malloc(64);
  EXPECT_EQ(realloc(p, 0), nullptr);
  // p is gone: a second free of it is a double free, reported and ignored.
  const std::string err = capture_stderr([&] { free(opaque(p)); });
  EXPECT_NE(err.find("double free"), std::string::npos) << err;
  EXPECT_EQ(realloc(nullptr, 0) != nullptr, true);  // realloc(NULL, 0) is malloc(0)
}

TEST(MallocOverride, AlignmentRules) {
  void* p = reinterpret_cast<void*>(1);
  errno = 1234;
  EXPECT_EQ(posix_memalign(&p, 0, 10), EINVAL);
  EXPECT_EQ(posix_memalign(&p, 24, 10), EINVAL);
  EXPECT_EQ(posix_memalign(&p, sizeof(void*) / 2, 10), EINVAL);
  EXPECT_EQ(p, reinterpret_cast<void*>(1));  // untouched on failure
  EXPECT_EQ(errno, 1234);                    // POSIX: errno is left alone
  for (std::size_t a = sizeof(void*); a <= (std::size_t{4} << 20); a *= 4) {
    for (std::size_t size : {0ul, 1ul, 100ul, 70000ul}) {
      ASSERT_EQ(posix_memalign(&p, a, size), 0) << a << " " << size;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % a, 0u);
      EXPECT_GE(malloc_usable_size(p), size);
      free(p);
      void* q = aligned_alloc(a, size);
      ASSERT_NE(q, nullptr);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(q) % a, 0u);
      free(q);
    }
  }
  errno = 0;
  EXPECT_EQ(aligned_alloc(3, 10), nullptr);
  EXPECT_EQ(errno, EINVAL);
  void* m = memalign(48, 10);  // glibc rounds a non-power of two up
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(m) % 64, 0u);
  free(m);
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* v = valloc(1);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v) % page, 0u);
  void* pv = pvalloc(1);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(pv) % page, 0u);
  EXPECT_GE(malloc_usable_size(pv), page);
  free(v), free(pv);
}

TEST(MallocOverride, FailuresSetErrnoAndNewThrows) {
  volatile std::size_t too_large = SIZE_MAX - 4096;
  errno = 0;
  EXPECT_EQ(malloc(too_large), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  void* p = malloc(8);
  EXPECT_EQ(realloc(p, too_large), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  free(p);  // left as it was
  volatile std::size_t huge = SIZE_MAX / 4;
  EXPECT_THROW((void)opaque(new char[huge]), std::bad_alloc);
  EXPECT_EQ(opaque(new (std::nothrow) char[huge]), nullptr);
  EXPECT_THROW((void)::operator new (SIZE_MAX / 2, std::align_val_t{64}), std::bad_alloc);
  EXPECT_EQ(::operator new (SIZE_MAX / 2, std::align_val_t{64}, std::nothrow), nullptr);
  // The new-handler is called until it gives up.
  static int calls;
  calls = 0;
  std::set_new_handler([] {
    if (++calls == 3) std::set_new_handler(nullptr);
  });
  EXPECT_THROW((void)::operator new(SIZE_MAX / 2), std::bad_alloc);
  EXPECT_EQ(calls, 3);
}

TEST(MallocOverride, EveryOperatorNewAndDeleteForm) {
  struct alignas(256) Wide {
    char c[300];
  };
  Wide* w = opaque(new Wide);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(w) % 256, 0u);
  EXPECT_TRUE(from_tslab(w));
  delete w;
  Wide* ws = opaque(new Wide[3]);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ws) % 256, 0u);
  delete[] ws;
  void* p = ::operator new(100);
  ::operator delete(p, 100);
  p = ::operator new[](100, std::nothrow);
  ::operator delete[](p, std::nothrow);
  p = ::operator new (100, std::align_val_t{128});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 128, 0u);
  ::operator delete (p, 100, std::align_val_t{128});
  p = ::operator new[](100, std::align_val_t{128}, std::nothrow);
  ::operator delete[](p, std::align_val_t{128}, std::nothrow);
  p = malloc(10);
  free_sized(p, 10);
  p = aligned_alloc(64, 64);
  free_aligned_sized(p, 64, 64);
  EXPECT_TRUE(check_allocator());
}

TEST(MallocOverride, BadFreesAreReportedOnceAndIgnored) {
  char* live = static_cast<char*>(malloc(64));
  strcpy(live, "still here");
  auto* p = static_cast<char*>(malloc(64));
  free(p);  // before anything else is allocated: the block stays free
  int on_stack = 0;
  struct Case {
    void* ptr;
    const char* expect;
  };
  const Case cases[] = {
      {p, "double free"},
      {live + 8, "interior pointer"},
      {&on_stack, "free("},
      {reinterpret_cast<void*>(0x10), "free("},
  };
  for (const Case& c : cases) {
    const std::string err = capture_stderr([&] { free(opaque(c.ptr)); });
    EXPECT_EQ(lines(err), 1u) << err;
    EXPECT_EQ(err.rfind("tslab: free(", 0), 0u) << err;
    EXPECT_NE(err.find(c.expect), std::string::npos) << err;
    EXPECT_NE(err.find("ignored"), std::string::npos) << err;
  }
  const std::string err = capture_stderr([&] { EXPECT_EQ(realloc(opaque(&on_stack), 100), nullptr); });
  EXPECT_EQ(err.rfind("tslab: realloc(", 0), 0u) << err;
  // Each releasing function names itself, for a block its thread's fast path
  // refuses (a double free) and for one it leaves to the slow path (interior).
  struct Release {
    const char* name;
    void (*release)(void*);
  };
  const Release releases[] = {
      {"free_sized", [](void* q) { free_sized(q, 64); }},
      {"free_aligned_sized", [](void* q) { free_aligned_sized(q, 16, 64); }},
      {"reallocarray", [](void* q) { EXPECT_EQ(reallocarray(q, 2, 0), nullptr); }},
      {"operator delete", [](void* q) { ::operator delete(q); }},
      {"operator delete[]", [](void* q) { ::operator delete[](q); }},
  };
  for (const Release& r : releases) {
    for (const Case& c : {Case{p, "double free"}, Case{live + 8, "interior pointer"}}) {
      const std::string report = capture_stderr([&] { r.release(opaque(c.ptr)); });
      EXPECT_EQ(lines(report), 1u) << report;
      EXPECT_EQ(report.rfind(std::string("tslab: ") + r.name + "(", 0), 0u) << report;
      EXPECT_NE(report.find(c.expect), std::string::npos) << report;
    }
  }
  EXPECT_STREQ(live, "still here");
  EXPECT_EQ(malloc_usable_size(&on_stack), 0u);
  free(live);
  EXPECT_TRUE(check_allocator());
}

TEST(MallocOverrideDeathTest, BadFreeAbortsWhenAsked) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The child re-runs this program with TSLAB_BAD_FREE=abort in its environment.
  setenv("TSLAB_BAD_FREE", "abort", 1);
  EXPECT_DEATH(
      {
        void* p = malloc(32);
        free(p);
        free(opaque(p));
      },
      "tslab: free\\(0x[0-9a-f]+\\): .*double free.*aborting");
  unsetenv("TSLAB_BAD_FREE");
}

TEST(MallocOverride, TrimReturnsPagesAndStatsPrint) {
  std::vector<void*> blocks;
  for (int i = 0; i < 20000; ++i) blocks.push_back(malloc(1000));
  const std::uint64_t full = slab_resident_bytes(process());
  for (void* p : blocks) free(p);
  EXPECT_EQ(malloc_trim(0), 1);
  const std::uint64_t trimmed = slab_resident_bytes(process());
  EXPECT_LT(trimmed + 15 * (1u << 20), full) << full << " -> " << trimmed;
  const std::string err = capture_stderr([] { malloc_stats(); });
  EXPECT_NE(err.find("tslab allocator"), std::string::npos) << err;
}

// mallinfo2 and mallinfo read tslab's statistics, not glibc's idle heap: small
// blocks in glibc's heap fields, large ones in its mmapped-chunk fields.
TEST(MallocOverride, MallinfoReportsTheProcessAllocator) {
  const struct mallinfo2 before = mallinfo2();
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(malloc(1000));
  void* large = malloc(3u << 20);
  ASSERT_NE(large, nullptr);
  const struct mallinfo2 during = mallinfo2();
  EXPECT_GE(during.uordblks, before.uordblks + 1000 * 1000);
  EXPECT_GE(during.arena, during.uordblks);
  EXPECT_EQ(during.fordblks, during.arena - during.uordblks);
  EXPECT_GE(during.hblks, before.hblks + 1);
  EXPECT_GE(during.hblkhd, before.hblkhd + (3u << 20));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const struct mallinfo old = mallinfo();  // glibc's int fields, deprecated there
#pragma GCC diagnostic pop
  EXPECT_EQ(static_cast<std::size_t>(old.uordblks), during.uordblks);
  EXPECT_EQ(static_cast<std::size_t>(old.hblkhd), during.hblkhd);
  for (void* p : blocks) free(p);
  free(large);
  const struct mallinfo2 after = mallinfo2();
  EXPECT_LE(after.uordblks + 1000 * 1000, during.uordblks);
  EXPECT_LE(after.hblkhd + (3u << 20), during.hblkhd);
}

// mallinfo2 reads counters: it does not ask the OS which pages of every large
// block are resident (a mincore call each, under the allocator's lock: 39 ms
// with 20,000 blocks of 100 KB, which every large malloc and free waited out).
TEST(MallocOverride, MallinfoDoesNotReadThePageTables) {
  std::vector<void*> blocks;
  for (int i = 0; i < 2000; ++i) {
    blocks.push_back(malloc(100000));
    ASSERT_NE(blocks.back(), nullptr);
  }
  const unsigned long before = g_mincore_calls.load();
  const struct mallinfo2 info = mallinfo2();
  EXPECT_LT(g_mincore_calls.load() - before, 10u);
  EXPECT_GE(info.hblks, 2000u);
  for (void* p : blocks) free(p);
}

TEST(MallocOverride, TheProcessAllocatorIsNamedMalloc) {
  char name[SLAB_ALLOCATOR_NAME_SIZE];
  EXPECT_EQ(slab_allocator_name(process(), name, sizeof name), 6u);
  EXPECT_STREQ(name, "malloc");
}

TEST(MallocOverride, LateFreesAndAllocationsAtThreadExit) {
  static thread_local struct Late {
    void* block = nullptr;
    ~Late() {
      free(block);
      void* again = malloc(100);  // after the thread's heap may be gone
      memset(again, 1, 100);
      free(again);
    }
  } late;
  std::thread t([] { late.block = malloc(200); });
  t.join();
  // Blocks of exited threads are freed by others.
  void* handed = nullptr;
  std::thread([&] { handed = malloc(300); }).join();
  const std::string err = capture_stderr([&] { free(handed); });
  EXPECT_EQ(err, "");
  EXPECT_TRUE(check_allocator());
}

TEST(MallocOverride, ForkChildAllocatesWhileParentThreadsDid) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      while (!stop.load()) {
        void* p = malloc(64 + (reinterpret_cast<std::uintptr_t>(&stop) & 7));
        free(p);
      }
    });
  for (int i = 0; i < 50; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::vector<std::string> v;
      for (int k = 0; k < 1000; ++k) v.emplace_back(100, 'x');
      _exit(v.size() == 1000 ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  stop = true;
  for (auto& t : threads) t.join();
}

// --- scopes -----------------------------------------------------------------

TEST(MallocScope, PlainMallocGoesIntoTheScopesEpochAndSurvivorsStayValid) {
  ASSERT_EQ(tslab_scope_depth(), 0u);
  EXPECT_EQ(tslab_scope_epoch(), 0u);
  const EpochId e = tslab_scope_begin("request");
  ASSERT_NE(e, 0u);
  EXPECT_EQ(tslab_scope_epoch(), e);
  SlabEpochInfo info{};
  ASSERT_TRUE(slab_epoch_info(process(), e, &info));
  EXPECT_STREQ(info.label, "request");
  auto* survivor = opaque(new std::string(200, 's'));
  std::vector<int>* dead = opaque(new std::vector<int>(1000, 1));
  ASSERT_TRUE(slab_epoch_info(process(), e, &info));
  EXPECT_GE(info.live_count, 3u);
  delete dead;
  const std::uint64_t era = info.era;
  EXPECT_TRUE(tslab_scope_end());
  EXPECT_EQ(tslab_scope_epoch(), 0u);
  ASSERT_TRUE(slab_epoch_info(process(), e, &info));
  EXPECT_TRUE(info.state == EPOCH_CLOSING || info.era != era);  // closed (or already reopened)
  // The survivor works, grows and is freed from another thread.
  EXPECT_EQ(*survivor, std::string(200, 's'));
  survivor->append(1000, 't');
  std::string err;
  std::thread([&] { err = capture_stderr([&] { delete survivor; }); }).join();
  EXPECT_EQ(err, "");
  EXPECT_FALSE(tslab_scope_end());
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_TRUE(check_allocator());
}

TEST(MallocScope, EndReturnsWhatDiedInTheScope) {
  // Warm the default epoch so that its own growth is not counted below.
  const std::uint64_t before = slab_resident_bytes(process());
  tslab_scope_begin("burst");
  {
    std::vector<std::string*> strings;
    for (int i = 0; i < 100000; ++i) strings.push_back(new std::string(300, 'x'));  // ~40 MiB
    EXPECT_GT(slab_resident_bytes(process()), before + (30u << 20));
    for (auto* s : strings) delete s;
  }
  ASSERT_TRUE(tslab_scope_end());
  // What stays: the warm reserve (TSLAB_WARM_RESERVE, 6 MiB) and the metadata.
  const std::uint64_t after = slab_resident_bytes(process());
  EXPECT_LT(after, before + (8u << 20)) << before << " -> " << after;
}

TEST(MallocScope, ScopesNestLastInFirstOut) {
  const EpochId a = tslab_scope_begin("outer");
  const EpochId b = tslab_scope_begin("inner");
  EXPECT_NE(a, 0u);
  EXPECT_NE(b, 0u);
  EXPECT_NE(a, b);
  EXPECT_EQ(tslab_scope_depth(), 2u);
  EXPECT_EQ(tslab_scope_epoch(), b);
  EXPECT_TRUE(tslab_scope_end());
  EXPECT_EQ(tslab_scope_epoch(), a);
  EXPECT_TRUE(tslab_scope_end());
  EXPECT_EQ(tslab_scope_epoch(), 0u);
  EXPECT_EQ(tslab_scope_depth(), 0u);
}

TEST(MallocScope, DeeperThanTheLimitShares) {
  TslabScopeCounters before{}, after{};
  tslab_scope_counters(&before);
  const std::uint32_t extra = 5;
  EpochId last = 0;
  for (std::uint32_t i = 0; i < TSLAB_SCOPE_MAX_DEPTH + extra; ++i) {
    last = tslab_scope_begin(nullptr);
    void* p = malloc(16);  // never fails for scopes
    ASSERT_NE(p, nullptr);
    free(p);
  }
  EXPECT_EQ(tslab_scope_depth(), TSLAB_SCOPE_MAX_DEPTH + extra);
  EXPECT_EQ(tslab_scope_epoch(), last);
  for (std::uint32_t i = 0; i < TSLAB_SCOPE_MAX_DEPTH + extra; ++i) ASSERT_TRUE(tslab_scope_end());
  tslab_scope_counters(&after);
  EXPECT_EQ(after.begun - before.begun, TSLAB_SCOPE_MAX_DEPTH + extra);
  // 63 slots besides epoch 0: the scopes beyond them, and beyond the depth, share.
  EXPECT_GE(after.shared - before.shared, extra + 1);
  EXPECT_EQ(after.closed - before.closed, (after.begun - before.begun) - (after.shared - before.shared));
  EXPECT_EQ(tslab_scope_epoch(), 0u);
  EXPECT_NE(tslab_scope_begin(nullptr), 0u);  // every slot came back
  EXPECT_TRUE(tslab_scope_end());
}

TEST(MallocScope, TheRaiiScopeBeginsAtConstructionAndClosesItsEpochAtDestruction) {
  ASSERT_EQ(tslab_scope_depth(), 0u);
  std::string* survivor = nullptr;
  EpochId outer_epoch = 0, inner_epoch = 0;
  std::uint64_t inner_era = 0;
  {
    const tslab::MallocScope outer("outer");
    outer_epoch = outer.epoch();
    EXPECT_NE(outer_epoch, 0u);
    EXPECT_FALSE(outer.shares_epoch());
    EXPECT_EQ(tslab_scope_epoch(), outer_epoch);
    {
      const tslab::MallocScope inner;
      inner_epoch = inner.epoch();
      EXPECT_NE(inner_epoch, outer_epoch);
      EXPECT_EQ(tslab_scope_depth(), 2u);
      survivor = opaque(new std::string(300, 'i'));
      SlabEpochInfo info{};
      ASSERT_TRUE(slab_epoch_info(process(), inner_epoch, &info));
      EXPECT_GE(info.live_count, 2u) << "the string and its buffer went into the inner scope's epoch";
      inner_era = info.era;
    }
    SlabEpochInfo info{};
    ASSERT_TRUE(slab_epoch_info(process(), inner_epoch, &info));
    EXPECT_TRUE(info.state == EPOCH_CLOSING || info.era != inner_era) << "the inner scope's end closed it";
    EXPECT_EQ(tslab_scope_epoch(), outer_epoch);
  }
  EXPECT_EQ(tslab_scope_depth(), 0u);
  EXPECT_EQ(tslab_scope_epoch(), 0u);
  EXPECT_EQ(*survivor, std::string(300, 'i'));
  delete survivor;
  // Beyond the depth limit a scope shares its parent's epoch, and says so.
  std::vector<std::unique_ptr<tslab::MallocScope>> scopes;
  for (std::uint32_t i = 0; i < TSLAB_SCOPE_MAX_DEPTH; ++i)
    scopes.push_back(std::make_unique<tslab::MallocScope>());
  {
    const tslab::MallocScope deepest("deepest");
    EXPECT_TRUE(deepest.shares_epoch());
    EXPECT_EQ(deepest.epoch(), scopes.back()->epoch());
  }
  while (!scopes.empty()) scopes.pop_back();  // innermost first
  EXPECT_EQ(tslab_scope_depth(), 0u);
  EXPECT_TRUE(check_allocator());
}

// Destroying a scope out of order, or on another thread, is refused and ends no
// other scope: the early one ends with the last scope nested in it.
TEST(MallocScope, AScopeDestroyedOutOfOrderOrElsewhereEndsNoOtherScope) {
  ASSERT_EQ(tslab_scope_depth(), 0u);
  // Leaves another error as the thread's last, so that the misuse is seen to set its own.
  const auto other_error = [] {
    SlabEpochInfo none{};
    EXPECT_FALSE(slab_epoch_info(nullptr, 0, &none));
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
  };
  auto outer = std::make_unique<tslab::MallocScope>("outer");
  auto inner = std::make_unique<tslab::MallocScope>("inner");
  const EpochId outer_epoch = outer->epoch(), inner_epoch = inner->epoch();
  ASSERT_NE(outer_epoch, inner_epoch);
  SlabEpochInfo info{};
  ASSERT_TRUE(slab_epoch_info(process(), inner_epoch, &info));
  const std::uint64_t inner_era = info.era;
  ASSERT_TRUE(slab_epoch_info(process(), outer_epoch, &info));
  const std::uint64_t outer_era = info.era;
  other_error();
  outer.reset();  // misuse: inner is still open
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_EQ(tslab_scope_depth(), 2u);
  EXPECT_EQ(tslab_scope_epoch(), inner_epoch) << "the inner scope still routes the thread's malloc";
  ASSERT_TRUE(slab_epoch_info(process(), inner_epoch, &info));
  EXPECT_TRUE(info.state == EPOCH_ACTIVE && info.era == inner_era);
  inner.reset();  // ends inner, then outer, whose end was asked for
  EXPECT_EQ(tslab_scope_depth(), 0u);
  EXPECT_EQ(tslab_scope_epoch(), 0u);
  ASSERT_TRUE(slab_epoch_info(process(), outer_epoch, &info));
  EXPECT_TRUE(info.state == EPOCH_CLOSING || info.era != outer_era) << "the outer scope ended with the inner";

  // On another thread: that thread's scopes stay; this one's ends with its thread.
  std::unique_ptr<tslab::MallocScope> stray;
  EpochId stray_epoch = 0;
  std::uint64_t stray_era = 0;
  std::mutex m;
  std::condition_variable cv;
  bool destroyed = false;
  std::thread owner([&] {
    auto made = std::make_unique<tslab::MallocScope>("stray");
    SlabEpochInfo own{};
    ASSERT_TRUE(slab_epoch_info(process(), made->epoch(), &own));
    std::unique_lock<std::mutex> lock(m);
    stray_epoch = made->epoch();
    stray_era = own.era;
    stray = std::move(made);
    cv.notify_all();
    cv.wait(lock, [&] { return destroyed; });
    EXPECT_EQ(tslab_scope_depth(), 1u);
    EXPECT_EQ(tslab_scope_epoch(), stray_epoch);
  });
  {
    const tslab::MallocScope mine("mine");
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return stray != nullptr && stray_era != 0; });
    other_error();
    stray.reset();  // on the wrong thread
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
    EXPECT_EQ(tslab_scope_depth(), 1u) << "this thread's own scope stays";
    EXPECT_EQ(tslab_scope_epoch(), mine.epoch());
    destroyed = true;
    cv.notify_all();
  }
  owner.join();  // its exit ends its scope
  ASSERT_TRUE(slab_epoch_info(process(), stray_epoch, &info));
  EXPECT_TRUE(info.state == EPOCH_CLOSING || info.era != stray_era);
  EXPECT_EQ(tslab_scope_depth(), 0u);
  EXPECT_TRUE(check_allocator());
}

// Scopes begun beyond the depth share an epoch, but each has an id of its own:
// one destroyed on another thread whose innermost scope is also beyond the
// depth ends nothing there, and one destroyed out of order ends no other.
TEST(MallocScope, AScopeBeyondTheDepthDestroyedElsewhereEndsNoScopeThere) {
  ASSERT_EQ(tslab_scope_depth(), 0u);
  std::unique_ptr<tslab::MallocScope> stray;
  std::thread([&] {
    for (std::uint32_t i = 0; i < TSLAB_SCOPE_MAX_DEPTH; ++i)
      ASSERT_NE(tslab_scope_begin("other"), SLAB_NO_EPOCH);
    stray = std::make_unique<tslab::MallocScope>("stray");
    EXPECT_TRUE(stray->shares_epoch());
    EXPECT_NE(tslab_scope_innermost(), 0u);
  }).join();  // its exit ends its own scopes
  for (std::uint32_t i = 0; i <= TSLAB_SCOPE_MAX_DEPTH; ++i) tslab_scope_begin("mine");
  const std::uint64_t innermost = tslab_scope_innermost();
  EXPECT_NE(innermost, 0u);
  stray.reset();  // on the wrong thread
  EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
  EXPECT_EQ(tslab_scope_depth(), TSLAB_SCOPE_MAX_DEPTH + 1) << "this thread's innermost scope stays";
  EXPECT_EQ(tslab_scope_innermost(), innermost);
  {
    auto outer = std::make_unique<tslab::MallocScope>("outer, shared");
    const tslab::MallocScope inner("inner, shared");
    EXPECT_NE(tslab_scope_innermost(), innermost);
    outer.reset();  // out of order: ends nothing
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_DOMAIN_MISUSE);
    EXPECT_EQ(tslab_scope_depth(), TSLAB_SCOPE_MAX_DEPTH + 3);
  }
  // The out-of-order shared scope stays open (it keeps no frame to end later).
  EXPECT_EQ(tslab_scope_depth(), TSLAB_SCOPE_MAX_DEPTH + 2);
  std::uint32_t ended = 0;
  while (tslab_scope_end()) ++ended;
  EXPECT_EQ(ended, TSLAB_SCOPE_MAX_DEPTH + 2);
  EXPECT_EQ(tslab_scope_depth(), 0u);
  EXPECT_TRUE(check_allocator());
}

// A scope's epoch may be closed through the epoch API before the scope ends
// (malloc.h allows it); the slot may then open again for another thread's
// scope. The first scope's end must close its own activation, not that one.
TEST(MallocScope, TheEndOfAScopeWhoseEpochWasClosedElsewhereLeavesTheSlotsNextScopeOpen) {
  const EpochId a = tslab_scope_begin("A");
  ASSERT_NE(a, 0u);
  ASSERT_TRUE(epoch_close(process(), a));
  std::atomic<int> step{0};
  EpochId b = 0;
  std::uint64_t live_added = 0;
  EpochLifecycleState b_state_after = EPOCH_CLOSING;
  std::thread thread_b([&] {
    b = tslab_scope_begin("B");
    step.store(1);
    while (step.load() != 2) std::this_thread::yield();
    b_state_after = slab_epoch_state(process(), b);
    SlabEpochInfo before{}, after{};
    slab_epoch_info(process(), b, &before);
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(opaque(malloc(100)));
    slab_epoch_info(process(), b, &after);
    live_added = after.live_count - before.live_count;
    for (void* p : blocks) free(p);
    EXPECT_TRUE(tslab_scope_end());
  });
  while (step.load() != 1) std::this_thread::yield();
  ASSERT_EQ(b, a) << "the ring reopens the closed slot first (the case under test)";
  EXPECT_TRUE(tslab_scope_end());  // A's end: its activation is already closed
  step.store(2);
  thread_b.join();
  EXPECT_EQ(b_state_after, EPOCH_ACTIVE) << "A's end closed B's scope";
  EXPECT_GE(live_added, 100u) << "B's mallocs left its scope's epoch";
  EXPECT_TRUE(check_allocator());
}

TEST(MallocScope, SixtyFourThreadsInNestedScopes) {
  TslabScopeCounters before{}, after{};
  tslab_scope_counters(&before);
  constexpr int THREADS = 64, DEPTH = 3, ROUNDS = 20;
  std::atomic<int> failures{0};
  std::vector<void*> survivors(THREADS, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < THREADS; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < ROUNDS; ++r) {
        for (int d = 0; d < DEPTH; ++d) tslab_scope_begin("thread");
        std::vector<std::string> work;
        for (int k = 0; k < 200; ++k) work.emplace_back(static_cast<std::size_t>(16 + k), 'w');
        for (const auto& s : work)
          if (s.size() < 16 || s[0] != 'w') failures.fetch_add(1);
        if (r == 0) survivors[static_cast<std::size_t>(t)] = malloc(64);  // outlives its scope
        for (int d = 0; d < DEPTH; ++d)
          if (!tslab_scope_end()) failures.fetch_add(1);
        if (tslab_scope_epoch() != 0) failures.fetch_add(1);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  tslab_scope_counters(&after);
  EXPECT_EQ(after.begun - before.begun, static_cast<std::uint64_t>(THREADS * DEPTH * ROUNDS));
  EXPECT_EQ(after.closed - before.closed, (after.begun - before.begun) - (after.shared - before.shared));
  const std::string err = capture_stderr([&] {
    for (void* p : survivors) free(p);
  });
  EXPECT_EQ(err, "");
  EXPECT_NE(tslab_scope_begin(nullptr), 0u);  // every slot came back
  EXPECT_TRUE(tslab_scope_end());
  EXPECT_TRUE(check_allocator());
}

TEST(MallocScope, ThreadExitEndsItsScopes) {
  TslabScopeCounters before{}, after{};
  tslab_scope_counters(&before);
  std::thread([] {
    tslab_scope_begin("left open");
    tslab_scope_begin("left open too");
    free(malloc(10));
  }).join();
  tslab_scope_counters(&after);
  EXPECT_EQ(after.closed - before.closed, 2u);
}

// The process's mapped bytes (VmSize, /proc/self/status), in KiB.
std::uint64_t mapped_kib() {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long kib = 0;
  while (fgets(line, sizeof line, f) != nullptr)
    if (sscanf(line, "VmSize: %llu kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

// A thread's scope frames are a page mapped at its first scope and unmapped at
// its exit, whether it ended its scopes or left them open.
TEST(MallocScope, ThreadsGiveBackTheirScopeFramesAtExit) {
  auto wave = [](int threads) {
    for (int i = 0; i < threads; ++i)
      std::thread([i] {
        tslab_scope_begin("frames");
        free(malloc(32));
        if (i % 2 == 0) tslab_scope_end();
      }).join();
  };
  wave(64);  // thread stacks and tslab's own state for a thread, made once
  const std::uint64_t before = mapped_kib();
  constexpr int THREADS = 2000;
  wave(THREADS);
  const std::uint64_t after = mapped_kib();
  ASSERT_NE(before, 0u);
  // A page left behind by each thread would be 8,000 KiB.
  EXPECT_LT(after, before + 1024) << before << " KiB mapped before " << THREADS << " threads, " << after
                                  << " KiB after";
}

}  // namespace

// --- large blocks: calloc and realloc ---------------------------------------

namespace {

using tslab_test::first_nonzero;

constexpr std::size_t MiB = std::size_t{1} << 20;

// The process's resident bytes (/proc/self/statm).
std::uint64_t process_rss() {
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int read = fscanf(f, "%llu %llu", &size, &resident);
  fclose(f);
  return read == 2 ? resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

unsigned char byte_at(std::size_t i) { return static_cast<unsigned char>((i * 131) ^ (i >> 12)); }

TEST(MallocOverride, CallocOfAFreshLargeBlockTouchesNoPage) {
  constexpr std::size_t SIZE = std::size_t{1} << 30;
  const std::uint64_t before = process_rss();
  auto* p = static_cast<unsigned char*>(calloc(1, SIZE));
  ASSERT_NE(p, nullptr);
  const std::uint64_t after = process_rss();
  EXPECT_LT(after, before + 64 * MiB) << "calloc wrote pages the OS hands out zeroed";
  // Reads as zero (sampled: a page fault apiece).
  for (std::size_t i = 0; i < SIZE; i += 61 * 4096 + 8) ASSERT_EQ(p[i], 0) << i;
  EXPECT_EQ(first_nonzero(p, 4096), 4096u);
  EXPECT_EQ(first_nonzero(p + SIZE - 4096, 4096), 4096u);
  free(p);
}

TEST(MallocOverride, CallocOfAReusedLargeBlockClearsWhatItsLastBlockWrote) {
  // The same size again: the span just freed, kept warm, comes back.
  for (std::size_t size : {100000ul, 1 * MiB, 3 * MiB}) {
    void* p = malloc(size);
    memset(p, 0xff, size);
    free(p);
    void* z = calloc(1, size);
    EXPECT_EQ(z, p) << size;
    EXPECT_EQ(first_nonzero(z, malloc_usable_size(z)), malloc_usable_size(z)) << size;
    free(z);
  }
  // A smaller block in a span a larger one wrote, then a larger one again: the
  // span stays dirty beyond the smaller block.
  void* big = malloc(3 * MiB);
  memset(big, 0xee, 3 * MiB);
  free(big);
  void* small = calloc(1, 1 * MiB);
  EXPECT_EQ(first_nonzero(small, malloc_usable_size(small)), malloc_usable_size(small));
  free(small);
  void* again = calloc(3, MiB);
  EXPECT_EQ(first_nonzero(again, 3 * MiB), 3 * MiB);
  free(again);
  // Beyond the warm reserve: the pages went back to the OS when freed.
  void* huge = malloc(64 * MiB);
  memset(huge, 0xdd, 64 * MiB);
  free(huge);
  void* fresh = calloc(64, MiB);
  EXPECT_EQ(first_nonzero(fresh, 64 * MiB), 64 * MiB);
  free(fresh);
  EXPECT_TRUE(check_allocator());
}

TEST(MallocOverride, ReallocGrowingALargeBlockPageByPageRarelyMovesIt) {
  constexpr std::size_t STEP = 4096, TOTAL = 8 * MiB;
  unsigned char* p = nullptr;
  std::size_t n = 0, moves = 0;
  while (n < TOTAL) {
    auto* q = static_cast<unsigned char*>(realloc(p, n + STEP));
    ASSERT_NE(q, nullptr) << n;
    if (q != p) ++moves;
    if (n > 0) {
      ASSERT_EQ(q[n - 1], byte_at(n - 1)) << n;
    }
    for (std::size_t i = n; i < n + STEP; ++i) q[i] = byte_at(i);
    p = q;
    n += STEP;
    // A large block's usable size is its size in whole pages.
    if (n > 65536) {
      ASSERT_EQ(malloc_usable_size(p), n);
    }
  }
  EXPECT_LT(moves, 40u);
  for (std::size_t i = 0; i < TOTAL; ++i) ASSERT_EQ(p[i], byte_at(i)) << i;
  free(p);
  EXPECT_TRUE(check_allocator());
}

TEST(MallocOverride, ReallocShrinksALargeBlockInPlaceAndGrowsItBack) {
  auto* p = static_cast<unsigned char*>(malloc(6 * MiB));
  ASSERT_NE(p, nullptr);
  for (std::size_t i = 0; i < 6 * MiB; ++i) p[i] = byte_at(i);
  auto* q = static_cast<unsigned char*>(realloc(p, 1 * MiB));
  EXPECT_EQ(q, p);
  EXPECT_EQ(malloc_usable_size(q), 1 * MiB);
  auto* r = static_cast<unsigned char*>(realloc(q, 3 * MiB + 5));
  EXPECT_EQ(r, p);
  EXPECT_EQ(malloc_usable_size(r), 3 * MiB + 4096);
  for (std::size_t i = 0; i < 1 * MiB; ++i) ASSERT_EQ(r[i], byte_at(i)) << i;
  for (std::size_t i = 1 * MiB; i < 3 * MiB + 5; ++i) r[i] = byte_at(i);
  auto* s = static_cast<unsigned char*>(realloc(r, 40 * MiB));
  ASSERT_NE(s, nullptr);
  for (std::size_t i = 0; i < 3 * MiB + 5; ++i) ASSERT_EQ(s[i], byte_at(i)) << i;
  free(s);
  EXPECT_TRUE(check_allocator());
}

TEST(MallocOverride, LargeLiveBytesFollowReallocExactly) {
  SlabGlobalStats base{}, now{};
  ASSERT_TRUE(slab_stats_global(process(), &base));
  void* p = malloc(100000);
  ASSERT_NE(p, nullptr);
  for (std::size_t size : {100000ul, 2 * MiB, 300000ul, 5 * MiB + 1, 70000ul, 9 * MiB}) {
    p = realloc(p, size);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(slab_stats_global(process(), &now));
    EXPECT_EQ(now.large_spans_live, base.large_spans_live + 1) << size;
    EXPECT_EQ(now.large_live_bytes, base.large_live_bytes + malloc_usable_size(p)) << size;
    EXPECT_EQ(malloc_usable_size(p), (size + 4095) / 4096 * 4096) << size;
  }
  free(p);
  ASSERT_TRUE(slab_stats_global(process(), &now));
  EXPECT_EQ(now.large_live_bytes, base.large_live_bytes);
  EXPECT_EQ(now.large_spans_live, base.large_spans_live);
}

}  // namespace
