// This file contains the fork tests (DESIGN.md law 10): the parent forks while
// other threads allocate, free, collect, close and use domains and arenas; each
// child, which has only the forking thread, must find every tslab lock free and
// every structure consistent. It allocates, frees (its own blocks, blocks other
// threads owned, blocks of a new allocator), advances and closes epochs, passes
// the invariant checker and exits 0 — 100 times in a row. Without fork handlers
// most children hung in a lock a vanished thread held; the watchdog alarm turns
// such a hang into a failure instead of a stuck test.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "epoch_domain.h"
#include "forwarding_platform.h"
#include "segment/segment_map.h"
#include "size_class/size_classes.h"
#include "slab_alloc.h"
#include "slab_arena.h"
#include "slab_stats.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

namespace td = tslab::detail;

using tslab_test::Rng;

constexpr unsigned kWorkers = 3;
constexpr std::size_t kBoard = 64;

// A block someone allocated, published for another thread to free.
struct Published {
  void* p;
  std::uint32_t size;
  std::uint64_t tag;
};

class ForkWorld {
 public:
  ForkWorld() : alloc_(slab_allocator_create()) {}
  ~ForkWorld() {
    if (!workers_.empty()) stop();  // a failed assertion left them running
    slab_allocator_free(alloc_);
  }
  SlabAllocator* alloc() const { return alloc_; }

  void start() {
    for (unsigned t = 0; t < kWorkers; ++t) workers_.emplace_back([this, t] { work(t); });
  }
  void stop() {
    stop_.store(true, std::memory_order_release);
    for (std::thread& w : workers_) w.join();
    workers_.clear();
    for (auto& slot : board_)
      if (Published* b = slot.exchange(nullptr)) release(b);
  }
  // Takes one block another thread published (the child frees it remotely).
  Published* take_published() {
    for (auto& slot : board_)
      if (Published* b = slot.exchange(nullptr)) return b;
    return nullptr;
  }
  std::uint64_t corrupted() const { return corrupted_.load(); }

  bool release(Published* b) {
    const bool intact = tslab_test::check_pattern(b->p, b->size, b->tag);
    if (!intact) corrupted_.fetch_add(1);
    const bool freed = slab_free_checked(alloc_, b->p);
    delete b;
    return intact && freed;
  }

 private:
  void work(unsigned t) {
    Rng rng(77 + t);
    std::vector<Published> mine;
    for (std::uint64_t i = 0; !stop_.load(std::memory_order_acquire); ++i) {
      const auto size =
          static_cast<std::uint32_t>(rng.range(1, 3) == 1 ? rng.range(17000, 200000) : rng.range(8, 2048));
      void* p = slab_malloc_epoch(alloc_, size, epoch_current(alloc_));
      if (p != nullptr) {
        const std::uint64_t tag = tslab_test::make_tag(t, i);
        tslab_test::fill_pattern(p, size, tag);
        if (rng.coin()) {
          mine.push_back({p, size, tag});
        } else if (Published* old = board_[rng.next() % kBoard].exchange(new Published{p, size, tag})) {
          release(old);
        }
      }
      if (mine.size() > 64 || (!mine.empty() && rng.coin())) {
        Published b = mine.back();
        mine.pop_back();
        release(new Published(b));
      }
      switch (rng.next() % 64) {
        case 0:
          slab_collect(alloc_);
          break;
        case 1:
          if (t == 0) epoch_advance(alloc_);
          break;
        case 2:
          use_domain();
          break;
        case 3:
          use_arena(rng);
          break;
        default:
          break;
      }
    }
    for (Published& b : mine) release(new Published(b));
  }

  void use_domain() {
    EpochDomain* d = epoch_domain_create(alloc_);
    if (d == nullptr) return;
    if (epoch_domain_enter(d)) {
      void* p = slab_malloc_epoch(alloc_, 128, d->epoch_id);
      if (p != nullptr) slab_free_checked(alloc_, p);
      epoch_domain_exit(d);
    }
    epoch_domain_destroy(d);
  }

  void use_arena(Rng& rng) {
    SlabArenaOptions o;
    if (!slab_arena_options_init(&o)) return;
    o.chunk_size = 64 * 1024;
    SlabArena* arena = slab_arena_create(alloc_, &o);
    if (arena == nullptr) return;
    for (int i = 0; i < 32; ++i) slab_arena_alloc(arena, rng.range(1, 4000), 16);
    slab_arena_destroy(arena);
  }

  SlabAllocator* alloc_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stop_{false};
  std::atomic<Published*> board_[kBoard] = {};
  std::atomic<std::uint64_t> corrupted_{0};
};

