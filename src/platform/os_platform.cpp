// This file contains OsPlatform: tslab's only contact with the operating
// system's memory interfaces (mmap, mremap, madvise, munmap, mincore).
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "tslab/platform.hpp"

namespace tslab {

namespace {

constexpr std::size_t MINCORE_CHUNK_PAGES = 4096;

void* map_anonymous(std::size_t size, void* hint = nullptr) noexcept {
  void* p = ::mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// Where the next aligned reservation is tried first: right below the previous
// one (the kernel hands out addresses top down). A reservation placed there
// touches the previous one, so the kernel merges the two into one mapping; a
// process then holds thousands of segments and large spans in a few mappings
// instead of one each (vm.max_map_count is 65,530 by default). Only a hint:
// any thread may move it, and a placement elsewhere is as correct.
std::atomic<std::uintptr_t> g_next_below{0};

// True if every page of [p, p + size) is mapped (mincore refuses a range with a
// hole, ENOMEM); reads nothing and changes nothing.
bool whole_range_mapped(void* p, std::size_t size) noexcept {
  unsigned char vec[MINCORE_CHUNK_PAGES];
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  for (std::size_t off = 0; off < size; off += MINCORE_CHUNK_PAGES * page) {
    const std::size_t n = size - off < MINCORE_CHUNK_PAGES * page ? size - off : MINCORE_CHUNK_PAGES * page;
    if (::mincore(static_cast<char*>(p) + off, n, vec) != 0) return false;
  }
  return true;
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

}  // namespace

void* OsPlatform::reserve(std::size_t size, std::size_t alignment) noexcept {
  if (size == 0) return nullptr;
  const std::size_t page = page_size();
  if (alignment <= page) return map_anonymous(size);
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

void OsPlatform::release(void* p, std::size_t size) noexcept {
  if (p != nullptr && size != 0) ::munmap(p, size);
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

void* OsPlatform::grow(void* from, std::size_t size, std::size_t new_size, std::size_t alignment) noexcept {
  if (size == 0 || new_size <= size) return nullptr;
  void* to = reserve(new_size, alignment);
  if (to == nullptr) return nullptr;
  // The whole of `from` moves into `to` and grows to fill it: one mapping, so a
  // later grow of this range again moves a range within a single mapping.
  // MREMAP_FIXED replaces the mapping at `to`, which is ours.
  if (::mremap(from, size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, to) != MAP_FAILED) return to;
  // Not moved. The kernel checks the source before it moves a page (and moves a
  // failed move back), so `from` is as it was. Kernels before 6.16 unmap the
  // destination before that check; another thread's mmap may then land in the
  // hole, so `to` is given back only in the two states that leave no doubt.
  void* again = ::mmap(to, new_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (again != MAP_FAILED && again != to) {
    ::munmap(again, new_size);  // a kernel without MAP_FIXED_NOREPLACE placed it elsewhere
    again = MAP_FAILED;
  }
  // Unmapped and nothing took it meanwhile (now mapped again), or never unmapped
  // (still whole; another mapping of exactly this range and place made in the
  // instant between is the one case this cannot tell apart). Else part of it is
  // another mapping now: the rest stays reserved, address space only.
  if (again == to || whole_range_mapped(to, new_size)) ::munmap(to, new_size);
  return nullptr;
}

std::size_t OsPlatform::page_size() const noexcept {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
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
