// This file contains the record path and the close-time grouping of
// TSLAB_PIN_SAMPLE (core/pin_sample.h).
#include "core/pin_sample.h"

#include <unwind.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "segment/segment_map.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

struct PinSampler::Record {
  void* block = nullptr;  // nullptr: an empty record
  Slab* slab = nullptr;
  const SegmentHeader* segment = nullptr;  // its header stays mapped while the allocator lives
  std::uint64_t era = 0;
  std::uint64_t seq = 0;  // order of recording: a block's newest record wins
  std::uint32_t epoch = 0;
  std::uint32_t depth = 0;
  std::uint64_t size = 0;
  void* frames[PIN_FRAMES] = {};
};

// A live record found at a close.
struct PinSampler::Candidate {
  void* block;
  std::uint64_t seq;
  Record* record;
};

namespace {

class Locked {
 public:
  explicit Locked(Mutex& m) noexcept : m_(m) { m_.lock(); }
  ~Locked() { m_.unlock(); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  Mutex& m_;
};

struct Frames {
  void** out;
  std::uint32_t depth;
};

_Unwind_Reason_Code take_frame(_Unwind_Context* context, void* arg) {
  auto* f = static_cast<Frames*>(arg);
  if (f->depth == PIN_FRAMES) return _URC_END_OF_STACK;
  const _Unwind_Ptr ip = _Unwind_GetIP(context);
  if (ip == 0) return _URC_END_OF_STACK;
  f->out[f->depth++] = reinterpret_cast<void*>(ip);
  return _URC_NO_REASON;
}

std::size_t page_round(std::size_t n) noexcept { return (n + 4095) & ~std::size_t{4095}; }

}  // namespace

PinSampler::~PinSampler() {
  if (mapped_bytes_ != 0) OsPlatform::instance().release(records_, mapped_bytes_);
}

bool PinSampler::start(std::uint32_t every) noexcept {
  if (every == 0) return true;
  const std::size_t records = page_round(sizeof(Record) * PIN_RECORDS);
  const std::size_t scratch = page_round(sizeof(Candidate) * PIN_RECORDS);
  const std::size_t reports = page_round(sizeof(PinReport) * SLAB_MAX_EPOCH_COUNT);
  // OS memory, touched only as used: the core never calls malloc.
  char* mem = static_cast<char*>(OsPlatform::instance().reserve(records + scratch + reports, 0));
  if (mem == nullptr) return false;
  mapped_bytes_ = records + scratch + reports;
  records_ = reinterpret_cast<Record*>(mem);
  scratch_ = reinterpret_cast<Candidate*>(mem + records);
  reports_ = reinterpret_cast<PinReport*>(mem + records + scratch);
  for (std::uint32_t e = 0; e < SLAB_MAX_EPOCH_COUNT; ++e) new (&reports_[e]) PinReport();
  every_ = every;
  return true;
}

void PinSampler::prepare(Heap& heap) const noexcept {
  if (every_ == 0) return;
  heap.bin_era_flag = BIN_ERA_SAMPLED;
  heap.sample_random = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(&heap) >> 6) | 1u;
  heap.sample_countdown = next_countdown(heap);
}

std::uint32_t PinSampler::next_countdown(Heap& heap) const noexcept {
  if (every_ == 1) return 1;
  // Uniform in [N/2, N/2 + N], mean N: a spacing that varies, so that a
  // periodic allocation pattern is not always sampled at the same phase.
  std::uint32_t x = heap.sample_random;  // xorshift32
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  heap.sample_random = x;
  return every_ / 2 + x % (every_ + 1);
}

void PinSampler::record(void* block, std::uint32_t epoch, std::uint64_t era, std::size_t size) noexcept {
  // Unwound outside the lock; the unwinder reads the stack and the objects'
  // unwind tables and does not allocate.
  void* frames[PIN_FRAMES];
  Frames f{frames, 0};
  _Unwind_Backtrace(take_frame, &f);
  Slab* s = small_slab_of(block);
  const SegmentHeader* seg = segment_map_lookup(block);
  const Locked lock(mutex_);
  Record& r = records_[next_ % PIN_RECORDS];  // the oldest record gives way
  r.block = block;
  r.slab = s;
  r.segment = seg;
  r.era = era;
  r.seq = next_++;
  r.epoch = epoch;
  r.size = size;
  r.depth = f.depth;
  std::copy(frames, frames + f.depth, r.frames);
}