// The child's whole life. Returns its exit status: 0, or the number of the
// step that failed (printed to stderr).
int child_main(ForkWorld& world, const std::vector<Published>& parents_blocks) {
  alarm(120);  // a hang is a failure (SIGALRM), never a stuck test
  SlabAllocator* a = world.alloc();
  auto fail = [](int step, const char* what) {
    std::fprintf(stderr, "fork child: step %d failed: %s (%s)\n", step, what,
                 slab_error_string(slab_last_error()));
    return step;
  };
  for (const Published& b : parents_blocks)
    if (!tslab_test::check_pattern(b.p, b.size, b.tag))
      return fail(1, "a block of the forking thread changed");
  // A worker's domain may have closed the current epoch just before the fork.
  if (slab_epoch_state(a, epoch_current(a)) == EPOCH_CLOSING) epoch_advance(a);
  std::vector<void*> blocks;
  for (int i = 0; i < 2000; ++i) {
    void* p = slab_malloc_epoch(a, static_cast<std::uint32_t>(16 + (i * 37) % 3000), epoch_current(a));
    if (p == nullptr) return fail(2, "allocation");
    blocks.push_back(p);
  }
  for (void* p : blocks)
    if (!slab_free_checked(a, p)) return fail(3, "free of the child's own block");
  for (const Published& b : parents_blocks)
    if (!slab_free_checked(a, b.p)) return fail(4, "free of a block the forking thread allocated");
  // Blocks another thread owned: their heaps were orphaned, the free is remote.
  for (int i = 0; i < 8; ++i)
    if (Published* b = world.take_published())
      if (!world.release(b)) return fail(5, "free of a block a vanished thread allocated");
  const EpochId before = epoch_current(a);
  if (epoch_advance(a) == before) return fail(6, "epoch_advance");
  void* p = slab_malloc_epoch(a, 256, epoch_current(a));
  if (p == nullptr || !slab_free_checked(a, p)) return fail(7, "allocation after advance");
  const EpochId next = (epoch_current(a) + 1) % slab_epoch_count(a);
  if (!epoch_close(a, next) || slab_epoch_state(a, next) != EPOCH_CLOSING) return fail(8, "epoch_close");
  slab_collect(a);
  SlabAllocator* fresh = slab_allocator_create();
  if (fresh == nullptr) return fail(9, "a new allocator");
  void* q = slab_malloc_epoch(fresh, 64, 0);
  if (q == nullptr || !slab_free_checked(fresh, q)) return fail(10, "a new allocator's block");
  slab_allocator_free(fresh);
  SlabArena* arena = slab_arena_create(a, nullptr);
  if (arena == nullptr || slab_arena_alloc(arena, 100, 8) == nullptr || !slab_arena_destroy(arena))
    return fail(11, "an arena");
  EpochDomain* d = epoch_domain_create(a);
  if (d == nullptr || !epoch_domain_enter(d) || !epoch_domain_exit(d) || !epoch_domain_destroy(d))
    return fail(12, "an epoch domain (its last exit closes the current epoch)");
  char message[256] = {};
  if (!slab_check(a, message, sizeof message)) return fail(13, message);
  if (world.corrupted() != 0) return fail(14, "a block's pattern changed");
  return 0;
}

TEST(MtFork, ChildrenOfABusyProcessAllocateFreeAdvanceAndCloseHundredTimes) {
  ForkWorld world;
  ASSERT_NE(world.alloc(), nullptr);
  // Blocks of the forking thread, live across every fork.
  std::vector<Published> mine;
  for (int i = 0; i < 50; ++i) {
    const auto size = static_cast<std::uint32_t>(32 + i * 40);
    void* p = slab_malloc_epoch(world.alloc(), size, 0);
    ASSERT_NE(p, nullptr);
    tslab_test::fill_pattern(p, size, tslab_test::make_tag(99, i));
    mine.push_back({p, size, tslab_test::make_tag(99, i)});
  }
  world.start();
  const int forks = 100;
  for (int i = 0; i < forks; ++i) {
    std::this_thread::yield();  // let the workers get somewhere between forks
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(child_main(world, mine));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child " << i << " died of signal " << WTERMSIG(status)
                                   << (WTERMSIG(status) == SIGALRM ? " (hung)" : "");
    ASSERT_EQ(WEXITSTATUS(status), 0) << "child " << i << " failed step " << WEXITSTATUS(status);
  }
  world.stop();
  EXPECT_EQ(world.corrupted(), 0u);
  for (const Published& b : mine) {
    EXPECT_TRUE(tslab_test::check_pattern(b.p, b.size, b.tag));
    EXPECT_TRUE(slab_free_checked(world.alloc(), b.p));
  }
  EXPECT_SLAB_CHECK_OK(world.alloc());
}

