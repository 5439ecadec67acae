// This file contains Slab, the off-page metadata of one slab (or of one large
// span), and the owner-side and remote-side operations on its blocks.
//
// A slab's metadata never lives in the slab's own pages: it sits in a segment
// header in the metadata arena, so handing the slab's pages back to the OS can
// never zero it (seed 000, bug 1).
//
// Block state is two bitmaps, interleaved so that a slot's pair shares a line:
//   allocated  written only by the owning thread, with relaxed load + store
//              (never a read-modify-write); read by any thread.
//   remote     set with fetch_or by a thread freeing a block it does not own;
//              cleared by the owner when it collects (fetch_and).
// A slot is live iff allocated=1 and remote=0. A remote bit on a slot whose
// allocated bit is 0 is "bogus" (a rejected double or garbage free); the owner
// discards such bits and never hands out a slot while its remote bit is set.
//
// Free blocks are not kept per slab: the owner links them into its heap's bin
// list for the slab's (epoch, class), across slabs (heap/heap.h). The bitmaps,
// not the lists, say which blocks are live.
#ifndef TSLAB_SEGMENT_SLAB_H
#define TSLAB_SEGMENT_SLAB_H

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "platform/bit_count.h"
#include "platform/sanitizers.h"
#include "size_class/size_classes.h"
#include "tslab/error.h"

