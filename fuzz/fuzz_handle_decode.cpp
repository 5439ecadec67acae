// This file contains the fuzz_handle_decode target: arbitrary 64-bit values,
// used as handles and as pointers, against an allocator holding live blocks of
// every kind (small, class boundaries, large spans, aligned, some owned by
// another thread, some in a closing epoch), freed blocks next to live ones,
// slabs recycled since their handles were issued, a second live allocator and a
// destroyed one. slab_alloc.h promises that unknown pointers and handles are
// refused without being dereferenced: free_obj, slab_free_checked,
// slab_handle_to_ptr, slab_ptr_to_handle and slab_usable_size must accept
// exactly the live handles and pointers of the allocator asked, and every live
// block keeps its contents.
//
// Input: probes, each a mode byte (low 3 bits: how the value is made, bit 7:
// the calls run on the worker thread) and the mode's arguments.
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "fuzz_support.h"
#include "slab_alloc.h"
#include "worker.h"

namespace fuzz {

namespace {

constexpr int ALLOCATORS = 2;  // 0: the one probed, 1: another live one
constexpr std::size_t PAINTED = 1024;
constexpr std::uint32_t CLOSING_EPOCH = 3;
constexpr std::uint32_t DRAINED_EPOCH = 5;
constexpr std::size_t MAX_DEAD_VALUES = 256;

struct Block {
  int allocator;
  std::uintptr_t address;
  SlabHandle handle;
  std::size_t usable;
  std::size_t size;
  std::size_t alignment;
  std::uint32_t epoch;
  std::uint64_t seed;
};

struct Outcome {
  void* to_ptr = nullptr;
  SlabHandle to_handle = 0;
  std::size_t usable = 0;
  bool freed_by_handle = false;
  bool freed_by_pointer = false;
  TslabError pointer_error = TSLAB_OK;
};

class Fixture {
 public:
  Fixture() {
    for (SlabAllocator*& a : allocators_) a = slab_allocator_create();
    populate_destroyed();
    populate(0);
    populate(1);
    populate_drained();
    fixture_dead_ = dead_values_.size();
  }

  void probe(ByteReader& r) {
    const std::uint8_t mode = r.u8();
    const std::uint64_t value = make_value(mode & 7, r);
    for (int a = 0; a < ALLOCATORS; ++a) probe_value(a, value, (mode & 0x80) != 0);
    count_operation(5 * ALLOCATORS);
  }

  static void require_intact(const Block& b) {
    const auto* p = reinterpret_cast<const void*>(b.address);
    const std::size_t n = b.usable < PAINTED ? b.usable : PAINTED;
    const std::size_t bad = first_damaged(p, 0, n, b.seed);
    FUZZ_REQUIRE(bad == n, "live block %p (%zu bytes) is corrupt at offset %zu", p, b.usable, bad);
  }

  void verify() const {
    for (const Block& b : live_) require_intact(b);
    for (SlabAllocator* a : allocators_) {
      char message[256] = "";
      FUZZ_REQUIRE(slab_check(a, message, sizeof message), "slab_check failed: %s", message);
    }
  }

 private:
  // --- the fixture ---

  Block allocate(int a, std::size_t size, std::size_t alignment, std::uint32_t epoch, bool with_handle_api) {
    SlabAllocator* alloc = allocators_[a];
    void* p = nullptr;
    SlabHandle h = 0;
    if (with_handle_api)
      p = alloc_obj_epoch(alloc, static_cast<std::uint32_t>(size), epoch, &h);
    else if (alignment > 16)
      p = slab_malloc_aligned_epoch(alloc, size, alignment, epoch);
    else
      p = slab_malloc_epoch(alloc, size, epoch);
    FUZZ_REQUIRE(p != nullptr, "fixture allocation of %zu bytes failed: %d", size, slab_last_error());
    if (!with_handle_api) h = slab_ptr_to_handle(alloc, p);
    Block b{a,     reinterpret_cast<std::uintptr_t>(p),
            h,     slab_usable_size(alloc, p),
            size,  alignment,
            epoch, mix64(next_seed_++)};
    paint(p, 0, b.usable < PAINTED ? b.usable : PAINTED, b.seed);
    return b;
  }

  void add_live(const Block& b) {
    live_.push_back(b);
    index(live_.size() - 1);
  }

  void index(std::size_t i) {
    by_handle_[live_[i].handle] = i;
    by_pointer_[live_[i].address] = i;
  }

  // Keeps the fixture's freed handles and addresses, then the most recent ones
  // the fuzzer freed (a bounded ring after the fixture's).
  void remember_dead(const Block& b) {
    for (const std::uint64_t v : {std::uint64_t{b.handle}, std::uint64_t{b.address}}) {
      if (dead_values_.size() < MAX_DEAD_VALUES) {
        dead_values_.push_back(v);
        continue;
      }
      dead_values_[fixture_dead_ + next_dead_++ % (MAX_DEAD_VALUES - fixture_dead_)] = v;
    }
  }

