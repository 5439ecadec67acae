// This file contains the epoch ring's transitions and per-epoch metadata.
#include "epoch/epoch_ring.h"

#include <algorithm>
#include <cstring>

#include "platform/clock_rss.h"

namespace tslab::detail {

namespace {
// Eras are drawn from one counter for the whole process, so an era names one
// activation of one allocator for good: an era, or an epoch domain, kept from an
// allocator since destroyed is stale to every allocator made later, also one
// that got the destroyed allocator's record and so its address.
std::atomic<std::uint64_t> g_eras_taken{0};
}  // namespace

// The first of `n` new eras (never 0).
std::uint64_t EpochRing::take_eras(std::uint32_t n) noexcept {
  return g_eras_taken.fetch_add(n, std::memory_order_relaxed) + 1;
}

EpochRing::EpochRing(std::uint32_t count, bool first_permanent, void* tail) noexcept
    : count_(count), first_permanent_(first_permanent && count != 0) {
  ZeroedTail tables(reinterpret_cast<std::uintptr_t>(tail));
  for_each_tail_table([&](auto table) { tables.take(table, this, count); });
  // The tables read zero: no label, no hold, no reference, nothing ended.
  const std::uint64_t now = monotonic_ns();
  const std::uint64_t first = take_eras(count);
  for (std::uint32_t e = 0; e < count; ++e) {
    era_[e].store(first + e, std::memory_order_relaxed);
    open_era_[e].store(first + e, std::memory_order_relaxed);
    open_since_[e].store(now, std::memory_order_relaxed);
  }
  // Outside the rotation for good: advance() and open_held() skip held slots.
  if (first_permanent_) held_[0].store(true, std::memory_order_relaxed);
}

void EpochRing::close_locked(std::uint32_t e) noexcept {
  // Linearization point of a close: no allocation that starts after this succeeds.
  open_era_[e].store(0, std::memory_order_release);
  ended_era_[e].store(era_[e].load(std::memory_order_relaxed), std::memory_order_release);
  held_[e].store(false, std::memory_order_release);
  close_count_.fetch_add(1, std::memory_order_acq_rel);
}

std::uint64_t EpochRing::activate_locked(std::uint32_t e, std::uint64_t now) noexcept {
  const std::uint64_t previous = open_era_[e].load(std::memory_order_relaxed);
  const std::uint64_t era = take_eras(1);
  labels_[e][0] = '\0';
  refcount_[e].store(0, std::memory_order_relaxed);
  open_since_[e].store(now, std::memory_order_relaxed);
  era_[e].store(era, std::memory_order_release);
  // Linearization point of the new activation: allocations may enter it from here.
  open_era_[e].store(era, std::memory_order_release);
  if (previous != 0) ended_era_[e].store(previous, std::memory_order_release);  // after its end
  return era;
}

std::uint32_t EpochRing::advance(std::uint64_t* closed_era) noexcept {
  const std::uint64_t now = monotonic_ns();
  LockGuard lock(mutex_);
  const std::uint32_t cur = current_.load(std::memory_order_relaxed);
  *closed_era = era_[cur].load(std::memory_order_relaxed);
  std::uint32_t next = cur;
  for (std::uint32_t step = 1; step < count_; ++step) {
    const std::uint32_t e = (cur + step) % count_;
    if (!held_[e].load(std::memory_order_relaxed)) {
      next = e;
      break;
    }
  }
  if (permanent(cur)) {
    // The permanent slot stays ACTIVE: the rotation moves on to the next free
    // slot, if there is one, and nothing closes.
    *closed_era = 0;
    if (next == cur) return cur;
    activate_locked(next, now);
    current_.store(next, std::memory_order_release);
    return next;
  }
  activate_locked(next, now);
  // The new current epoch is published before the old one closes, so that a
  // thread reading epoch_current() never keeps finding a CLOSING epoch there.
  current_.store(next, std::memory_order_release);
  if (next != cur)
    close_locked(cur);
  else
    close_count_.fetch_add(1, std::memory_order_acq_rel);  // one slot in rotation: the old era just ended
  return next;
}

std::uint32_t EpochRing::open_held(std::uint64_t* ended_era, std::uint64_t* opened_era) noexcept {
  const std::uint64_t now = monotonic_ns();
  LockGuard lock(mutex_);
  const std::uint32_t cur = current_.load(std::memory_order_relaxed);
  std::uint32_t pick = count_;
  // The rotation reaches cur - 1 last: look backwards from there.
  for (std::uint32_t step = 1; step < count_; ++step) {
    const std::uint32_t e = (cur + count_ - step) % count_;
    if (held_[e].load(std::memory_order_relaxed)) continue;
    if (pick == count_) pick = e;
    if (open_era_[e].load(std::memory_order_relaxed) == 0) {
      pick = e;
      break;
    }
  }
  if (pick == count_) return count_;
  *ended_era = open_era_[pick].load(std::memory_order_relaxed);
  const std::uint64_t era = activate_locked(pick, now);
  if (opened_era != nullptr) *opened_era = era;
  held_[pick].store(true, std::memory_order_release);
  // Bins of the activation that ended (if it was open) see a new era: their
  // owners retire them at their next catch-up.
  if (*ended_era != 0) close_count_.fetch_add(1, std::memory_order_acq_rel);
  return pick;
}

void EpochRing::close(std::uint32_t e) noexcept {
  LockGuard lock(mutex_);
  close_locked(e);
}

bool EpochRing::close_if_era(std::uint32_t e, std::uint64_t era) noexcept {
  LockGuard lock(mutex_);
  if (era_[e].load(std::memory_order_relaxed) != era) return false;
  close_locked(e);
  return true;
}

std::uint32_t EpochRing::inc_refcount(std::uint32_t e) noexcept {
  std::uint32_t n = refcount_[e].load(std::memory_order_acquire);
  while (n != UINT32_MAX && !refcount_[e].compare_exchange_weak(n, n + 1, std::memory_order_acq_rel)) {
  }
  return n == UINT32_MAX ? 0 : n + 1;
}

std::uint32_t EpochRing::dec_refcount(std::uint32_t e) noexcept {
  std::uint32_t n = refcount_[e].load(std::memory_order_acquire);
  // Never below zero: an unmatched decrement is refused, not wrapped.
  while (n != 0 && !refcount_[e].compare_exchange_weak(n, n - 1, std::memory_order_acq_rel)) {
  }
  return n == 0 ? 0 : n - 1;
}

void EpochRing::set_label(std::uint32_t e, const char* label) noexcept {
  LockGuard lock(mutex_);
  std::size_t n = 0;
  if (label != nullptr)
    while (n + 1 < LABEL_SIZE && label[n] != '\0') ++n;
  // Cut at a character boundary: never keep the lead bytes of a UTF-8 sequence
  // whose continuation bytes did not fit.
  if (label != nullptr && label[n] != '\0')
    while (n != 0 && (static_cast<unsigned char>(label[n]) & 0xC0) == 0x80) --n;
  if (n != 0) std::memcpy(labels_[e], label, n);
  labels_[e][n] = '\0';
}

void EpochRing::label(std::uint32_t e, char* out, std::size_t out_size) const noexcept {
  if (out == nullptr || out_size == 0) return;
  LockGuard lock(mutex_);
  const std::size_t n = std::min(std::strlen(labels_[e]), out_size - 1);
  std::memcpy(out, labels_[e], n);
  out[n] = '\0';
}

}  // namespace tslab::detail
