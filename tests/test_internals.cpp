// Unit tests of internal building blocks: size-class arithmetic, the slot
// reciprocal, the handle layout, the segment map and the epoch ring.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "epoch/epoch_ring.h"
#include "handle/handle.h"
#include "platform/mutex.h"
#include "platform/sanitizers.h"
#include "platform/thread_entry.h"
#include "segment/meta_arena.h"
#include "segment/segment_map.h"
#include "segment/slab.h"
#include "size_class/size_classes.h"
#include "slab_alloc.h"
#include "tslab/platform.hpp"
#include "tslab/tslab.hpp"

namespace td = tslab::detail;

// A fork holds every tslab lock at once: one per live shared arena and four
// per live allocator, so hundreds in a large program. The thread stays marked
// inside tslab while it holds any (a signal handler's malloc then keeps out of
// the core, whose locks are its own), however many: the mark is a count that
// must not wrap back to "outside".
TEST(ThreadEntry, AThreadHoldingHundredsOfLocksStaysInsideTslab) {
  namespace td = tslab::detail;
  static std::array<td::Mutex, 600> locks;
  ASSERT_FALSE(td::thread_inside_tslab());
  std::size_t outside_while_held = 0;
  for (td::Mutex& m : locks) {
    m.lock();
    outside_while_held += td::thread_inside_tslab() ? 0 : 1;
  }
  for (std::size_t i = locks.size(); i-- > 0;) {
    outside_while_held += td::thread_inside_tslab() ? 0 : 1;
    locks[i].unlock();
  }
  EXPECT_EQ(outside_while_held, 0u);
  EXPECT_FALSE(td::thread_inside_tslab());
  EXPECT_FALSE(td::thread_holds_tslab_lock());
}

TEST(SizeClasses, EverySizeMapsToTheSmallestFittingClass) {
  for (std::size_t size = 1; size <= td::MAX_SMALL_SIZE; ++size) {
    const std::uint32_t cls = td::class_of_size(size);
    ASSERT_LT(cls, td::NUM_CLASSES) << size;
    ASSERT_GE(td::class_block_size(cls), size) << size;
    if (cls > 0) {
      ASSERT_LT(td::class_block_size(cls - 1), size) << size;
    }
    ASSERT_EQ(td::size_to_class(size), cls) << "fast-path table disagrees at " << size;
  }
}

TEST(SizeClasses, ClassSizesAreIncreasingMultiplesOf16) {
  for (std::uint32_t cls = 0; cls < td::NUM_CLASSES; ++cls) {
    EXPECT_EQ(td::class_block_size(cls) % 16, 0u) << cls;
    if (cls > 0) {
      EXPECT_GT(td::class_block_size(cls), td::class_block_size(cls - 1));
    }
    // Above 16 KiB a slab holds 3, 2 or 1 blocks.
    EXPECT_GE(td::class_capacity(cls), td::class_block_size(cls) <= 16384 ? 4u : 1u);
  }
}

TEST(SizeClasses, SlotReciprocalIsExactForEveryOffsetOfEveryClass) {
  for (std::uint32_t cls = 0; cls < td::NUM_CLASSES; ++cls) {
    const std::uint32_t size = td::class_block_size(cls);
    for (std::size_t offset = 0; offset < td::SLAB_SIZE; ++offset)
      ASSERT_EQ(td::slot_in_class(offset, cls), offset / size) << "class " << cls << " offset " << offset;
  }
}

// The free fast path's test of a block start (Slab::starts_block) against the
// division it replaces, with the slot it yields, for every offset of every class.
TEST(SizeClasses, SlotProductTellsBlockStartsExactly) {
  for (std::uint32_t cls = 0; cls < td::NUM_CLASSES; ++cls) {
    td::Slab s;
    s.obj_size = td::class_block_size(cls);
    s.magic = td::class_magic(cls);
    for (std::size_t offset = 0; offset < td::SLAB_SIZE; ++offset) {
      const std::uint64_t product = s.slot_product(offset);
      ASSERT_EQ(s.starts_block(product), offset % s.obj_size == 0) << "class " << cls << " offset " << offset;
      ASSERT_EQ(td::Slab::slot_of_product(product), offset / s.obj_size)
          << "class " << cls << " offset " << offset;
    }
  }
}

