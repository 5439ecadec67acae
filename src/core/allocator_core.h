// This file contains AllocatorCore, the allocator behind both APIs: it ties the
// epoch ring, the thread heaps, the segments and the handle registry together.
//
// Locking: `mutex_` guards the allocator's reservations (segments, large spans),
// the slab supply and the heap lists; it is taken on slow paths only. The global
// live-allocator lock (threads.cpp) is taken before it, never after.
#ifndef TSLAB_CORE_ALLOCATOR_CORE_H
#define TSLAB_CORE_ALLOCATOR_CORE_H

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/allocator_dependent.h"
#include "core/counters.h"
#include "core/large_span_cache.h"
#include "core/pin_sample.h"
#include "core/thread_cache.h"
#include "epoch/epoch_ring.h"
#include "heap/heap.h"
#include "platform/library_tag.h"
#include "platform/mutex.h"
#include "platform/span_chunks.h"
#include "platform/zeroed_tail.h"
#include "segment/meta_arena.h"
#include "segment/segment.h"
#include "slab_alloc.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

// True if the OS platform carves a reservation of `size` out of a chunk
// (platform/span_chunks.h). No range moves into a chunk (OsPlatform::grow_into),
// so no grow into such a size is tried. A range moved out of one keeps the
// chunk's page offset and anonymous memory, so it merges with no neighbour: a
// live block's realloc still moves it (its pages move, where a copy would write
// every page of the old block, as glibc's mremap does; a mapping per block, as
// glibc's), but a new block never grows a free one out of a chunk
// (grow_warm_span): 200,000 blocks of 1.1 MB each in place of a freed 70 KB one
// reached vm.max_map_count that way. (Another platform's grows of those sizes are
// not tried either.)
constexpr bool carved_span(std::size_t size) { return SpanChunks::carves(size, span_unit(size)); }

// The fast paths' ending policies (core/fast_endings.h).
struct ErrorEndings;

// The allocation fast path's default `on_block`: nothing to do with the slab and
// slot of the block handed out (AllocatorCore::alloc).
struct IgnoreBlock {
  void operator()(const Slab*, std::uint32_t) const noexcept {}
};
class AllocatorCore;
// alloc_with_handle's: the handle written where the fast path has the slab and
// slot, and a miss ended in alloc_with_handle_slow, which writes it too.
struct HandleOut {
  std::uint64_t* out;
  void operator()(const Slab* s, std::uint32_t slot) const noexcept;  // core/fast_path.h
  void* alloc_missed(AllocatorCore& core, std::size_t size, std::uint32_t epoch) const noexcept;
};

struct CoreOptions {
  std::uint32_t epoch_count = SLAB_DEFAULT_EPOCH_COUNT;
  Platform* platform = nullptr;
  // The process allocator (src/override): never destroyed, and its epoch 0,
  // where plain malloc goes, never closed (TSLAB_ERR_PERMANENT).
  bool permanent = false;
};

// Holds a slab against recycling while a thread that does not own it validates
// and uses one of its blocks (core/blocks.cpp). Empty when the caller owns the
// slab: only the owner recycles it, so nothing can change under the owner. The
// count lives in the slab's segment header (SegmentHeader::pins).
class SlabPin {
 public:
  SlabPin() = default;
  SlabPin(const SlabPin&) = delete;
  SlabPin& operator=(const SlabPin&) = delete;
  ~SlabPin() {
    if (pins_ != nullptr) pins_->fetch_sub(1, std::memory_order_release);
  }
  // seq_cst: pairs with the seq_cst state store of recycling (a store-load fence
  // on both sides): either the recycler sees this pin and waits, or this thread
  // sees the slab UNUSED and refuses.
  void pin(std::atomic<std::uint32_t>& pins) noexcept {
    pins_ = &pins;
    pins.fetch_add(1, std::memory_order_seq_cst);
  }

 private:
  std::atomic<std::uint32_t>* pins_ = nullptr;
};

// A block named by a pointer or a handle, after validation. A handle also names
// the slab generation it was issued under (checked again when a large span is freed).
struct CoreSnapshot;

// An address range whose reservation goes back to the OS once the lock is dropped.
struct ReleasedRange {
  void* base = nullptr;
  std::size_t size = 0;
};

struct BlockRef {
  Slab* slab = nullptr;
  std::uint32_t slot = 0;
  TslabError error = TSLAB_OK;
  bool by_handle = false;
  std::uint32_t generation = 0;  // low HANDLE_GEN_BITS, when by_handle
};

class AllocatorCore final : public SlabSource {
 public:
  // nullptr on failure, with the reason in *error.
  static AllocatorCore* create(const CoreOptions& options, TslabError* error) noexcept;
  // The process-wide state every allocator needs (segment map, registry, thread
  // bookkeeping, allocator records) and their fork participants. create() calls
  // it; a caller about to create an allocator under a lock of its own calls it
  // first, outside that lock (fork participants register holding no tslab lock).
  // False if the system refused.
  static bool process_init() noexcept;
  // Returns everything the allocator holds; its record then holds a dead
  // allocator (core/allocator_records.h). A dead or null core: TSLAB_ERR_INVALID_ARGUMENT.
  static TslabError destroy(AllocatorCore* core) noexcept;
  // Dependents (AllocatorDependent): added once, removed by their own end
  // before the allocator's, never both.
  // False, and `d` not added, if an epoch_destroy ended the dependents of its
  // activation already.
  bool add_dependent(AllocatorDependent* d) noexcept;
  void remove_dependent(AllocatorDependent* d) noexcept;
  void unlink_dependent_locked(AllocatorDependent* d) noexcept;
  // Ends the dependents bound to an activation of `epoch` up to `last_era`
  // (epoch_destroy, before it releases their blocks).
  void end_dependents_of_epoch(std::uint32_t epoch, std::uint64_t last_era) noexcept;
  // An arena's own reads and writes of its chunks and fallback blocks (blocks of
  // slot `epoch`: arena/arena_core.cpp) happen between these two calls, from
  // taking a block to publishing it and in reset, stats and destroy.
  // epoch_destroy waits for the slot's work under way before it releases the
  // slot's blocks (wait_for_arena_work); work that begins later sees the
  // slot's activation closed and the arena ended. False, with nothing begun,
  // for a slot out of range (an allocator destroyed meanwhile: dead, no slots).
  // begin_arena_work returns the ticket to end it with, 0 if nothing began.
  std::uint32_t begin_arena_work(std::uint32_t epoch) noexcept;
  void end_arena_work(std::uint32_t epoch, std::uint32_t ticket) noexcept;
  // The allocator every empty tslab::Allocator refers to: never live.
  static AllocatorCore* dead() noexcept;

  // False for a dead allocator: an AllocatorCore with uid 0 and no epochs, which
  // is what a destroyed allocator's record holds. Every entry point that is not a
  // fast path checks it; the fast paths need not, because a dead allocator fails
  // their own tests (epoch_count_ is 0, uid_ matches no thread). False too for an
  // allocator another copy of tslab made (library_): a process may hold two,
  // libtslab.so and a preloaded libtslab-malloc.so, and each one's segment map,
  // registry and thread records know its own allocators only. The fast paths
  // need no test for that either: an allocation works on the allocator's own
  // thread cache (cache_line_offset_ is its library's), slab and ring, or misses
  // to a slow path; a free finds no block of it in this copy's segment map, and a
  // handle's id found in this copy's registry (same record number) ends in
  // free_handle_other, which asks alive().
  bool alive() const noexcept { return uid_ != 0 && library_ == &g_library_tag; }
  // alive(), else records TSLAB_ERR_INVALID_ARGUMENT.
  bool alive_or_error() const noexcept;
  // False, recording TSLAB_ERR_REENTRANT, when this thread is inside tslab (it
  // holds a tslab lock, or is inside an allocation of this allocator): a signal
  // handler that interrupted it. A close waits for allocations in progress and
  // takes tslab's locks, so there it would wait for its own thread forever.
  bool may_wait_or_error() const noexcept;