  void populate(int a) {
    static constexpr std::size_t SIZES[] = {
        1,    16,   17,    48,    100,   128,   129,    1000,
        4096, 8000, 16384, 16385, 65536, 65537, 100000, std::size_t{1} << 20};
    static constexpr std::size_t ALIGNMENTS[] = {64, 4096, 8192, std::size_t{1} << 22};
    for (std::size_t i = 0; i < std::size(SIZES); ++i) {
      // Two neighbours, the first freed again: a free slot next to a live one.
      const bool handle_api = i % 2 == 0;
      const Block gone = allocate(a, SIZES[i], 16, 0, handle_api);
      add_live(allocate(a, SIZES[i], 16, 0, handle_api));
      free_quietly(gone);
      add_live(allocate(a, SIZES[i], 16, CLOSING_EPOCH, !handle_api));
    }
    for (std::size_t alignment : ALIGNMENTS) add_live(allocate(a, 200, alignment, 0, false));
    std::function<void()> remote = [&] {
      for (std::size_t size : {24, 700, 20000}) add_live(allocate(a, size, 16, 0, false));
    };
    Worker::instance().run(remote);
    epoch_close(allocators_[a], CLOSING_EPOCH);
  }

  // Blocks of an epoch that was emptied and closed: their slabs went back to the
  // pool with a new generation, so their handles read stale.
  void populate_drained() {
    std::vector<Block> drained;
    for (std::size_t size : {32, 32, 32, 512, 50000})
      drained.push_back(allocate(0, size, 16, DRAINED_EPOCH, true));
    for (const Block& b : drained) free_quietly(b);
    epoch_close(allocators_[0], DRAINED_EPOCH);
    slab_collect(allocators_[0]);
    for (std::size_t size : {32, 32, 512}) add_live(allocate(0, size, 16, 0, true));
  }

  void populate_destroyed() {
    SlabAllocator* gone = slab_allocator_create();
    for (std::size_t size : {16, 300, 70000}) {
      SlabHandle h = 0;
      void* p = alloc_obj_epoch(gone, static_cast<std::uint32_t>(size), 0, &h);
      dead_values_.push_back(h);
      dead_values_.push_back(reinterpret_cast<std::uintptr_t>(p));
    }
    slab_allocator_free(gone);
  }

  void free_quietly(const Block& b) {
    FUZZ_REQUIRE(free_obj(allocators_[b.allocator], b.handle), "fixture free failed");
    remember_dead(b);
  }

  // --- values ---

  const Block& live_block(ByteReader& r) const { return live_[r.u8() % live_.size()]; }
  std::uint64_t dead_value(ByteReader& r) const { return dead_values_[r.u8() % dead_values_.size()]; }

  std::uint64_t make_value(int mode, ByteReader& r) const {
    switch (mode) {
      case 0:
        return r.u64();
      case 1:
        return live_block(r).handle ^ (std::uint64_t{1} << (r.u8() % 64));
      case 2:
        return live_block(r).address + static_cast<std::int16_t>(r.u16());
      case 3:
        return dead_value(r);
      case 4:
        return (live_block(r).handle & ~std::uint64_t{0xFFF}) | (r.u16() & 0xFFF);
      case 5:
        return dead_value(r) + static_cast<std::int16_t>(r.u16());
      case 6:
        return with_field(live_block(r).handle, r.u8() % 3, r.u32());
      default: {
        const std::uintptr_t base = live_block(r).address;
        const std::uint64_t low = (std::uint64_t{1} << (r.u8() % 48)) - 1;
        return r.flag() ? base & ~low : base | low;
      }
    }
  }

  static std::uint64_t with_field(SlabHandle h, int field, std::uint32_t v) {
    switch (field) {
      case 0:
        return (h & ~std::uint64_t{0xFFF}) | (v & 0xFFF);
      case 1:
        return (h & ~(std::uint64_t{0xFFFFFF} << 12)) | (std::uint64_t{v & 0xFFFFFF} << 12);
      default:
        return (h & ((std::uint64_t{1} << 36) - 1)) | (std::uint64_t{v} << 36);
    }
  }

  // --- one value against one allocator ---

  int live_index(int a, const std::unordered_map<std::uint64_t, std::size_t>& map, std::uint64_t v) const {
    const auto it = map.find(v);
    return it != map.end() && live_[it->second].allocator == a ? static_cast<int>(it->second) : -1;
  }

