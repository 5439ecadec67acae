// This file contains Heap, one thread's allocation state in one allocator.
//
// For every (epoch slot, size class) a heap has a bin. The hot half is what the
// fast paths touch: a free list of blocks of that bin — across all the bin's
// slabs — and the era those slabs belong to. The cold half lists the bin's slabs
// and the one still being carved. Only the owning thread touches a heap, except
// for its remote queue: threads freeing blocks of the heap's slabs mark them in
// the slab's remote bitmap and queue the slab here once; the owner collects on
// its slow path.
//
// A heap is owned by one thread at a time. When that thread exits the heap is
// abandoned to the allocator, slabs, blocks and handles intact, and the next
// thread to use the allocator adopts it.
#ifndef TSLAB_HEAP_HEAP_H
#define TSLAB_HEAP_HEAP_H

#include <atomic>
#include <bit>
#include <cstdint>
#include <iterator>
#include <type_traits>

#include "heap/free_result.h"
#include "heap/slab_list.h"
#include "platform/sanitizers.h"
#include "platform/thread_entry.h"
#include "segment/meta_arena.h"
#include "segment/segment_map.h"
#include "segment/slab.h"
#include "size_class/size_classes.h"
#include "slab_alloc.h"

namespace tslab::detail {

struct SegmentHeader;

#ifndef TSLAB_STATS
#define TSLAB_STATS 1  // 0 compiles every statistics counter out
#endif

// A counter written by one thread (load + store, no read-modify-write) and read
// by any (relaxed): statistics merged on read.
struct OwnerCounter {
  std::atomic<std::uint64_t> value{0};
  void bump([[maybe_unused]] std::uint64_t n = 1) noexcept {
#if TSLAB_STATS
    value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
#endif
  }
  std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

struct HeapClassCounters {
  OwnerCounter slow_path_hits;
  OwnerCounter slabs_carved_out;    // a slab's last never-used block went to the bin
  OwnerCounter remote_collections;  // slabs that gave back remotely freed blocks
  OwnerCounter remote_blocks;       // blocks freed by other threads, collected
  OwnerCounter bin_empty;           // slow path found the bin's free list empty
  OwnerCounter held_back;           // slow path found the head slot held by a rejected free
};

// Per bin: the empty slabs of the bin's era whose pages are still committed, kept
// by the owner at each slab's 0 <-> 1 live step, so a snapshot reads the
// reclaimable memory without walking slabs. Owner stores, any thread reads
// (relaxed); `era` says which activation the figures belong to.
struct ReclaimCount {
  std::atomic<std::uint64_t> era{0};
  std::atomic<std::uint64_t> slabs{0};
  std::atomic<std::uint64_t> bytes{0};
};

struct HotBin {
  FreeBlock* free;    // free blocks of this bin's slabs, LIFO
  std::uint64_t era;  // era of the bin's slabs (| BIN_ERA_SAMPLED); 0 = none yet
};

// Set in HotBin::era by a heap whose allocator samples allocations
// (TSLAB_PIN_SAMPLE, core/pin_sample.h): the fast path's era comparison then
// always fails and every allocation takes the slow path, where the sampling is,
// while the fast path itself stays as it is. Eras are counters far below 2^63.
inline constexpr std::uint64_t BIN_ERA_SAMPLED = std::uint64_t{1} << 63;
// The era of a bin's slabs, the sampling flag masked.
inline std::uint64_t bin_era(const HotBin& bin) noexcept { return bin.era & ~BIN_ERA_SAMPLED; }

struct BinLists {
  SlabQueue slabs;          // every slab of the bin's current era
  Slab* carving = nullptr;  // the slab whose never-used blocks are handed out next
  bool has_purged = false;  // some slab holds purged pages (Heap::purge_free_pages)
};

// Why a heap hands empty slabs back (SlabSource::recycle_slabs), which decides
// how long the pool keeps their pages committed beyond the warm reserve.
enum class HandBack : std::uint8_t {
  reclaim,  // a close's or collect's: beyond the warm reserve they go back at once
  idle,     // a heap's whose thread exited, or that was just adopted: kept within
            // TSLAB_LARGE_RETAIN, likely taken again soon
  moving,   // a heap's on its slow path, whose size mix moved: kept beyond the
            // retention too while slabs are taken from the pool, as a grace's
            // windows allow (AllocatorCore::HAND_BACK_GRACE_NS)
};

// Where a heap gets fresh slabs from (the allocator). Called on slow paths only.
class SlabSource {
 public:
  // A slab initialised for (epoch, class, era) and owned by `heap`, or nullptr
  // (out of memory; the reason is recorded by the source). With `warm_only`,
  // only one from the warm reserve, whose pages are resident: nullptr (and no
  // error) if there is none.
  virtual Slab* take_slab(class Heap& heap, std::uint32_t epoch, std::uint32_t size_class, std::uint64_t era,
                          bool warm_only) noexcept = 0;
  // Back [p, p + size) with pages now, in one call, because it is about to be written.
  virtual void prefault(void* p, std::size_t size) noexcept = 0;
  // The era of an epoch slot's current activation, 0 while it is CLOSING.
  virtual std::uint64_t open_era(std::uint32_t epoch) const noexcept = 0;
  // Bumped whenever some activation closes.
  virtual std::uint64_t close_count() const noexcept = 0;
  // Takes back empty slabs the heap unlinked (a list through Slab::next).
  virtual void recycle_slabs(Slab* list, HandBack why = HandBack::reclaim) noexcept = 0;
  // On a heap's slow path: slabs a moving hand-back kept that went unused for
  // the grace go back to the retention's bound. One relaxed load when none are kept.
  virtual void end_hand_back_grace() noexcept = 0;
  // Returns the pages of a range of an owned slab that no allocation can reach.
  virtual void release_pages(void* p, std::size_t size) noexcept = 0;