  // --- fast paths (core/fast_path.h) ---
  // Endings: how each outcome reaches the calling API (core/fast_endings.h);
  // ErrorEndings returns the block or nullptr, and the free's TslabError.
  // `on_block(slab, slot)` is called for a block the fast path handed out, where
  // both are at hand (alloc_with_handle encodes the handle there); the default
  // does nothing and compiles away.
  template <class Endings = ErrorEndings, class OnBlock = IgnoreBlock>
  void* alloc(std::size_t size, std::uint32_t epoch, OnBlock on_block = {}) noexcept;
  template <class Endings = ErrorEndings>
  typename Endings::Result free(void* p) noexcept;
  // An arena's memory (arena/) in `epoch`'s open activation. Above 64 KiB, a
  // span the program cannot free, resize or size (Slab::large_held): the
  // arena's blocks lie inside it, so the span's start is no pointer the program
  // was given, and a stray free of it would free the arena's memory under it.
  // Up to 64 KiB, a block of a size class (alloc_aligned), which has no such mark.
  void* alloc_held(std::size_t size, std::size_t alignment, std::uint32_t epoch) noexcept;
  // The free of what alloc_held returned: a span's pages go back to the OS at
  // once even if the warm cache has room for them (an arena's reset and close
  // return them); a block of a size class is freed as any other.
  TslabError free_held(void* p) noexcept;
  // The slow paths the fast paths end in, called by the ending policies
  // (core/fast_endings.h and the malloc override's).
  // With `handle`, also the block's handle, taken inside the allocation's
  // quiescence marker (alloc_with_handle_slow).
  void* alloc_slow(std::size_t size, std::uint32_t epoch, std::uint64_t* handle = nullptr) noexcept;
  // keep_warm: a large span may stay committed in the warm cache (large_span.cpp).
  TslabError free_slow(void* p, bool keep_warm = true) noexcept;
  // The free fast path's ending for a block of a small slab `s` that the
  // caller's heap does not own (core/blocks.cpp): a remote free, or a refusal.
  [[gnu::noinline]] TslabError free_other(void* p, Slab* s) noexcept;
  // Records a refused free: the thread's last error and the allocator's count.
  [[gnu::noinline, gnu::cold]] TslabError reject_free(TslabError e) noexcept;
  // The fast free's ending for a block of a closed activation `era` (read before
  // the free): the reclaimable count if the owner's count reached 0, then
  // return_if_empty.
  [[gnu::noinline, gnu::cold]] TslabError freed_into_closed(Heap* heap, Slab* s, std::uint64_t era,
                                                            bool emptied) noexcept;
  // The same three endings for a fast free whose API reports only success
  // (core/free_endings.cpp), each already a bool, so that each is a tail call.
  [[gnu::noinline]] bool free_slow_ok(void* p) noexcept;
  [[gnu::noinline]] bool free_other_ok(void* p, Slab* s) noexcept;
  [[gnu::noinline, gnu::cold]] bool reject_free_ok(TslabError e) noexcept;
  [[gnu::noinline, gnu::cold]] bool freed_into_closed_ok(Heap* heap, Slab* s, std::uint64_t era,
                                                         bool emptied) noexcept;
  void* alloc_with_handle(std::size_t size, std::uint32_t epoch, std::uint64_t* handle) noexcept;
  // Its slow path: alloc_slow with the handle.
  [[gnu::noinline]] void* alloc_with_handle_slow(std::size_t size, std::uint32_t epoch,
                                                 std::uint64_t* handle) noexcept;
  // The free of a handle: the caller's own small slab on the fast path, else
  // free_handle_slow (the pinned, validated path), through Endings as free().
  template <class Endings = ErrorEndings>
  typename Endings::Result free_handle(std::uint64_t handle) noexcept;
  [[gnu::noinline]] TslabError free_handle_slow(std::uint64_t handle) noexcept;
  [[gnu::noinline]] bool free_handle_slow_ok(std::uint64_t handle) noexcept;
  // The handle's fast path found its id this allocator's and its slab `s` not
  // the caller's: a remote free, validated from the slab (core/blocks.cpp).
  [[gnu::noinline]] TslabError free_handle_other(std::uint64_t handle, Slab* s) noexcept;
  [[gnu::noinline]] bool free_handle_other_ok(std::uint64_t handle, Slab* s) noexcept;

  // --- the rest of the block API (core/blocks.cpp) ---
  void* alloc_aligned(std::size_t size, std::size_t alignment, std::uint32_t epoch) noexcept;
  void* handle_to_ptr(std::uint64_t handle) const noexcept;
  std::uint64_t ptr_to_handle(const void* p) const noexcept;
  std::size_t usable_size(const void* p) const noexcept;

  // --- zeroed allocation and resizing (core/large_span.cpp) ---
  // A block of `size` bytes that reads as zero. A small block is cleared; of a
  // large one only the bytes an earlier block of its span may have written, as
  // pages new from the OS or handed back to it read as zero already; from
  // ZEROED_BY_OS_FROM bytes of them on, those of pages not resident are handed
  // back rather than cleared, so that pages the program never touched stay
  // untouched (Platform::resident_pages, in windows of ZEROED_WINDOW_PAGES).
  void* alloc_zeroed(std::size_t size, std::uint32_t epoch) noexcept;
  static constexpr std::size_t ZEROED_BY_OS_FROM = std::size_t{1} << 20;
  static constexpr std::size_t ZEROED_WINDOW_PAGES = 1024;
  // The live large block `p` resized to `size` bytes: in place (same address,
  // handle and epoch) while its reservation has room; otherwise moved into a new
  // block of `epoch` whose reservation is twice the old one, contents kept and
  // `p` freed, so a block grown step by step moves O(log size) times. nullptr,
  // with the reason recorded and `p` untouched, if `p` is not a live large block
  // of this allocator or no memory is left.
  void* realloc_large(void* p, std::size_t size, std::uint32_t epoch) noexcept;
  // realloc's move of `p` into the new block `q`, of `size` bytes: as many of
  // `p`'s bytes as both hold copied, then `p` freed, and `q` returned. If `p` is
  // not a live block when the copy begins, or is freed by a racing call before
  // realloc's own free of it, `q` is freed too, the error recorded, and null
  // returned: of a realloc that moves a block and a racing free of it, exactly
  // one succeeds, and the copy never reads a freed block's memory.
  void* move_block(void* p, void* q, std::size_t size) noexcept;
  // Cached spans looked at so far by large allocations: a few per allocation,
  // however many spans are cached (core/large_span_cache.h).
  std::uint64_t large_cache_visits() const noexcept;
  // Settled slabs the sweeps of closes looked at since the allocator was made
  // (core/settled_slabs.cpp; a test reads it on a quiescent allocator).
  std::uint64_t settled_slabs_swept() const noexcept { return settled_swept_; }
  // Reservation bytes the cache of free large spans keeps at most (core/span_release.cpp).
  static constexpr std::uint64_t MAX_CACHED_RESERVATION = std::uint64_t{1} << 30;
  // Free spans the cache keeps at most, whatever their size. Each keeps its
  // range reserved (address space, and a mapping of the process's unless it
  // merges with a neighbour's) but, once cold, no memory; the bound on warm ones
  // is the retention's bytes. Beyond it the span cold longest goes first
  // (LargeSpanCache::take_oldest).
  static constexpr std::uint64_t MAX_CACHED_SPANS = 4096;
  // Freed spans a wave leaves beyond the retention's bound stay committed up to
  // this many times the bound (large_excess_allowed_locked).
  static constexpr std::uint64_t LARGE_EXCESS_PER_BOUND = 3;
  // A freed span beyond the warm reserve stays committed this long unused, and
  // large blocks allocated in windows this long let a wave stay beyond the bound.
  static constexpr std::uint64_t LARGE_RETAIN_NS = 1'000'000'000;
  // Empty slabs (4 MiB) an exiting thread's heap may keep for its next owner.
  static constexpr std::uint32_t ABANDON_KEEP_EMPTY = 64;
  // Empty slabs all abandoned heaps together may keep: as many as the warm
  // reserve and the retention hold (70 MiB by default), and at least one heap's
  // ABANDON_KEEP_EMPTY. A wave of threads alive at once would otherwise leave up
  // to 4 MiB each behind, for good. Lock held.
  std::uint64_t abandoned_keep_limit_locked() const noexcept {
    const std::uint64_t slabs = std::uint64_t{warm_limit_} + large_retain_ / SLAB_SIZE;
    return slabs > ABANDON_KEEP_EMPTY ? slabs : ABANDON_KEEP_EMPTY;
  }

