// This file contains the shadow model of one allocator's epoch ring, as
// slab_alloc.h and epoch_domain.h describe it: which slot is current, each
// slot's state, era, domain refcount and label, and what advance, close and
// close-by-era do to them.
#ifndef TSLAB_FUZZ_EPOCH_MODEL_H
#define TSLAB_FUZZ_EPOCH_MODEL_H

#include <array>
#include <cstdint>
#include <string>

#include "slab_alloc.h"

namespace fuzz {

// Eras come from one counter for the whole process (slab_alloc.h), which every
// model shares: an allocator's first era, read when its model is made, sets it,
// and each activation after takes the next (the input's operations run one at a
// time, so no other activation comes between).
inline std::uint64_t& model_next_era() {
  static std::uint64_t next = 1;
  return next;
}

class EpochModel {
 public:
  // `first_era`: the real allocator's era of slot 0 (its slots took consecutive ones).
  EpochModel(std::uint32_t count, std::uint64_t first_era) : count_(count) {
    for (std::uint32_t e = 0; e < count; ++e) {
      era_[e] = first_era + e;
      open_[e] = true;
    }
    model_next_era() = first_era + count;
  }

  std::uint32_t count() const { return count_; }
  std::uint32_t current() const { return current_; }
  bool in_range(std::uint32_t e) const { return e < count_; }
  bool open(std::uint32_t e) const { return in_range(e) && open_[e]; }
  std::uint64_t era(std::uint32_t e) const { return in_range(e) ? era_[e] : 0; }
  std::uint32_t refcount(std::uint32_t e) const { return in_range(e) ? refcount_[e] : 0; }
  const std::string& label(std::uint32_t e) const { return label_[e]; }

  bool held(std::uint32_t e) const { return in_range(e) && held_[e]; }

  // The current slot closes; the next slot not held opens with a new era, no
  // holders, no label (the current one again if every other slot is held).
  std::uint32_t advance() {
    std::uint32_t next = current_;
    for (std::uint32_t step = 1; step < count_; ++step)
      if (!held_[(current_ + step) % count_]) {
        next = (current_ + step) % count_;
        break;
      }
    activate(next);
    if (next != current_) open_[current_] = false;
    current_ = next;
    return next;
  }

  // slab_epoch_open: the slot the rotation reaches last (looking back from the
  // current one), preferring a closed one; held until closed. count() if none.
  std::uint32_t open_held() {
    std::uint32_t pick = count_;
    for (std::uint32_t step = 1; step < count_; ++step) {
      const std::uint32_t e = (current_ + count_ - step) % count_;
      if (held_[e]) continue;
      if (pick == count_) pick = e;
      if (!open_[e]) {
        pick = e;
        break;
      }
    }
    if (pick == count_) return count_;
    activate(pick);
    held_[pick] = true;
    return pick;
  }

  bool close(std::uint32_t e) {
    if (!in_range(e)) return false;
    open_[e] = false;
    held_[e] = false;
    return true;
  }

  bool close_era(std::uint32_t e, std::uint64_t era) {
    if (!in_range(e) || era_[e] != era) return false;
    open_[e] = false;
    held_[e] = false;
    return true;
  }

  std::uint32_t inc_refcount(std::uint32_t e) { return in_range(e) ? ++refcount_[e] : 0; }
  // Never below zero.
  std::uint32_t dec_refcount(std::uint32_t e) {
    if (!in_range(e) || refcount_[e] == 0) return 0;
    return --refcount_[e];
  }

  // The label is cut to SLAB_EPOCH_LABEL_SIZE - 1 bytes, never inside a UTF-8
  // sequence; NULL clears it.
  void set_label(std::uint32_t e, const char* text) {
    std::size_t n = 0;
    if (text != nullptr)
      while (n + 1 < SLAB_EPOCH_LABEL_SIZE && text[n] != '\0') ++n;
    if (text != nullptr && text[n] != '\0')
      while (n != 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    label_[e].assign(text == nullptr ? "" : text, n);
  }

 private:
  std::uint32_t count_;
  std::uint32_t current_ = 0;
  std::array<std::uint64_t, SLAB_MAX_EPOCH_COUNT> era_{};
  void activate(std::uint32_t e) {
    era_[e] = model_next_era()++;
    open_[e] = true;
    refcount_[e] = 0;
    label_[e].clear();
  }

  std::array<bool, SLAB_MAX_EPOCH_COUNT> open_{};
  std::array<bool, SLAB_MAX_EPOCH_COUNT> held_{};
  std::array<std::uint32_t, SLAB_MAX_EPOCH_COUNT> refcount_{};
  std::array<std::string, SLAB_MAX_EPOCH_COUNT> label_{};
};

}  // namespace fuzz

#endif  // TSLAB_FUZZ_EPOCH_MODEL_H