 protected:
  ~SlabSource() = default;
};

class Heap {
 public:
  // Placement in metadata memory; returns nullptr if the arena is exhausted.
  static Heap* create(MetaArena& arena, std::uint32_t epoch_count) noexcept;

  HotBin& hot(std::uint32_t epoch, std::uint32_t cls) noexcept { return hot_[epoch * NUM_CLASSES + cls]; }
  HotBin& hot_at(std::uint32_t bin_index) noexcept { return hot_[bin_index]; }
  const HotBin& hot(std::uint32_t epoch, std::uint32_t cls) const noexcept {
    return hot_[epoch * NUM_CLASSES + cls];
  }
  const BinLists& lists(std::uint32_t epoch, std::uint32_t cls) const noexcept {
    return lists_[epoch * NUM_CLASSES + cls];
  }
  std::uint32_t epoch_count() const noexcept { return epoch_count_; }
  // Whether a bin of epoch `e` ever took an era (and so maybe slabs) in this
  // heap. Walks of the bins skip the other epochs: their bins are in their
  // initial, all-zero state, on pages never touched (Heap::create). Set by the owner, never cleared; read by
  // the owner, or under the allocator lock (relaxed: a walk that misses an epoch
  // just entered sees what it would have seen an instant earlier).
  bool uses_epoch(std::uint32_t e) const noexcept {
    return (epochs_used_[e / 64].load(std::memory_order_relaxed) >> (e % 64)) & 1u;
  }
  // Whether the walks for empty slabs look at this bin (the invariant checker:
  // exactly the bins whose HotBin::era is not 0).
  bool marked_with_era(std::uint32_t bin_index) const noexcept {
    return (bins_with_era_[bin_index / NUM_CLASSES].words[bin_index % NUM_CLASSES / 64] &
            class_bit(bin_index)) != 0;
  }
  const SlabQueue& retired() const noexcept { return retired_; }
  const SlabQueue& settled() const noexcept { return settled_; }
  const HeapClassCounters& counters(std::uint32_t cls) const noexcept { return counters_[cls]; }
  const ReclaimCount& reclaim(std::uint32_t bin_index) const noexcept { return reclaim_[bin_index]; }
  // The invariant checker: how many slabs this heap counts as reclaimable.
  std::uint32_t counted_empty() const noexcept { return counted_empty_; }
  // Slabs whose bitmap a hand-back of spare slabs read, since the heap was made
  // (owner; a test reads it from the owning thread).
  std::uint64_t spare_slabs_examined() const noexcept { return spare_examined_; }
  // Hand-backs that left a bin's spare slabs in place rather than walk its whole
  // free list (take_empty_of_open_bin; owner, as above).
  std::uint64_t spare_walks_given_up() const noexcept { return spare_walks_given_up_; }
  // Slabs of closed activations the walks for empty slabs looked at
  // (take_empty_slabs), since the heap was made (owner, as above).
  std::uint64_t retired_slabs_examined() const noexcept { return retired_examined_; }
  // Bins those walks looked at (owner, as above): only those holding an era.
  std::uint64_t bins_examined() const noexcept { return bins_examined_; }

