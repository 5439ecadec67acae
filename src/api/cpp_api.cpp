// This file contains the C++ API (tslab/tslab.hpp, the memory resource of
// tslab/arena.hpp): forwards into the core.
#include <utility>

#include "core/fast_path.h"
#include "platform/cxx_runtime.h"
#include "stats/metrics_server.h"
#include "tslab/arena.hpp"
#include "tslab/tslab.hpp"

namespace tslab {

using detail::AllocatorCore;

Allocator::Allocator(const Options& options) {
  if (options.epoch_count == 0 || options.epoch_count > SLAB_MAX_EPOCH_COUNT)
    failure::invalid_argument("tslab::Options::epoch_count must be in 1..SLAB_MAX_EPOCH_COUNT");
  TslabError error = TSLAB_OK;
  core_ = AllocatorCore::create(detail::CoreOptions{options.epoch_count, options.platform}, &error);
  if (core_ == nullptr) failure::bad_alloc();
  detail::start_requested_services();
}

Allocator::~Allocator() { release(); }

bool Allocator::valid() const noexcept { return core_->alive(); }

void Allocator::release() noexcept {
  detail::on_allocator_destroying(*core_);
  AllocatorCore::destroy(std::exchange(core_, AllocatorCore::dead()));
}

// A moved-from Allocator refers to the dead allocator: every call on it is refused.
Allocator::Allocator(Allocator&& other) noexcept : core_(std::exchange(other.core_, AllocatorCore::dead())) {}

Allocator& Allocator::operator=(Allocator&& other) noexcept {
  if (this != &other) {
    release();
    core_ = std::exchange(other.core_, AllocatorCore::dead());
  }
  return *this;
}

void* Allocator::allocate(std::size_t size) noexcept { return core_->alloc(size, core_->epochs().current()); }
void* Allocator::allocate(std::size_t size, EpochId epoch) noexcept { return core_->alloc(size, epoch); }
void* Allocator::allocate_aligned(std::size_t size, std::size_t alignment) noexcept {
  return core_->alloc_aligned(size, alignment, core_->epochs().current());
}
void* Allocator::allocate_aligned(std::size_t size, std::size_t alignment, EpochId epoch) noexcept {
  return core_->alloc_aligned(size, alignment, epoch);
}
Error Allocator::deallocate(void* ptr) noexcept { return static_cast<Error>(core_->free(ptr)); }
std::size_t Allocator::usable_size(const void* ptr) const noexcept { return core_->usable_size(ptr); }

Allocation Allocator::allocate_with_handle(std::size_t size, EpochId epoch) noexcept {
  Allocation a;
  a.ptr = core_->alloc_with_handle(size, epoch, &a.handle);
  return a;
}
Error Allocator::free_handle(Handle handle) noexcept {
  return static_cast<Error>(core_->free_handle(handle));
}
void* Allocator::handle_to_ptr(Handle handle) const noexcept { return core_->handle_to_ptr(handle); }
Handle Allocator::ptr_to_handle(const void* ptr) const noexcept { return core_->ptr_to_handle(ptr); }

EpochId Allocator::epoch_current() const noexcept { return core_->epoch_current(); }
EpochId Allocator::epoch_advance() noexcept { return core_->epoch_advance(); }
EpochId Allocator::epoch_open() noexcept { return core_->epoch_open(); }
Error Allocator::set_warm_reserve(std::size_t bytes) noexcept {
  return core_->set_warm_reserve(bytes) ? Error::ok : last_error();
}
std::size_t Allocator::warm_reserve() const noexcept {
  return static_cast<std::size_t>(core_->warm_reserve());
}

Error Allocator::set_large_retain(std::size_t bytes) noexcept {
  return core_->set_large_retain(bytes) ? Error::ok : last_error();
}

std::size_t Allocator::large_retain() const noexcept {
  return static_cast<std::size_t>(core_->large_retain());
}
bool Allocator::epoch_held(EpochId epoch) const noexcept { return core_->epoch_held(epoch); }
Error Allocator::epoch_close(EpochId epoch) noexcept {
  return core_->epoch_close(epoch) ? Error::ok : last_error();
}
Error Allocator::epoch_destroy(EpochId epoch, std::uint64_t* released) noexcept {
  return core_->epoch_destroy(epoch, released) ? Error::ok : last_error();
}
EpochState Allocator::epoch_state(EpochId epoch) const noexcept {
  return static_cast<EpochState>(core_->epoch_state(epoch));
}
std::uint64_t Allocator::epoch_era(EpochId epoch) const noexcept { return core_->epoch_era(epoch); }
std::uint32_t Allocator::epoch_count() const noexcept { return core_->epoch_count_checked(); }
Error Allocator::epoch_close(EpochId epoch, std::uint64_t era) noexcept {
  return core_->epoch_close_era(epoch, era) ? Error::ok : last_error();
}
SlabEpochInfo Allocator::epoch_info(EpochId epoch) const noexcept {
  SlabEpochInfo info{};
  core_->epoch_info(epoch, &info);
  return info;
}
Error Allocator::set_name(const char* name) noexcept {
  return core_->set_name(name) ? Error::ok : last_error();
}
std::size_t Allocator::name(char* out, std::size_t out_size) const noexcept {
  return core_->name(out, out_size);
}
Error Allocator::set_epoch_label(EpochId epoch, const char* label) noexcept {
  return core_->epoch_set_label(epoch, label) ? Error::ok : last_error();
}
std::uint64_t Allocator::collect() noexcept { return core_->collect(); }
std::uint64_t Allocator::resident_bytes() const noexcept { return core_->resident_bytes(); }

CheckReport Allocator::check() const noexcept {
  CheckReport report;
  report.ok = core_->check(report.message, sizeof(report.message));
  return report;
}

PerfCounters Allocator::perf_counters(std::uint32_t size_class) const noexcept {
  PerfCounters pc{};
  core_->perf_counters(size_class, &pc);
  return pc;
}

void* PmrResource::do_allocate(std::size_t bytes, std::size_t alignment) {
  void* p = allocator_->allocate_aligned(bytes, alignment, epoch_);
  if (p == nullptr) failure::bad_alloc();
  return p;
}

void PmrResource::do_deallocate(void* p, std::size_t, std::size_t) { allocator_->deallocate(p); }

bool PmrResource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  const auto* o = dynamic_cast<const PmrResource*>(&other);
  return o != nullptr && o->allocator_ == allocator_;
}

bool ArenaResource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  const auto* o = dynamic_cast<const ArenaResource*>(&other);
  return o != nullptr && o->arena_ == arena_;
}

// What the API throws, thrown by the program's C++ runtime (tslab/exceptions.hpp).
void failure::bad_alloc() { detail::throw_bad_alloc(); }
void failure::bad_array_new_length() { detail::throw_bad_array_new_length(); }
void failure::invalid_argument(const char* what) { detail::throw_invalid_argument(what); }

}  // namespace tslab