namespace tslab::detail {

class Heap;

// A free block of a small slab, linked into its owner heap's bin list. Blocks
// are at least 16 bytes, so a free block carries its slab and the allocation fast
// path needs no lookup. A slab's pages go back to the OS only once no allocation
// can reach it any more (core/reclaim.cpp), so a listed block's words are intact
// whenever an allocation reads them.
struct FreeBlock {
  FreeBlock* next;
  struct Slab* slab;
};

struct BitPair {
  std::atomic<std::uint64_t> allocated{0};
  std::atomic<std::uint64_t> remote{0};
};

enum class SlabKind : std::uint8_t { small, large };
enum class SlabList : std::uint8_t { none, bin, retired, settled };
enum SlabState : std::uint8_t { SLAB_UNUSED = 0, SLAB_IN_USE = 1 };
enum SettleState : std::uint8_t { SETTLE_NONE = 0, SETTLE_TRYING = 1, SETTLE_DONE = 2 };

struct Slab {
  // --- the free paths' line: what a free reads of the slab, read-mostly ------
  // (core/fast_path.h and a remote free's validation, core/blocks.cpp; the
  // allocation reads magic of it too; the owner's live count is on the next line.)
  // Measured (cachegrind, 32 KiB L1, bench_malloc_thread 1 1000000 4000):
  // with the heap and the era on a second line, that line missed L1 on 0.52
  // of the frees.
  char* start = nullptr;  // first block; fixed for the slab's address
  std::uint32_t obj_size = 0;
  std::uint32_t magic = 0;  // ceil(2^32 / obj_size), small slabs only
  std::uint32_t capacity = 0;
  std::uint32_t bin_index = 0;  // epoch * NUM_CLASSES + size class in the owner heap
  std::uint8_t size_class = 0;
  SlabKind kind = SlabKind::small;  // fixed for the slab's address: validation reads it any time
  // Published with release when the slab is handed to a heap; read with acquire
  // by validation paths so they see the identity fields above.
  std::atomic<std::uint8_t> state{SLAB_UNUSED};
  // --- identity: set before the slab is published to its heap -------------
  std::uint32_t epoch = 0;
  // Registry id, fixed for the slab's address; its generation is the registry's
  // (handle/registry.h). The pins of the pin protocol are in the segment header.
  std::uint32_t id = 0;
  // bin_index as a byte offset into the owner heap's hot bins (a multiple of
  // sizeof(HotBin), heap/heap.h): the free adds it to the bins' address, one
  // instruction fewer than scaling the index. Fills the line's hole before `era`.
  std::uint32_t bin_offset = 0;
  std::uint64_t era = 0;
  // Small slabs: the word `era` is compared with to tell an open activation, its
  // epoch slot's open era in the owner allocator's ring (EpochRing::open_era_word).
  const std::atomic<std::uint64_t>* open_era = nullptr;
  // The owning heap. Written (release) when the slab is taken into use, and
  // cleared by its owner when it recycles the slab (recycle_slab_locked); read
  // relaxed on the free fast paths, where equality with the caller's own heap is
  // the only question (the owner wrote it itself, or adopted the heap under the
  // allocator lock), and with acquire on the remote path before pushing to it.
  std::atomic<Heap*> heap{nullptr};
  // --- the owner's line: its live count, written on every allocation and free -
  // Not on the first line, which every remote free reads: there each write by
  // the owner took that line from the freeing core. Measured with the count on
  // the first line and here (tslab bench larson through the override, two
  // threads, almost every free remote, medians of 3 alternating runs of 100
  // rounds): 33.2 -> 38.2 million replacements per second; xmalloc 9.0 -> 9.9
  // million blocks per second; churn and request within their spread. The
  // single-threaded cost is one more line per operation: cachegrind's L1 model
  // (32 KiB) counts 12.5% more data misses on bench_malloc_thread 1 1000000
  // 4000, which its timed runs do not show.
  // Owner: blocks allocated and not freed as the owner knows them (remote frees
  // count once collected), always popcount(allocated). Its 0 <-> 1 steps keep
  // the owner heap's count of reclaimable slabs (Heap::slab_emptied /
  // slab_refilled). Not kept with TSLAB_STATS=0. Held negated (0 - count, mod
  // 2^32), so that both steps are the flags of one instruction: an allocation's
  // `sub 1` borrows exactly when the count was 0, a free's `add 1` gives zero
  // exactly when it reaches 0.
  std::uint32_t owner_live_negated = 0;
  std::uint32_t owner_live() const { return 0u - owner_live_negated; }
  // Owner: the count + 1; true if it was 0. On x86-64 one `sub` on the field in
  // memory (2 instructions with the branch; an `add` and a `cmp` of a positive
  // count took 3, the compiler's load, add, store and test of the old value 5).
  // ThreadSanitizer cannot see an asm write, so its builds use the portable form.
  bool count_live_first() {
#if defined(__x86_64__) && !TSLAB_THREAD_SANITIZER
    bool first;
    asm("subl $1, %0" : "+m"(owner_live_negated), "=@ccc"(first) : : "cc");
    return first;
#else
    return owner_live_negated-- == 0;
#endif
  }
  // Owner: the count - n; true if it is now 0.
  bool count_freed(std::uint32_t n = 1) {
    owner_live_negated += n;
    return owner_live_negated == 0;
  }
  // Settled: a slab of a closed, waited-out activation that still holds blocks
  // and has no free page left to return (core/settled_slabs.cpp). A close under
  // the allocator lock marks it TRYING before it reads the bitmap and DONE if it
  // settles; the next change to its bitmap (a free, its owner's collection of
  // remote frees), from any thread, makes it NONE, after which the slot's next
  // close looks at it again. Its owner's walk of retired slabs moves a DONE one
  // to its heap's settled list (Heap::take_empty_slabs).
  std::atomic<std::uint8_t> settled{SETTLE_NONE};
  // The owner's fields of a slab's 1 <-> 0 live steps (Heap::slab_emptied,
  // Heap::uncount), on the line of the bin links they also touch, so that the
  // steps read no line beyond these two (a request's slabs take them once per
  // class and request); not on the remote side's line below.
  // Owner: counted reclaimable when the last hand-back looked, and not used
  // since (Heap::hand_back_spare_slabs).
  bool spare_seen = false;
  // Pages (4 KiB, 16 per slab) whose free blocks are off the bin list and whose
  // memory went back to the OS; the blocks are listed again when the bin runs dry.
  // Owner stores (relaxed); statistics read it from any thread.
  std::atomic<std::uint16_t> purged_pages{0};
  // Small slabs: the handle of slot 0 in the slab's current life (its id with the
  // generation it has while in use: only a recycling moves it on), so that the
  // allocation fast path encodes a handle with one `or` (HandleOut). Written
  // when the slab is taken into use.
  std::uint64_t handle_base = 0;