  // Owner: a slab of this heap reached 0 live blocks (it starts counting as
  // reclaimable) / left 0 (uncount). Cold: called only at those steps.
  [[gnu::noinline, gnu::cold]] void slab_emptied(Slab* s) noexcept;
  // The same, shaped for a tail call at the end of a fast path (no stack frame
  // on the common path): they return what the fast path returns. refilled_then
  // is called inside the allocation's marker, and ends it.
  [[gnu::noinline, gnu::cold]] void* refilled_then(Slab* s, void* block) noexcept;
  template <FreeResult Result>
  [[gnu::always_inline]] Result emptied_then(Slab* s) noexcept {
    if constexpr (std::is_same_v<Result, bool>)
      return emptied_then_ok(s);
    else
      return emptied_then_error(s);
  }
  [[gnu::noinline]] bool emptied_then_ok(Slab* s) noexcept;
  [[gnu::noinline]] TslabError emptied_then_error(Slab* s) noexcept;
  // Owner, on the slow paths: keep Slab::owner_live and the reclaimable count.
  void note_allocated(Slab* s) noexcept {
#if TSLAB_STATS
    if (s->count_live_first()) [[unlikely]]
      uncount(s);
#else
    (void)s;
#endif
  }
  void note_freed(Slab* s, std::uint32_t n = 1) noexcept {
#if TSLAB_STATS
    if (s->count_freed(n) && n != 0) [[unlikely]]
      slab_emptied(s);
#else
    (void)s, (void)n;
#endif
  }

  // Owner: the bitmap of a closed activation's slab changed (a free into it, the
  // owner's own or one it collected). One it listed as settled goes back to the
  // retired slabs its walks look at (take_empty_slabs).
  void unsettled(Slab* s) noexcept {
    if (s->list != SlabList::settled) return;
    settled_.remove(s);
    retired_.push_front(s);
    s->list = SlabList::retired;
  }

  // Owner: allocation slow path for a bin whose epoch is open with `open_era`.
  void* alloc_slow(SlabSource& source, std::uint32_t epoch, std::uint32_t cls,
                   std::uint64_t open_era) noexcept;
  // Owner: collect every slab other threads queued.
  void drain_remote(const SlabSource& source) noexcept;
  // Owner (or the allocator, for an abandoned heap, under its lock): retire the
  // bins of closed activations and unlink every empty slab no allocation path can
  // reach any more. With `active_too`, also empty slabs of open bins, whose
  // blocks are first taken off the bin's free list, and (`purge`) the free pages
  // of their slabs that hold live blocks go back. Returns the unlinked slabs as a
  // list through Slab::next, for SlabSource::recycle_slabs.
  Slab* take_empty_slabs(SlabSource& source, bool active_too, bool purge = true) noexcept;
  // Owner: on a slow path, act on closes that happened since the last look.
  void catch_up_with_closes(SlabSource& source) noexcept {
    const std::uint64_t n = source.close_count();
    const bool flush = flush_requested.load(std::memory_order_relaxed) &&
                       flush_requested.exchange(false, std::memory_order_acq_rel);
    if (n == closes_seen_ && !flush) return;
    closes_seen_ = n;
    if (Slab* list = take_empty_slabs(source, flush)) source.recycle_slabs(list);
  }