  // --- epochs and memory return (core/reclaim.cpp) ---
  // The record an allocator of `epoch_count` slots lives in: the object, then
  // its tail, the per-slot tables of its ring and its own, laid out for its
  // slots only and written only where used (platform/zeroed_tail.h). Records
  // are reserved for SLAB_MAX_EPOCH_COUNT slots. An allocator of 16 slots
  // commits 4 pages of its record (the object 11.1 KiB, its tables 3.3 KiB),
  // the process allocator's 64 slots 7 (tables 13.3 KiB); with the tables of 256 slots inside the
  // object, each took 16 pages, and its dead successor 16 more.
  static std::size_t tail_bytes(std::uint32_t epoch_count) noexcept {
    ZeroedTail tables(EpochRing::tail_bytes(epoch_count));
    for_each_tail_table(
        [&](auto table) { tables.take(table, static_cast<AllocatorCore*>(nullptr), epoch_count); });
    return tables.end();
  }
  EpochRing& epochs() noexcept { return epochs_; }
  const EpochRing& epochs() const noexcept { return epochs_; }
  // The API's view of the ring: a dead allocator or an out-of-range epoch is an
  // error (recorded) and reads as epoch 0 / CLOSING / era 0 / count 0.
  std::uint32_t epoch_current() const noexcept;
  EpochLifecycleState epoch_state(std::uint32_t epoch) const noexcept;
  std::uint64_t epoch_era(std::uint32_t epoch) const noexcept;
  std::uint32_t epoch_count_checked() const noexcept;
  // Closes the current epoch (returning its empty slabs' pages) and activates the next.
  std::uint32_t epoch_advance() noexcept;
  // Activates a slot held outside the rotation (epoch/epoch_ring.h) and returns
  // it; SLAB_NO_EPOCH with TSLAB_ERR_NO_FREE_EPOCH if every other slot is held.
  // A held slot's new activation; its era in *opened_era when given (what a
  // later epoch_close_era closes, and nothing after it).
  std::uint32_t epoch_open(std::uint64_t* opened_era = nullptr) noexcept;
  bool epoch_held(std::uint32_t epoch) const noexcept;
  // Marks `epoch` CLOSING and returns the pages of its empty slabs before returning.
  bool epoch_close(std::uint32_t epoch) noexcept;
  // Closes `epoch` if open, then frees every block still live in its ended
  // activations (core/epoch_destroy.cpp); *released (may be null): how many.
  bool epoch_destroy(std::uint32_t epoch, std::uint64_t* released) noexcept;
  // The same, only if the slot's current activation is `era` (else TSLAB_ERR_STALE_EPOCH).
  bool epoch_close_era(std::uint32_t epoch, std::uint64_t era) noexcept;
  // Returns the pages of every empty slab no live thread's cache holds, the warm
  // reserve's included; bytes returned.
  std::uint64_t collect() noexcept;
  // Bounds the warm reserve (bytes, at most MAX_WARM_RESERVE); a reserve above
  // the new bound goes back to the OS at once. TSLAB_ERR_INVALID_ARGUMENT beyond it.
  bool set_warm_reserve(std::uint64_t bytes) noexcept;
  std::uint64_t warm_reserve() const noexcept;
  static constexpr std::uint64_t MAX_WARM_RESERVE = std::uint64_t{1} << 30;
  // Bounds the freed large spans kept committed beyond the warm reserve (bytes,
  // at most MAX_WARM_RESERVE); what is kept above the new bound goes back at once.
  bool set_large_retain(std::uint64_t bytes) noexcept;
  std::uint64_t large_retain() const noexcept;
  // Resident bytes of the allocator's own ranges (slabs, spans, metadata).
  std::uint64_t resident_bytes() const noexcept;
  bool epoch_info(std::uint32_t epoch, SlabEpochInfo* out) const noexcept;
  // Per-epoch metadata; out-of-range epochs fail with TSLAB_ERR_EPOCH_OUT_OF_RANGE.
  bool epoch_set_label(std::uint32_t epoch, const char* label) noexcept;
  std::uint32_t epoch_inc_refcount(std::uint32_t epoch) noexcept;
  std::uint32_t epoch_dec_refcount(std::uint32_t epoch) noexcept;
  std::uint32_t epoch_refcount(std::uint32_t epoch) const noexcept;

  // --- the allocator's name (core/allocator_name.cpp) ---
  // False, recording TSLAB_ERR_INVALID_ARGUMENT, for a dead allocator or a name
  // longer than SLAB_ALLOCATOR_NAME_SIZE - 1 bytes or holding a control
  // character; null or "" clears the name.
  bool set_name(const char* name) noexcept;
  // Copies the name (snprintf-style: truncated, NUL-terminated when out_size > 0)
  // and returns its length; 0 for a dead allocator, with the error recorded.
  std::size_t name(char* out, std::size_t out_size) const noexcept;

  // --- invariants and counters (core/check.cpp) ---
  bool check(char* message, std::size_t message_size) const noexcept;
  bool perf_counters(std::uint32_t size_class, PerfCounters* out) const noexcept;

  // --- allocation sampling, TSLAB_PIN_SAMPLE (core/pin_sample.h) ---
  // The slot's last-close pin report (a zeroed one with sample_every 0 if off).
  bool pin_report(std::uint32_t epoch, PinReport* out) const noexcept;
  // Allocations sampled so far.
  std::uint64_t pin_samples_recorded() const noexcept { return sampler_.recorded(); }

  // --- statistics (core/snapshot.cpp) ---
  // Fills `out` (zeroed by the caller): occupancy from the slab bitmaps, counters
  // merged from the heaps. With only_class < NUM_CLASSES, the per-epoch occupancy
  // counts that class only (and no large spans). Without `measure_resident`,
  // resident_bytes stays 0: no page table is read (a mincore call per
  // reservation, under the lock).
  void snapshot(CoreSnapshot& out, std::uint32_t only_class, bool measure_resident = true) const noexcept;
  std::uint32_t epoch_count() const noexcept { return epoch_count_; }
  bool permanent() const noexcept { return epochs_.permanent(0); }

  // --- threads (core/threads.cpp) ---
  std::uint64_t uid() const noexcept { return uid_; }
  // The thread-cache way of this allocator (core/thread_cache.h); set once, by
  // register_live, before the allocator is handed out.
  std::uint32_t cache_way() const noexcept { return cache_way_; }
  void set_cache_way(std::uint32_t way) noexcept {
    cache_way_ = way;
    cache_line_offset_ = reinterpret_cast<char*>(&tl_cache[way]) - thread_pointer();
  }
  // The calling thread's cache line for this allocator's way: it names this
  // allocator iff its uid is uid_.
  // Measured: 2 instructions to the line's address (4 through the way's index).
  const ThreadCache& cache_line() const noexcept {
    return *reinterpret_cast<const ThreadCache*>(thread_pointer() + cache_line_offset_);
  }
  // Hands a heap back; the next thread to attach adopts it. Caller holds the live lock.
  void abandon_heap(Heap* heap) noexcept;
  // A heap being adopted: its remote frees collected, and its empty slabs handed
  // back if more than ABANDON_KEEP_EMPTY. Lock held.
  void hand_back_idle_slabs_locked(Heap* heap) noexcept;

  // This thread's heap in this allocator, or null if it has none. Inline for the
  // cache line's hit (the remote free asks twice: validation and the free).
  Heap* own_heap() const noexcept {
    if (const ThreadCache& line = cache_line(); line.uid == uid_) [[likely]]
      return line.heap;
    return own_heap_uncached();
  }
  // own_heap() when the cache line names another allocator: the thread's record.
  Heap* own_heap_uncached() const noexcept;
  // The calling thread's heap, attached first if it has none (nullptr if that
  // failed, the reason recorded): an arena's slow path makes the thread's next
  // bumps take the marked fast path (arena/arena_core.h).
  Heap* thread_heap() noexcept { return cache_line().uid == uid_ ? cache_line().heap : attach_thread(); }

