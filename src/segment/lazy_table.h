// This file contains LazyTable, a process-wide table of 2^IndexBits entries that
// takes address space in proportion to the part of it in use: the segment map
// (segment/segment_map.h) and the slab registry (handle/registry.h) are two.
//
// Two levels. The entries are cut into leaves of 2^LeafBits; a leaf is reserved
// from the OS (zero: every entry empty) when its owner first needs it
// (add_leaf_locked) and never freed. Until then the leaf reads as one shared
// leaf of zeros, never written, so reading the entry of any index, whether its
// leaf exists or not, reads a value and never faults.
//
// The top level holds, per leaf, its origin: the address the entry of index 0
// would have if the leaf reached down to index 0. The entry of index i is then
// at origin + i * sizeof(Entry): one load and one indexed load, with no masking
// of the index.
#ifndef TSLAB_SEGMENT_LAZY_TABLE_H
#define TSLAB_SEGMENT_LAZY_TABLE_H

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "tslab/platform.hpp"

namespace tslab::detail {

template <typename Entry, unsigned IndexBits, unsigned LeafBits>
class LazyTable {
 public:
  static constexpr std::size_t LEAVES = std::size_t{1} << (IndexBits - LeafBits);
  static constexpr std::size_t LEAF_ENTRIES = std::size_t{1} << LeafBits;
  static constexpr std::size_t LEAF_BYTES = LEAF_ENTRIES * sizeof(Entry);
  static constexpr std::size_t SIZE = std::size_t{1} << IndexBits;

  // Points every leaf at the zero leaf. Once, before the first read, under the
  // owner's lock (a second call would undo add_leaf_locked).
  void init_locked() noexcept {
    for (std::size_t l = 0; l < LEAVES; ++l)
      origins_[l].store(origin_of(zero_leaf_, l), std::memory_order_relaxed);
  }

  // The entry of any index below SIZE, to read: from its leaf, or zero.
  const Entry& read(std::uintptr_t index) const noexcept {
    // Acquire pairs with the leaf's publication (add_leaf_locked): its entries
    // read as zero or as written since.
    const std::uintptr_t origin = origins_[index >> LeafBits].load(std::memory_order_acquire);
    return *reinterpret_cast<const Entry*>(origin + index * sizeof(Entry));
  }

  // The entry of an index whose leaf exists (has_leaf), to write; nullptr, never
  // the zero leaf, for any other.
  Entry* write(std::uintptr_t index) noexcept {
    const std::size_t leaf = index >> LeafBits;
    // Acquire pairs with the leaf's publication, made by this thread or another.
    const std::uintptr_t origin = origins_[leaf].load(std::memory_order_acquire);
    assert(origin != origin_of(zero_leaf_, leaf) && "the leaf of a written entry exists");
    if (origin == origin_of(zero_leaf_, leaf)) return nullptr;
    return reinterpret_cast<Entry*>(origin + index * sizeof(Entry));
  }

  bool has_leaf(std::size_t leaf) const noexcept {
    // Acquire pairs with the leaf's publication.
    return origins_[leaf].load(std::memory_order_acquire) != origin_of(zero_leaf_, leaf);
  }

  // Caller holds the owner's lock and found !has_leaf(leaf): reserves the leaf;
  // false if the OS refused.
  bool add_leaf_locked(std::size_t leaf) noexcept {
    OsPlatform& os = OsPlatform::instance();
    void* memory = os.reserve(LEAF_BYTES, os.page_size());
    if (memory == nullptr) return false;
    leaf_bytes_.fetch_add(LEAF_BYTES, std::memory_order_relaxed);
    // Publication point of a leaf: reads of its entries find it from here on.
    origins_[leaf].store(origin_of(memory, leaf), std::memory_order_release);
    return true;
  }

  // Bytes reserved for leaves so far.
  std::size_t reserved_bytes() const noexcept { return leaf_bytes_.load(std::memory_order_relaxed); }

 private:
  static std::uintptr_t origin_of(const void* leaf_memory, std::size_t leaf) noexcept {
    return reinterpret_cast<std::uintptr_t>(leaf_memory) - leaf * LEAF_BYTES;
  }

  std::atomic<std::uintptr_t> origins_[LEAVES] = {};
  std::atomic<std::size_t> leaf_bytes_{0};
  // Read for every index whose leaf does not exist, as entries reached through
  // its origins; never written. Plain words rather than Entry objects: a
  // constant initializer of 2^20 atomics (the segment map's leaf) exceeds
  // clang's limit of constant-evaluation steps, one step per object.
  static_assert(LEAF_BYTES % sizeof(std::uintptr_t) == 0);
  alignas(Entry) std::uintptr_t zero_leaf_[LEAF_BYTES / sizeof(std::uintptr_t)] = {};
};

}  // namespace tslab::detail

#endif  // TSLAB_SEGMENT_LAZY_TABLE_H
