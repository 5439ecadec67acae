// This file contains the C API (slab_alloc.h): one-line forwards into the core.
#include "core/fast_path.h"
#include "platform/clock_rss.h"
#include "slab_alloc.h"
#include "stats/metrics_server.h"

using tslab::detail::AllocatorCore;
using tslab::detail::CoreOptions;

struct SlabAllocator;  // never defined: a SlabAllocator* is an AllocatorCore*

namespace {

AllocatorCore* core_of(SlabAllocator* a) {
  if (a == nullptr) tslab::detail::set_error(TSLAB_ERR_INVALID_ARGUMENT);
  return reinterpret_cast<AllocatorCore*>(a);
}

}  // namespace

extern "C" {

SlabAllocator* slab_allocator_create(void) { return slab_allocator_create_with(nullptr); }

SlabAllocator* slab_allocator_create_with(const SlabAllocatorOptions* options) {
  CoreOptions core_options;
  if (options != nullptr) core_options.epoch_count = options->epoch_count;
  TslabError error = TSLAB_OK;
  AllocatorCore* core = AllocatorCore::create(core_options, &error);
  if (core == nullptr) tslab::detail::set_error(error);
  if (core != nullptr) tslab::detail::start_requested_services();
  return reinterpret_cast<SlabAllocator*>(core);
}

void slab_allocator_free(SlabAllocator* alloc) {
  AllocatorCore* core = core_of(alloc);
  if (core == nullptr) return;
  tslab::detail::on_allocator_destroying(*core);
  if (const TslabError e = AllocatorCore::destroy(core); e != TSLAB_OK) tslab::detail::set_error(e);
}

bool slab_allocator_set_name(SlabAllocator* alloc, const char* name) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->set_name(name);
}

size_t slab_allocator_name(SlabAllocator* alloc, char* out, size_t out_size) {
  // A null allocator reads as the dead one: empty text, TSLAB_ERR_INVALID_ARGUMENT.
  return (alloc == nullptr ? AllocatorCore::dead() : core_of(alloc))->name(out, out_size);
}

void* alloc_obj_epoch(SlabAllocator* alloc, uint32_t size, EpochId epoch, SlabHandle* out) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? nullptr : core->alloc_with_handle(size, epoch, out);
}

bool free_obj(SlabAllocator* alloc, SlabHandle handle) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->free_handle<tslab::detail::SuccessEndings>(handle);
}

void* slab_handle_to_ptr(SlabAllocator* alloc, SlabHandle handle) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? nullptr : core->handle_to_ptr(handle);
}

SlabHandle slab_ptr_to_handle(SlabAllocator* alloc, const void* ptr) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->ptr_to_handle(ptr);
}

void* slab_malloc_epoch(SlabAllocator* alloc, size_t size, EpochId epoch) {
  AllocatorCore* core = core_of(alloc);
  if (core == nullptr) return nullptr;
  // temporal-slab's contract: no block for size 0. One unsigned compare sends
  // both 0 and the sizes above the small classes off the fast path.
  if (size - 1 >= tslab::detail::MAX_SMALL_SIZE) [[unlikely]] {
    if (size == 0) {
      tslab::detail::set_error(TSLAB_ERR_SIZE_ZERO);
      return nullptr;
    }
  }
  return core->alloc(size, epoch);
}

void* slab_malloc_aligned_epoch(SlabAllocator* alloc, size_t size, size_t alignment, EpochId epoch) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? nullptr : core->alloc_aligned(size, alignment, epoch);
}

void slab_free(SlabAllocator* alloc, void* ptr) {
  if (AllocatorCore* core = core_of(alloc)) core->free(ptr);
}

bool slab_free_checked(SlabAllocator* alloc, void* ptr) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->free<tslab::detail::SuccessEndings>(ptr);
}

size_t slab_usable_size(SlabAllocator* alloc, const void* ptr) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->usable_size(ptr);
}

EpochId epoch_current(SlabAllocator* alloc) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->epoch_current();
}

EpochId epoch_advance(SlabAllocator* alloc) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->epoch_advance();
}