  // --- fork (core/fork.cpp); the caller holds the live lock throughout ---
  // Takes the allocator's locks (allocator, sampler, ring, metadata arena), in that order.
  void fork_prepare() noexcept;
  // Releases them in the parent.
  void fork_parent() noexcept;
  // In the child: `mine` (the forking thread's heap here, or null) stays the
  // thread's; every other owned heap belonged to a thread that is gone and is
  // orphaned; then the locks are released.
  void fork_child(const Heap* mine) noexcept;

  Slab* take_slab(Heap& heap, std::uint32_t epoch, std::uint32_t size_class, std::uint64_t era,
                  bool warm_only) noexcept override;
  std::uint64_t open_era(std::uint32_t epoch) const noexcept override { return epochs_.open_era(epoch); }
  std::uint64_t close_count() const noexcept override { return epochs_.close_count(); }
  void recycle_slabs(Slab* list, HandBack why = HandBack::reclaim) noexcept override;
  void end_hand_back_grace() noexcept override;
  // Slabs a heap whose size mix moved handed back (HandBack::moving) stay
  // committed beyond the retention in windows of this length: the next phase of
  // a program that fills one size class after freeing another takes them as it
  // grows. At the end of a window the excess kept is at most
  // GRACE_KEEP_PER_TAKEN times the warm slabs taken in it, so a phase taking
  // them steadily keeps them, while a few slabs another heap's traffic cycles
  // through the pool keep no more than their share committed.
  static constexpr std::uint64_t HAND_BACK_GRACE_NS = 100'000'000;
  static constexpr std::uint32_t GRACE_KEEP_PER_TAKEN = 4;
  // Records `bytes` of a large block allocated (not from a thread's stash).
  void note_large_taken(std::uint64_t bytes) noexcept;
  // Moves the windows of large_excess_allowed_locked on if the current one is
  // LARGE_RETAIN_NS old at `now` (a reading of monotonic_ns that another
  // thread's turn may have overtaken). Any thread, no lock.
  void turn_large_window(std::uint64_t now) noexcept;
  // Bytes of large blocks allocated in the current window or the one before,
  // the larger: what lets a wave stay beyond the bound, before the cap.
  std::uint64_t large_recently_taken() const noexcept {
    return std::max(large_taken_before_.load(std::memory_order_relaxed),
                    large_taken_now_.load(std::memory_order_relaxed));
  }
  void release_pages(void* p, std::size_t size) noexcept override;
  // A free into a closed activation `era` (read before the free, while the block
  // kept the slab in use): if that emptied the slab, return its pages.
  void return_if_empty(Slab* s, std::uint64_t era) noexcept;
  void prefault(void* p, std::size_t size) noexcept override;

 private:
  AllocatorCore(const CoreOptions& options, std::uint64_t uid, std::uint32_t record) noexcept;
  ~AllocatorCore();
  // A dead allocator, constructed at `where`.
  static AllocatorCore* construct_dead(void* where) noexcept;

  void* tail() noexcept { return reinterpret_cast<char*>(this) + sizeof(AllocatorCore); }
  // Calls take(&AllocatorCore::table) for each of its own tables in the tail.
  template <class Take>
  static void for_each_tail_table(Take&& take) noexcept {
    take(&AllocatorCore::epoch_counters_);
    take(&AllocatorCore::current_segment_);
    take(&AllocatorCore::epoch_slabs_);
    take(&AllocatorCore::settled_slabs_);
    take(&AllocatorCore::settled_pins_);
    take(&AllocatorCore::destroyed_era_);
    take(&AllocatorCore::quiesced_era_);
    take(&AllocatorCore::arena_work_);
    take(&AllocatorCore::rss_before_close_);
    take(&AllocatorCore::rss_after_close_);
  }
  // Destroys `core`, puts a dead allocator in its record and queues the record.
  static void bury(AllocatorCore* core) noexcept;

  // True for an epoch in range of a live allocator (alive()); otherwise records
  // TSLAB_ERR_EPOCH_OUT_OF_RANGE, or TSLAB_ERR_INVALID_ARGUMENT if not alive().
  bool in_range_or_error(std::uint32_t epoch) const noexcept;
  // False, recording TSLAB_ERR_PERMANENT, for the permanent epoch 0.
  bool closable_or_error(std::uint32_t epoch) const noexcept;
  // The era of an epoch that takes allocations, or 0 with the reason recorded.
  std::uint64_t open_era_or_error(std::uint32_t epoch) const noexcept;
  // allocate(era) for a block of `epoch` made off the fast path (a large one),
  // with the era read inside the calling thread's quiescence marker, as a small
  // block's slow path reads it: a close either is seen (null,
  // TSLAB_ERR_EPOCH_CLOSING) or waits until the block is published before any
  // walk of its activation's blocks (epoch_destroy's, the drain report's).
  template <class Allocate>
  void* in_open_era(std::uint32_t epoch, Allocate&& allocate) noexcept;
  // Hands pages back to the OS, counted. False if the OS refused.
  bool decommit_counted(void* p, std::size_t size) noexcept;
  // The same, for pages of blocks (slabs' or spans'): also counted as returned,
  // which collect() reports.
  bool decommit_returned(void* p, std::size_t size) noexcept;
  // Frees a validated block from the calling thread (whose heap here is `mine`,
  // or null): local or remote.
  TslabError free_block(const BlockRef& ref, void* p, bool keep_warm, Heap* mine) noexcept;
  // free_other's common case, a free of another heap's live block: false if
  // the free is anything else (free_slow then decides), else true with *e set.
  [[gnu::always_inline]] bool try_free_remote(void* p, Slab* s, Heap* mine, TslabError* e) noexcept;
  // free_handle_slow's body, in each result type (core/free_endings.cpp).
  template <FreeResult Result>
  [[gnu::always_inline]] Result free_handle_validated(std::uint64_t handle) noexcept;
  // Their common end, the slab pinned and seen in use and `slot` a block of it:
  // false if the slab is now the caller's own (`mine`), else the free, *e set.
  [[gnu::always_inline]] bool free_remote_pinned(Slab* s, std::uint32_t slot, Heap* mine,
                                                 TslabError* e) noexcept;
  // The free fast path's common end, for slot `slot` (block `p`) of small slab
  // `s`, which the caller's heap (tc.heap) owns (core/fast_path.h).
  template <class Endings>
  typename Endings::Result free_owned(const ThreadCache& tc, Slab* s, std::uint32_t slot, void* p) noexcept;
  // What free_block and try_free_remote do once a remote free is validated.
  [[gnu::always_inline]] TslabError free_remote_slot(Slab* s, Heap* owner, std::uint32_t slot,
                                                     std::uint64_t era, std::uint32_t epoch) noexcept;
  TslabError free_block(const BlockRef& ref, void* p, bool keep_warm = true) noexcept {
    return free_block(ref, p, keep_warm, own_heap());
  }
  // Validation; pins the slab first unless the caller, whose heap here is
  // `mine` (or null), owns it.
  // Whether a resolution finds an arena's span (alloc_held): only the arena's
  // release and epoch_destroy do; for anything else it is NOT_ALLOCATED.
  enum class HeldSpans : bool { refused, found };
  BlockRef resolve_pointer(const void* p, SlabPin& pin, const Heap* mine,
                           HeldSpans held = HeldSpans::refused) const noexcept;
  BlockRef resolve_pointer(const void* p, SlabPin& pin) const noexcept {
    return resolve_pointer(p, pin, own_heap());
  }
  BlockRef resolve_handle(std::uint64_t handle, SlabPin& pin) const noexcept;
  bool owned_by_caller(const Slab* s) const noexcept;
  std::uint64_t encode_handle(const Slab* s, std::uint32_t slot) const noexcept;

