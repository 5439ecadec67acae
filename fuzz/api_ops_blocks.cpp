// This file contains fuzz_api_sequence's operations on allocators and blocks:
// create and destroy allocators, allocate through the handle, pointer and
// aligned APIs, free by pointer and by handle (own, foreign, stale, interior and
// garbage), convert between handles and pointers, realloc-like moves, and calls
// through a destroyed allocator. Some calls run on the worker thread.
#include <cinttypes>
#include <cstring>
#include <functional>

#include "api_ops.h"
#include "worker.h"

namespace fuzz {

namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;
constexpr std::size_t GiB = std::size_t{1} << 30;
constexpr std::size_t LARGEST_REQUEST = std::size_t{1} << 46;
constexpr std::size_t LARGEST_SMALL = 65536;
constexpr std::size_t BLOCK_ALIGNMENT = 16;

enum class AllocApi : std::uint8_t { handle, pointer, aligned };

struct AllocCall {
  AllocApi api = AllocApi::pointer;
  int target = NONE;
  std::size_t size = 0;
  std::size_t alignment = BLOCK_ALIGNMENT;
  std::uint32_t epoch = 0;
  bool want_handle = true;
  bool on_worker = false;
};

struct CallResult {
  void* p = nullptr;
  SlabHandle handle = 0;
  bool ok = false;
  TslabError error = TSLAB_OK;
};

// Runs `call` here or on the worker thread, and reads the last error there.
CallResult run_call(bool on_worker, const std::function<CallResult()>& call) {
  CallResult result;
  const std::function<void()> task = [&] {
    result = call();
    result.error = slab_last_error();
  };
  if (on_worker)
    Worker::instance().run(task);
  else
    task();
  count_operation();
  return result;
}

std::size_t requested_size(const AllocCall& c) {
  return c.api == AllocApi::handle ? static_cast<std::uint32_t>(c.size) : c.size;
}

Expectation expect_allocation(const World& w, const AllocCall& c) {
  const std::size_t size = requested_size(c);
  if (c.target == NONE) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  // Size 0: the handle API and slab_malloc_epoch refuse it; the aligned API
  // returns a unique block.
  if (c.api != AllocApi::aligned && size == 0) return fail(TSLAB_ERR_SIZE_ZERO);
  if (!w.alive(c.target)) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  // Allocators take any power of two as an alignment (arenas: up to 1 GiB);
  // beyond 2^46 no reservation could hold the block.
  if (c.api == AllocApi::aligned && (c.alignment == 0 || (c.alignment & (c.alignment - 1)) != 0))
    return fail(TSLAB_ERR_BAD_ALIGNMENT);
  if (c.api == AllocApi::aligned && c.alignment > (std::size_t{1} << 46))
    return fail(TSLAB_ERR_SIZE_TOO_LARGE);
  const EpochModel& epochs = w.allocators[c.target].epochs;
  if (!epochs.in_range(c.epoch)) return fail(TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  if (!epochs.open(c.epoch)) return fail(TSLAB_ERR_EPOCH_CLOSING);
  if (size > LARGEST_REQUEST)
    return Expectation{false, false, TSLAB_ERR_SIZE_TOO_LARGE, TSLAB_ERR_OUT_OF_MEMORY};
  const std::size_t alignment = c.api == AllocApi::aligned ? c.alignment : BLOCK_ALIGNMENT;
  // Beyond a gigabyte the OS may refuse the address space.
  if (size > GiB || alignment > 64 * MiB) return maybe(TSLAB_ERR_OUT_OF_MEMORY, TSLAB_ERR_SIZE_TOO_LARGE);
  return succeed();
}

CallResult call_allocation(World& w, const AllocCall& c) {
  SlabAllocator* api = w.api_of(c.target);
  return run_call(c.on_worker, [&] {
    CallResult r;
    switch (c.api) {
      case AllocApi::handle:
        r.p = alloc_obj_epoch(api, static_cast<std::uint32_t>(c.size), c.epoch,
                              c.want_handle ? &r.handle : nullptr);
        break;
      case AllocApi::pointer:
        r.p = slab_malloc_epoch(api, c.size, c.epoch);
        break;
      case AllocApi::aligned:
        r.p = slab_malloc_aligned_epoch(api, c.size, c.alignment, c.epoch);
        break;
    }
    r.ok = r.p != nullptr;
    return r;
  });
}

// A block tslab just returned: its alignment, size and handle, then into the model.
void record_allocation(World& w, const AllocCall& c, const CallResult& result) {
  SlabAllocator* api = w.api_of(c.target);
  const std::size_t size = requested_size(c);
  const auto address = reinterpret_cast<std::uintptr_t>(result.p);
  FUZZ_REQUIRE(address % BLOCK_ALIGNMENT == 0, "block %p is not %zu-byte aligned", result.p, BLOCK_ALIGNMENT);
  if (c.api == AllocApi::aligned)
    FUZZ_REQUIRE(address % c.alignment == 0, "aligned block %p is not %zu-byte aligned", result.p,
                 c.alignment);
  const std::size_t usable = slab_usable_size(api, result.p);
  FUZZ_REQUIRE(usable >= (size == 0 ? 1 : size), "block %p of %zu bytes has usable size %zu", result.p, size,
               usable);
  if (c.api != AllocApi::aligned && size <= LARGEST_SMALL)
    FUZZ_REQUIRE(usable == slab_class_size(slab_size_class_of(size)),
                 "block %p of %zu bytes: usable %zu, class size %u", result.p, size, usable,
                 slab_class_size(slab_size_class_of(size)));
  const SlabHandle handle = slab_ptr_to_handle(api, result.p);
  if (c.api == AllocApi::handle && c.want_handle)
    FUZZ_REQUIRE(handle == result.handle,
                 "alloc_obj_epoch returned handle %#" PRIx64 ", the block's is %#" PRIx64, result.handle,
                 handle);
  const int b = w.add_block(BlockKind::slab, c.target, result.p, usable, size, handle, c.epoch);
  // A small block has its class's usable size; an over-aligned one may not.
  w.blocks[b].own_span = usable > LARGEST_SMALL || c.api == AllocApi::aligned;
}

void allocate(World& w, const AllocCall& c) {
  const Expectation e = expect_allocation(w, c);
  const CallResult result = call_allocation(w, c);
  static const char* const names[] = {"alloc_obj_epoch", "slab_malloc_epoch", "slab_malloc_aligned_epoch"};
  require_outcome(names[static_cast<int>(c.api)], e, result.ok, result.error);
  if (result.ok) record_allocation(w, c, result);
}

// The model's side of a free that must succeed, taken before the call: the
// block's pattern must be intact.
void retire_if_freed(World& w, const Expectation& e, int b, const char* how) {
  if (e.must_succeed && b != NONE) w.retire_block(b, how);
}

void free_by_pointer(World& w, int target, std::uintptr_t address, std::uint8_t how) {
  const Expectation e = w.expect_free_pointer(target, address);
  retire_if_freed(w, e, w.live_block_at(address), "freed by pointer");
  SlabAllocator* api = w.api_of(target);
  void* p = reinterpret_cast<void*>(address);
  const bool checked = (how & 8) == 0;
  const CallResult result = run_call((how & 6) == 6, [&] {
    CallResult r;
    if (checked) {
      r.ok = slab_free_checked(api, p);
    } else {
      prime_last_error();
      slab_free(api, p);
      r.ok = slab_last_error() == PRIMED_ERROR;
    }
    return r;
  });
  require_outcome(checked ? "slab_free_checked" : "slab_free", e, result.ok, result.error);
}

void free_by_handle(World& w, int target, SlabHandle h, std::uint8_t how) {
  const Expectation e = w.expect_free_handle(target, h);
  retire_if_freed(w, e, w.live_block_with_handle(h), "freed by handle");
  SlabAllocator* api = w.api_of(target);
  const CallResult result = run_call((how & 6) == 6, [&] {
    CallResult r;
    r.ok = free_obj(api, h);
    return r;
  });
  require_outcome("free_obj", e, result.ok, result.error);
}

void require_conversions(World& w, int target, std::uintptr_t address, SlabHandle h, bool on_worker) {
  SlabAllocator* api = w.api_of(target);
  const int by_handle = w.expect_block_by_handle(target, h);
  const int by_pointer = w.expect_block_by_pointer(target, address);
  void* p = reinterpret_cast<void*>(address);
  void* to_ptr = nullptr;
  SlabHandle to_handle = 0;
  std::size_t usable = 0;
  run_call(on_worker, [&] {
    to_ptr = slab_handle_to_ptr(api, h);
    to_handle = slab_ptr_to_handle(api, p);
    usable = slab_usable_size(api, p);
    return CallResult{};
  });
  count_operation(2);
  const std::uintptr_t want_ptr = by_handle == NONE ? 0 : w.blocks[by_handle].address;
  FUZZ_REQUIRE(reinterpret_cast<std::uintptr_t>(to_ptr) == want_ptr,
               "slab_handle_to_ptr(%#" PRIx64 ") = %p, expected %#" PRIxPTR, h, to_ptr, want_ptr);
  const SlabHandle want_handle = by_pointer == NONE ? 0 : w.blocks[by_pointer].handle;
  FUZZ_REQUIRE(to_handle == want_handle, "slab_ptr_to_handle(%p) = %#" PRIx64 ", expected %#" PRIx64, p,
               to_handle, want_handle);
  const std::size_t want_usable = by_pointer == NONE ? 0 : w.blocks[by_pointer].span;
  FUZZ_REQUIRE(usable == want_usable, "slab_usable_size(%p) = %zu, expected %zu", p, usable, want_usable);
}

std::uintptr_t interior_address(const BlockRecord& block, ByteReader& r) {
  switch (r.u8() % 4) {
    case 0:
      return block.address - 1 - r.u8();
    case 1:
      return block.address + block.span;
    case 2:
      return block.address + r.u32() % (std::uint32_t{1} << 22);
    default:
      return block.address + (block.span > 1 ? 1 + r.u32() % (block.span - 1) : 0);
  }
}

}  // namespace

// --- allocators -------------------------------------------------------------------

int create_allocator(World& w, std::uint32_t epoch_count, bool hosts_arenas) {
  SlabAllocatorOptions options{epoch_count};
  SlabAllocator* api = epoch_count == 0 ? slab_allocator_create() : slab_allocator_create_with(&options);
  count_operation();
  FUZZ_REQUIRE(api != nullptr, "slab_allocator_create_with(%u epochs) failed: %s", epoch_count,
               slab_error_string(slab_last_error()));
  return w.add_allocator(api, epoch_count == 0 ? SLAB_DEFAULT_EPOCH_COUNT : epoch_count, hosts_arenas);
}

void destroy_allocator(World& w, int a) {
  char message[256] = "";
  FUZZ_REQUIRE(slab_check(w.api_of(a), message, sizeof message), "allocator %d: slab_check failed: %s", a,
               message);
  for (const int b : w.live_slab_blocks)
    if (w.blocks[b].owner == a) w.require_intact(b, "its allocator is destroyed");
  slab_allocator_free(w.api_of(a));
  count_operation(2);
  w.forget_allocator(a);
}

void free_all_blocks(World& w) {
  while (!w.live_slab_blocks.empty()) {
    const BlockRecord block = w.blocks[w.live_slab_blocks.back()];
    if (block.seed & 1)
      free_by_handle(w, block.owner, block.handle, 0);
    else
      free_by_pointer(w, block.owner, block.address, 0);
  }
}

void op_create_allocator(World& w, ByteReader& r) {
  static constexpr std::uint32_t COUNTS[] = {
      0, 1, 2, 3, 4, 5, 7, 16, SLAB_MAX_EPOCH_COUNT, SLAB_MAX_EPOCH_COUNT + 1};
  const int slot = r.u8() % MODEL_SLOTS;
  std::uint32_t count = COUNTS[r.u8() % std::size(COUNTS)];
  if (count > SLAB_MAX_EPOCH_COUNT) count += r.u16();
  if (count > SLAB_MAX_EPOCH_COUNT) {
    SlabAllocatorOptions options{count};
    prime_last_error();
    FUZZ_REQUIRE(slab_allocator_create_with(&options) == nullptr, "an allocator with %u epochs was created",
                 count);
    FUZZ_REQUIRE(slab_last_error() == TSLAB_ERR_INVALID_ARGUMENT, "%u epochs: error %d", count,
                 slab_last_error());
    count_operation();
    return;
  }
  if (w.allocators_created >= MAX_ALLOCATORS) return;
  if (w.slots[slot] != NONE) destroy_allocator(w, w.slots[slot]);
  w.slots[slot] = create_allocator(w, count, false);
}

void op_destroy_allocator(World& w, ByteReader& r) {
  const std::uint8_t v = r.u8();
  const int live = w.slots[v % MODEL_SLOTS];
  if ((v & 0x80) == 0 && live != NONE) return destroy_allocator(w, live);
  // A second destroy, or a NULL allocator: refused.
  const int dead = pick_destroyed_allocator(w, r);
  prime_last_error();
  slab_allocator_free(w.api_of(dead));
  count_operation();
  FUZZ_REQUIRE(slab_last_error() == TSLAB_ERR_INVALID_ARGUMENT,
               "slab_allocator_free of a %s allocator: error %d", dead == NONE ? "NULL" : "destroyed",
               slab_last_error());
}

// --- blocks ----------------------------------------------------------------------------

void op_allocate(World& w, ByteReader& r) {
  const std::uint8_t v = r.u8();
  const auto target = pick_allocator(w, r, false);
  AllocCall c;
  c.api = static_cast<AllocApi>(v % 3);
  c.size = pick_size(r);
  if (c.api == AllocApi::aligned) c.alignment = pick_alignment(r);
  if (!target) return;
  c.target = *target;
  c.epoch = pick_epoch(w, c.target, r);
  c.want_handle = (v & 0x10) == 0;
  c.on_worker = (v & 0xE0) == 0xE0;
  allocate(w, c);
}

void op_free_block(World& w, ByteReader& r) {
  const auto target = pick_allocator(w, r, false);
  const int b = pick_block(w, r);
  const std::uint8_t how = r.u8();
  if (!target || b == NONE) return;
  const BlockRecord block = w.blocks[b];
  if (how & 1)
    free_by_handle(w, *target, block.handle, how);
  else
    free_by_pointer(w, *target, block.address, how);
}

void op_free_interior(World& w, ByteReader& r) {
  const auto target = pick_allocator(w, r, false);
  const int b = pick_block(w, r);
  if (!target || b == NONE) return;
  const std::uintptr_t address = interior_address(w.blocks[b], r);
  free_by_pointer(w, *target, address, r.u8());
}

void op_free_garbage(World& w, ByteReader& r) {
  const auto target = pick_allocator(w, r, false);
  const std::uint8_t how = r.u8();
  if (!target) return;
  if (how & 1)
    free_by_handle(w, *target, pick_garbage_handle(w, r), how);
  else
    free_by_pointer(w, *target, pick_garbage_address(w, r), how);
}

void op_convert(World& w, ByteReader& r) {
  const auto target = pick_allocator(w, r, false);
  const std::uint8_t how = r.u8();
  if (!target) return;
  std::uintptr_t address = 0;
  SlabHandle h = 0;
  const int b = pick_block(w, r);
  if ((how & 3) != 0 && b != NONE) {
    address = w.blocks[b].address;
    h = w.blocks[b].handle;
  } else {
    address = pick_garbage_address(w, r);
    h = pick_garbage_handle(w, r);
  }
  require_conversions(w, *target, address, h, (how & 0x1C) == 0x1C);
}

void op_realloc(World& w, ByteReader& r) {
  const int old = pick_live_block(w, r);
  AllocCall c;
  c.size = pick_size(r);
  if (c.size > MiB) c.size = MiB;  // a move copies; keep it cheap
  if (old == NONE) return;
  c.target = w.blocks[old].owner;
  c.epoch = pick_epoch(w, c.target, r);
  const Expectation e = expect_allocation(w, c);
  const CallResult result = call_allocation(w, c);
  require_outcome("slab_malloc_epoch (realloc)", e, result.ok, result.error);
  if (!result.ok) return;
  const BlockRecord before = w.blocks[old];
  w.require_intact(old, "moved");
  const std::size_t usable = slab_usable_size(w.api_of(c.target), result.p);
  std::size_t n = before.span < usable ? before.span : usable;
  if (n > 8192) n = 8192;
  std::memcpy(result.p, reinterpret_cast<const void*>(before.address), n);
  FUZZ_REQUIRE(std::memcmp(result.p, reinterpret_cast<const void*>(before.address), n) == 0,
               "realloc copy differs");
  record_allocation(w, c, result);
  free_by_pointer(w, c.target, before.address, 0);
}

void op_stale_allocator_call(World& w, ByteReader& r) {
  const int dead = pick_destroyed_allocator(w, r);
  const std::uint8_t which = r.u8() % 12;
  if (dead == NONE) return;
  SlabAllocator* api = w.api_of(dead);
  const int b = pick_block(w, r);
  void* p = b == NONE ? nullptr : reinterpret_cast<void*>(w.blocks[b].address);
  const SlabHandle h = b == NONE ? 0 : w.blocks[b].handle;
  prime_last_error();
  bool refused = false;
  bool sets_error = true;
  switch (which) {
    case 0:
      refused = slab_malloc_epoch(api, 64, 0) == nullptr;
      break;
    case 1:
      refused = slab_malloc_epoch(api, 1 << 20, 0) == nullptr;
      break;
    case 2:
      refused = slab_malloc_aligned_epoch(api, 64, 64, 0) == nullptr;
      break;
    case 3:
      refused = !free_obj(api, h);
      break;
    case 4:
      refused = !slab_free_checked(api, p);
      break;
    case 5:
      refused = epoch_advance(api) == 0;
      break;
    case 6:
      refused = !epoch_close(api, 0) && !epoch_close_era(api, 0, 1);
      break;
    case 7:
      refused = epoch_current(api) == 0 && slab_epoch_state(api, 0) == EPOCH_CLOSING;
      break;
    case 8:
      refused = slab_handle_to_ptr(api, h) == nullptr && slab_ptr_to_handle(api, p) == 0 &&
                slab_usable_size(api, p) == 0;
      sets_error = false;
      break;
    case 9:
      refused = slab_collect(api) == 0 && slab_resident_bytes(api) == 0 && slab_epoch_count(api) == 0;
      sets_error = false;
      break;
    case 10: {
      char message[64];
      PerfCounters counters;
      SlabEpochInfo info;
      refused = !slab_check(api, message, sizeof message) && !get_perf_counters(api, 0, &counters) &&
                !slab_epoch_info(api, 0, &info) && !slab_epoch_set_label(api, 0, "x");
      sets_error = false;
      break;
    }
    default:
      refused = slab_epoch_inc_refcount(api, 0) == 0 && slab_epoch_dec_refcount(api, 0) == 0 &&
                slab_epoch_get_refcount(api, 0) == 0 && slab_epoch_era(api, 0) == 0;
      sets_error = false;
      break;
  }
  count_operation();
  FUZZ_REQUIRE(refused, "call %u through destroyed allocator %p was not refused", which,
               static_cast<void*>(api));
  if (sets_error)
    FUZZ_REQUIRE(slab_last_error() == TSLAB_ERR_INVALID_ARGUMENT,
                 "call %u through a destroyed allocator: error %d", which, slab_last_error());
}

}  // namespace fuzz