// Slab::free_pages reads the bitmap a word at a time: the same pages as a test
// of every slot (the definition), for every class, with random live, remote and
// purged bits and every kind of carved extent.
TEST(SizeClasses, FreePagesAgreeWithASlotBySlotTest) {
  std::uint64_t rng = 0x9e3779b97f4a7c15ull;
  const auto next = [&rng] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  for (std::uint32_t cls = 0; cls < td::NUM_CLASSES; ++cls) {
    td::Slab s;
    s.obj_size = td::class_block_size(cls);
    s.magic = td::class_magic(cls);
    s.capacity = td::class_capacity(cls);
    for (int round = 0; round < 64; ++round) {
      const std::uint32_t carved =
          round == 0 ? s.capacity : static_cast<std::uint32_t>(next() % (s.capacity + 1));
      s.carved.store(carved, std::memory_order_relaxed);
      s.purged_pages.store(static_cast<std::uint16_t>(round % 3 == 0 ? next() : 0),
                           std::memory_order_relaxed);
      // Sparse bits: most pages of small classes then hold no live block.
      const int density = round % 4;
      for (std::uint32_t w = 0; w < td::BITMAP_WORDS; ++w) {
        std::uint64_t a = next(), r = next();
        for (int k = 0; k < density; ++k) a &= next(), r &= next();
        const std::uint64_t in_slab = w * 64 >= carved        ? 0
                                      : carved - w * 64 >= 64 ? ~0ull
                                                              : (1ull << (carved - w * 64)) - 1;
        s.bits[w].allocated.store(a & in_slab, std::memory_order_relaxed);
        s.bits[w].remote.store(r & a & in_slab, std::memory_order_relaxed);
      }
      for (const bool remote_freed_dead : {false, true}) {
        std::uint16_t expected = 0;
        for (std::uint32_t page = 0; page < 16; ++page) {
          const std::uint32_t first = s.first_slot_of_page(page);
          if (first >= carved || (s.purged_pages.load() & (1u << page))) continue;
          const std::uint32_t last = std::min(s.last_slot_of_page(page), carved - 1);
          bool free = true;
          for (std::uint32_t slot = first; slot <= last; ++slot) {
            const std::uint64_t a = s.bits[slot >> 6].allocated.load(), r = s.bits[slot >> 6].remote.load();
            if (((remote_freed_dead ? a & ~r : a | r) >> (slot & 63)) & 1) free = false;
          }
          if (free) expected = static_cast<std::uint16_t>(expected | (1u << page));
        }
        ASSERT_EQ(s.free_pages(remote_freed_dead), expected)
            << "class " << cls << " round " << round << " remote_freed_dead " << remote_freed_dead;
      }
    }
  }
}

TEST(Handles, EncodeDecodeRoundTripsAtTheFieldLimits) {
  const std::uint32_t gens[] = {0, 1, td::HANDLE_GEN_MASK};
  const std::uint32_t ids[] = {1, 12345, td::MAX_SLAB_IDS - 1};
  const std::uint32_t slots[] = {0, 1, 4095};
  for (auto gen : gens)
    for (auto id : ids)
      for (auto slot : slots) {
        const std::uint64_t h = td::handle_encode(gen, id, slot);
        EXPECT_NE(h, 0u);
        const td::HandleParts p = td::handle_decode(h);
        EXPECT_EQ(p.generation, gen);
        EXPECT_EQ(p.slab_id, id);
        EXPECT_EQ(p.slot, slot);
      }
  // Every slot of the smallest class fits the slot field.
  EXPECT_EQ(td::MAX_SLOTS, std::size_t{1} << td::HANDLE_SLOT_BITS);
}