// A remote free is three steps (the block's bit, the slab's queued flag, the
// push on the owner's queue), and a thread can vanish in a fork between two of
// them. Simulated here: a slab whose flag is set but which is on no queue, as a
// thread leaves it that stopped after the flag. In the child, remote frees into
// that slab must reach the owner all the same; they used to find the flag set
// and queue nothing, for the child's life.
TEST(MtFork, AChildCollectsRemoteFreesIntoASlabAVanishedThreadLeftFlagged) {
  tslab::Allocator a;
  constexpr std::size_t N = 64, SIZE = 256;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < N; ++i) blocks.push_back(a.allocate(SIZE));
  td::Slab* s = td::segment_map_lookup(blocks[0])->slab_for(blocks[0]);
  for (void* p : blocks) ASSERT_EQ(td::segment_map_lookup(p)->slab_for(p), s) << "one slab";
  s->remote_queued.store(true);  // the flag set, the push never made

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::thread other([&] {
      for (std::size_t i = 0; i < N / 2; ++i) (void)a.deallocate(blocks[i]);  // remote frees
    });
    other.join();
    // The owner collects them at its next slow path: allocate until it takes one.
    std::vector<void*> more;
    for (std::size_t i = 0; i < 8 * N; ++i) more.push_back(a.allocate(SIZE));
    SlabClassStats cs{};
    if (!slab_stats_class(a.c_allocator(), td::size_to_class(SIZE), &cs)) ::_exit(1);
    if (cs.remote_frees_collected_total < N / 2) ::_exit(2);
    ::_exit(a.check().ok ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "1: no statistics, 2: the remote frees were never collected, 3: check failed";
  s->remote_queued.store(false);  // the parent's slab as it was
  for (void* p : blocks) EXPECT_EQ(a.deallocate(p), tslab::Error::ok);
  EXPECT_TRUE(a.check().ok);
}

// A platform that parks one chosen thread inside its next reserve or commit
// (the first step of taking a new span) until the test lets it go.
class ParkingPlatform final : public tslab_test::ForwardingPlatform {
 public:
  static thread_local bool parks_here;  // set by the thread to be parked
  std::atomic<bool> armed{false}, parked{false}, released{false};

  void* reserve(std::size_t size, std::size_t alignment) noexcept override {
    park();
    return ForwardingPlatform::reserve(size, alignment);
  }
  bool commit(void* p, std::size_t size) noexcept override {
    park();
    return ForwardingPlatform::commit(p, size);
  }

 private:
  void park() {
    if (!parks_here || !armed.exchange(false)) return;
    parked.store(true);
    while (!released.load()) std::this_thread::yield();
  }
};
thread_local bool ParkingPlatform::parks_here = false;

ParkingPlatform* g_release_at_fork = nullptr;
void release_parked_at_fork() {
  if (ParkingPlatform* p = g_release_at_fork) p->released.store(true);
}

// A shared arena's growth takes its grow lock, then a chunk from the allocator.
// A thread parked there at the fork held the lock in the parent; the child,
// where that thread does not exist, must still be able to grow the arena.
// The parked thread is let go only once fork() has begun (by a fork handler
// registered after tslab's, so run before them): a fork that waits for the
// arena's lock lets it finish first, one that does not leaves the lock held.
TEST(MtFork, AChildGrowsASharedArenaAnotherThreadWasGrowingAtTheFork) {
  constexpr std::size_t MiB = std::size_t{1} << 20;
  ParkingPlatform platform;
  tslab::Options options;
  options.platform = &platform;
  tslab::Allocator alloc(options);
  SlabArenaOptions o;
  ASSERT_TRUE(slab_arena_options_init(&o));
  o.chunk_size = MiB;  // a span of its own: a new chunk reserves or commits
  o.overflow = TSLAB_ARENA_OVERFLOW_GROW;
  o.shared = true;
  SlabArena* arena = slab_arena_create(alloc.c_allocator(), &o);
  ASSERT_NE(arena, nullptr);
  static std::once_flag once;
  std::call_once(once, [] { ASSERT_EQ(pthread_atfork(release_parked_at_fork, nullptr, nullptr), 0); });
  g_release_at_fork = &platform;

  // The grower fills the first chunk, then parks inside taking the second. It
  // lives until the fork has returned: a thread that ended unjoined before the
  // fork is one the child would report as leaked under ThreadSanitizer.
  platform.armed.store(true);
  std::atomic<bool> forked{false};
  std::thread grower([&] {
    ParkingPlatform::parks_here = true;
    for (int i = 0; i < 40; ++i) ASSERT_NE(slab_arena_alloc(arena, 32 * 1024, 16), nullptr);
    while (!forked.load()) std::this_thread::yield();
  });
  while (!platform.parked.load()) std::this_thread::yield();

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(60);  // a hang is a failure (SIGALRM), never a stuck test
    // Two chunks' worth: at least one growth of the arena in the child.
    for (int i = 0; i < 64; ++i)
      if (slab_arena_alloc(arena, 32 * 1024, 16) == nullptr) ::_exit(1);
    if (!slab_arena_destroy(arena)) ::_exit(2);
    ::_exit(alloc.check().ok ? 0 : 3);
  }
  forked.store(true);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  grower.join();
  g_release_at_fork = nullptr;  // the handler stays installed for later forks
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status)
                                 << (WTERMSIG(status) == SIGALRM ? " (hung in the arena's growth)" : "");
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: allocation failed, 2: destroy failed, 3: check failed";
  EXPECT_TRUE(slab_arena_destroy(arena));
  EXPECT_TRUE(alloc.check().ok);
}

}  // namespace