void PinSampler::on_close(std::uint32_t epoch, std::uint64_t closed_era) noexcept {
  if (every_ == 0) return;
  const Locked lock(mutex_);
  std::uint32_t n = 0;
  const std::uint64_t used = next_ < PIN_RECORDS ? next_ : PIN_RECORDS;
  for (std::uint64_t i = 0; i < used; ++i) {
    Record& r = records_[i];
    if (r.block == nullptr || r.epoch != epoch || r.era > closed_era) continue;
    const Slab* s = r.slab;
    // A dormant segment's slab metadata went back to the OS: reading it would
    // fault its pages in again, and every slab there is in the pool anyway.
    if (r.segment == nullptr || r.segment->dormant) s = nullptr;
    // Live iff its slab is still in use for the record's activation and the
    // slot is allocated and not remotely freed (segment/slab.h). A snapshot: a
    // free racing the walk may or may not be seen, as in the drain report.
    bool live = s != nullptr && s->state.load(std::memory_order_acquire) == SLAB_IN_USE &&
                s->epoch == r.epoch && s->era == r.era;
    if (live) {
      const std::uint32_t slot =
          s->slot_of_offset(static_cast<std::size_t>(static_cast<char*>(r.block) - s->start));
      const BitPair& bits = s->bits[slot / 64];
      const std::uint64_t mask = std::uint64_t{1} << (slot % 64);
      live = (bits.allocated.load(std::memory_order_acquire) & ~bits.remote.load(std::memory_order_acquire) &
              mask) != 0;
    }
    if (!live) {
      r.block = nullptr;  // its activation is closed: the block never comes back to it
      continue;
    }
    scratch_[n++] = Candidate{r.block, r.seq, &r};
  }
  // A block allocated again keeps only its newest record; the older ones are
  // stale for good.
  std::sort(scratch_, scratch_ + n, [](const Candidate& a, const Candidate& b) {
    return a.block != b.block ? a.block < b.block : a.seq > b.seq;
  });
  std::uint32_t kept = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (kept == 0 || scratch_[kept - 1].block != scratch_[i].block)
      scratch_[kept++] = scratch_[i];
    else
      scratch_[i].record->block = nullptr;
  }
  // Grouped by call site: the whole captured stack.
  std::sort(scratch_, scratch_ + kept, [](const Candidate& a, const Candidate& b) {
    const Record& x = *a.record;
    const Record& y = *b.record;
    if (x.depth != y.depth) return x.depth < y.depth;
    return std::memcmp(x.frames, y.frames, x.depth * sizeof(void*)) < 0;
  });
  PinReport& out = reports_[epoch];
  out = PinReport{};
  out.sample_every = every_;
  out.era = closed_era;
  out.live_sampled = kept;
  for (std::uint32_t i = 0; i < kept;) {
    PinSite site;
    const Record& first = *scratch_[i].record;
    site.depth = first.depth;
    std::copy(first.frames, first.frames + first.depth, site.frames);
    while (i < kept && scratch_[i].record->depth == site.depth &&
           std::memcmp(scratch_[i].record->frames, site.frames, site.depth * sizeof(void*)) == 0) {
      ++site.sampled_blocks;
      site.sampled_bytes += scratch_[i].record->size;
      ++i;
    }
    ++out.sites_total;
    // Top PIN_SITES by live sampled blocks, kept sorted, largest first.
    std::uint32_t at = out.site_count;
    if (at == PIN_SITES) {
      if (site.sampled_blocks <= out.sites[PIN_SITES - 1].sampled_blocks) continue;
      --at;
    } else {
      ++out.site_count;
    }
    while (at > 0 && out.sites[at - 1].sampled_blocks < site.sampled_blocks) {
      out.sites[at] = out.sites[at - 1];
      --at;
    }
    out.sites[at] = site;
  }
}

void PinSampler::report(std::uint32_t epoch, PinReport* out) noexcept {
  if (every_ == 0 || epoch >= SLAB_MAX_EPOCH_COUNT) {
    *out = PinReport{};
    return;
  }
  const Locked lock(mutex_);
  *out = reports_[epoch];
  out->sample_every = every_;
}

std::uint64_t PinSampler::recorded() const noexcept {
  if (every_ == 0) return 0;
  const Locked lock(mutex_);
  return next_;
}

}  // namespace tslab::detail