  // --- owner fields: written only by the thread owning `heap` ---------------
  bool prefault = false;  // its bin proved demand: fault pages in ahead of carving
  // Pages handed back to the OS. Claimed with exchange(true) by whichever thread
  // returns them (a closer, or the free that emptied a closed epoch's slab);
  // reset when the slab is taken into use again (allocator lock).
  std::atomic<bool> decommitted{false};
  // Blocks handed to the bin list so far; owner stores, others read (relaxed).
  std::atomic<std::uint32_t> carved{0};
  // Links in the allocator's per-epoch list of slabs, or its pool of free slabs
  // (allocator lock).
  Slab* epoch_prev = nullptr;
  Slab* epoch_next = nullptr;
  SlabList list = SlabList::none;
  // Bytes this slab adds to its owner bin's reclaimable count while it is empty;
  // 0 when not counted (owner).
  std::uint32_t reclaim_bytes = 0;
  Slab* prev = nullptr;  // links in the owning heap's bin or retired list
  Slab* next = nullptr;

  // --- remote side ----------------------------------------------------------
  // True while the slab sits on its heap's remote queue (at most once there).
  // A line of its own: every remote free reads it and the first of a batch
  // writes it (Heap::notify_remote), and the owner's free path reads the lines
  // above on every call.
  alignas(64) std::atomic<bool> remote_queued{false};
  // Queue link: written by the single pusher that won remote_queued, read by the
  // owner after it took the queue with acquire.
  Slab* remote_next = nullptr;
  // Large spans: bytes usable at `start` for the current allocation.
  std::atomic<std::size_t> large_usable{0};
  // Large spans: the current allocation is an arena's (AllocatorCore::alloc_held),
  // which resolves for the arena's own release and epoch_destroy only, never
  // for a free, realloc or size query of the program. Written before the span is
  // published (publish_span).
  std::atomic<bool> large_held{false};
  // Large spans: bits[0].allocated holds (generation << 1) | LARGE_LIVE, and
  // LARGE_RESIZING while a realloc resizes the block in place; a free that
  // lands meanwhile clears LARGE_LIVE, adds LARGE_FREE_COLD if it asked for the
  // pages back, and leaves the rest of its work to the resize (core/large_span.cpp).
  static constexpr std::uint64_t LARGE_LIVE = 1;
  static constexpr std::uint64_t LARGE_FREE_COLD = std::uint64_t{1} << 62;
  static constexpr std::uint64_t LARGE_RESIZING = std::uint64_t{1} << 63;
  std::uint32_t check_mark = 0;  // scratch for the invariant checker (allocator lock)
  bool reclaim_mark = false;     // scratch for Heap::take_empty_slabs (owner)

