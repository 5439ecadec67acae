// This file contains large spans: a request above the largest size class gets a
// reservation of its own, described by a one-slab segment header: whole 64 KiB
// granules of the segment map below 4 MiB, so that buffers of 64 KiB to 4 MiB lie
// side by side (a few spans to a page table, address space in proportion to
// them), and whole segments from there on (span_unit, size_class/size_classes.h).
// The OS platform carves reservations of up to 1 MiB out of 4 MiB chunks
// (platform/span_chunks.h).
//
// A freed span waits in a cache (core/large_span_cache.h) for the next large
// request that fits; its header and registry id stay with it, so stale pointers
// and handles are still recognised and refused. Its pages stay committed while
// the cached spans so kept fit the allocator's warm reserve (TSLAB_WARM_RESERVE,
// the bound empty slabs have too): the next large request then takes it without
// a system call or a page fault. Otherwise they go back to the OS at once
// (decommit).
//
// What may hold data. A span's pages read as zero until written: new from the
// OS, or handed back to it. `dirty_bytes` bounds the bytes from the span's start
// that may hold an earlier block's data, so a zeroed allocation clears those and
// nothing else.
//
// Resizing. A live block grows in place while its reservation has room, and
// shrinks in place, its tail's pages going back to the OS; it keeps its
// address, handle and generation. A block that outgrows its reservation moves
// into one twice as large, so a block grown step by step moves O(log size)
// times and its bytes are copied O(size) times in all.
//
// A span's allocated word holds (generation << 1) | live, so that a free by handle
// is one compare-exchange against the generation the handle names: a stale
// handle can never free the span's next block, however the calls interleave.
//
// A resize in place and a free of the same block (a program's race, which must
// not break the allocator) are ordered by that word too. The resize marks it
// (Slab::LARGE_RESIZING) before it changes the block's extent; a free that
// finds the mark still clears the live bit, its linearization point, and
// leaves the span to the resize, which ends the free once the extent is
// settled. So the resize comes first, the free second, and the free counts the
// bytes the resized block may hold. A second resize that finds the mark moves
// the block by copy instead, as if it came second; nothing waits.
#include <cstring>

#include "core/fast_path.h"
#include "core/thread_cache.h"
#include "handle/handle.h"
#include "handle/registry.h"
#include "platform/clock_rss.h"
#include "segment/segment_map.h"