  void probe_value(int a, std::uint64_t v, bool on_worker) {
    SlabAllocator* alloc = allocators_[a];
    void* p = reinterpret_cast<void*>(v);
    const int by_handle = live_index(a, by_handle_, v);
    const int by_pointer = live_index(a, by_pointer_, v);
    // The blocks the calls must free: intact before they go.
    if (by_handle >= 0) require_intact(live_[by_handle]);
    if (by_pointer >= 0) require_intact(live_[by_pointer]);
    Outcome out;
    const std::function<void()> calls = [&] {
      out.to_ptr = slab_handle_to_ptr(alloc, v);
      out.to_handle = slab_ptr_to_handle(alloc, p);
      out.usable = slab_usable_size(alloc, p);
      out.freed_by_handle = free_obj(alloc, v);
      out.freed_by_pointer = slab_free_checked(alloc, p);
      out.pointer_error = slab_last_error();
    };
    if (on_worker)
      Worker::instance().run(calls);
    else
      calls();
    require_outcome(a, v, by_handle, by_pointer, out);
    replace_freed(by_handle, out.freed_by_handle);
    if (by_pointer != by_handle) replace_freed(by_pointer, out.freed_by_pointer);
  }

  void require_outcome(int a, std::uint64_t v, int by_handle, int by_pointer, const Outcome& out) const {
    const void* want_ptr = by_handle < 0 ? nullptr : reinterpret_cast<void*>(live_[by_handle].address);
    FUZZ_REQUIRE(out.to_ptr == want_ptr, "allocator %d: slab_handle_to_ptr(%#" PRIx64 ") = %p, expected %p",
                 a, v, out.to_ptr, want_ptr);
    const SlabHandle want_handle = by_pointer < 0 ? 0 : live_[by_pointer].handle;
    FUZZ_REQUIRE(out.to_handle == want_handle, "allocator %d: slab_ptr_to_handle(%#" PRIx64 ") = %#" PRIx64,
                 a, v, out.to_handle);
    const std::size_t want_usable = by_pointer < 0 ? 0 : live_[by_pointer].usable;
    FUZZ_REQUIRE(out.usable == want_usable,
                 "allocator %d: slab_usable_size(%#" PRIx64 ") = %zu, expected %zu", a, v, out.usable,
                 want_usable);
    FUZZ_REQUIRE(out.freed_by_handle == (by_handle >= 0), "allocator %d: free_obj(%#" PRIx64 ") returned %d",
                 a, v, out.freed_by_handle);
    const bool want_free = v == 0 || by_pointer >= 0;
    FUZZ_REQUIRE(out.freed_by_pointer == want_free,
                 "allocator %d: slab_free_checked(%#" PRIx64 ") returned %d (error %d)", a, v,
                 out.freed_by_pointer, out.pointer_error);
    const int inside = live_block_containing(v);
    if (want_free || inside < 0) return;
    const TslabError want_error =
        live_[inside].allocator == a ? TSLAB_ERR_INTERIOR_POINTER : TSLAB_ERR_FOREIGN;
    FUZZ_REQUIRE(out.pointer_error == want_error,
                 "allocator %d: slab_free_checked(%#" PRIx64 ") inside a live block: error %d, expected %d",
                 a, v, out.pointer_error, want_error);
  }

  int live_block_containing(std::uint64_t v) const {
    for (std::size_t i = 0; i < live_.size(); ++i)
      if (v - live_[i].address < live_[i].usable) return static_cast<int>(i);
    return -1;
  }

  // A live block the fuzzer freed: forget it and allocate one like it.
  void replace_freed(int slot, bool freed) {
    if (slot < 0 || !freed) return;
    const Block gone = live_[slot];
    remember_dead(gone);
    by_handle_.erase(gone.handle);
    by_pointer_.erase(gone.address);
    live_[slot] = allocate(gone.allocator, gone.size, gone.alignment, 0, gone.alignment <= 16);
    index(slot);
  }

  SlabAllocator* allocators_[ALLOCATORS] = {};
  std::vector<Block> live_;
  std::vector<std::uint64_t> dead_values_;
  std::unordered_map<std::uint64_t, std::size_t> by_handle_;
  std::unordered_map<std::uint64_t, std::size_t> by_pointer_;
  std::uint64_t next_seed_ = 1;
  std::size_t next_dead_ = 0;
  std::size_t fixture_dead_ = 0;
};

Fixture& fixture() {
  static Fixture* f = new Fixture();
  return *f;
}

}  // namespace

}  // namespace fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::report_operations_at_exit("fuzz_handle_decode");
  fuzz::fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::ByteReader r(data, size);
  fuzz::Fixture& f = fuzz::fixture();
  while (!r.empty()) f.probe(r);
  f.verify();
  fuzz::count_input();
  return 0;
}
