// This file contains the tests of real out-of-memory: each scenario runs in a
// forked child whose address space is capped (RLIMIT_AS, soft limit) a little
// above what it already uses, so the OS itself refuses tslab's reservations. The
// child reports a failure on stderr and through its exit status; the limit never
// reaches the test process. Under the cap, allocation of small blocks of several
// size classes, of large spans and from arenas runs until it returns NULL; then
// the error is TSLAB_ERR_OUT_OF_MEMORY, the invariant checker passes, every live
// block still holds its pattern, freed blocks can be allocated again, epochs
// advance and close and collect works, and once the cap is lifted every kind of
// allocation works again.
//
// The same is checked without a cap for arenas on the fault-injecting platform:
// a reserve refused in the middle of an arena workload loses nothing, and the
// arena grows again once the platform allows it.
//
// Sanitizers reserve terabytes of shadow memory, so under ASan or TSan the
// capped scenarios are skipped.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "capped_child.h"
#include "slab_alloc.h"
#include "slab_arena.h"
#include "test_util.h"
#include "tslab/arena.hpp"
#include "tslab/platform.hpp"
#include "tslab/tslab.hpp"

namespace {

using tslab_test::expect_capped_child_passes;
using tslab_test::lift_address_space_cap;

constexpr std::size_t KiB = 1024, MiB = KiB * KiB;
// Address space the child may add to what it uses when the cap is set.
constexpr std::size_t MARGIN = 64 * MiB;
// Room for the blocks a scenario keeps: far more than it gets before the cap
// refuses a new segment (a reaching of this bound fails the scenario).
constexpr std::size_t MAX_BLOCKS = std::size_t{1} << 20;

// Several small size classes and large spans (above 64 KiB).
constexpr std::size_t SIZES[] = {16, 48, 256, 1000, 4000, 16384, 20000, 65536, 70000, 300000, 4 * MiB};
constexpr std::size_t SIZE_COUNT = sizeof(SIZES) / sizeof(SIZES[0]);

struct LiveBlock {
  void* p;
  std::size_t size;
  std::uint64_t tag;
};

void check_allocator(const tslab::Allocator& alloc, const char* when) {
  const tslab::CheckReport report = alloc.check();
  CHILD_CHECK(report.ok, "%s: %s", when, report.message);
}

void check_patterns(const std::vector<LiveBlock>& live, const char* when) {
  for (const LiveBlock& b : live)
    CHILD_CHECK(tslab_test::check_pattern(b.p, b.size, b.tag), "%s: a block of %zu bytes lost its pattern",
                when, b.size);
}

// Allocates blocks of every size, round robin, each size until it returns NULL.
// Every NULL must be out of memory.
void fill_until_refused(tslab::Allocator& alloc, tslab::EpochId epoch, std::vector<LiveBlock>& live) {
  bool refused[SIZE_COUNT] = {};
  std::size_t open = SIZE_COUNT;
  for (std::uint64_t tag = 1; open > 0; ++tag) {
    const std::size_t i = tag % SIZE_COUNT;
    if (refused[i]) continue;
    void* p = alloc.allocate(SIZES[i], epoch);
    if (p == nullptr) {
      CHILD_CHECK(tslab::last_error() == tslab::Error::out_of_memory, "size %zu: %s", SIZES[i],
                  tslab::to_string(tslab::last_error()));
      refused[i] = true;
      --open;
      continue;
    }
    CHILD_CHECK(live.size() < MAX_BLOCKS, "size %zu never ran out of memory", SIZES[i]);
    tslab_test::fill_pattern(p, SIZES[i], tag);
    live.push_back({p, SIZES[i], tag});
  }
}

// Frees the newest block of each size, then allocates that size again: it must
// succeed although the cap still refuses new memory.
void free_and_allocate_again(tslab::Allocator& alloc, tslab::EpochId epoch, std::vector<LiveBlock>& live) {
  for (std::size_t size : SIZES) {
    std::size_t at = live.size();
    while (at > 0 && live[at - 1].size != size) --at;
    CHILD_CHECK(at > 0, "no live block of %zu bytes", size);
    LiveBlock& b = live[at - 1];
    CHILD_CHECK(alloc.deallocate(b.p) == tslab::Error::ok, "free of %zu bytes", size);
    b.p = alloc.allocate(size, epoch);
    CHILD_CHECK(b.p != nullptr, "%zu bytes after a free of that size: %s", size,
                tslab::to_string(tslab::last_error()));
    tslab_test::fill_pattern(b.p, b.size, b.tag);
  }
}

void free_all(tslab::Allocator& alloc, std::vector<LiveBlock>& live) {
  for (const LiveBlock& b : live)
    CHILD_CHECK(alloc.deallocate(b.p) == tslab::Error::ok, "free of %zu", b.size);
  live.clear();
}

// Every size, and a block far larger than the cap allowed, in a fresh epoch.
void allocate_every_size(tslab::Allocator& alloc, tslab::EpochId epoch) {
  for (std::size_t size : SIZES) {
    void* p = alloc.allocate(size, epoch);
    CHILD_CHECK(p != nullptr, "%zu bytes with the cap lifted: %s", size,
                tslab::to_string(tslab::last_error()));
    std::memset(p, 0x3C, size);
    CHILD_CHECK(alloc.deallocate(p) == tslab::Error::ok, "free of %zu", size);
  }
  void* big = alloc.allocate(4 * MARGIN, epoch);
  CHILD_CHECK(big != nullptr, "%zu bytes with the cap lifted", 4 * MARGIN);
  CHILD_CHECK(alloc.deallocate(big) == tslab::Error::ok, "free of the big block");
}

void blocks_under_the_cap() {
  tslab::Allocator alloc;
  std::vector<LiveBlock> live;
  live.reserve(MAX_BLOCKS);
  const tslab::EpochId epoch = alloc.epoch_current();
  tslab_test::cap_address_space(MARGIN);

  fill_until_refused(alloc, epoch, live);
  check_allocator(alloc, "after running out");
  check_patterns(live, "after running out");
  free_and_allocate_again(alloc, epoch, live);
  check_allocator(alloc, "after freeing and allocating again");
  check_patterns(live, "after freeing and allocating again");

  lift_address_space_cap();
  allocate_every_size(alloc, alloc.epoch_current());
  check_patterns(live, "after the cap was lifted");
  free_all(alloc, live);
  check_allocator(alloc, "at the end");
}

// Advance, close and collect need no new memory; a closed epoch's memory serves
// the next epoch once freed, still under the cap.
void epochs_under_the_cap() {
  tslab::Allocator alloc;
  std::vector<LiveBlock> live;
  live.reserve(MAX_BLOCKS);
  // Reserved before the cap: once tslab filled the address space, no other
  // allocator in the process has any left.
  std::vector<LiveBlock> kept;
  kept.reserve(MAX_BLOCKS);
  const tslab::EpochId first = alloc.epoch_current();
  tslab_test::cap_address_space(MARGIN);

  fill_until_refused(alloc, first, live);
  const tslab::EpochId next = alloc.epoch_advance();
  CHILD_CHECK(next != first, "epoch_advance did not move");
  CHILD_CHECK(alloc.epoch_state(first) == tslab::EpochState::closing, "the advanced epoch is not closing");
  CHILD_CHECK(alloc.epoch_close(next + 1) == tslab::Error::ok, "epoch_close: %s",
              tslab::to_string(tslab::last_error()));
  check_allocator(alloc, "after advance and close");
  check_patterns(live, "after advance and close");

  // Half the blocks go; what the closed epoch's slabs and spans held serves the next one.
  for (std::size_t i = 0; i < live.size(); ++i) {
    if (i % 2 == 0) kept.push_back(live[i]);
    if (i % 2 == 1) CHILD_CHECK(alloc.deallocate(live[i].p) == tslab::Error::ok, "free of %zu", live[i].size);
  }
  live.clear();
  (void)alloc.collect();
  check_allocator(alloc, "after collect");
  check_patterns(kept, "after collect");
  free_all(alloc, kept);
  (void)alloc.collect();
  check_allocator(alloc, "after freeing everything");
  for (std::size_t size : SIZES) {
    void* p = alloc.allocate(size, next);
    CHILD_CHECK(p != nullptr, "%zu bytes in the next epoch after the first was freed: %s", size,
                tslab::to_string(tslab::last_error()));
    live.push_back({p, size, size});
    tslab_test::fill_pattern(p, size, size);
  }
  check_patterns(live, "in the next epoch");

  lift_address_space_cap();
  allocate_every_size(alloc, alloc.epoch_advance());
  free_all(alloc, live);
  check_allocator(alloc, "at the end");
}

// --- arenas ------------------------------------------------------------------------

constexpr std::size_t ARENA_CHUNK = MiB;
constexpr std::size_t ARENA_BLOCK = 1000;
constexpr std::size_t ARENA_DEDICATED_BLOCK = 300000;  // above a quarter chunk: a chunk of its own

SlabArenaOptions arena_options(TslabArenaOverflow overflow) {
  SlabArenaOptions o{};
  o.chunk_size = ARENA_CHUNK;
  o.overflow = overflow;
  o.zero_on_reset = true;
  o.epoch = SLAB_ARENA_CURRENT_EPOCH;
  return o;
}

void check_slab_allocator(SlabAllocator* alloc, const char* when) {
  char message[256] = {};
  CHILD_CHECK(slab_check(alloc, message, sizeof message), "%s: %s", when, message);
}

// Allocates from `arena` (every 50th block a dedicated chunk) until it returns
// NULL, which must be out of memory. Returns the blocks obtained.
std::size_t fill_arena_until_refused(SlabArena* arena, std::vector<LiveBlock>& live,
                                     std::uint64_t first_tag) {
  for (std::uint64_t tag = first_tag;; ++tag) {
    const std::size_t size = tag % 50 == 0 ? ARENA_DEDICATED_BLOCK : ARENA_BLOCK;
    void* p = slab_arena_alloc(arena, size, 16);
    if (p == nullptr) {
      CHILD_CHECK(slab_last_error() == TSLAB_ERR_OUT_OF_MEMORY, "arena block of %zu: %s", size,
                  slab_error_string(slab_last_error()));
      return tag - first_tag;
    }
    CHILD_CHECK(live.size() < MAX_BLOCKS, "the arena never ran out of memory");
    tslab_test::fill_pattern(p, size, tag);
    live.push_back({p, size, tag});
  }
}

// Creates arenas until creation returns NULL (out of memory), then destroys them.
void create_arenas_until_refused(SlabAllocator* alloc) {
  std::vector<SlabArena*> arenas;
  arenas.reserve(4096);
  const SlabArenaOptions o = arena_options(TSLAB_ARENA_OVERFLOW_GROW);
  for (;;) {
    SlabArena* a = slab_arena_create(alloc, &o);
    if (a == nullptr) break;
    CHILD_CHECK(arenas.size() < 4096, "arena creation never ran out of memory");
    arenas.push_back(a);
  }
  CHILD_CHECK(slab_last_error() == TSLAB_ERR_OUT_OF_MEMORY, "arena creation: %s",
              slab_error_string(slab_last_error()));
  for (SlabArena* a : arenas)
    CHILD_CHECK(slab_arena_destroy(a), "destroy: %s", slab_error_string(slab_last_error()));
}

void arenas_under_the_cap() {
  SlabAllocator* alloc = slab_allocator_create();
  CHILD_CHECK(alloc != nullptr, "no allocator");
  const SlabArenaOptions o = arena_options(TSLAB_ARENA_OVERFLOW_GROW);
  SlabArena* arena = slab_arena_create(alloc, &o);
  CHILD_CHECK(arena != nullptr, "no arena");
  std::vector<LiveBlock> live;
  live.reserve(MAX_BLOCKS);
  tslab_test::cap_address_space(MARGIN);

  const std::size_t first_fill = fill_arena_until_refused(arena, live, 1);
  CHILD_CHECK(first_fill > ARENA_CHUNK / ARENA_BLOCK, "only %zu blocks before running out", first_fill);
  check_slab_allocator(alloc, "after the arena ran out");
  check_patterns(live, "after the arena ran out");
  create_arenas_until_refused(alloc);
  check_slab_allocator(alloc, "after creating arenas until refused");
  check_patterns(live, "after creating arenas until refused");

  // Reset gives the chunks back to the allocator, which serves them to the arena
  // again, still under the cap: it fills as far as the first time.
  CHILD_CHECK(slab_arena_reset(arena), "reset: %s", slab_error_string(slab_last_error()));
  live.clear();
  const std::size_t second_fill = fill_arena_until_refused(arena, live, 1);
  CHILD_CHECK(second_fill >= first_fill, "%zu blocks after reset, %zu before", second_fill, first_fill);
  check_slab_allocator(alloc, "after reset and refill");

  // An epoch arena frees its chunks and closes its epoch under the cap.
  SlabArenaOptions epoch_arena = arena_options(TSLAB_ARENA_OVERFLOW_GROW);
  epoch_arena.epoch = 3;
  epoch_arena.close_epoch = true;
  CHILD_CHECK(slab_arena_destroy(arena), "destroy: %s", slab_error_string(slab_last_error()));
  SlabArena* closing = slab_arena_create(alloc, &epoch_arena);
  CHILD_CHECK(closing != nullptr, "epoch arena after a destroy: %s", slab_error_string(slab_last_error()));
  live.clear();
  fill_arena_until_refused(closing, live, 1);
  CHILD_CHECK(slab_arena_destroy(closing), "epoch arena destroy: %s", slab_error_string(slab_last_error()));
  CHILD_CHECK(slab_epoch_state(alloc, 3) == EPOCH_CLOSING, "the epoch arena's epoch is open");
  (void)slab_collect(alloc);
  check_slab_allocator(alloc, "after the epoch arena closed");

  lift_address_space_cap();
  arena = slab_arena_create(alloc, &o);
  CHILD_CHECK(arena != nullptr, "arena with the cap lifted: %s", slab_error_string(slab_last_error()));
  for (std::size_t done = 0; done < 4 * MARGIN; done += ARENA_DEDICATED_BLOCK)
    CHILD_CHECK(slab_arena_alloc(arena, ARENA_DEDICATED_BLOCK, 16) != nullptr,
                "arena block with the cap lifted");
  CHILD_CHECK(slab_arena_destroy(arena), "destroy: %s", slab_error_string(slab_last_error()));
  check_slab_allocator(alloc, "at the end");
  slab_allocator_free(alloc);
}

// --- arenas on the fault-injecting platform ----------------------------------------

// An arena workload on `fip` whose platform starts refusing after `budget` more
// reserve/commit calls, part way through: every failure is out of memory, nothing
// allocated is lost, and the arena works again once the platform allows it.
void refusal_in_the_middle_of_an_arena_workload(TslabArenaOverflow overflow, std::int64_t budget) {
  SCOPED_TRACE(testing::Message() << "overflow " << overflow << ", budget " << budget);
  tslab::FaultInjectingPlatform fip(tslab::OsPlatform::instance());
  tslab::Options options;
  options.platform = &fip;
  tslab::Allocator alloc(options);
  SlabArenaOptions o = arena_options(overflow);
  o.chunk_size = 64 * KiB;
  tslab::Arena arena(alloc, o);
  ASSERT_TRUE(arena.ok());
  std::vector<LiveBlock> live;
  std::uint64_t tag = 1;
  auto allocate_one = [&]() {
    const std::size_t size = tag % 10 == 0 ? 100000 : 700;  // 100000: a chunk or block of its own
    void* p = arena.allocate(size, 16);
    if (p != nullptr) {
      tslab_test::fill_pattern(p, size, tag);
      live.push_back({p, size, tag});
    }
    ++tag;
    return p != nullptr;
  };
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(allocate_one()) << "before any refusal";

  fip.refuse_after(budget);
  int refused = 0;
  for (int i = 0; i < 20000 && refused < 50; ++i) {
    if (allocate_one()) continue;
    ASSERT_EQ(tslab::last_error(), tslab::Error::out_of_memory);
    ++refused;
  }
  EXPECT_EQ(refused, 50) << "the arena never ran out although the platform refused";
  EXPECT_GT(fip.refusals(), 0u);
  EXPECT_ALLOCATOR_OK(alloc);
  for (const LiveBlock& b : live) ASSERT_TRUE(tslab_test::check_pattern(b.p, b.size, b.tag)) << b.size;

  fip.reset();
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(allocate_one()) << "after the platform allowed memory again";
  for (const LiveBlock& b : live) ASSERT_TRUE(tslab_test::check_pattern(b.p, b.size, b.tag)) << b.size;
  EXPECT_ALLOCATOR_OK(alloc);
  ASSERT_EQ(arena.reset(), tslab::Error::ok);
  EXPECT_ALLOCATOR_OK(alloc);
}

}  // namespace