  // Set by a collect() on another thread: hand back empty slabs of open bins too.
  std::atomic<bool> flush_requested{false};

  // Allocation sampling (core/pin_sample.h), set once when the heap is created:
  // the flag the bins' eras carry (0 or BIN_ERA_SAMPLED), and the owner's
  // countdown to its next sample with the state of its random spacing.
  std::uint64_t bin_era_flag = 0;
  std::uint32_t sample_countdown = 0;
  std::uint32_t sample_random = 0;

  // Owner: put a free block on its bin's list. Precondition: the slab's
  // activation is open (blocks of closed ones are never listed again), and the
  // caller is inside its allocation marker or the block is still live: a closer
  // hands pages back only after both (core/reclaim.cpp).
  void list_free_block(Slab* s, void* p) noexcept {
    HotBin& bin = hot_[s->bin_index];
    auto* b = static_cast<FreeBlock*>(p);
    b->next = bin.free;
    b->slab = s;
    bin.free = b;
  }
  // The two halves, for a free: link the block while it is live, publish it after.
  void link_free_block(Slab* s, void* p) noexcept {
    auto* b = static_cast<FreeBlock*>(p);
    b->next = hot_[s->bin_index].free;
    b->slab = s;
  }
  void publish_free_block(Slab* s, void* p) noexcept { hot_[s->bin_index].free = static_cast<FreeBlock*>(p); }

  // The invariant checker, on a quiescent allocator: the first queued slab.
  const Slab* remote_queue_front() const noexcept { return remote_head_.load(std::memory_order_acquire); }

  // In a fork's child, before the slabs are queued again from their bits
  // (AllocatorCore::requeue_remote_frees_after_fork): the queue as if empty.
  // Written only where set: a store to every heap would copy each heap's page.
  void forget_remote_queue() noexcept {
    if (remote_head_.load(std::memory_order_relaxed) != nullptr)
      remote_head_.store(nullptr, std::memory_order_relaxed);
  }

  // Any thread, after Slab::free_remote succeeded: make sure the owner looks.
  void notify_remote(Slab* s) noexcept {
    // Already queued (a batch of frees into one slab): nothing to write, no
    // locked instruction, the cache line stays shared. seq_cst, as the bit's
    // fetch_or before it (Slab::free_remote) and the owner's exchange and bit
    // loads after it (drain_remote, Slab::collect_remote): if this load still
    // sees the flag set, it precedes the owner's exchange in the single total
    // order, so the owner's loads that follow see the bit; otherwise the
    // exchange below queues the slab anew.
    if (s->remote_queued.load(std::memory_order_seq_cst)) return;
    if (s->remote_queued.exchange(true, std::memory_order_acq_rel)) return;  // queued meanwhile
    Slab* head = remote_head_.load(std::memory_order_relaxed);
    do {
      s->remote_next = head;
      // Linearization point of the queueing: release publishes remote_next and
      // the winner's bit (later frees that find the slab queued: above).
    } while (
        !remote_head_.compare_exchange_weak(head, s, std::memory_order_release, std::memory_order_relaxed));
  }

  // Allocation sequence: odd while the owner is inside an allocation. Written only
  // by the owner, around every allocation; a closer reads it after a process-wide
  // fence (AllocatorCore::quiesce_allocations) to wait for allocations that may
  // have seen an epoch open before it closed.
  //
  // On x86-64 each step is one unlocked `add` to memory (2 instructions per
  // allocation instead of 6): its store is a single aligned 8-byte write, which
  // a reader sees whole, and x86's store order makes it a release store, as the
  // portable form below asks. ThreadSanitizer cannot see an asm write, so its
  // builds use the portable form.
  void begin_alloc() noexcept {
    bump_alloc_seq();
    std::atomic_signal_fence(std::memory_order_seq_cst);  // no compiler reordering past it
  }
  void end_alloc() noexcept {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    bump_alloc_seq();
  }
  // The marker around owner work outside an allocation that reads an epoch's era
  // and then writes free blocks (catch-ups, collect): a close waits for it too.
  // The thread is marked inside tslab as well: a signal handler's malloc must
  // not take blocks from the lists this work rewrites.
  class Marked {
   public:
    explicit Marked(Heap& heap) noexcept : heap_(heap) { heap_.begin_alloc(); }
    ~Marked() { heap_.end_alloc(); }
    Marked(const Marked&) = delete;
    Marked& operator=(const Marked&) = delete;