// A small segment's map entries are its slabs' metadata: from any address in a
// slab, small_slab_of and the header's own slab agree, for every slab of the
// segment, at the slab's first and last byte.
TEST(SegmentMap, ASmallSegmentsEntriesNameItsSlabs) {
  tslab::Allocator alloc;
  // One block in each of many slabs: 64 KiB blocks of a size class fill one slab each.
  std::vector<void*> blocks;
  for (int i = 0; i < 80; ++i) {
    blocks.push_back(alloc.allocate(40000));
    ASSERT_NE(blocks.back(), nullptr);
  }
  std::size_t slabs_seen = 0;
  for (void* p : blocks) {
    td::SegmentHeader* seg = td::segment_map_lookup(p);
    ASSERT_NE(seg, nullptr);
    ASSERT_EQ(seg->kind, td::SlabKind::small);
    td::Slab* s = td::small_slab_of(p);
    ASSERT_EQ(s, seg->slab_for(p));
    ASSERT_EQ(s, &seg->slabs[td::small_slab_index(p)]);
    const auto first = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(p) & ~(td::SLAB_SIZE - 1));
    EXPECT_EQ(s->start, first);
    EXPECT_EQ(td::small_slab_of(first), s);
    EXPECT_EQ(td::small_slab_of(first + td::SLAB_SIZE - 1), s);
    EXPECT_EQ(td::segment_map_lookup(first + td::SLAB_SIZE - 1), seg);
    EXPECT_EQ(td::segment_map_lookup_pinned(first), seg);
    ++slabs_seen;
  }
  EXPECT_EQ(slabs_seen, blocks.size());
  for (void* p : blocks) EXPECT_EQ(alloc.deallocate(p), tslab::Error::ok);
}

TEST(SegmentMap, RecognisesOnlyRegisteredGranulesAndRejectsWildAddresses) {
  tslab::Allocator alloc;  // makes sure the map exists
  void* p = alloc.allocate(64);
  ASSERT_NE(p, nullptr);
  EXPECT_NE(td::segment_map_lookup(p), nullptr);
  EXPECT_NE(td::small_slab_of(p), nullptr);
  int on_stack = 0;
  EXPECT_EQ(td::segment_map_lookup(&on_stack), nullptr);
  EXPECT_EQ(td::segment_map_lookup(reinterpret_cast<void*>(~std::uintptr_t{0})), nullptr);
  EXPECT_EQ(td::segment_map_lookup(reinterpret_cast<void*>(std::uintptr_t{1} << 47)), nullptr);
  void* big = alloc.allocate(1 << 20);
  ASSERT_NE(big, nullptr);
  EXPECT_NE(td::segment_map_lookup(big), nullptr);
  EXPECT_EQ(td::small_slab_of(big), nullptr) << "a large span must not be read as a small segment";
  EXPECT_EQ(alloc.deallocate(big), tslab::Error::ok);
  EXPECT_EQ(alloc.deallocate(p), tslab::Error::ok);
}

// A ring with its tables in zeroed memory of its own, as an allocator's record
// gives them (EpochRing's tail).
struct RingWithTail {
  explicit RingWithTail(std::uint32_t count, bool first_permanent = false)
      : tail(new (
            std::align_val_t{td::ZeroedTail::MAX_ALIGN}) unsigned char[td::EpochRing::tail_bytes(count)]()),
        ring(count, first_permanent, tail.get()) {}
  struct Delete {
    void operator()(unsigned char* p) const {
      ::operator delete[](p, std::align_val_t{td::ZeroedTail::MAX_ALIGN});
    }
  };
  std::unique_ptr<unsigned char[], Delete> tail;
  td::EpochRing ring;
};

// Held slots across thousands of wraps: the rotation never lands on one, never
// changes its era, and closing one puts it back in the rotation.
TEST(EpochRing, RotationSkipsHeldSlotsAcrossWraps) {
  RingWithTail ring_tail(5);
  td::EpochRing& ring = ring_tail.ring;
  std::uint64_t ended = 0;
  const std::uint32_t a = ring.open_held(&ended);
  ASSERT_LT(a, 5u);
  EXPECT_EQ(a, 4u) << "the slot the rotation reaches last";
  EXPECT_NE(ended, 0u) << "a fresh ring's slots are all open: the previous activation ended";
  const std::uint32_t b = ring.open_held(&ended);
  EXPECT_EQ(b, 3u);
  const std::uint64_t era_a = ring.era(a), era_b = ring.era(b);
  std::uint64_t closed = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::uint32_t before = ring.current();
    const std::uint32_t next = ring.advance(&closed);
    EXPECT_NE(next, a);
    EXPECT_NE(next, b);
    EXPECT_EQ(next, (before + 1) % 3);
    EXPECT_EQ(ring.state(before), EPOCH_CLOSING);
    ASSERT_EQ(ring.era(a), era_a);
    ASSERT_EQ(ring.era(b), era_b);
    ASSERT_EQ(ring.state(a), EPOCH_ACTIVE);
    ASSERT_TRUE(ring.held(a) && ring.held(b));
  }
  ring.close(a);
  EXPECT_FALSE(ring.held(a));
  EXPECT_EQ(ring.state(a), EPOCH_CLOSING);
  bool reached = false;
  for (int i = 0; i < 5; ++i) reached = reached || ring.advance(&closed) == a;
  EXPECT_TRUE(reached) << "a closed held slot rejoins the rotation";
}