  // Blocks overlapping the pages of `mask`, as [first, last] slot ranges per page.
  static constexpr std::size_t PAGE = 4096;
  std::uint32_t first_slot_of_page(std::uint32_t page) const {
    return static_cast<std::uint32_t>(page * PAGE / obj_size);
  }
  std::uint32_t last_slot_of_page(std::uint32_t page) const {
    return static_cast<std::uint32_t>(((page + 1) * PAGE - 1) / obj_size);
  }
  bool slot_in_pages(std::uint32_t slot, std::uint16_t mask) const {
    const std::size_t begin = std::size_t{slot} * obj_size, end = begin + obj_size - 1;
    for (std::size_t page = begin / PAGE; page <= end / PAGE && page < 16; ++page)
      if (mask & (1u << page)) return true;
    return false;
  }
  bool slot_in_purged_page(std::uint32_t slot) const {
    return slot_in_pages(slot, purged_pages.load(std::memory_order_relaxed));
  }
  std::uint16_t purge_now = 0;  // scratch for Heap::purge_free_pages (owner)
  // Allocator lock: an empty slab of a closed activation that a close left to
  // its owner for the warm reserve, rather than hand its pages back (core/reclaim.cpp).
  bool keep_warm = false;
  // Owner: a collection found a remote bit on a free slot (a double free racing
  // the owner's own free), whose write may have reached the block after the
  // slab's pages went back; recycling hands them back again.
  bool rewritten = false;
  // Taken from the warm reserve: its touched pages are resident, so the owner
  // carves it without faulting pages in ahead. Set before the slab is published.
  bool resident = false;
  // Allocator lock: on its slot's settled list, counted there with its live
  // blocks and committed pages (core/settled_slabs.cpp). Sized to keep the
  // header within three lines (static_assert below).
  bool settled_listed = false;
  std::uint16_t settled_live = 0;
  std::uint8_t settled_pages = 0;
  // On its allocator's stack of slabs that left the settled state, which the
  // next close takes back to their slots' walked lists (at most once there).
  std::atomic<bool> unsettle_queued{false};
  // That stack's head in the allocator, set when the slab is taken into use, and
  // the link, written by the single pusher that won unsettle_queued.
  std::atomic<Slab*>* unsettled_stack = nullptr;
  Slab* unsettled_next = nullptr;
  // After a change to the bitmap of a closed activation's slab, by a thread that
  // keeps it from being recycled meanwhile (its owner, or a freer holding its
  // pin): settled no more. Every write of the flag is a read-modify-write, so
  // that the close that settles the slab next reads the last one and sees the
  // change (release to acquire through the flag's release sequence). A slab
  // that was settled goes on the allocator's stack, unless it is there already
  // (core/settled_slabs.cpp).
  void unsettle() {
    if (settled.exchange(SETTLE_NONE, std::memory_order_acq_rel) != SETTLE_DONE || unsettled_stack == nullptr)
      return;
    // The exchange after the change of state: a sweep whose own exchange of the
    // flag reads this one sees the state NONE (sweep_unsettled_locked).
    if (unsettle_queued.exchange(true, std::memory_order_acq_rel)) return;
    Slab* head = unsettled_stack->load(std::memory_order_relaxed);
    do {
      unsettled_next = head;
      // Linearization point of the push: release publishes the link.
    } while (!unsettled_stack->compare_exchange_weak(head, this, std::memory_order_release,
                                                     std::memory_order_relaxed));
  }
  bool is_settled() const { return settled.load(std::memory_order_relaxed) == SETTLE_DONE; }