  // platform_.reserve, checked: nullptr (the range given back) if the platform
  // returned a range not aligned to `alignment` (a power of two).
  void* reserve_aligned(std::size_t size, std::size_t alignment) noexcept;
  Heap* attach_thread() noexcept;  // threads.cpp
  Heap* acquire_heap() noexcept;   // threads.cpp

  SegmentHeader* new_small_segment() noexcept;  // caller holds mutex_
  // Caller holds mutex_. Pages of a slab no allocation path reaches go back.
  bool decommit_slab_locked(Slab* s) noexcept;
  void recycle_slab_locked(Slab* s, bool retain = false) noexcept;
  // Recycles a list of slabs (recycle_slabs) under the lock already held.
  void recycle_list_locked(Slab* list, HandBack why) noexcept;
  // True once the slab's id has no generation left (handle/registry.h).
  static bool retired(const Slab* s) noexcept;
  // The registry entries of the allocator's ids, in bytes. Caller holds mutex_.
  std::uint64_t registry_bytes_locked() const noexcept;
  // Bytes of metadata: the allocator's own record (the object and its slots'
  // tables, whole pages, written or not), the metadata arena's resident pages (with `resident`; else
  // its chunks' bytes, read without a system call) and the registry entries.
  // Caller holds mutex_.
  std::uint64_t metadata_bytes_locked(bool resident = true) const noexcept;
  void finish_recycle_locked(Slab* s, bool retain = false) noexcept;
  // Warm slabs beyond the warm reserve: kept from recycling with `retain`, within
  // TSLAB_LARGE_RETAIN together with the cached spans beyond the reserve.
  std::uint32_t warm_excess_locked() const noexcept {
    return warm_count_ > warm_limit_ ? warm_count_ - warm_limit_ : 0;
  }
  // The warm slabs the reserve and the retention hold: the reserve's room and
  // what the retention leaves beside the cached spans beyond the reserve.
  std::uint32_t retained_bound_locked() const noexcept;
  // Returns the warm slabs beyond retained_bound_locked().
  void trim_retained_locked() noexcept { release_warm_locked(retained_bound_locked()); }
  // The excess goes back once it went unused for LARGE_RETAIN_NS, and what a
  // moving hand-back kept beyond the retention as each window of its grace ends
  // (HAND_BACK_GRACE_NS). Lock held.
  void release_warm_decayed_locked() noexcept;
  void retry_deferred_locked() noexcept;
  bool still_reached(Slab* s) noexcept;
  void unlink_pooled_locked(Slab* s) noexcept;
  void make_dormant_locked(SegmentHeader* seg) noexcept;
  // Puts a dormant segment's slabs back in the pool: one that kept its range,
  // else one whose range went back and can be had again at the same address.
  void wake_dormant_locked() noexcept;
  SegmentHeader* take_dormant_locked() noexcept;
  static constexpr int RELEASED_TRIES = 4;  // released segments tried per wake
  // Out of address space (a reservation refused): the ranges of dormant
  // segments go back to the OS too, if the platform can reserve them again
  // where they were (Platform::reserve_at). Returns whether any did.
  bool release_dormant_ranges_locked() noexcept;
  void append_released_locked(SegmentHeader* seg) noexcept;
  // A released dormant segment's range, reserved again where it was; false if
  // it cannot be had there now.
  bool take_range_back_locked(SegmentHeader* seg) noexcept;
  // What a scan of closed activations found still live: the drain report of a
  // close. Slabs are pinned when a live block keeps their pages from going back.
  struct ClosePins {
    std::uint64_t live_blocks = 0;
    std::uint64_t slabs = 0;
    std::uint64_t bytes = 0;  // committed bytes of the pinned slabs
  };
  // Empty slabs of closed activations of `epoch`. Those of `closing_era` (the
  // activation a close just ended; 0 for collect) are left to their owners for
  // the warm reserve while it has room (keep_warm). The rest, if their era is
  // quiesced, go back to the OS. Returns the slabs whose pages went back; *over:
  // empty slabs neither left nor returned (they wait for a quiescence); *pins:
  // the slabs that are not empty, counted on the same walk. A slab of
  // `closing_era` that is not empty becomes a pinned candidate (below); one of
  // an older activation, still not empty, has its free pages returned (or counts
  // in *over until its era is waited out).
  // Returns the pages of `mask` of a slab of a closed, waited-out activation that
  // still holds live blocks (none on those pages), one madvise per run.
  void purge_closed_pages_locked(Slab* s, std::uint16_t mask) noexcept;
  // Pinned candidates: slabs a close found holding live blocks beside free
  // pages. They get a second look at the next close, of any slot: by then a
  // slab that held a request in flight has drained and is recycled whole (warm,
  // no page fault), while one that objects outlived (a cache entry made inside a
  // lifetime scope) keeps only the pages those objects are on. Returns how many
  // still wait for their era's quiescence. Allocator lock held.
  // `this_close`: the caller's close; candidates it or a later close found wait.
  std::uint32_t purge_pinned_candidates_locked(std::uint64_t this_close) noexcept;
  void add_pinned_candidate_locked(Slab* s) noexcept;
  void mark_candidates_quiesced_locked(std::uint64_t fenced_close) noexcept;
  struct PinnedCandidate {
    Slab* slab;
    std::uint32_t epoch;  // the slot and era of the life it was found in
    std::uint64_t era;
    std::uint64_t close;  // closes_seen_ when it was found
  };
  static constexpr std::uint32_t PINNED_CANDIDATES = 128;
  // Settled slabs (core/settled_slabs.cpp): a slab of a closed, waited-out
  // activation whose free pages all went back stays unchanged until a block in
  // it is freed, so it waits on its slot's settled list, where closes do not walk.
  // Allocator lock held; a change to a settled slab clears its flag (Slab::unsettle).
  //   try_settle_begin: marks `s` before its bitmap is read (then call
  //     try_settle_end with the same slab and the live blocks read after the
  //     mark, once its free pages went back).
  void try_settle_begin(Slab* s) noexcept;
  void try_settle_end(Slab* s, std::uint32_t live) noexcept;
  // Takes the slabs freed into since they settled (the unsettled stack) back to
  // their slots' walked lists.
  void sweep_unsettled_locked() noexcept;
  // In a fork's child: a thread that vanished in the middle of a free may have
  // changed a settled slab without unsettling it, or stopped half-way through
  // its push, so the stack is made empty and every settled slab walked again.
  void unsettle_all_after_fork() noexcept;
  // Removes a slab from whichever list of its slot it is on.
  void unlink_epoch_slab_locked(Slab* s) noexcept;
  // Calls fn(const Slab&) for every slab of `epoch` in use, walked and settled.
  template <class Fn>
  void for_each_epoch_slab_locked(std::uint32_t epoch, Fn fn) const noexcept {
    for (const Slab* s = epoch_slabs_[epoch]; s != nullptr; s = s->epoch_next) fn(*s);
    for (const Slab* s = settled_slabs_[epoch]; s != nullptr; s = s->epoch_next) fn(*s);
  }
  std::uint32_t reclaim_closed_locked(std::uint32_t epoch, std::uint64_t closing_era, std::uint32_t* over,
                                      ClosePins* pins = nullptr) noexcept;
  // Records one close in the allocator's and the slot's counters.
  void count_close(std::uint32_t epoch, std::uint64_t took_ns, std::uint32_t returned,
                   const ClosePins& pins) noexcept;
  // Hands back the pages of n slabs in one madvise per contiguous run; a slab
  // whose pages already went back is skipped. Returns the slabs returned.
  std::uint32_t decommit_slabs_locked(Slab** slabs, std::uint32_t n) noexcept;
  // The warm reserve (option TSLAB_WARM_RESERVE): committed empty slabs kept in
  // the pool across closes, so rotating epochs neither madvise nor fault.
  std::uint32_t warm_room_locked() const noexcept;
  // Marks or unmarks a slab left to its owner for the reserve, counted in warm_left_.
  void set_keep_warm_locked(Slab* s, bool keep) noexcept;
  // Warm slabs beyond `keep` give their pages back and join the ordinary pool.
  void release_warm_locked(std::uint32_t keep) noexcept;
  // Waits out the allocations of every closed activation of `epoch` up to `era`.
  bool quiesce_epoch(std::uint32_t epoch, std::uint64_t era) noexcept;
  // Records that every allocation of `epoch`'s activations up to `era` is over.
  void mark_quiesced(std::uint32_t epoch, std::uint64_t era) noexcept;
  void flush_abandoned_locked(bool active_too) noexcept;
  // Recycles (retain: recycle_slabs) the empty slabs of `heap`, abandoned (or being abandoned) and so
  // owned by whoever holds the lock (Heap::take_empty_slabs).
  void recycle_empty_slabs_locked(Heap* heap, bool active_too, bool retain = false) noexcept;
  // Keeps the empty slabs of the abandoned `heap` if they are few and the
  // abandoned heaps' together stay within abandoned_keep_limit_locked(); else hands them
  // to the pool. Lock held.
  void keep_or_hand_back_empty_locked(Heap* heap) noexcept;
  void after_close(std::uint32_t epoch, std::uint64_t closed_era, std::uint64_t rss_before,
                   std::uint64_t started_ns) noexcept;
  // The process RSS for the per-epoch close statistics, if TSLAB_CLOSE_RSS is on; else 0.
  std::uint64_t close_rss() const noexcept;
  // Waits until every allocation that may have seen an epoch open before a close
  // has finished (process-wide fence, then each heap's allocation sequence).
  // False if the OS offers no process-wide fence.
  bool quiesce_allocations() noexcept;
  // In the child of a fork: large spans a vanished thread left between the two
  // steps of an allocation or a free go back to the cache (core/fork.cpp);
  // `mine` is the forking thread's heap here, or null.
  void repair_large_spans_after_fork(const Heap* mine) noexcept;
  // In a fork's child: every heap's queue of remotely freed slabs made again.
  void requeue_remote_frees_after_fork() noexcept;
  // A freed span's pages go back (or, if the platform keeps them, are zeroed):
  // a cached span reads as zero.
  void clear_span(Slab* s) noexcept;
  // Returns the pages of cached large spans kept committed until at most `keep`
  // bytes of them are left, those cached longest first. Allocator lock held.
  void release_large_warm_locked(std::uint64_t keep) noexcept;
  // One kind of warm memory makes way for fresh pages of the other, so that what
  // is kept committed for reuse never adds to the footprint of a program whose
  // mix moves between small blocks and large ones. Allocator lock held.
  //   - about `bytes` of cached large spans' pages go back, from the tails of the
  //     spans cached longest (a slab is about to fault its pages in);
  //   - warm slabs beyond the warm reserve for about `bytes` go back (a large
  //     block is about to); the reserve's stay.
  //   With `above`, only spans keeping more than `above` bytes committed give
  //   theirs (make_way_locked).
  void trim_large_warm_locked(std::uint64_t bytes, std::size_t above = 0) noexcept;
  void trim_warm_slabs_locked(std::uint64_t bytes) noexcept;
  // A freed span keeping `dirty` bytes committed that the retention's bound
  // leaves no room for takes the room from warm spans keeping more than it
  // does, those cached longest first: under one bound, smaller spans serve
  // more blocks, and a large table freed first does not push out the buffers
  // freed after it. True if it made the room; nothing changes if those spans
  // hold less than the shortfall. Allocator lock held.
  bool make_way_locked(std::size_t dirty, std::uint64_t held, std::uint64_t bound) noexcept;
  // Warm spans make_way_locked looks at, at most (the oldest first).
  static constexpr std::uint32_t MAKE_WAY_WALK = 256;
  // Freed spans kept committed beyond the warm reserve (TSLAB_LARGE_RETAIN) for
  // longer than LARGE_RETAIN_NS give their pages back. Allocator lock held.
  void release_large_decayed_locked() noexcept;
  // The committed bytes of freed spans (cached or stashed) and of warm slabs
  // beyond the reserve that lie beyond the retention's bound: spans freed when
  // the bound had no room, kept for the blocks a program allocates again (a
  // wave of buffers freed together, a garbage collector's sweep). They go back
  // as fresh pages fault in for large blocks (as many bytes), or once unused
  // for LARGE_RETAIN_NS. Allocator lock held.
  std::uint64_t large_excess_locked() const noexcept;
  // A large block is about to fault in `bytes` of fresh pages: as many bytes of
  // the excess go back, the spans cached longest first. Allocator lock held.
  void release_large_excess_locked(std::uint64_t bytes) noexcept;
  // The same for a block grown in place or moved to a grown range; takes the
  // lock only while there is an excess (large_excess_ns_).
  void large_excess_makes_way(std::uint64_t bytes) noexcept;
  // How far beyond the bound freed spans may stay committed now: the bytes of
  // large blocks allocated in the current window of LARGE_RETAIN_NS or the one
  // before (a wave freed after a wave allocated), at most LARGE_EXCESS_PER_BOUND
  // times the bound; 0 with TSLAB_LARGE_RETAIN=0. A span beyond that goes back
  // at its free, so an idle program keeps at most the bound and this much.
  // Allocator lock held.
  std::uint64_t large_excess_allowed_locked(std::uint64_t now) noexcept;
  // A large block of at least `size` bytes. `room`: the reservation wanted, if
  // more than the block needs. *stale_bytes (if not null): bytes from the block's
  // start that may hold an earlier block's data; the rest reads as zero.
  // held: an arena's memory (alloc_held).
  void* alloc_large(std::size_t size, std::size_t alignment, std::uint32_t epoch, std::uint64_t era,
                    std::size_t room = 0, std::size_t* stale_bytes = nullptr, bool held = false) noexcept;
  // The page-rounded bytes of a large block of `size`; false if none can be that large.
  bool large_need(std::size_t size, std::size_t* need) const noexcept;
  // A span of at least `reserve` bytes for a block of `need`: a cached one,
  // committed and its generation moved on, else a new reservation. Null if
  // neither; *refused if the platform refused to commit a cached span. A cached
  // one of at most `at_most` bytes.
  SegmentHeader* obtain_span(std::size_t reserve, std::size_t need, std::size_t alignment, bool* refused,
                             std::size_t at_most = SIZE_MAX) noexcept;
  // `resident`: only a span whose pages the block finds committed (dirty_bytes >=
  // need), of at most MAX_RESIDENT_SPAN_GROWTH times `reserve`; else one of at
  // most `at_most` bytes.
  SegmentHeader* take_cached_span(std::size_t reserve, std::size_t need, std::size_t alignment, bool* refused,
                                  bool resident = false, std::size_t at_most = SIZE_MAX) noexcept;
  // For a request no stashed or cached span fits: the warmest smaller span of
  // the caller's stash, else of the cache, grown into a new reservation of
  // `reserve` bytes, its committed pages moved along (Platform::grow_into;
  // core/span_grow.cpp). Null if none has committed pages or the platform refused.
  SegmentHeader* grow_warm_span(std::size_t reserve, std::size_t alignment) noexcept;
  // realloc of the live large block `p` beyond its reservation: the block, pages
  // and all, grown into a reservation of at least `need` (`room` if larger) and
  // published as a block of `need` bytes in `epoch`. Null if not done, `p` then
  // still live, unless *gone: `p` was not a live block (error recorded).
  void* grow_live_span(void* p, std::size_t need, std::size_t room, std::uint32_t epoch, std::uint64_t era,
                       bool* gone) noexcept;
  // A new reservation of `size` bytes the segment map covers; null if none.
  void* reserve_covered_span(std::size_t size) noexcept;
  // A span about to grow: its old range leaves the map (forget_range_locked), and
  // comes back if the grow is refused (keep_range_locked). Allocator lock held.
  void forget_range_locked(SegmentHeader* seg) noexcept;
  void keep_range_locked(SegmentHeader* seg) noexcept;
  // After a grow of `seg`'s range (forgotten before it): true if a validation
  // still pins the header; then, unless `keep_held`, the header is bare (and no
  // longer the grower's).
  bool release_grown_range(SegmentHeader* seg, bool keep_held) noexcept;
  // A span bound to a new reservation: a bare header if one is free, else new metadata and id.
  SegmentHeader* new_span(std::size_t reserve, std::size_t alignment) noexcept;
  // A new reservation; if the OS refuses, again once free spans gave theirs back.
  void* reserve_span(std::size_t reserve, std::size_t alignment) noexcept;
  // Hands the span out as a block of `need` bytes; returns its start.
  void* publish_span(SegmentHeader* seg, std::size_t need, std::uint32_t epoch, std::uint64_t era,
                     bool held = false) noexcept;
  // The span of the live large block `p`, else null with the reason recorded.
  Slab* live_large_span(const void* p, SlabPin& pin) const noexcept;
  // The caller's live span resized to `need` bytes within its reservation; false
  // if it has no room or the platform refused the pages.
  bool resize_span(Slab* s, std::size_t need) noexcept;
  // Marks the live span `s` as resized by the caller: true if it was live and
  // no other resize had marked it.
  static bool begin_resize(Slab* s) noexcept;
  // Ends the caller's resize of `s`, and a free that landed during it: false
  // if one did (the span may then be gone).
  bool end_resize(Slab* s) noexcept;
  // A shrunk block's tail [from, to) of the span goes back to the OS.
  void release_tail(SegmentHeader* seg, std::size_t from, std::size_t to) noexcept;
  // `mine`: the caller's heap here, or null; its stash may keep the span.
  TslabError free_large(const BlockRef& ref, bool keep_warm, Heap* mine) noexcept;
  // A large free after its compare-exchange: the span to a stash, the cache or
  // the OS.
  void end_large_free(Slab* s, bool keep_warm, Heap* mine) noexcept;
  // --- the span stash (core/span_stash.cpp) ---
  // A freed span of at most STASH_SPAN_BYTES kept in the caller's heap, if it has
  // a free slot and the stashes' bytes stay within the warm reserve. True if kept.
  bool stash_span(Heap* mine, SegmentHeader* seg, Slab* s) noexcept;
  // A span of the caller's stash for a block of `need` bytes (reservation at
  // least `reserve`, at most `at_most`), committed and its generation moved on;
  // null if none fits.
  SegmentHeader* take_stashed_span(std::size_t reserve, std::size_t need, std::size_t alignment,
                                   bool resident = false, std::size_t at_most = SIZE_MAX) noexcept;
  // A span a grown block moves into (alloc_resident_span) is at most this many
  // times the reservation it asks for: a larger one would keep its earlier
  // block's pages beyond this one as a tail (32 small buffers grown between
  // uses of a 4 MiB one each took a 4 MiB span, +125 MiB resident, without it).
  static constexpr std::size_t MAX_RESIDENT_SPAN_GROWTH = 2;
  // Bytes an earlier block left written beyond a new, smaller one in a cached
  // span it takes, at most: MAX_KEPT_EXCESS, or KEPT_EXCESS_PER_BYTE times the
  // new block's size if that is more (take_cached_span). Four times, so that a
  // loop over buffers of 5 to 25 MiB reuses one warm span.
  static constexpr std::size_t MAX_KEPT_EXCESS = std::size_t{1} << 20;
  static constexpr std::size_t KEPT_EXCESS_PER_BYTE = 4;
  // For a block that outgrew its reservation: a free span, stashed or cached,
  // with room for `room` bytes whose first `need` bytes are committed, published
  // as a block of `size`; null (and no error) if none.
  void* alloc_resident_span(std::size_t size, std::size_t room, std::uint32_t epoch,
                            std::uint64_t era) noexcept;
  // The end of a realloc that copied `p` into `q`: `p` freed, `q` returned; if
  // `p` was no longer live, `q` freed too, the error recorded, null.
  void* end_moved_block(void* p, void* q) noexcept;
  // A span taken out of `slot` goes back into it, or to the cache if the slot was
  // filled meanwhile.
  void restash(std::atomic<SegmentHeader*>& slot, SegmentHeader* seg) noexcept;
  // The heap's stashed spans go to the cache. Allocator lock held.
  void unstash_locked(Heap* heap) noexcept;
  // The same without holding the cache to its bounds after (the caller does, once).
  void take_stash_locked(Heap* heap) noexcept;
  // Spans kept committed beyond what the cache may keep go back (unstash_locked).
  void hold_unstashed_to_bound_locked() noexcept;
  // Every heap's: collect, a lower warm reserve. Allocator lock held.
  void unstash_all_locked() noexcept;
  // In a fork's child: the stashes of heaps other than `mine` (the forking
  // thread's, which stays as it was) are emptied; the spans they held are free
  // and in no list, so the repair of large spans caches them.
  void forget_stashes_after_fork(const Heap* mine) noexcept;
  // True if `seg` is in one of `heap`'s stash slots (heap may be null).
  static bool stashed_in(const Heap* heap, const SegmentHeader* seg) noexcept;
  static constexpr std::size_t STASH_SPAN_BYTES = std::size_t{1} << 20;
  // A span out of the cache (or never entering it) gives its range up: the map
  // forgets it and the header waits, bare, for a new range. Allocator lock held.
  ReleasedRange unbind_span_locked(SegmentHeader* seg) noexcept;
  void unmap(const ReleasedRange* ranges, std::size_t n) noexcept;
  // Releases cached spans, those cached longest first, until the cache holds at
  // most `keep` bytes of reservation.
  void trim_span_cache(std::uint64_t keep) noexcept;
  bool cache_over_bound_locked() const noexcept {
    return large_cache_.reserved_bytes() > MAX_CACHED_RESERVATION || large_cache_.size() > MAX_CACHED_SPANS;
  }
  // Releases every cached span under the lock it holds: the OS refused address
  // space for a small segment (new_small_segment).
  void release_span_cache_locked() noexcept;
  // A freed span whose id has no generation left: its range goes back for good,
  // once no validation holds its header but the caller's (it holds one pin).
  void retire_span(SegmentHeader* seg) noexcept;
  // Appends to ranges[n..] (up to the release batch) the ranges of retired spans
  // whose headers validations let go since, off the held list; the new count.
  std::size_t take_retired_let_go_locked(ReleasedRange* ranges, std::size_t n) noexcept;
  // A bare header no validation still holds; nullptr if none. Allocator lock held.
  SegmentHeader* take_bare_span_locked() noexcept;
  // Puts a bare header on the list take_bare_span_locked reads. Allocator lock held.
  void push_bare_span_locked(SegmentHeader* seg) noexcept;
  // Binds a bare header to the new reservation [base, base + reserve), whose
  // first `dirty` bytes may hold data; false (the header bare again) if the
  // segment map cannot cover the range.
  bool bind_span(SegmentHeader* seg, void* base, std::size_t reserve, std::size_t dirty) noexcept;
  // epoch_destroy's work on the slab or span starting at `first`: frees its live
  // blocks if it belongs to `epoch` at an era <= last_era; returns how many.
  std::uint64_t destroy_in_slab(const void* first, std::uint32_t epoch, std::uint64_t last_era) noexcept;