// A domain count at its maximum refuses the next hold instead of wrapping to 0
// (which would read as "nobody holds the slot" and let a close through).
TEST(EpochRing, ARefcountAtItsMaximumRefusesAnotherHold) {
  RingWithTail ring_tail(2);
  td::EpochRing& ring = ring_tail.ring;
  ring.set_refcount_for_test(1, UINT32_MAX - 1);
  EXPECT_EQ(ring.inc_refcount(1), UINT32_MAX);
  EXPECT_EQ(ring.inc_refcount(1), 0u) << "refused";
  EXPECT_EQ(ring.refcount(1), UINT32_MAX);
  EXPECT_EQ(ring.dec_refcount(1), UINT32_MAX - 1);
}

// Eras are unique in the process: two rings (two allocators) never share one.
TEST(EpochRing, TwoRingsNeverShareAnEra) {
  RingWithTail first_tail(4);
  td::EpochRing& first = first_tail.ring;
  RingWithTail second_tail(4);
  td::EpochRing& second = second_tail.ring;
  std::uint64_t closed = 0;
  for (int i = 0; i < 10; ++i) second.advance(&closed);
  for (std::uint32_t e = 0; e < 4; ++e)
    for (std::uint32_t f = 0; f < 4; ++f) EXPECT_NE(first.era(e), second.era(f)) << e << " " << f;
}

// Every slot but the current one held: nothing more can be opened, and the
// rotation re-activates the current slot with a new era each time.
TEST(EpochRing, AllButCurrentHeldRotatesInPlace) {
  RingWithTail ring_tail(3);
  td::EpochRing& ring = ring_tail.ring;
  std::uint64_t ended = 0, closed = 0;
  ASSERT_LT(ring.open_held(&ended), 3u);
  ASSERT_LT(ring.open_held(&ended), 3u);
  EXPECT_EQ(ring.open_held(&ended), 3u);
  const std::uint32_t cur = ring.current();
  const std::uint64_t era = ring.era(cur);
  const std::uint64_t closes = ring.close_count();
  EXPECT_EQ(ring.advance(&closed), cur);
  EXPECT_EQ(closed, era);
  EXPECT_GT(ring.era(cur), era);
  EXPECT_EQ(ring.state(cur), EPOCH_ACTIVE);
  EXPECT_GT(ring.close_count(), closes);
}

// A permanent slot 0 (the process allocator's): held from creation, never closed
// by the rotation across wraps, its era never changes; advancing while it is
// current reports no ended era and moves to the next free slot.
TEST(EpochRing, PermanentSlotZeroIsNeverClosedByTheRotation) {
  RingWithTail ring_tail(4, true);
  td::EpochRing& ring = ring_tail.ring;
  EXPECT_TRUE(ring.permanent(0));
  EXPECT_FALSE(ring.permanent(1));
  EXPECT_TRUE(ring.held(0));
  ASSERT_EQ(ring.current(), 0u);
  const std::uint64_t era0 = ring.era(0);
  std::uint64_t closed = 123;
  const std::uint32_t next = ring.advance(&closed);
  EXPECT_EQ(closed, 0u) << "advancing off the permanent slot ends no activation";
  EXPECT_NE(next, 0u);
  EXPECT_EQ(ring.state(0), EPOCH_ACTIVE);
  for (int i = 0; i < 3000; ++i) {
    const std::uint32_t n = ring.advance(&closed);
    ASSERT_NE(n, 0u);
    ASSERT_NE(closed, era0);
    ASSERT_EQ(ring.era(0), era0);
    ASSERT_EQ(ring.state(0), EPOCH_ACTIVE);
  }
  std::uint64_t ended = 0;
  EXPECT_NE(ring.open_held(&ended), 0u) << "a held open never takes the permanent slot";

  RingWithTail alone_tail(1, true);
  td::EpochRing& alone = alone_tail.ring;  // nothing to move to: stays put, still ACTIVE
  const std::uint64_t era = alone.era(0);
  EXPECT_EQ(alone.advance(&closed), 0u);
  EXPECT_EQ(closed, 0u);
  EXPECT_EQ(alone.era(0), era);
  EXPECT_EQ(alone.state(0), EPOCH_ACTIVE);
}