   private:
    InsideTslab inside_;  // constructed before the marker's begin, destroyed after its end
    Heap& heap_;
  };
  std::atomic<std::uint64_t> alloc_seq{0};
  static_assert(sizeof(std::atomic<std::uint64_t>) == sizeof(std::uint64_t));

 private:
  void bump_alloc_seq() noexcept {
#if defined(__x86_64__) && !TSLAB_THREAD_SANITIZER
    asm volatile("addq $1, %0" : "+m"(alloc_seq) : : "memory");
#else
    alloc_seq.store(alloc_seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
#endif
  }

 public:
  // Ownership. The thread id of the owner when it took the heap (in a fork's
  // child, the forking thread's id in the parent), 0 while abandoned. Written with release
  // under the allocator lock on adopt/abandon; read relaxed by statistics only —
  // the lock, not this field, orders the previous owner's writes before the next's.
  std::atomic<std::uint64_t> owner_tid{0};
  // Freed large spans kept for this heap's thread's next large blocks, taken
  // without the allocator lock (core/span_stash.cpp). Only the owner fills a
  // slot; the owner, a collect, an abandon or a change of the warm reserve
  // empties one, each by exchange, so exactly one of them gets the span.
  static constexpr std::uint32_t SPAN_STASH_SLOTS = 8;
  std::atomic<SegmentHeader*> span_stash[SPAN_STASH_SLOTS] = {};
  Heap* next_all = nullptr;        // allocator's list of heaps (allocator lock)
  Heap* next_abandoned = nullptr;  // allocator's abandoned list (allocator lock)
  // Empty slabs the heap kept for its next owner when it was abandoned, as
  // counted then (AllocatorCore::abandoned_kept_; allocator lock).
  std::uint32_t kept_empty = 0;
  // Set in the child of a fork for the heap of a thread that does not exist there
  // (core/fork.cpp): it may have been mid-operation, so it is never adopted,
  // walked or waited for again; its blocks can still be freed (remotely).
  bool orphaned = false;

 private:
  Heap() = default;
  void retire_bin(std::uint32_t epoch, std::uint32_t cls) noexcept;
  bool carve(SlabSource& source, BinLists& lists, HotBin& bin) noexcept;
  std::uint32_t collect(const SlabSource& source, Slab* s) noexcept;
  // `seen` (the hand-back's look): only slabs seen empty at the previous look go;
  // those newly seen are counted in *seen.
  Slab* take_empty_of_open_bin(std::uint32_t bin_index, Slab* out, std::uint32_t* seen) noexcept;
  // Takes the `marked` slabs whose reclaim_mark is set off the bin's list, onto `out`.
  static Slab* unlist_marked(BinLists& l, std::uint32_t marked, Slab* out) noexcept;
  // Pushes every free slot of `s` onto its bin's free list.
  void list_free_slots(Slab* s) noexcept;
  void hand_back_spare_slabs(SlabSource& source) noexcept;
  void purge_free_pages(SlabSource& source, std::uint32_t bin_index) noexcept;
  bool relist_purged(BinLists& lists, HotBin& bin) noexcept;

  std::uint32_t epoch_count_ = 0;
  static_assert(SLAB_MAX_EPOCH_COUNT % 64 == 0);
  std::atomic<std::uint64_t> epochs_used_[SLAB_MAX_EPOCH_COUNT / 64] = {};  // uses_epoch()
  HotBin* hot_ = nullptr;
  BinLists* lists_ = nullptr;
  // Per epoch, the classes whose hot bin holds an era (HotBin::era != 0): the
  // walks for empty slabs and spare slabs look at those bins only. A thread of a
  // program with a scope per request has entered all 64 slots and took a walk
  // after every close; reading the 5,120 bins' eras, 80 KiB, was 13% of such a
  // program's time with 64 threads (docs/BENCHMARKS.md, lifetime scopes).
  struct ClassMask {
    std::uint64_t words[(NUM_CLASSES + 63) / 64];
  };
  ClassMask* bins_with_era_ = nullptr;
  // Owner: sets `bin`'s era (never 0) and marks the bin in its epoch's mask.
  void set_bin_era(HotBin& bin, std::uint32_t bin_index, std::uint64_t era) noexcept {
    bin.era = era;
    class_word(bin_index) |= class_bit(bin_index);
  }
  // Calls visit(bin_index) for each bin of epoch `e` that holds an era, lowest
  // class first; visit may clear the bin's era (clear_bin_era).
  template <class Visit>
  void for_each_bin_with_era(std::uint32_t e, Visit&& visit) noexcept {
    const ClassMask& mask = bins_with_era_[e];
    for (std::uint32_t w = 0; w < std::size(mask.words); ++w)
      for (std::uint64_t m = mask.words[w]; m != 0; m &= m - 1)
        visit(e * NUM_CLASSES + w * 64 + static_cast<std::uint32_t>(std::countr_zero(m)));
  }
  void clear_bin_era(std::uint32_t bin_index) noexcept {
    hot_[bin_index].era = 0;
    class_word(bin_index) &= ~class_bit(bin_index);
  }
  std::uint64_t& class_word(std::uint32_t bin_index) noexcept {
    return bins_with_era_[bin_index / NUM_CLASSES].words[bin_index % NUM_CLASSES / 64];
  }
  static std::uint64_t class_bit(std::uint32_t bin_index) noexcept {
    return std::uint64_t{1} << (bin_index % NUM_CLASSES % 64);
  }
  SlabQueue retired_;  // slabs of superseded eras, still freeable
  // Retired slabs a close settled (Slab::settled), which the owner's walks skip
  // until their bitmap changes: each change reaches the owner, as its own free
  // (Heap::unsettled) or its collection of another thread's (Heap::collect),
  // and takes the slab back to retired_.
  SlabQueue settled_;
  std::atomic<Slab*> remote_head_{nullptr};
  std::uint64_t closes_seen_ = 0;  // SlabSource::close_count() at the last catch-up
  HeapClassCounters counters_[NUM_CLASSES];
  ReclaimCount* reclaim_ = nullptr;  // one per bin
  // Owner: slabs of this heap counted as reclaimable (Slab::reclaim_bytes != 0),
  // and that count after the last hand-back of empty slabs (or lower, as slabs
  // left the count since): alloc_slow, about to take a slab from the pool, hands
  // back the empty slabs of open bins once SPARE_SLACK more emptied since.
  std::uint32_t counted_empty_ = 0;
  std::uint32_t spare_floor_ = 0;
  std::uint64_t spare_examined_ = 0;
  std::uint64_t retired_examined_ = 0;
  std::uint64_t bins_examined_ = 0;
  std::uint64_t spare_walks_given_up_ = 0;
  static constexpr std::uint32_t SPARE_SLACK = 2;
  // Slabs (4 MiB) emptied since the last look that make a slow path look again,
  // whether or not it is about to grow the heap.
  static constexpr std::uint32_t SPARE_HAND_BACK = 64;
  // A bin list this long or shorter keeps its order when a slab empties (slab_emptied).
  static constexpr std::size_t SHORT_BIN_LIST = 8;

  void reset_reclaim(std::uint32_t bin_index, std::uint64_t era) noexcept;
  // slab_emptied's body, inline in the fast paths' endings (emptied_then).
  void count_emptied(Slab* s) noexcept;
  // Owner: re-reads an empty slab's committed bytes (pages purged or relisted).
  void recount(Slab* s) noexcept;
  // Owner: a slab leaves the heap; it stops counting.
  void uncount(Slab* s) noexcept;
};

}  // namespace tslab::detail

#endif  // TSLAB_HEAP_HEAP_H
