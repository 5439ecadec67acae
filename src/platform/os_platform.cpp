// This file contains OsPlatform: tslab's only contact with the operating
// system's memory interfaces (mmap, mremap, madvise, munmap, mincore).
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "platform/cxx_runtime.h"
#include "platform/fork_hooks.h"
#include "platform/freed_ranges.h"
#include "platform/span_chunks.h"
#include "tslab/platform.hpp"

namespace tslab {

namespace {

constexpr std::size_t MINCORE_CHUNK_PAGES = 4096;

// Without MAP_NORESERVE: the kernel's overcommit policy judges a reservation as it
// judges glibc's mmap of a large block, so a request no machine could back (64
// TiB: vm.overcommit_memory 0 refuses more than RAM and swap) fails with ENOMEM
// rather than succeed and cover its range in the segment map (8 bytes per 4
// MiB, 128 MiB for 64 TiB, kept for the process's life).
void* map_anonymous(std::size_t size, void* hint = nullptr) noexcept {
  void* p = ::mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// Where the next aligned reservation is tried first: right below the previous
// one (the kernel hands out addresses top down). A reservation placed there
// touches the previous one, so the kernel merges the two into one mapping; a
// process then holds thousands of segments and large spans in a few mappings
// instead of one each (vm.max_map_count is 65,530 by default). Tried after the
// addresses of reservations given back (FreedRanges). Only a hint: any thread
// may move it, and a placement elsewhere is as correct.
std::atomic<std::uintptr_t> g_next_below{0};

// Reservations given back lately, whose addresses the next ones take.
constinit detail::FreedRanges g_freed;

// The chunks reservations of large spans are carved out of.
constinit detail::SpanChunks g_chunks;

// Set once a grow failed for want of memory or mappings (vm.max_map_count).
std::atomic<bool> g_grows_refused{false};

// True if the running kernel is at least major.minor (uname's "6.1.0-…").
bool kernel_at_least(int major, int minor) noexcept {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int part[2] = {0, 0};
  const char* c = u.release;
  for (int i = 0; i < 2; ++i, ++c) {
    for (; *c >= '0' && *c <= '9'; ++c) part[i] = part[i] * 10 + (*c - '0');
    if (*c != '.' && i == 0) return false;
  }
  return part[0] > major || (part[0] == major && part[1] >= minor);
}

// A reservation of `size` at `alignment` right below the last one, or nullptr.
void* map_below_last(std::size_t size, std::size_t alignment) noexcept {
  const std::uintptr_t last = g_next_below.load(std::memory_order_relaxed);
  if (last == 0 || last % alignment != 0 || last < size + alignment) return nullptr;
  const std::uintptr_t want = (last - size) & ~(std::uintptr_t{alignment} - 1);
  void* p = map_anonymous(size, reinterpret_cast<void*>(want));
  if (p == nullptr) return nullptr;
  if (reinterpret_cast<std::uintptr_t>(p) != want) {  // the hint was taken: elsewhere is not aligned
    ::munmap(p, size);
    return nullptr;
  }
  return p;
}

// A reservation in the addresses of one given back lately, or nullptr.
void* map_in_freed(std::size_t size, std::size_t alignment) noexcept {
  const std::uintptr_t want = g_freed.take(size, alignment);
  if (want == 0) return nullptr;
  void* p = map_anonymous(size, reinterpret_cast<void*>(want));
  if (p == nullptr || reinterpret_cast<std::uintptr_t>(p) == want) return p;
  ::munmap(p, size);  // another mapping took part of the range since: ranges recorded there are stale
  g_freed.forget(want, size);
  return nullptr;
}

// A reservation of `size` at `alignment` (above a page) of its own.
void* map_aligned(std::size_t size, std::size_t alignment) noexcept {
  if (void* p = map_in_freed(size, alignment)) return p;
  if (void* p = map_below_last(size, alignment)) {
    g_next_below.store(reinterpret_cast<std::uintptr_t>(p), std::memory_order_relaxed);
    return p;
  }
  // Over-reserve, then trim both ends to the requested alignment.
  if (size + alignment < size) return nullptr;
  const std::size_t span = size + alignment;
  char* raw = static_cast<char*>(map_anonymous(span));
  if (raw == nullptr) return nullptr;
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (base + alignment - 1) & ~(std::uintptr_t{alignment} - 1);
  const std::size_t head = aligned - base;
  const std::size_t tail = span - head - size;
  if (head != 0) ::munmap(raw, head);
  if (tail != 0) ::munmap(reinterpret_cast<char*>(aligned) + size, tail);
  g_next_below.store(aligned, std::memory_order_relaxed);
  return reinterpret_cast<void*>(aligned);
}

void unmap_chunk(std::uintptr_t base) noexcept {
  // Its pages went back with its last span's. A chunk merged with its
  // neighbours into one mapping splits it, which a process at
  // vm.max_map_count is refused: the chunk then serves spans again.
  if (::munmap(reinterpret_cast<void*>(base), detail::SpanChunks::CHUNK) == 0)
    g_freed.add(base, detail::SpanChunks::CHUNK);
  else
    g_chunks.add(base);
}

// Set once the table's lock is held across fork() (platform/fork_hooks.h):
// registered at the first carve made while the thread holds no tslab lock (the
// hooks' rule). Until then spans are mappings of their own and the table is
// empty, so nothing else takes its lock either: a fork then could leave it
// held in the child, where no hook would let it go.
constinit std::atomic<bool> g_chunks_ready{false};

bool chunks_ready() noexcept {
  if (g_chunks_ready.load(std::memory_order_acquire)) return true;
  if (detail::thread_holds_tslab_lock()) return false;
  detail::fork_hold_lock(detail::ForkRank::span_chunks, g_chunks.mutex());
  g_chunks_ready.store(true, std::memory_order_release);
  return true;
}

// True if `base` lies in a chunk.
bool in_chunk(std::uintptr_t base) noexcept {
  return g_chunks_ready.load(std::memory_order_acquire) && g_chunks.holds(base);
}

// A reservation carved out of a chunk, a new one if none has room; nullptr if
// the table is busy or full, or no chunk could be mapped.
void* carve(std::size_t size, std::size_t alignment) noexcept {
  using detail::SpanChunks;
  if (!chunks_ready()) return nullptr;
  std::uintptr_t at = 0;
  const SpanChunks::Result taken = g_chunks.take(size, alignment, &at);
  if (taken == SpanChunks::Result::done) return reinterpret_cast<void*>(at);
  if (taken == SpanChunks::Result::busy || taken == SpanChunks::Result::full) return nullptr;
  void* chunk = map_aligned(SpanChunks::CHUNK, SpanChunks::CHUNK);
  if (chunk == nullptr) return nullptr;
  if (g_chunks.add_and_take(reinterpret_cast<std::uintptr_t>(chunk), size, alignment, &at) ==
      SpanChunks::Result::done)
    return reinterpret_cast<void*>(at);
  unmap_chunk(reinterpret_cast<std::uintptr_t>(chunk));
  return nullptr;
}

// Gives the granules of [base, base + size), mapped, back to their chunk, and
// unmaps a chunk that leaves wholly free beside another: false if not done.
bool give_back_granules(std::uintptr_t base, std::size_t size) noexcept {
  std::uintptr_t unmap = 0;
  if (g_chunks.give_back(base, size, &unmap) != detail::SpanChunks::Result::done) return false;
  if (unmap != 0) unmap_chunk(unmap);
  return true;
}

// Gives a carved range back: true if `p` was one. Only whole granules within
// one chunk: a chunk marks a granule free only while it is mapped, and a range
// of the chunk that went back to the OS (below) stays taken, though another of
// tslab's mappings may land there and be given back here in its turn.
bool uncarve(void* p, std::size_t size) noexcept {
  using detail::SpanChunks;
  const auto base = reinterpret_cast<std::uintptr_t>(p);
  if (base % SpanChunks::GRANULE != 0 || size % SpanChunks::GRANULE != 0 ||
      base / SpanChunks::CHUNK != (base + size - 1) / SpanChunks::CHUNK || !in_chunk(base))
    return false;
  // Its pages go first: once given back, the range may be carved again at once,
  // and must read as zero, as a new one does. Locked pages (mlock) refuse
  // MADV_DONTNEED: a fresh mapping then replaces the range, which merges with
  // the chunk's on both sides. Refused too (out of mappings): unmapped, below.
  if (::madvise(p, size, MADV_DONTNEED) != 0 &&
      ::mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
    return false;
  // Not done (busy: a signal handler that interrupted the table's holder on its
  // thread): unmapped as a mapping of its own, its granules left taken.
  return give_back_granules(base, size);
}

// A carved range a grow moved out of its chunk: mapped again where nothing else
// was mapped since (a new mapping merges with the chunk's on both sides), and
// given back; else it stays taken.
void refill_carved(void* from, std::size_t size) noexcept {
  void* again =
      ::mmap(from, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (again == MAP_FAILED) return;
  if (again != from) {  // a kernel without NOREPLACE put it elsewhere
    ::munmap(again, size);
    return;
  }
  give_back_granules(reinterpret_cast<std::uintptr_t>(from), size);
}

}  // namespace

void* OsPlatform::reserve(std::size_t size, std::size_t alignment) noexcept {
  if (size == 0) return nullptr;
  const std::size_t page = page_size();
  if (alignment <= page) return map_anonymous(size);
  if (detail::SpanChunks::carves(size, alignment))
    if (void* p = carve(size, alignment)) return p;
  if (void* p = map_aligned(size, alignment)) return p;
  // Refused, perhaps for want of address space (RLIMIT_AS): a wholly free chunk goes back.
  std::uintptr_t unmap = 0;
  if (!g_chunks_ready.load(std::memory_order_acquire) ||
      g_chunks.drop_free_chunk(&unmap) != detail::SpanChunks::Result::done || unmap == 0)
    return nullptr;
  unmap_chunk(unmap);
  return map_aligned(size, alignment);
}

void* OsPlatform::reserve_at(void* p, std::size_t size) noexcept {
  if (p == nullptr || size == 0) return nullptr;
  void* got = map_anonymous(size, p);
  if (got == p) {
    g_freed.forget(reinterpret_cast<std::uintptr_t>(p), size);  // no longer a hint for others
    return p;
  }
  if (got != nullptr) ::munmap(got, size);  // some other mapping holds part of the range
  return nullptr;
}

void OsPlatform::release(void* p, std::size_t size) noexcept {
  if (p == nullptr || size == 0 || uncarve(p, size)) return;
  if (::munmap(p, size) == 0) {
    g_freed.add(reinterpret_cast<std::uintptr_t>(p), size);
    return;
  }
  // Refused: a range inside a larger mapping splits it, which needs one more
  // mapping, and a process at vm.max_map_count has none (ENOMEM). Spans lie side
  // by side in merged mappings, so it happens. The range stays reserved, but its
  // pages still go back.
  ::madvise(p, size, MADV_DONTNEED);
}

bool OsPlatform::commit(void*, std::size_t) noexcept {
  // Reserved memory is readable and writable; a decommitted range refaults as
  // zero pages on first touch, so there is nothing to do.
  return true;
}

bool OsPlatform::decommit(void* p, std::size_t size) noexcept {
  return ::madvise(p, size, MADV_DONTNEED) == 0;
}

bool OsPlatform::prefault(void* p, std::size_t size) noexcept {
#ifdef MADV_POPULATE_WRITE
  // One call faults the whole range in; kernels before 5.14 answer EINVAL.
  return ::madvise(p, size, MADV_POPULATE_WRITE) == 0;
#else
  (void)p;
  (void)size;
  return false;
#endif
}

bool OsPlatform::grow_into(void* from, std::size_t size, void* to, std::size_t to_size) noexcept {
  // Nothing moves into a chunk: the range moved in would stay a mapping of its
  // own inside the chunk's, splitting it for as long as the chunk lives.
  if (in_chunk(reinterpret_cast<std::uintptr_t>(to))) {
    release(to, to_size);
    return false;
  }
  // The whole of `from` moves and grows into one mapping, so a later grow of the
  // range moves a range within a single mapping again. MREMAP_FIXED replaces
  // the mapping at `to`, which is ours.
  const bool carved = in_chunk(reinterpret_cast<std::uintptr_t>(from));
  if (size != 0 && to_size > size &&
      ::mremap(from, size, to_size, MREMAP_MAYMOVE | MREMAP_FIXED, to) != MAP_FAILED) {
    if (carved) {
      refill_carved(from, size);
    } else {
      g_freed.add(reinterpret_cast<std::uintptr_t>(from), size);  // left unmapped by the move
    }
    return true;
  }
  // Not moved. The kernel checks the source before it moves a page, and moves a
  // failed move back, so `from` is as it was. From 6.17 on, a refused source
  // (EFAULT, EINVAL) leaves `to` untouched too. Otherwise the kernel may have
  // unmapped `to` first, and another thread's mmap may have landed there since,
  // possibly over all of it: `to` is then unmapped only where it is certainly
  // ours again, covered anew while nothing else is there; else it stays,
  // address space only (the caller asks this range to grow no more).
  const int error = errno;
  if ((error == EFAULT || error == EINVAL) && kernel_at_least(6, 17)) {
    ::munmap(to, to_size);
    return false;
  }
  // Short of memory or of mappings: no range grows again in this process.
  if (error == ENOMEM) g_grows_refused.store(true, std::memory_order_relaxed);
  void* again = ::mmap(to, to_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (again != MAP_FAILED) ::munmap(again, to_size);  // `to`, or elsewhere on a kernel without NOREPLACE
  return false;
}

bool OsPlatform::can_grow() const noexcept {
  // Under an address-space cap a grow holds both ranges for a moment, and a
  // refused one may keep its destination: not tried there (RLIMIT_AS).
  rlimit limit{};
  return !g_grows_refused.load(std::memory_order_relaxed) && ::getrlimit(RLIMIT_AS, &limit) == 0 &&
         limit.rlim_cur == RLIM_INFINITY;
}

std::size_t OsPlatform::page_size() const noexcept {
  // Read once; threads that race to read it first store the same value.
  constinit static std::atomic<std::size_t> page{0};
  std::size_t p = page.load(std::memory_order_relaxed);
  if (p == 0) [[unlikely]] {
    p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    page.store(p, std::memory_order_relaxed);
  }
  return p;
}

bool OsPlatform::resident_pages(const void* p, std::size_t size, unsigned char* pages) const noexcept {
  return ::mincore(const_cast<void*>(p), size, pages) == 0;
}

std::size_t OsPlatform::resident_bytes(const void* p, std::size_t size) const noexcept {
  const std::size_t page = page_size();
  const auto start = reinterpret_cast<std::uintptr_t>(p) & ~(std::uintptr_t{page} - 1);
  const auto end = reinterpret_cast<std::uintptr_t>(p) + size;
  unsigned char vec[MINCORE_CHUNK_PAGES];
  std::size_t resident = 0;
  for (std::uintptr_t at = start; at < end; at += MINCORE_CHUNK_PAGES * page) {
    const std::size_t len = (end - at < MINCORE_CHUNK_PAGES * page) ? end - at : MINCORE_CHUNK_PAGES * page;
    if (::mincore(reinterpret_cast<void*>(at), len, vec) != 0) continue;
    const std::size_t pages = (len + page - 1) / page;
    for (std::size_t i = 0; i < pages; ++i) resident += (vec[i] & 1) ? page : 0;
  }
  return resident;
}

namespace {
// Constant-initialised: no guard on first use that a fork could leave taken.
constinit OsPlatform g_os;
}  // namespace

OsPlatform& OsPlatform::instance() noexcept { return g_os; }

}  // namespace tslab