  // Pages not handed back to the OS, in bytes (touched or not).
  std::uint64_t committed_bytes() const {
    return decommitted.load(std::memory_order_acquire) ? 0 : unpurged_bytes();
  }
  // The slab's pages not purged, in bytes: what a return of the whole slab gives back.
  // Most slabs have no purged page: the count is skipped (a slab's 1 -> 0 live step
  // reads it, Heap::slab_emptied: 17 instructions of its 48).
  std::uint64_t unpurged_bytes() const {
    const std::uint16_t purged = purged_pages.load(std::memory_order_relaxed);
    if (purged == 0) [[likely]]
      return SLAB_SIZE;
    return SLAB_SIZE - std::uint64_t{bit_count(purged)} * PAGE;
  }
  // Calls fn(first, count) for each run of consecutive pages set in `mask`, so
  // that pages go back one system call per run.
  template <class Fn>
  static void for_each_page_run(std::uint16_t mask, Fn fn) {
    for (std::uint32_t page = 0; page < 16;) {
      if (!(mask & (1u << page))) {
        ++page;
        continue;
      }
      std::uint32_t end = page + 1;
      while (end < 16 && (mask & (1u << end))) ++end;
      fn(page, end - page);
      page = end;
    }
  }
  // Whether any of the bits first..last of `live` is set.
  static bool any_live(const std::uint64_t* live, std::uint32_t first, std::uint32_t last) {
    for (std::uint32_t w = first >> 6; w <= last >> 6; ++w) {
      const std::uint32_t lo = w == first >> 6 ? first & 63 : 0;
      const std::uint32_t hi = w == last >> 6 ? last & 63 : 63;
      const std::uint64_t upto = hi == 63 ? ~std::uint64_t{0} : (std::uint64_t{1} << (hi + 1)) - 1;
      if (live[w] & upto & (~std::uint64_t{0} << lo)) return true;
    }
    return false;
  }
  // Pages touched (carved) and not purged on which no block is live. A block
  // freed by another thread and not collected yet counts as live unless
  // `remote_freed_dead` (a closed activation's: never listed again, nothing
  // writes into it); in an open one the owner's collection lists it again.
  std::uint16_t free_pages(bool remote_freed_dead) const {
    const std::uint32_t done = carved.load(std::memory_order_relaxed);
    const std::uint16_t purged = purged_pages.load(std::memory_order_relaxed);
    if (done == 0) return 0;
    // The live bits of the carved slots, one load per word (a close walks every
    // slab its survivors pin: a slot at a time, 16-byte blocks cost 8,192 loads,
    // half of a scope's end in a plain-new request loop).
    std::uint64_t live[BITMAP_WORDS];
    const std::uint32_t words = (done + 63) / 64;
    for (std::uint32_t w = 0; w < words; ++w) {
      // Acquire: a free's release of the bit orders its link write before a return.
      const std::uint64_t allocated = bits[w].allocated.load(std::memory_order_acquire);
      const std::uint64_t remote = bits[w].remote.load(std::memory_order_acquire);
      live[w] = remote_freed_dead ? allocated & ~remote : allocated | remote;
    }
    std::uint16_t mask = 0;
    for (std::uint32_t page = 0; page < 16; ++page) {
      const std::uint32_t first = first_slot_of_page(page);
      if (first >= done || (purged & (1u << page))) continue;
      const std::uint32_t last = last_slot_of_page(page) < done - 1 ? last_slot_of_page(page) : done - 1;
      if (!any_live(live, first, last)) mask = static_cast<std::uint16_t>(mask | (1u << page));
    }
    return mask;
  }

  // Pages of a slab of a closed activation that hold no live block and may hold
  // memory: touched in this life (carved), or in an earlier one (a slab from the
  // warm reserve), and not returned since.
  std::uint16_t free_pages_of_closed() const {
    std::uint16_t mask = free_pages(true);
    if (resident) {
      const std::uint32_t done = carved.load(std::memory_order_relaxed);
      const std::uint16_t purged = purged_pages.load(std::memory_order_relaxed);
      for (std::uint32_t page = 0; page < 16; ++page)
        if (first_slot_of_page(page) >= done && !(purged & (1u << page)))
          mask = static_cast<std::uint16_t>(mask | (1u << page));
    }
    return mask;
  }

  alignas(64) BitPair bits[BITMAP_WORDS];