namespace tslab::detail {

namespace {

bool round_up_checked(std::size_t n, std::size_t a, std::size_t* out) {
  if (n > SIZE_MAX - (a - 1)) return false;
  *out = (n + a - 1) & ~(a - 1);
  return true;
}

constexpr std::size_t smaller(std::size_t a, std::size_t b) { return a < b ? a : b; }
constexpr std::size_t larger(std::size_t a, std::size_t b) { return a > b ? a : b; }

// The reservation a block moved out of a full one of `reserved` bytes asks for.
constexpr std::size_t growth_room(std::size_t reserved) {
  return reserved <= MAX_LARGE_SIZE ? 2 * reserved : 0;
}

constexpr std::uint64_t bin_bit(std::uint32_t bin) { return std::uint64_t{1} << (bin % 64); }

}  // namespace

// --- the cache of free spans ------------------------------------------------

static_assert(LargeSpanCache::EXACT_BINS == 8 && LargeSpanCache::BINS_PER_DOUBLING == 4,
              "bin_of and bin_floor split each power of two from 8 granules up into quarters");
static_assert(LargeSpanCache::BIN_COUNT % 64 == 0);

std::uint32_t LargeSpanCache::bin_of(std::size_t granules) noexcept {
  if (granules <= EXACT_BINS) return granules == 0 ? 0 : static_cast<std::uint32_t>(granules - 1);
  const auto top = static_cast<std::uint32_t>(63 - __builtin_clzll(granules));  // at least 3
  const auto quarter = static_cast<std::uint32_t>(granules >> (top - 2)) & (BINS_PER_DOUBLING - 1);
  const std::uint32_t bin = EXACT_BINS + (top - 3) * BINS_PER_DOUBLING + quarter;
  return bin < BIN_COUNT ? bin : BIN_COUNT - 1;
}

std::size_t LargeSpanCache::bin_floor(std::uint32_t bin) noexcept {
  if (bin < EXACT_BINS) return bin + 1;
  const std::uint32_t top = 3 + (bin - EXACT_BINS) / BINS_PER_DOUBLING;
  const std::uint32_t quarter = (bin - EXACT_BINS) % BINS_PER_DOUBLING;
  // The first quarter above the exact bins starts past them.
  return larger(std::size_t{BINS_PER_DOUBLING + quarter} << (top - 2), EXACT_BINS + 1);
}

std::size_t LargeSpanCache::granules_of(std::size_t bytes) noexcept {
  return bytes / MAP_GRANULE + (bytes % MAP_GRANULE != 0 ? 1 : 0);
}

void LargeSpanCache::link(SegmentHeader* seg) noexcept {
  const std::uint32_t bin = bin_of(granules_of(seg->size));
  SegmentHeader*& head = list_of(seg, bin);
  seg->prev_cached = nullptr;
  seg->next_cached = head;
  if (head != nullptr) head->prev_cached = seg;
  head = seg;
  nonempty_[bin / 64] |= bin_bit(bin);
  AgeOrder& order = age_order_of(seg);
  seg->older_cached = order.newest;
  seg->newer_cached = nullptr;
  (order.newest != nullptr ? order.newest->newer_cached : order.oldest) = seg;
  order.newest = seg;
  if (!seg->cached_cold) ++warm_count_;
}

void LargeSpanCache::unlink(SegmentHeader* seg) noexcept {
  const std::uint32_t bin = bin_of(granules_of(seg->size));
  (seg->prev_cached != nullptr ? seg->prev_cached->next_cached : list_of(seg, bin)) = seg->next_cached;
  if (seg->next_cached != nullptr) seg->next_cached->prev_cached = seg->prev_cached;
  seg->next_cached = seg->prev_cached = nullptr;
  if (warm_bins_[bin] == nullptr && cold_bins_[bin] == nullptr) nonempty_[bin / 64] &= ~bin_bit(bin);
  AgeOrder& order = age_order_of(seg);
  (seg->older_cached != nullptr ? seg->older_cached->newer_cached : order.oldest) = seg->newer_cached;
  (seg->newer_cached != nullptr ? seg->newer_cached->older_cached : order.newest) = seg->older_cached;
  seg->older_cached = seg->newer_cached = nullptr;
  if (!seg->cached_cold) --warm_count_;
}

void LargeSpanCache::push(SegmentHeader* seg) noexcept {
  seg->cached = true;
  seg->cached_cold = seg->dirty_bytes == 0;
  link(seg);
  count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  reserved_bytes_.store(reserved_bytes() + seg->size, std::memory_order_relaxed);
}

void LargeSpanCache::cooled(SegmentHeader* seg) noexcept {
  if (seg->cached_cold) return;
  unlink(seg);
  seg->cached_cold = true;
  link(seg);
}

void LargeSpanCache::take_out(SegmentHeader* seg) noexcept {
  unlink(seg);
  seg->cached = false;
  count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  reserved_bytes_.store(reserved_bytes() - seg->size, std::memory_order_relaxed);
}

SegmentHeader* LargeSpanCache::take_oldest_of(AgeOrder& order) noexcept {
  for (SegmentHeader* seg = order.oldest; seg != nullptr; seg = seg->newer_cached) {
    // seq_cst: the taker's half of the pin protocol, as in take_from.
    if (seg->pins[0].load(std::memory_order_seq_cst) != 0) continue;
    take_out(seg);
    return seg;
  }
  return nullptr;
}

SegmentHeader* LargeSpanCache::take_oldest() noexcept {
  // A cold span's range first: it holds no page a later block could reuse.
  if (SegmentHeader* seg = take_oldest_of(cold_)) return seg;
  return take_oldest_of(warm_);
}

SegmentHeader* LargeSpanCache::take_warmest(std::size_t bytes) noexcept {
  SegmentHeader* best = nullptr;
  std::uint32_t probe = 0;
  for (SegmentHeader* seg = warm_.newest; seg != nullptr && probe < PROBES;
       seg = seg->older_cached, ++probe) {
    // seq_cst: the taker's half of the pin protocol, as in take_from.
    if (seg->size < bytes && !seg->ungrowable && !carved_span(seg->size) &&
        seg->dirty_bytes > (best != nullptr ? best->dirty_bytes : 0) &&
        seg->pins[0].load(std::memory_order_seq_cst) == 0)
      best = seg;
  }
  if (best != nullptr) take_out(best);
  return best;
}

std::uint32_t LargeSpanCache::next_nonempty(std::uint32_t from) const noexcept {
  for (std::uint32_t word = from / 64; word < BIN_COUNT / 64; ++word) {
    std::uint64_t bits = nonempty_[word];
    if (word == from / 64) bits &= ~std::uint64_t{0} << (from % 64);
    if (bits != 0) return word * 64 + static_cast<std::uint32_t>(__builtin_ctzll(bits));
  }
  return BIN_COUNT;
}

SegmentHeader* LargeSpanCache::take_from(std::uint32_t bin, std::size_t bytes, std::size_t alignment,
                                         std::size_t min_dirty, std::size_t max_bytes,
                                         std::size_t max_dirty) noexcept {
  for (SegmentHeader* list : {warm_bins_[bin], cold_bins_[bin]}) {
    // A cold span keeps no byte committed: none serves a lookup that asks for some.
    if (list == cold_bins_[bin] && min_dirty != 0) break;
    // Each list its own probes: warm spans too small for the request (a bin's
    // spans differ by up to a quarter) do not hide a cold one that fits.
    std::uint32_t probe = 0;
    for (SegmentHeader* seg = list; seg != nullptr && probe < PROBES; seg = seg->next_cached, ++probe) {
      ++visited_;
      if (seg->size < bytes || seg->size > max_bytes || seg->base % alignment != 0 ||
          seg->dirty_bytes < min_dirty || seg->dirty_bytes > max_dirty)
        continue;
      // seq_cst: the taker's half of the pin protocol (core/blocks.cpp). A pin
      // belongs to a validation that may have seen the previous block live: the
      // span's identity must not change under it.
      if (seg->pins[0].load(std::memory_order_seq_cst) != 0) continue;
      take_out(seg);
      return seg;
    }
  }
  return nullptr;
}

SegmentHeader* LargeSpanCache::take(std::size_t bytes, std::size_t alignment, std::size_t min_dirty,
                                    std::size_t max_bytes, std::size_t max_dirty) noexcept {
  // The bin `bytes` falls in may hold smaller spans; every bin above holds only
  // larger ones, so one of them serves any request its spans are aligned for,
  // up to the first bin whose spans are all larger than `max_bytes`.
  const std::size_t max_granules = max_bytes / MAP_GRANULE;
  for (std::uint32_t b = next_nonempty(bin_of(granules_of(bytes)));
       b < BIN_COUNT && bin_floor(b) <= max_granules; b = next_nonempty(b + 1))
    if (SegmentHeader* seg = take_from(b, bytes, alignment, min_dirty, max_bytes, max_dirty)) return seg;
  return nullptr;
}

bool LargeSpanCache::consistent() const noexcept {
  std::uint64_t counted = 0, bytes = 0, warm = 0;
  for (std::uint32_t b = 0; b < BIN_COUNT; ++b) {
    const bool nonempty = warm_bins_[b] != nullptr || cold_bins_[b] != nullptr;
    if (((nonempty_[b / 64] & bin_bit(b)) != 0) != nonempty) return false;
    for (const bool cold : {false, true}) {
      SegmentHeader* const& head = cold ? cold_bins_[b] : warm_bins_[b];
      for (const SegmentHeader* seg = head; seg != nullptr; seg = seg->next_cached, ++counted) {
        if (bin_of(granules_of(seg->size)) != b) return false;
        if ((seg->prev_cached == nullptr ? head : seg->prev_cached->next_cached) != seg) return false;
        if (!seg->cached || seg->cached_cold != cold || cold != (seg->dirty_bytes == 0)) return false;
        if (!cold) ++warm;
        bytes += seg->size;
      }
    }
  }
  std::uint64_t aged = 0;
  for (const AgeOrder* order : {&warm_, &cold_}) {
    for (const SegmentHeader* seg = order->oldest; seg != nullptr; seg = seg->newer_cached, ++aged) {
      if ((seg->newer_cached == nullptr ? order->newest : seg->newer_cached->older_cached) != seg)
        return false;
      if (seg->cached_cold != (order == &cold_)) return false;
    }
  }
  return counted == size() && aged == size() && bytes == reserved_bytes() && warm == warm_count_;
}

// --- allocation -------------------------------------------------------------

bool AllocatorCore::large_need(std::size_t size, std::size_t* need) const noexcept {
  // Beyond MAX_LARGE_SIZE no address space here could hold the block.
  return size <= MAX_LARGE_SIZE && round_up_checked(size == 0 ? 1 : size, platform_.page_size(), need);
}

SegmentHeader* AllocatorCore::take_cached_span(std::size_t reserve, std::size_t need, std::size_t alignment,
                                               bool* refused, bool resident, std::size_t at_most) noexcept {
  SegmentHeader* seg = nullptr;
  {
    const CountedLock lock(mutex_, counters_);
    // Not a warm span whose pages beyond the block would be far more than the
    // block: they would stay committed under it, counted by no bound, and the
    // span is worth more to a larger block (a 100 KB block took a 25 MiB
    // buffer's span; a loop keeping 60 such buffers had 5x glibc's peak RSS).
    const std::size_t max_dirty = need + larger(KEPT_EXCESS_PER_BYTE * need, MAX_KEPT_EXCESS);
    // First a span whose committed pages already cover the block, among the
    // warm ones of its reservation's bin and the next (spans of a bin differ
    // by less than a quarter): in a flow of buffers of many sizes the first
    // span that fits often kept fewer pages than the block needs, and faulting
    // them in sent as many bytes of other spans back (a node program took a
    // fifth more faults; docs/BENCHMARKS.md). A block grown by realloc takes
    // only such a span, of up to MAX_RESIDENT_SPAN_GROWTH times its reservation.
    const std::size_t covering =
        resident ? MAX_RESIDENT_SPAN_GROWTH * reserve : smaller(at_most, reserve + reserve / 4);
    seg = large_cache_.take(reserve, alignment, need, covering, resident ? SIZE_MAX : max_dirty);
    if (seg == nullptr && !resident) seg = large_cache_.take(reserve, alignment, 0, at_most, max_dirty);
    if (seg == nullptr) return nullptr;
    large_warm_bytes_ -= seg->dirty_bytes;  // in use again: its data stays until it is freed
    release_large_decayed_locked();
  }
  if (!platform_.commit(reinterpret_cast<void*>(seg->base), need)) {
    const CountedLock lock(mutex_, counters_);
    seg->cached_ns = monotonic_ns();  // the newest again
    large_cache_.push(seg);
    large_warm_bytes_ += seg->dirty_bytes;
    *refused = true;
    return nullptr;
  }
  // Quiescence point of the span: the previous block is freed, so no valid
  // handle to it exists and the generation may move (law 5). Stale handles now
  // read STALE_HANDLE. (A span whose id has no generation left is never cached.)
  registry_next_generation(seg->first_id);
  return seg;
}

void* AllocatorCore::reserve_span(std::size_t reserve, std::size_t alignment) noexcept {
  void* base = reserve_aligned(reserve, alignment);
  if (base != nullptr) return base;
  // Refused, perhaps for want of address space (RLIMIT_AS): what free spans
  // hold goes back first, the stashes' included.
  address_space_capped_.store(!platform_.can_grow(), std::memory_order_relaxed);
  {
    const CountedLock lock(mutex_, counters_);
    unstash_all_locked();
  }
  trim_span_cache(0);
  if (void* base = reserve_aligned(reserve, alignment)) return base;
  // Then the ranges of small segments whose slabs are all free.
  {
    const CountedLock lock(mutex_, counters_);
    if (!release_dormant_ranges_locked()) return nullptr;
  }
  return reserve_aligned(reserve, alignment);
}

SegmentHeader* AllocatorCore::new_span(std::size_t reserve, std::size_t alignment) noexcept {
  SegmentHeader* bare = nullptr;
  {
    const CountedLock lock(mutex_, counters_);
    bare = take_bare_span_locked();
  }
  void* base = reserve_span(reserve, alignment);
  if (bare != nullptr) {
    if (base == nullptr) {
      const CountedLock lock(mutex_, counters_);
      push_bare_span_locked(bare);
      return nullptr;
    }
    if (bind_span(bare, base, reserve, 0)) return bare;
    platform_.release(base, reserve);  // bind_span left the header bare again
    return nullptr;
  }
  void* mem = base == nullptr ? nullptr : meta_.allocate(sizeof(SegmentHeader) + sizeof(Slab));
  if (mem == nullptr) {
    if (base != nullptr) platform_.release(base, reserve);
    return nullptr;
  }
  auto* seg = new (mem) SegmentHeader();
  seg->owner = this;
  seg->kind = SlabKind::large;
  seg->base = reinterpret_cast<std::uintptr_t>(base);
  seg->size = reserve;
  seg->slab_count = 1;
  seg->slabs = SegmentHeader::first_slab(seg);
  Slab* s = new (seg->slabs) Slab();
  s->start = static_cast<char*>(base);
  s->kind = SlabKind::large;
  s->capacity = 1;
  const CountedLock lock(mutex_, counters_);
  if (!registry_acquire_one(record_, seg, &seg->first_id)) {
    platform_.release(base, reserve);
    return nullptr;
  }
  s->id = seg->first_id;
  seg->next = reservations_;
  reservations_ = seg;
  segment_map_set(seg);
  return seg;
}

SegmentHeader* AllocatorCore::obtain_span(std::size_t reserve, std::size_t need, std::size_t alignment,
                                          bool* refused, std::size_t at_most) noexcept {
  SegmentHeader* seg = take_cached_span(reserve, need, alignment, refused, false, at_most);
  if (seg != nullptr || *refused) return seg;
  // No cached span fits: the warmest smaller one grows into the new reservation,
  // its committed pages with it, rather than sit unused beside a new span that
  // faults all of its pages in (a buffer that grows from one use to the next).
  seg = grow_warm_span(reserve, alignment);
  return seg != nullptr ? seg : new_span(reserve, alignment);
}

void* AllocatorCore::publish_span(SegmentHeader* seg, std::size_t need, std::uint32_t epoch,
                                  std::uint64_t era, bool held) noexcept {
  Slab* s = seg->slabs;
  s->epoch = epoch;
  s->era = era;
  s->large_usable.store(need, std::memory_order_relaxed);
  s->large_held.store(held, std::memory_order_relaxed);
  s->bits[0].remote.store(0, std::memory_order_relaxed);
  const std::uint64_t generation = registry_current_generation(s->id);
  s->bits[0].allocated.store((generation << 1) | 1, std::memory_order_release);
  // Linearization point of a large allocation: the span resolves from here.
  s->state.store(SLAB_IN_USE, std::memory_order_release);
  return s->start;
}

void* AllocatorCore::alloc_large(std::size_t size, std::size_t alignment, std::uint32_t epoch,
                                 std::uint64_t era, std::size_t room, std::size_t* stale_bytes,
                                 bool held) noexcept {
  std::size_t need = 0, reserve = 0, roomy = 0;
  if (!large_need(size, &need)) {
    set_error(TSLAB_ERR_SIZE_TOO_LARGE);
    return nullptr;
  }
  const std::size_t unit = span_unit(need);
  if (alignment < unit) alignment = unit;
  if (!round_up_checked(need, unit, &reserve)) {
    set_error(TSLAB_ERR_OUT_OF_MEMORY);
    return nullptr;
  }
  if (room <= reserve || !round_up_checked(room, span_unit(room), &roomy)) roomy = reserve;
  bool refused = false;  // the platform refused to commit a cached span
  // A block a realloc moves (room asked) takes no cached span much larger than
  // that: the span's pages beyond it would stay committed under it (a scratch
  // buffer's, freed between the steps of a small buffer's growth).
  // Nor does any block under an address-space cap (address_space_capped_).
  const bool capped = address_space_capped_.load(std::memory_order_relaxed);
  const std::size_t at_most = room != 0 || capped ? MAX_RESIDENT_SPAN_GROWTH * roomy : SIZE_MAX;
  SegmentHeader* seg = take_stashed_span(roomy, need, alignment, false, capped ? at_most : SIZE_MAX);
  const bool stashed = seg != nullptr;
  if (seg == nullptr) seg = obtain_span(roomy, need, alignment, &refused, at_most);
  // No address space for the room asked: a span for the block alone.
  if (seg == nullptr && !refused && roomy > reserve)
    seg = obtain_span(reserve, need, alignment, &refused, at_most);
  if (seg == nullptr) {
    set_error(TSLAB_ERR_OUT_OF_MEMORY);
    return nullptr;
  }
  if (!stashed) note_large_taken(need);  // the stash's spans are within its own bound
  if (stale_bytes != nullptr) *stale_bytes = smaller(seg->dirty_bytes, need);
  if (need > seg->dirty_bytes) {  // pages to fault in: warm slabs and spans beyond the bound make way
    const CountedLock lock(mutex_, counters_);
    trim_warm_slabs_locked(need - seg->dirty_bytes);
    release_large_excess_locked(need - seg->dirty_bytes);
    release_large_decayed_locked();  // and spans unused for a second, also when none was taken
  }
  return publish_span(seg, need, epoch, era, held);
}

void* AllocatorCore::alloc_resident_span(std::size_t size, std::size_t room, std::uint32_t epoch,
                                         std::uint64_t era) noexcept {
  std::size_t need = 0, roomy = 0;
  if (!large_need(size, &need)) return nullptr;
  if (room < need) room = need;
  if (!round_up_checked(room, span_unit(room), &roomy)) return nullptr;
  const std::size_t alignment = span_unit(need);
  bool refused = false;
  SegmentHeader* seg = take_stashed_span(roomy, need, alignment, true);
  // No lock when the cache looks empty (a hint, as in grow_warm_span).
  if (seg == nullptr && !large_cache_.maybe_empty())
    seg = take_cached_span(roomy, need, alignment, &refused, true);
  if (seg == nullptr) return nullptr;
  return publish_span(seg, need, epoch, era);
}

void* AllocatorCore::alloc_zeroed(std::size_t size, std::uint32_t epoch) noexcept {
  if (size <= MAX_SMALL_SIZE) {
    // A small block may hold the bytes of the block that was there before (a
    // class block up to 64 KiB is cleared whole, as glibc clears a reused chunk).
    void* p = alloc(size, epoch);
    if (p != nullptr) std::memset(p, 0, size);
    return p;
  }
  std::size_t stale = 0;
  void* p =
      in_open_era(epoch, [&](std::uint64_t era) { return alloc_large(size, 0, epoch, era, 0, &stale); });
  // Beyond `stale` the span's pages are new from the OS or went back to it.
  if (p == nullptr || stale == 0) return p;
  // The first `stale` bytes may hold data. Clearing them all would touch every
  // page of them, even pages the previous block never wrote (a span's dirty
  // extent is its last block's size), and a large zeroed array is often used
  // sparsely. So from ZEROED_BY_OS_FROM bytes on, only the resident pages are
  // cleared, and each run of pages that are not (never written, or swapped out)
  // goes back to the OS and reads as zero. (The span starts on a page.)
  const std::size_t page = platform_.page_size();
  const std::size_t whole_pages = stale & ~(page - 1);
  auto* c = static_cast<char*>(p);
  std::size_t done = 0;
  if (whole_pages >= ZEROED_BY_OS_FROM) {
    unsigned char resident[ZEROED_WINDOW_PAGES];
    while (done < whole_pages) {
      const std::size_t pages = smaller(ZEROED_WINDOW_PAGES, (whole_pages - done) / page);
      if (!platform_.resident_pages(c + done, pages * page, resident)) break;  // cleared below
      for (std::size_t i = 0; i < pages;) {
        const bool in = (resident[i] & 1) != 0;
        std::size_t j = i + 1;
        while (j < pages && ((resident[j] & 1) != 0) == in) ++j;
        char* run = c + done + i * page;
        const std::size_t bytes = (j - i) * page;
        if (in || !decommit_counted(run, bytes)) {
          std::memset(run, 0, bytes);
        } else if (!platform_.commit(run, bytes)) {  // usable again, as the platform contract asks
          free_slow(p);
          set_error(TSLAB_ERR_OUT_OF_MEMORY);
          return nullptr;
        }
        i = j;
      }
      done += pages * page;
    }
  }
  std::memset(c + done, 0, stale - done);
  return p;
}

// --- resizing ---------------------------------------------------------------

Slab* AllocatorCore::live_large_span(const void* p, SlabPin& pin) const noexcept {
  const BlockRef ref = resolve_pointer(p, pin);
  TslabError e = ref.error;
  if (e == TSLAB_OK && ref.slab->kind != SlabKind::large) e = TSLAB_ERR_INVALID_ARGUMENT;
  if (e == TSLAB_OK && (ref.slab->bits[0].allocated.load(std::memory_order_acquire) & 1) == 0)
    e = TSLAB_ERR_DOUBLE_FREE;
  if (e != TSLAB_OK) {
    set_error(e);
    return nullptr;
  }
  return ref.slab;
}

void AllocatorCore::release_tail(SegmentHeader* seg, std::size_t from, std::size_t to) noexcept {
  if (decommit_returned(reinterpret_cast<char*>(seg->base) + from, to - from)) {
    // [from, to) reads as zero again: nothing beyond the block may hold data
    // unless an earlier block's bytes reach past `to`.
    if (seg->dirty_bytes <= to) seg->dirty_bytes = smaller(seg->dirty_bytes, from);
  } else {
    seg->dirty_bytes = larger(seg->dirty_bytes, to);
  }
}

bool AllocatorCore::begin_resize(Slab* s) noexcept {
  std::uint64_t word = s->bits[0].allocated.load(std::memory_order_acquire);
  while ((word & Slab::LARGE_LIVE) != 0 && (word & Slab::LARGE_RESIZING) == 0)
    // Linearization point of an in-place resize: a free from here comes after it.
    if (s->bits[0].allocated.compare_exchange_weak(word, word | Slab::LARGE_RESIZING,
                                                   std::memory_order_acq_rel))
      return true;
  return false;
}

bool AllocatorCore::end_resize(Slab* s) noexcept {
  // release: a free that reads the word unmarked sees the resized extent.
  const std::uint64_t word = s->bits[0].allocated.fetch_and(~(Slab::LARGE_RESIZING | Slab::LARGE_FREE_COLD),
                                                            std::memory_order_acq_rel);
  if ((word & Slab::LARGE_LIVE) != 0) return true;
  end_large_free(s, (word & Slab::LARGE_FREE_COLD) == 0, own_heap());
  return false;
}

bool AllocatorCore::resize_span(Slab* s, std::size_t need) noexcept {
  SegmentHeader* seg = segment_map_lookup(s->start);
  const std::size_t usable = s->large_usable.load(std::memory_order_relaxed);
  if (need > seg->size) return false;  // beyond the reservation
  if (need > usable && !platform_.commit(s->start + usable, need - usable)) return false;
  // Linearization point of an in-place resize: usable_size, validation and the
  // statistics see the new extent from here.
  s->large_usable.store(need, std::memory_order_relaxed);
  if (need < usable) release_tail(seg, need, usable);
  const std::size_t committed = larger(usable, seg->dirty_bytes);
  if (need > committed) large_excess_makes_way(need - committed);  // pages the grown block will fault in
  return true;
}

void* AllocatorCore::realloc_large(void* p, std::size_t size, std::uint32_t epoch) noexcept {
  if (!alive_or_error()) return nullptr;
  std::size_t need = 0;
  if (!large_need(size, &need)) {
    set_error(TSLAB_ERR_SIZE_TOO_LARGE);
    return nullptr;
  }
  std::size_t usable = 0, reserved = 0;
  void* copy = nullptr;  // a new block with `p`'s bytes
  {
    SlabPin pin;
    Slab* s = live_large_span(p, pin);
    if (s == nullptr) return nullptr;
    if (begin_resize(s)) {
      const bool resized = resize_span(s, need);
      if (!end_resize(s) && !resized) {
        // Freed meanwhile, and not resized: the free came first. The span may
        // be gone already (retired), so nothing of it is read again.
        set_error(TSLAB_ERR_DOUBLE_FREE);
        return nullptr;
      }
      if (resized) return p;  // a free that came meanwhile came second
    } else if ((s->bits[0].allocated.load(std::memory_order_acquire) & Slab::LARGE_LIVE) == 0) {
      set_error(TSLAB_ERR_DOUBLE_FREE);  // freed since the validation
      return nullptr;
    }
    // Beyond the reservation, or another resize under way: moved.
    usable = s->large_usable.load(std::memory_order_relaxed);
    reserved = segment_map_lookup(p)->size;
    // Up to a segment, a copy into pages some other block left committed costs
    // about what faulting the new part in would, and keeps those pages in use
    // rather than leave them to the retention (docs/BENCHMARKS.md, "Buffers
    // grown by realloc"); larger blocks move their own range, without a copy.
    // Copied under the pin: a free of `p` racing this call leaves its range
    // where it is (no taker moves or rebinds a pinned span, no trim unmaps it)
    // until the copy is done.
    if (usable <= SEGMENT_SIZE) {
      copy = in_open_era(epoch, [&](std::uint64_t era) {
        return alloc_resident_span(size, growth_room(reserved), epoch, era);
      });
      if (copy != nullptr) std::memcpy(copy, p, smaller(usable, need));
    }
  }
  if (copy != nullptr) return end_moved_block(p, copy);
  // Moved without a copy when the platform can grow the range; else copied.
  bool gone = false, moved = false;
  void* q = in_open_era(epoch, [&](std::uint64_t era) -> void* {
    if (void* grown = grow_live_span(p, need, growth_room(reserved), epoch, era, &gone)) {
      moved = true;
      return grown;
    }
    return gone ? nullptr : alloc_large(size, 0, epoch, era, growth_room(reserved));
  });
  if (q == nullptr || moved) return q;
  return move_block(p, q, need);
}

// --- freeing ----------------------------------------------------------------

void AllocatorCore::clear_span(Slab* s) noexcept {
  SegmentHeader* seg = segment_map_lookup(s->start);
  const std::size_t usable = s->large_usable.load(std::memory_order_relaxed);
  const std::size_t bytes = smaller(larger(usable, seg->dirty_bytes), seg->size);
  // A span so cleared reads as zero (arenas rely on it: arena_growth.cpp): if the
  // platform keeps the pages, their bytes are cleared instead.
  if (!decommit_returned(s->start, bytes)) std::memset(s->start, 0, bytes);
  seg->dirty_bytes = 0;
}

void AllocatorCore::release_large_decayed_locked() noexcept {
  release_warm_decayed_locked();
  const std::uint64_t keep = std::uint64_t{warm_limit_} * SLAB_SIZE;
  if (large_warm_bytes_ > keep) {
    const std::uint64_t now = monotonic_ns();
    large_cache_.for_each_warm_oldest_first([&](SegmentHeader* seg) {
      if (large_warm_bytes_ <= keep) return false;
      if (now - seg->cached_ns < LARGE_RETAIN_NS) return false;  // every later one is younger
      large_warm_bytes_ -= seg->dirty_bytes;
      clear_span(seg->slabs);  // cached: no allocation path reaches it (law 4)
      large_cache_.cooled(seg);
      return true;
    });
  }
  if (large_excess_locked() == 0) large_excess_ns_.store(0, std::memory_order_relaxed);
}

std::uint64_t AllocatorCore::large_excess_locked() const noexcept {
  const std::uint64_t held = large_warm_bytes_ + stashed_bytes_.load(std::memory_order_relaxed) +
                             std::uint64_t{warm_excess_locked()} * SLAB_SIZE;
  const std::uint64_t bound = std::uint64_t{warm_limit_} * SLAB_SIZE + large_retain_;
  return held > bound ? held - bound : 0;
}

void AllocatorCore::release_large_excess_locked(std::uint64_t bytes) noexcept {
  const std::uint64_t take = smaller(large_excess_locked(), bytes);
  if (take != 0) release_large_warm_locked(large_warm_bytes_ > take ? large_warm_bytes_ - take : 0);
  if (large_excess_locked() == 0) large_excess_ns_.store(0, std::memory_order_relaxed);
}

void AllocatorCore::large_excess_makes_way(std::uint64_t bytes) noexcept {
  if (bytes == 0 || large_excess_ns_.load(std::memory_order_relaxed) == 0) return;
  const CountedLock lock(mutex_, counters_);
  release_large_excess_locked(bytes);
}

void AllocatorCore::note_large_taken(std::uint64_t bytes) noexcept {
  turn_large_window(monotonic_ns());
  large_taken_now_.fetch_add(bytes, std::memory_order_relaxed);
}

void AllocatorCore::turn_large_window(std::uint64_t now) noexcept {
  std::uint64_t began = large_window_ns_.load(std::memory_order_relaxed);
  // `now` may be older than a turn another thread made since it was read.
  if (now <= began || now - began < LARGE_RETAIN_NS) [[likely]]
    return;
  // Of racing turns one moves the window; a block noted meanwhile may count in
  // either window (the allowance is an estimate the cap bounds).
  if (!large_window_ns_.compare_exchange_strong(began, now, std::memory_order_relaxed)) return;
  // Every block counted now was noted before `began` + LARGE_RETAIN_NS: the
  // first one noted after that turns the window. So after two windows with
  // none, they are all older than a window and count in neither.
  const std::uint64_t taken = large_taken_now_.exchange(0, std::memory_order_relaxed);
  large_taken_before_.store(now - began < 2 * LARGE_RETAIN_NS ? taken : 0, std::memory_order_relaxed);
}

std::uint64_t AllocatorCore::large_excess_allowed_locked(std::uint64_t now) noexcept {
  if (large_retain_ == 0) return 0;
  turn_large_window(now);
  const std::uint64_t recent = large_recently_taken();
  const std::uint64_t cap = LARGE_EXCESS_PER_BOUND * (std::uint64_t{warm_limit_} * SLAB_SIZE + large_retain_);
  return smaller(recent, cap);
}

void AllocatorCore::release_large_warm_locked(std::uint64_t keep) noexcept {
  large_cache_.for_each_warm_oldest_first([&](SegmentHeader* seg) {
    if (large_warm_bytes_ <= keep) return false;
    large_warm_bytes_ -= seg->dirty_bytes;
    clear_span(seg->slabs);  // cached: no allocation path reaches it (law 4)
    large_cache_.cooled(seg);
    return true;
  });
}

void AllocatorCore::trim_large_warm_locked(std::uint64_t bytes, std::size_t above) noexcept {
  large_cache_.for_each_warm_oldest_first([&](SegmentHeader* seg) {
    if (bytes == 0) return false;
    if (seg->dirty_bytes <= above) return true;
    const std::size_t take = smaller(seg->dirty_bytes - above, bytes);
    // The tail of the span's dirty range: cached, no allocation path reaches it
    // (law 4); beyond dirty_bytes it reads as zero again.
    if (!decommit_returned(reinterpret_cast<char*>(seg->base) + (seg->dirty_bytes - take), take))
      return false;
    seg->dirty_bytes -= take;
    large_warm_bytes_ -= take;
    bytes -= take;
    if (seg->dirty_bytes == 0) large_cache_.cooled(seg);
    return true;
  });
}

bool AllocatorCore::make_way_locked(std::size_t dirty, std::uint64_t held, std::uint64_t bound) noexcept {
  if (dirty > bound) return false;
  // In whole pages: the bound is any byte count (TSLAB_LARGE_RETAIN), while
  // every span's dirty bytes, and so every tail taken below, are whole pages.
  std::uint64_t shortfall = 0;
  if (!round_up_checked(held + dirty - bound, platform_.page_size(), &shortfall)) return false;
  // What the larger spans could give, among the MAKE_WAY_WALK warm spans cached
  // longest: a free that finds no room pays a bounded walk, however many spans
  // are warm (the trim below stops within the same spans).
  std::uint64_t room = 0;
  std::uint32_t walked = 0;
  large_cache_.for_each_warm_oldest_first([&](SegmentHeader* seg) {
    if (seg->dirty_bytes > dirty) room += seg->dirty_bytes - dirty;
    return room < shortfall && ++walked < MAKE_WAY_WALK;
  });
  if (room < shortfall) return false;
  const std::uint64_t before = large_warm_bytes_;
  trim_large_warm_locked(shortfall, dirty);
  return before - large_warm_bytes_ >= shortfall;  // short if the platform refused a decommit
}

void AllocatorCore::trim_warm_slabs_locked(std::uint64_t bytes) noexcept {
  // Only slabs beyond the warm reserve: a program whose small and large blocks
  // live side by side (node's transferred ArrayBuffers among its objects) took
  // 181,000 faults a run returning the reserve for each buffer and faulting it
  // in again at its next small blocks, 101,000 keeping it (docs/BENCHMARKS.md).
  if (warm_count_ <= warm_limit_) return;
  const std::uint64_t slabs = (bytes + SLAB_SIZE - 1) / SLAB_SIZE;
  const std::uint32_t excess = warm_count_ - warm_limit_;
  release_warm_locked(slabs < excess ? warm_count_ - static_cast<std::uint32_t>(slabs) : warm_limit_);
}

std::uint64_t AllocatorCore::large_cache_visits() const noexcept {
  const CountedLock lock(mutex_, counters_);
  return large_cache_.spans_visited();
}

TslabError AllocatorCore::free_large(const BlockRef& ref, bool keep_warm, Heap* mine) noexcept {
  Slab* s = ref.slab;
  std::uint64_t word = s->bits[0].allocated.load(std::memory_order_acquire);
  for (;;) {
    if (!(word & Slab::LARGE_LIVE)) return TSLAB_ERR_DOUBLE_FREE;
    if (ref.by_handle && ((word >> 1) & HANDLE_GEN_MASK) != ref.generation) return TSLAB_ERR_STALE_HANDLE;
    std::uint64_t freed = word & ~Slab::LARGE_LIVE;
    if ((word & Slab::LARGE_RESIZING) != 0 && !keep_warm) freed |= Slab::LARGE_FREE_COLD;
    // Linearization point of a large free: of racing frees exactly one clears the bit.
    if (s->bits[0].allocated.compare_exchange_weak(word, freed, std::memory_order_acq_rel)) break;
  }
  // A resize under way ends the free once the block's extent is settled (end_resize).
  if ((word & Slab::LARGE_RESIZING) != 0) return TSLAB_OK;
  end_large_free(s, keep_warm, mine);
  return TSLAB_OK;
}

void AllocatorCore::end_large_free(Slab* s, bool keep_warm, Heap* mine) noexcept {
  SegmentHeader* seg = segment_map_lookup(s->start);
  // The caller's stash first: no lock (core/span_stash.cpp).
  if (keep_warm && mine != nullptr && stash_span(mine, seg, s)) return;
  bool cached = false, retired = false;
  bool over_bound = false;  // the cache's reservations or spans beyond their bounds
  if (keep_warm) {
    // Kept committed if the warm cache has room: the pages keep this block's
    // data, which no one may read (the span is UNUSED until handed out again).
    const CountedLock lock(mutex_, counters_);
    const std::uint64_t now = monotonic_ns();  // under the lock: the cache stays in order of age
    const std::size_t dirty = larger(s->large_usable.load(std::memory_order_relaxed), seg->dirty_bytes);
    const std::uint64_t held = large_warm_bytes_ + stashed_bytes_.load(std::memory_order_relaxed) +
                               std::uint64_t{warm_excess_locked()} * SLAB_SIZE;
    const std::uint64_t bound = std::uint64_t{warm_limit_} * SLAB_SIZE + large_retain_;
    // Beyond the bound the span stays committed too, as excess the next large
    // blocks take or pages faulting in return, within what the program
    // allocated of late (large_excess_allowed_locked): a program that frees many
    // buffers together and allocates them again (a wave, a collector's sweep)
    // faults them in once, not at every wave. Larger spans make way (their
    // tails) only for the span that first crosses the bound: at once beyond it,
    // they would give up the whole excess for a small span.
    const bool reusable = registry_current_generation(s->id) < HANDLE_GEN_MASK;
    const bool within = reusable && (held + dirty <= bound || ((held <= bound || large_retain_ == 0) &&
                                                               make_way_locked(dirty, held, bound)));
    const bool beyond = reusable && !within && held + dirty <= bound + large_excess_allowed_locked(now);
    if (within || beyond) {
      // seq_cst: the freer's half of the pin protocol; a validation that saw the
      // block live holds a pin the next taker sees (LargeSpanCache::take_from).
      s->state.store(SLAB_UNUSED, std::memory_order_seq_cst);
      seg->dirty_bytes = dirty;
      seg->cached_ns = now;
      large_warm_bytes_ += dirty;
      large_cache_.push(seg);
      release_large_decayed_locked();
      if (beyond && large_excess_ns_.load(std::memory_order_relaxed) == 0)
        large_excess_ns_.store(now, std::memory_order_relaxed);
      cached = true;
      over_bound = cache_over_bound_locked();
    }
  }
  if (!cached) {
    // Pages go back while the span is unreachable by every allocation path: it
    // enters the cache only below (law 4).
    clear_span(s);
    const CountedLock lock(mutex_, counters_);
    s->state.store(SLAB_UNUSED, std::memory_order_seq_cst);  // as above
    // No generation left for another block: the span is retired, never bound
    // again, so no handle it issued can be accepted again (law 5).
    retired = registry_current_generation(s->id) >= HANDLE_GEN_MASK;
    if (!retired) large_cache_.push(seg);
    over_bound = cache_over_bound_locked();
  }
  if (retired) {
    counters_.slabs_retired.add();
    retire_span(seg);
  }
  if (over_bound) trim_span_cache(MAX_CACHED_RESERVATION);
}

}  // namespace tslab::detail