// A closed slot is preferred over one whose activation is still open.
TEST(EpochRing, OpenPrefersAClosingSlot) {
  RingWithTail ring_tail(4);
  td::EpochRing& ring = ring_tail.ring;
  std::uint64_t closed = 0, ended = 0;
  ring.advance(&closed);  // 0 closes, 1 current; 2 and 3 still open from creation
  const std::uint64_t era3 = ring.era(3);
  EXPECT_EQ(ring.open_held(&ended), 0u);
  EXPECT_EQ(ended, 0u);
  EXPECT_EQ(ring.era(3), era3);
}

TEST(EpochRing, ErasAreMonotonicAcrossThousandsOfWraps) {
  RingWithTail ring_tail(4);
  td::EpochRing& ring = ring_tail.ring;
  std::uint64_t last = 0;
  for (std::uint32_t e = 0; e < 4; ++e) {
    EXPECT_GT(ring.era(e), last);
    last = ring.era(e);
  }
  for (int i = 0; i < 5000; ++i) {
    const std::uint32_t before = ring.current();
    const std::uint64_t before_era = ring.era(before);
    std::uint64_t closed = 0;
    const std::uint32_t next = ring.advance(&closed);
    EXPECT_EQ(closed, before_era);
    EXPECT_EQ(next, (before + 1) % 4);
    EXPECT_EQ(ring.state(before), EPOCH_CLOSING);
    EXPECT_EQ(ring.state(next), EPOCH_ACTIVE);
    EXPECT_GT(ring.era(next), last);
    last = ring.era(next);
    EXPECT_EQ(ring.open_era(next), ring.era(next));
    EXPECT_EQ(ring.open_era(before), 0u);
  }
}

// An ended allocator's metadata chunks stay readable (zero), and only an arena of
// an allocator made after the end takes one: an older allocator, whose calls may
// still hold an entry of the ended one, never finds its own metadata there.
TEST(MetaArena, AChunkBuriedAtAnAllocatorsEndIsTakenOnlyByAllocatorsMadeAfter) {
  if (TSLAB_THREAD_SANITIZER) GTEST_SKIP() << "ThreadSanitizer builds never take a buried chunk";
  tslab::Platform& os = tslab::OsPlatform::instance();
  constexpr std::uint64_t LATER = std::uint64_t{1} << 62;  // above every real allocator's id
  const std::size_t buried_at_start = td::MetaArena::buried_chunks();
  volatile char* kept = nullptr;
  {
    td::MetaArena ended(os, 0);  // takes no buried chunk: its own is fresh
    auto* p = static_cast<char*>(ended.allocate(100));
    ASSERT_NE(p, nullptr);
    p[0] = 1;
    ended.bury(LATER);
    kept = p;
  }
  EXPECT_EQ(td::MetaArena::buried_chunks(), buried_at_start + 1);
  EXPECT_EQ(kept[0], 0) << "readable after the end, and zero";
  {
    // Id 0: made before every burial, so it takes none, this one included.
    td::MetaArena older(os, 0);
    ASSERT_NE(older.allocate(100), nullptr);
    EXPECT_EQ(td::MetaArena::buried_chunks(), buried_at_start + 1);
  }
  {
    td::MetaArena newer(os, LATER);
    auto* p = static_cast<char*>(newer.allocate(100));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p[0], 0) << "a buried chunk reads as fresh memory";
    EXPECT_EQ(td::MetaArena::buried_chunks(), buried_at_start) << "it took one";
  }
}

// Allocators made and ended in a loop take the chunks the earlier ones left:
// what stays buried does not grow with the loop.
TEST(MetaArena, AllocatorsMadeAndEndedInALoopReuseTheBuriedChunks) {
  if (TSLAB_THREAD_SANITIZER) GTEST_SKIP() << "ThreadSanitizer builds never take a buried chunk";
  for (int i = 0; i < 64; ++i) slab_allocator_free(slab_allocator_create());
  const std::size_t settled = td::MetaArena::buried_chunks();
  for (int i = 0; i < 500; ++i) {
    SlabAllocator* a = slab_allocator_create();
    ASSERT_NE(a, nullptr);
    ASSERT_NE(slab_malloc_epoch(a, 64, 0), nullptr);
    slab_allocator_free(a);
  }
  EXPECT_LE(td::MetaArena::buried_chunks(), settled + 2);
}