bool slab_set_warm_reserve(SlabAllocator* alloc, size_t bytes) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->set_warm_reserve(bytes);
}

size_t slab_warm_reserve(SlabAllocator* alloc) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : static_cast<size_t>(core->warm_reserve());
}

bool slab_set_large_retain(SlabAllocator* alloc, size_t bytes) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->set_large_retain(bytes);
}

size_t slab_large_retain(SlabAllocator* alloc) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : static_cast<size_t>(core->large_retain());
}

EpochId slab_epoch_open(SlabAllocator* alloc) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? SLAB_NO_EPOCH : core->epoch_open();
}

bool slab_epoch_is_held(SlabAllocator* alloc, EpochId epoch) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->epoch_held(epoch);
}

bool slab_epoch_destroy(SlabAllocator* alloc, EpochId epoch, uint64_t* released) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->epoch_destroy(epoch, released);
}

bool epoch_close(SlabAllocator* alloc, EpochId epoch) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->epoch_close(epoch);
}

bool epoch_close_era(SlabAllocator* alloc, EpochId epoch, uint64_t era) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->epoch_close_era(epoch, era);
}

// The same four under tslab's prefix: the names libtslab-malloc.so exports.
EpochId slab_epoch_current(SlabAllocator* alloc) { return epoch_current(alloc); }
EpochId slab_epoch_advance(SlabAllocator* alloc) { return epoch_advance(alloc); }
bool slab_epoch_close(SlabAllocator* alloc, EpochId epoch) { return epoch_close(alloc, epoch); }
bool slab_epoch_close_era(SlabAllocator* alloc, EpochId epoch, uint64_t era) {
  return epoch_close_era(alloc, epoch, era);
}

bool slab_epoch_set_label(SlabAllocator* alloc, EpochId epoch, const char* label) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->epoch_set_label(epoch, label);
}

uint32_t slab_epoch_inc_refcount(SlabAllocator* alloc, EpochId epoch) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->epoch_inc_refcount(epoch);
}

uint32_t slab_epoch_dec_refcount(SlabAllocator* alloc, EpochId epoch) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->epoch_dec_refcount(epoch);
}

uint32_t slab_epoch_get_refcount(SlabAllocator* alloc, EpochId epoch) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->epoch_refcount(epoch);
}

bool slab_epoch_info(SlabAllocator* alloc, EpochId epoch, SlabEpochInfo* out) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->epoch_info(epoch, out);
}

uint64_t slab_collect(SlabAllocator* alloc) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->collect();
}

uint64_t slab_resident_bytes(SlabAllocator* alloc) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->resident_bytes();
}

EpochLifecycleState slab_epoch_state(SlabAllocator* alloc, EpochId epoch) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? EPOCH_CLOSING : core->epoch_state(epoch);
}

uint64_t slab_epoch_era(SlabAllocator* alloc, EpochId epoch) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->epoch_era(epoch);
}

uint32_t slab_epoch_count(SlabAllocator* alloc) {
  AllocatorCore* core = core_of(alloc);
  return core == nullptr ? 0 : core->epoch_count_checked();
}

uint32_t slab_size_class_count(void) { return tslab::detail::NUM_CLASSES; }

uint32_t slab_class_size(uint32_t size_class) { return tslab::detail::block_size_or_zero(size_class); }

uint32_t slab_size_class_of(size_t size) { return tslab::detail::class_for_request(size); }

uint32_t slab_object_count(uint32_t size) { return tslab::detail::blocks_per_slab_for_request(size); }

bool get_perf_counters(SlabAllocator* alloc, uint32_t size_class, PerfCounters* out) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->perf_counters(size_class, out);
}

bool slab_check(SlabAllocator* alloc, char* message, size_t message_size) {
  AllocatorCore* core = core_of(alloc);
  return core != nullptr && core->check(message, message_size);
}

uint64_t read_rss_bytes_linux(void) { return tslab::detail::process_rss_bytes(); }

uint64_t now_ns(void) { return tslab::detail::monotonic_ns(); }

}  // extern "C"