  // slot index of an offset from `start` (small slabs).
  std::uint32_t slot_of_offset(std::size_t offset) const {
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(offset) * magic) >> 32);
  }
  // offset * magic for an offset from `start` (small slabs): with magic =
  // ceil(2^32 / obj_size), offset < 2^16 and obj_size <= 2^16, its high half is the
  // slot (offset / obj_size, as slot_of_offset), and its low half is below magic
  // exactly when obj_size divides offset, i.e. a block starts there (Lemire, Kaser
  // and Kurz, "Faster remainder by direct computation"; checked for every class
  // in the tests).
  std::uint64_t slot_product(std::size_t offset) const { return static_cast<std::uint64_t>(offset) * magic; }
  bool starts_block(std::uint64_t product) const { return static_cast<std::uint32_t>(product) < magic; }
  static std::uint32_t slot_of_product(std::uint64_t product) {
    return static_cast<std::uint32_t>(product >> 32);
  }
  char* block_at(std::uint32_t slot) const { return start + static_cast<std::size_t>(slot) * obj_size; }
  std::uint32_t bitmap_words() const { return (capacity + 63) / 64; }
  // True if a block carries a remote bit (freed by another thread, not collected yet).
  bool has_remote_bits() const {
    for (std::uint32_t w = 0; w < bitmap_words(); ++w)
      if (bits[w].remote.load(std::memory_order_relaxed) != 0) return true;
    return false;
  }

  // The bitmap words of `slot`, addressed by byte offset, which the compiler folds
  // into the address's displacement: the free (free_local) takes one instruction
  // fewer than with bits[slot >> 6], where the bitmap's offset was added to the
  // index first. The allocation keeps the indexed form: this one cost it 3 more.
  BitPair& pair_of(std::uint32_t slot) {
    static_assert(sizeof(BitPair) == 16);
    return *reinterpret_cast<BitPair*>(reinterpret_cast<char*>(bits) + ((slot >> 2) & ~std::uint32_t{15}));
  }
  // Owner: mark a free slot allocated. False if the slot carries a remote bit
  // (a rejected free left it; the caller collects, which drops it).
  bool try_mark_allocated(std::uint32_t slot) {
    BitPair& pair = bits[slot >> 6];  // indexed: see pair_of
    const std::uint64_t mask = std::uint64_t{1} << (slot & 63);
    if (bit_set(pair.remote, mask)) [[unlikely]]
      return false;
    set_owned_bit(pair.allocated, mask);
    return true;
  }
  // A relaxed load of a bitmap word, tested against `mask`. On x86-64 one `test`
  // of the word in memory: the compiler loads an atomic into a register first,
  // which on the allocation path took a callee-saved register and its save.
  static bool bit_set(const std::atomic<std::uint64_t>& word, std::uint64_t mask) {
#if defined(__x86_64__) && !TSLAB_THREAD_SANITIZER
    bool set;
    asm("testq %2, %1" : "=@ccnz"(set) : "m"(word), "r"(mask) : "cc");
    return set;
#else
    return (word.load(std::memory_order_relaxed) & mask) != 0;
#endif
  }
  // Owner: sets `mask` in an allocated word (relaxed); only the owner writes it.
  // On x86-64 one unlocked `or` to memory, as clear_owned_bit below (3
  // instructions and a register fewer than load, or, store).
  static void set_owned_bit(std::atomic<std::uint64_t>& word, std::uint64_t mask) {
#if defined(__x86_64__) && !TSLAB_THREAD_SANITIZER
    asm volatile("orq %1, %0" : "+m"(word) : "r"(mask));
#else
    word.store(word.load(std::memory_order_relaxed) | mask, std::memory_order_relaxed);
#endif
  }

  // Any thread: the error a free of a slot that is not live gets. A slot never
  // carved was certainly never handed out; a free slot among the carved ones may
  // have been (free slots are not told apart), so it reads as a double free.
  TslabError dead_slot_error(std::uint32_t slot) const {
    return slot < carved.load(std::memory_order_relaxed) ? TSLAB_ERR_DOUBLE_FREE : TSLAB_ERR_NOT_ALLOCATED;
  }

  // Owner: mark a live slot free. No lock, no read-modify-write, no fence, so an
  // owner free and a remote free of the same block that race each other (a
  // concurrent double free) can both return TSLAB_OK; the remote one's bit is
  // then bogus and dropped, and the block is handed out once.
  //
  // `write_block()` runs once the slot is known live and before its bit clears:
  // the owner's last write into the block (its free-list link). The release store
  // orders it before the clear, so a closer that finds the slab empty and hands
  // its pages back finds every such write done (law 4): nothing writes a freed
  // block after its slab may have gone back to the OS.
  template <class WriteBlock>
  TslabError free_local(std::uint32_t slot, WriteBlock&& write_block) {
    BitPair& pair = pair_of(slot);
    const std::uint64_t mask = std::uint64_t{1} << (slot & 63);
    if (!bit_set(pair.allocated, mask)) [[unlikely]]
      return dead_slot_error(slot);
    if (bit_set(pair.remote, mask)) [[unlikely]]
      return TSLAB_ERR_DOUBLE_FREE;  // another thread freed it already
    write_block();
    clear_owned_bit(pair.allocated, mask);
    return TSLAB_OK;
  }
  // Owner: clears `mask`, a bit known to be set, in an allocated word (a release
  // store); only the owner writes it. On x86-64 one unlocked `xor` to memory (the
  // bit is set, so flipping it clears it, with no `not` of the mask), so the free
  // path need not keep the word in a register: its store is a single aligned
  // 8-byte write, which a reader sees whole, and x86's store order makes it a
  // release store. ThreadSanitizer cannot see an asm write, so its builds use the
  // portable form.
  static void clear_owned_bit(std::atomic<std::uint64_t>& word, std::uint64_t mask) {
#if defined(__x86_64__) && !TSLAB_THREAD_SANITIZER
    asm volatile("xorq %1, %0" : "+m"(word) : "r"(mask) : "memory");
#else
    word.store(word.load(std::memory_order_relaxed) & ~mask, std::memory_order_release);
    // The callers read the slab's open era next: kept after the clear, as the
    // asm's "memory" clobber keeps it (core/fast_path.h, the close's fence).
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
  }
  TslabError free_local(std::uint32_t slot) {
    return free_local(slot, [] {});
  }

  // Any non-owner thread: mark a block freed. On TSLAB_OK the caller must make
  // sure the owner will collect (Heap::notify_remote).
  //
  // Guarantees: a free of a live block always succeeds (law 5). Of remote frees
  // of one block that race each other, at least one succeeds; a second one also
  // returns TSLAB_OK only if it raced the owner's collection of the first, or
  // (free_local) the owner's own free of the block, and then the bit it set is
  // bogus: the owner drops it and never hands the block out twice.
  // Telling exactly one winner would need a record of who set the bit, which a
  // fast path without read-modify-writes cannot keep.
  TslabError free_remote(std::uint32_t slot) {
    BitPair& pair = bits[slot >> 6];
    const std::uint64_t mask = std::uint64_t{1} << (slot & 63);
    // Pre-check with no side effect: a slot that is not allocated now.
    if (!(pair.allocated.load(std::memory_order_acquire) & mask)) return dead_slot_error(slot);
    // Linearization point of a remote free: the fetch_or that sets the bit.
    const std::uint64_t before =
        pair.remote.fetch_or(mask, std::memory_order_seq_cst);  // Heap::notify_remote
    return (before & mask) ? TSLAB_ERR_DOUBLE_FREE : TSLAB_OK;
  }

  // Owner: turn remotely freed slots into free slots, drop bogus bits, and call
  // `on_block(FreeBlock*)` for each block collected. Returns how many.
  template <class OnBlock>
  std::uint32_t collect_remote(OnBlock&& on_block) {
    std::uint32_t collected = 0;
    const std::uint32_t words = bitmap_words();
    for (std::uint32_t w = 0; w < words; ++w) {
      BitPair& pair = bits[w];
      // seq_cst: a freer that found the slab still queued wrote no flag, and its
      // bit is seen through the single total order (Heap::notify_remote).
      const std::uint64_t pending = pair.remote.load(std::memory_order_seq_cst);
      if (pending == 0) continue;
      const std::uint64_t allocated = pair.allocated.load(std::memory_order_relaxed);
      std::uint64_t legit = pending & allocated;
      if (pending != legit) rewritten = true;  // a bogus bit: a double free raced a free
      // Remote bits are cleared before the allocated bits. In between, a collected
      // slot reads live with no remote bit, so a double free racing this collection
      // can set a bit and return OK; that bit is bogus once the store below lands,
      // and is dropped by the next collection.
      pair.remote.fetch_and(~pending, std::memory_order_acq_rel);
      pair.allocated.store(allocated & ~legit, std::memory_order_release);
      collected += static_cast<std::uint32_t>(bit_count(legit));
      while (legit != 0) {
        const auto bit = static_cast<std::uint32_t>(std::countr_zero(legit));
        legit &= legit - 1;
        on_block(reinterpret_cast<FreeBlock*>(block_at(w * 64 + bit)));
      }
    }
    return collected;
  }

  // Any thread: true if no block is live (every allocated bit has its remote bit).
  // Reads only atomics (all words; unused ones are zero), so it is safe on a slab
  // that another thread is recycling and taking into use again.
  bool is_empty() const {
    for (std::uint32_t w = 0; w < BITMAP_WORDS; ++w)
      if (bits[w].allocated.load(std::memory_order_acquire) & ~bits[w].remote.load(std::memory_order_acquire))
        return false;
    return true;
  }

  // Under the allocator lock, or by its owner, for a slab in use (its capacity
  // cannot change): the same as is_empty(), reading only the words of its carved
  // slots. No other slot's allocated bit is set in a slab's life (blocks reach a
  // bin's list only by carve, list_free_slots and relist_purged, all within
  // `carved`; a free of another slot is refused before any write). Its owner
  // reads its own count. A closer reads it as it reads the bits: for an
  // activation waited out, after the fence that shows it every write of the
  // allocations before, and no allocation carves it again; for one not waited
  // out, a count read before an allocation racing the close carved more may
  // call the slab empty, and such a slab only stays (kept warm or waiting) until
  // a later look, never goes back (AllocatorCore::reclaim_closed_locked). A
  // scope's slab carves 1 KiB first (Heap::carve): 1 word to read, not 64.
  bool is_empty_in_use() const {
    const std::uint32_t words = carved_words();
    for (std::uint32_t w = 0; w < words; ++w)
      if (bits[w].allocated.load(std::memory_order_acquire) & ~bits[w].remote.load(std::memory_order_acquire))
        return false;
    return true;
  }

  // The bitmap words of the slots carved so far (see is_empty_in_use).
  std::uint32_t carved_words() const { return (carved.load(std::memory_order_acquire) + 63) / 64; }

  // Any thread: live blocks (allocated and not remotely freed), by bitmap; of
  // the carved slots, as is_empty_in_use (exact for its owner, and for a closer
  // on an activation waited out).
  std::uint32_t live_blocks() const {
    std::uint32_t n = 0;
    const std::uint32_t words = carved_words();
    for (std::uint32_t w = 0; w < words; ++w)
      n += static_cast<std::uint32_t>(bit_count(bits[w].allocated.load(std::memory_order_relaxed) &
                                                ~bits[w].remote.load(std::memory_order_relaxed)));
    return n;
  }
};

// The header (everything before the bitmaps) in three cache lines: a segment
// header holds 64 slabs, so a line more per slab is 4 KiB more metadata per segment.
static_assert(offsetof(Slab, bits) == 192, "Slab's header outgrew three cache lines");
static_assert(offsetof(Slab, spare_seen) / 64 == 1 && offsetof(Slab, purged_pages) / 64 == 1 &&
                  offsetof(Slab, reclaim_bytes) / 64 == 1 && offsetof(Slab, list) / 64 == 1 &&
                  offsetof(Slab, prev) / 64 == 1 && offsetof(Slab, decommitted) / 64 == 1,
              "a slab's 1 <-> 0 live steps read its first two lines only");
static_assert(offsetof(Slab, heap) + sizeof(Slab::heap) <= 64 && offsetof(Slab, state) < 64,
              "a remote free reads one line of a slab's header");
static_assert(offsetof(Slab, owner_live_negated) / 64 == 1,
              "the owner's live count off the remote side's line");
static_assert(MAX_SLOTS <= UINT16_MAX && SLAB_SIZE / Slab::PAGE <= UINT8_MAX, "settled_live / settled_pages");

}  // namespace tslab::detail

#endif  // TSLAB_SEGMENT_SLAB_H