TEST(OutOfMemory, ArenaRecoversFromARefusalInTheMiddleOfAWorkload) {
  for (TslabArenaOverflow overflow : {TSLAB_ARENA_OVERFLOW_GROW, TSLAB_ARENA_OVERFLOW_FALLBACK})
    for (std::int64_t budget : {0, 1, 2, 3, 5, 8}) {
      refusal_in_the_middle_of_an_arena_workload(overflow, budget);
      if (HasFatalFailure()) return;
    }
}

TEST(OutOfMemory, BlocksOfEverySizeUnderAnAddressSpaceCap) {
  expect_capped_child_passes(blocks_under_the_cap);
}

TEST(OutOfMemory, EpochsAdvanceCloseAndCollectUnderAnAddressSpaceCap) {
  expect_capped_child_passes(epochs_under_the_cap);
}

TEST(OutOfMemory, ArenasUnderAnAddressSpaceCap) { expect_capped_child_passes(arenas_under_the_cap); }

// Out of mappings (vm.max_map_count), unmapping part of a mapping fails: it would
// split the mapping in two. Spans lie side by side in merged mappings, so the
// cache's release of one in the middle does just that; its pages must still go
// back to the OS (the range stays reserved), the neighbours' bytes untouched.
TEST(OutOfMemory, ARangeThatCannotBeUnmappedStillGivesItsPagesBack) {
#ifdef TSLAB_CAPPED_CHILD_SANITIZED
  GTEST_SKIP() << "the sanitizer's own mappings need room the test takes away";
#endif
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    tslab::OsPlatform& os = tslab::OsPlatform::instance();
    const std::size_t page = os.page_size();
    auto* three = static_cast<unsigned char*>(
        ::mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (three == MAP_FAILED) ::_exit(2);
    std::memset(three, 0x5a, 3 * page);
    // Single pages of alternating protection: they never merge, one mapping each.
    std::size_t taken = 0;
    for (; taken < 4'000'000; ++taken) {
      const int protection = taken % 2 == 0 ? PROT_READ : PROT_NONE;
      if (::mmap(nullptr, page, protection, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) break;
    }
    if (taken == 4'000'000) ::_exit(77);                 // a limit too high to reach here
    if (::munmap(three + page, page) == 0) ::_exit(77);  // the kernel split it anyway
    os.release(three + page, page);
    unsigned char resident = 1;
    if (::mincore(three + page, page, &resident) != 0) ::_exit(3);
    if ((resident & 1) != 0) ::_exit(4);  // the page was not given back
    if (three[0] != 0x5a || three[3 * page - 1] != 0x5a) ::_exit(5);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "the mapping limit could not be reached";
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "3: mincore failed, 4: the page stayed resident, 5: neighbours changed";
}