  // Hot, read on every allocation. A dead allocator has uid 0 and no epochs.
  const std::uint64_t uid_;
  const std::uint32_t epoch_count_;
  const std::uint32_t record_;   // record number: owner of its slab ids in the registry
  std::uint32_t cache_way_ = 0;  // index into tl_cache
  // &tl_cache[cache_way_] - thread_pointer(), the same in every thread.
  std::ptrdiff_t cache_line_offset_ = reinterpret_cast<char*>(&tl_cache[0]) - thread_pointer();
  // The copy of tslab that made it (platform/library_tag.h).
  const void* const library_ = &g_library_tag;

  // The four locks a fork holds (core/fork.cpp), the ring's among them, lie
  // within the record's first page: the fork's parent and child each write
  // them after the address space was copied, a page copied for each page.
  Platform& platform_;
  alignas(64) MetaArena meta_;  // a line apart from the hot fields above
  mutable Mutex mutex_;
  mutable CoreCounters counters_;
  mutable PinSampler sampler_;  // TSLAB_PIN_SAMPLE; its lock is taken after mutex_
  EpochRing epochs_;
  EpochCounters* epoch_counters_ = nullptr;  // per slot, in the tail (for_each_tail_table)
  SegmentHeader* reservations_ = nullptr;    // every segment and large span
  // Where each epoch slot's fresh slabs come from: a phase's slabs share segments,
  // so when the phase ends whole segments empty out (and go dormant together).
  SegmentHeader** current_segment_ = nullptr;
  LargeSpanCache large_cache_;  // free large spans (those with dirty_bytes kept committed)
  // dirty_bytes of the cached spans, at most the warm reserve and the retention.
  // Written under the lock; the stashes read it without (core/span_stash.cpp).
  std::atomic<std::uint64_t> large_warm_bytes_{0};
  SegmentHeader* bare_spans_ = nullptr;  // released span headers, linked through next_cached
  // Retired spans whose ranges a validation held at their release, still
  // mapped; linked through next_cached (allocator lock).
  SegmentHeader* retired_held_ = nullptr;
  Heap* heaps_ = nullptr;
  Heap* abandoned_ = nullptr;
  std::uint32_t abandoned_kept_ = 0;  // the abandoned heaps' kept_empty, summed (allocator lock)
  // Every slab in use, per epoch slot (any activation), and the pool of recycled
  // slabs (pages decommitted, generation moved on), linked through epoch_prev/next.
  Slab** epoch_slabs_ = nullptr;
  // Per slot, the settled slabs (taken off epoch_slabs_) and the drain report's
  // share of them; and the stack of settled slabs freed into since the last
  // sweep, pushed by any thread (Slab::unsettle), taken whole under the lock.
  Slab** settled_slabs_ = nullptr;
  ClosePins* settled_pins_ = nullptr;
  std::atomic<Slab*> unsettled_head_{nullptr};
  std::uint64_t settled_swept_ = 0;  // settled_slabs_swept()
  Slab* free_slabs_ = nullptr;
  Slab* warm_slabs_ = nullptr;             // pooled with pages committed (the warm reserve)
  std::uint32_t warm_count_ = 0;           // slabs on warm_slabs_
  std::uint32_t warm_left_ = 0;            // slabs marked keep_warm
  std::uint32_t warm_limit_ = 0;           // TSLAB_WARM_RESERVE in slabs
  std::uint64_t warm_excess_used_ns_ = 0;  // when the excess last grew or served a slab
  // The platform grows no range in place (Platform::can_grow: an address-space cap,
  // RLIMIT_AS, or a grow the OS refused once), as it read when a span's reservation
  // was last refused or a free span last could have grown (no system call of its
  // own): then a block takes no free span more than MAX_RESIDENT_SPAN_GROWTH times
  // its reservation, which would hold address space the cap counts under a smaller
  // block. (After 271 blocks of 1 MiB were freed under a 300 MiB cap, blocks of 100
  // KB took their spans, and 326 fitted where 2,174 had.)
  std::atomic<bool> address_space_capped_{false};
  // While warm slabs a moving hand-back kept lie beyond retained_bound_locked():
  // when the grace's current window began; 0 otherwise. Written under the lock,
  // read without it on heaps' slow paths (end_hand_back_grace).
  std::atomic<std::uint64_t> hand_back_grace_ns_{0};
  // While freed spans lie beyond the retention's bound (large_excess_locked):
  // when that was last seen, so a heap's slow path returns them once they went
  // unused for LARGE_RETAIN_NS, also in a program that allocates no more large
  // blocks; 0 otherwise. Written under the lock, read without it.
  std::atomic<std::uint64_t> large_excess_ns_{0};
  // Bytes of large blocks allocated in the current window of LARGE_RETAIN_NS,
  // in the previous one, and when the current one began; all without the lock
  // (turn_large_window): large_excess_allowed_locked.
  std::atomic<std::uint64_t> large_taken_now_{0};
  std::atomic<std::uint64_t> large_taken_before_{0};
  std::atomic<std::uint64_t> large_window_ns_{0};
  std::uint32_t grace_taken_ = 0;   // warm slabs taken in the grace's current window
  std::uint64_t large_retain_ = 0;  // TSLAB_LARGE_RETAIN
  // The dirty bytes of the spans in every heap's stash, and their bound (the
  // warm reserve and the retention, which they share with the cached spans'
  // dirty bytes); read and written without the lock (core/span_stash.cpp).
  std::atomic<std::uint64_t> stashed_bytes_{0};
  std::atomic<std::uint64_t> stash_limit_{0};
  // Warm slabs beyond the reserve (the retention's), in bytes: set under the lock
  // whenever their count or the reserve changes (note_warm_locked), read by the
  // stashes' bound.
  std::atomic<std::uint64_t> retained_slab_bytes_{0};
  // Also the stashes' bound, from the reserve and the retention.
  void note_warm_locked() noexcept {
    retained_slab_bytes_.store(std::uint64_t{warm_excess_locked()} * SLAB_SIZE, std::memory_order_relaxed);
    stash_limit_.store(std::uint64_t{warm_limit_} * SLAB_SIZE + large_retain_, std::memory_order_relaxed);
  }
  bool close_rss_ = false;            // TSLAB_CLOSE_RSS
  SegmentHeader* dormant_ = nullptr;  // small segments whose metadata pages went back
  // Dormant segments whose ranges went back too, oldest tried first (next_dormant).
  SegmentHeader* released_dormant_ = nullptr;
  SegmentHeader* released_tail_ = nullptr;
  Slab* deferred_ = nullptr;                  // unlinked, UNUSED, waiting for pins and queues (still_reached)
  AllocatorDependent* dependents_ = nullptr;  // ended by destroy (allocator lock)
  // Per slot: the last era whose dependents an epoch_destroy ended (allocator lock).
  std::uint64_t* destroyed_era_ = nullptr;
  std::atomic<std::uint64_t> new_slabs_[NUM_CLASSES] = {};
  std::atomic<std::uint64_t> slabs_recycled_[NUM_CLASSES] = {};
  std::atomic<std::uint64_t> slabs_reused_[NUM_CLASSES] = {};
  std::atomic<std::uint64_t> decommitted_bytes_{0};
  // Per slot, the latest closed era whose allocations have all finished: slabs of
  // that era or older may give their pages back.
  std::atomic<std::uint64_t>* quiesced_era_ = nullptr;
  // Per slot: arena work under way (begin_arena_work), which epoch_destroy waits
  // out. Two counts, so that a wait is for the work that began before it only:
  // work counts itself in the count `phase` names, and a waiter moves the phase
  // on, then waits for the old count to drain (work that keeps coming, such as
  // bumps refused by an ended arena, cannot hold it up).
  struct ArenaWork {
    std::atomic<std::uint32_t> count[2];
    std::atomic<std::uint32_t> phase;
  };
  ArenaWork* arena_work_ = nullptr;
  void wait_for_arena_work(std::uint32_t epoch) noexcept;
  // Allocator lock: pinned candidates (purge_pinned_candidates_locked), and the
  // closes counted by after_close so far.
  PinnedCandidate pinned_[PINNED_CANDIDATES] = {};
  std::uint32_t pinned_count_ = 0;
  std::uint64_t closes_seen_ = 0;
  std::atomic<std::uint64_t>* rss_before_close_ = nullptr;
  std::atomic<std::uint64_t>* rss_after_close_ = nullptr;
  // The allocator's name (slab_allocator_set_name), "" until named. Guarded by mutex_.
  char name_[SLAB_ALLOCATOR_NAME_SIZE] = {};

 public:
  AllocatorCore* next_live = nullptr;  // global live-allocator list (live lock)
};

template <class Allocate>
void* AllocatorCore::in_open_era(std::uint32_t epoch, Allocate&& allocate) noexcept {
  if (!in_range_or_error(epoch)) return nullptr;
  Heap* heap = cache_line().uid == uid_ ? cache_line().heap : attach_thread();
  if (heap == nullptr) return nullptr;
  const Heap::Marked marked(*heap);
  const std::uint64_t era = open_era_or_error(epoch);
  return era == 0 ? nullptr : allocate(era);
}

}  // namespace tslab::detail

#endif  // TSLAB_CORE_ALLOCATOR_CORE_H
