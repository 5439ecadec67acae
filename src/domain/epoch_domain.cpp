// This file contains the epoch domains of epoch_domain.h: the per-thread stack
// of entered domains, enter/exit with the epoch's domain refcount, and the
// era-checked auto-close. It is a layer over the public C API (slab_alloc.h).
//
// Serialisation. Every refcount change and every close made by a domain happens
// under one mutex of a small striped table, chosen by (allocator, epoch slot).
// Two consequences:
//   - "last holder exits, nobody else holds, close" is atomic with respect to
//     every other domain of the slot: no domain can enter between the decrement
//     that reaches 0 and the close.
//   - The slot's refcount is reset when the ring re-activates the slot, which
//     happens outside these locks. A domain of a past era no longer holds
//     anything, so its exit skips the decrement (see exit); an enter that raced
//     with a re-activation undoes its increment and is refused. Since no domain
//     of the new activation can enter while the stripe is held, the new
//     activation's count is 0 during either window, so the undo can only bring a
//     stray increment back to 0.
#include "epoch_domain.h"

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "core/thread_cache.h"
#include "domain/domain_pool.h"
#include "platform/fork_hooks.h"
#include "platform/library_tag.h"
#include "platform/mutex.h"

#if defined(TSLAB_DOMAIN_ASSERTS) && !defined(NDEBUG)
#define TSLAB_DOMAIN_ASSERT(cond, what) assert((cond) && (what))
#else
#define TSLAB_DOMAIN_ASSERT(cond, what) ((void)0)
#endif

namespace {

using tslab::detail::set_error;

constexpr std::uint32_t MAX_DEPTH = EPOCH_DOMAIN_MAX_DEPTH;
// Enough that unrelated domains rarely share one; few enough that fork, which
// holds them all, stays cheap (and within ThreadSanitizer's 64 locks held at once).
constexpr std::size_t STRIPES = 16;

// The calling thread's entered domains, innermost last. Trivially destructible.
thread_local constinit EpochDomain* tl_stack[MAX_DEPTH] = {};
thread_local constinit std::uint32_t tl_depth = 0;

// The owner word of a domain a destroy has claimed: no thread's token, so no
// enter can take the domain after it.
constexpr std::uintptr_t DESTROYING = 1;
// Distinct for every thread the process ever ran, never 0 or DESTROYING: a domain
// left entered by a thread that ended stays refused to every other thread, also
// to one that got the ended thread's thread-local memory (whose address served
// as the token before). Taken at the thread's first enter; lock-free, so a
// signal handler's enter may take it too.
thread_local constinit std::uintptr_t tl_token = 0;
std::atomic<std::uintptr_t> g_next_token{DESTROYING + 1};
std::uintptr_t thread_token() noexcept {
  if (const std::uintptr_t t = tl_token; t != 0) return t;
  const std::uintptr_t fresh = g_next_token.fetch_add(1, std::memory_order_relaxed);
  // A handler that interrupted this thread since the load may have taken one: it stays.
  std::uintptr_t expected = 0;
  std::atomic_ref<std::uintptr_t>(tl_token).compare_exchange_strong(expected, fresh,
                                                                    std::memory_order_relaxed);
  return expected == 0 ? fresh : expected;
}

// Not a counted tslab::detail::Mutex: a domain closes its epoch while it holds
// its stripe, and a close refuses to run on a thread that holds a counted lock
// (it could be waiting for itself). A close never takes a stripe, so holding one
// cannot make it wait for its own thread.
using StripeMutex = tslab::detail::OuterMutex;
using StripeGuard = std::lock_guard<StripeMutex>;
TSLAB_FORK_HELD constinit StripeMutex g_stripes[STRIPES];

StripeMutex& stripe_of(const EpochDomain* d) noexcept {
  std::uint64_t h = reinterpret_cast<std::uintptr_t>(d->alloc);
  h ^= static_cast<std::uint64_t>(d->epoch_id) * 0x9E3779B97F4A7C15ull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return g_stripes[h % STRIPES];
}

std::atomic_ref<std::uintptr_t> owner_of(EpochDomain* d) noexcept {
  return std::atomic_ref<std::uintptr_t>(d->priv_owner);
}

bool misuse(TslabError e) noexcept {
  set_error(e);
  return false;
}

// A live domain's identity: non-zero and tied to its address and to this copy
// of tslab (platform/library_tag.h), so neither a zeroed record, nor a copy of a
// domain elsewhere, nor another copy's domain passes for one.
std::uint64_t identity_for(const EpochDomain* d) noexcept {
  return (reinterpret_cast<std::uintptr_t>(d) ^ 0x5EED0D0A1A5EEDull) +
         (reinterpret_cast<std::uintptr_t>(&tslab::detail::g_library_tag) << 16);
}

std::atomic_ref<std::uint64_t> identity_of(EpochDomain* d) noexcept {
  return std::atomic_ref<std::uint64_t>(d->priv_identity);
}

// A domain made by create or wrap and not destroyed since.
bool is_live(EpochDomain* d) noexcept {
  return d != nullptr && identity_of(d).load(std::memory_order_acquire) == identity_for(d);
}

// fork: every stripe, then the pool. A stripe is held while a domain closes its
// epoch (the allocator's locks are taken inside it), so domains rank before
// allocators (platform/fork_hooks.h).
void fork_lock_domains() noexcept {
  for (StripeMutex& m : g_stripes) m.lock();
  tslab::detail::domain_pool_mutex().lock();
}
TSLAB_FORK_STEP void fork_unlock_domains() noexcept {
  tslab::detail::domain_pool_mutex().unlock();
  for (StripeMutex& m : g_stripes) m.unlock();
}

EpochDomain* make_domain(SlabAllocator* alloc, EpochId epoch, std::uint64_t era, bool auto_close) noexcept {
  tslab::detail::fork_participate(tslab::detail::ForkRank::domains,
                                  {fork_lock_domains, fork_unlock_domains, fork_unlock_domains});
  EpochDomain* d = tslab::detail::domain_pool_acquire();
  if (d == nullptr) {
    set_error(TSLAB_ERR_OUT_OF_MEMORY);
    return nullptr;
  }
  d->alloc = alloc;
  d->epoch_id = epoch;
  d->era = era;
  d->auto_close = auto_close;
  // Publication point of the domain: its fields above are visible to any thread
  // that finds it live.
  identity_of(d).store(identity_for(d), std::memory_order_release);
  return d;
}

// True if d's slot is still at d's era; else false with the reason recorded.
bool era_current(EpochDomain* d) noexcept {
  const std::uint64_t era = slab_epoch_era(d->alloc, d->epoch_id);
  // 0: the allocator refused (a destroyed one), and recorded why; no era is 0.
  if (era == 0) return false;
  return era == d->era || misuse(TSLAB_ERR_STALE_EPOCH);
}

// An enter of a domain whose owner word is `owner`, not 0 and not the caller's:
// it is being destroyed, or entered on another thread.
bool refuse_owned(std::uintptr_t owner) noexcept {
  if (owner == DESTROYING) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_enter: domain being destroyed");
    return misuse(TSLAB_ERR_INVALID_ARGUMENT);
  }
  TSLAB_DOMAIN_ASSERT(false, "epoch_domain_enter: domain entered on another thread");
  return misuse(TSLAB_ERR_DOMAIN_MISUSE);
}

// Takes one hold of d's epoch at d's era. Caller holds d's stripe.
bool hold_locked(EpochDomain* d) noexcept {
  if (!era_current(d)) return false;
  // 0: the count is at its maximum (refused, the reason recorded).
  if (slab_epoch_inc_refcount(d->alloc, d->epoch_id) == 0) return false;
  if (slab_epoch_era(d->alloc, d->epoch_id) != d->era) {
    // The slot was re-activated around the increment: undo it (see the top).
    slab_epoch_dec_refcount(d->alloc, d->epoch_id);
    return misuse(TSLAB_ERR_STALE_EPOCH);
  }
  return true;
}

// Releases one hold of d's epoch; returns the holders left at d's era (0 when
// the era is past: a re-activation dropped every hold). Caller holds d's stripe.
std::uint32_t release_locked(EpochDomain* d, bool* era_matches) noexcept {
  *era_matches = slab_epoch_era(d->alloc, d->epoch_id) == d->era;
  if (!*era_matches) return 0;
  // If the slot is re-activated between the check and the decrement, the
  // decrement meets the new activation's count at 0 and leaves it there.
  return slab_epoch_dec_refcount(d->alloc, d->epoch_id);
}

// Closes d's epoch if it is still at d's era. Caller holds d's stripe.
bool close_locked(EpochDomain* d) noexcept {
  // Linearization point of a domain's close: epoch_close_era compares the era
  // and marks the slot CLOSING in one step under the ring's lock, so a slot
  // re-activated since d was bound is never closed on d's behalf.
  if (!epoch_close_era(d->alloc, d->epoch_id, d->era)) return false;
  d->closed = true;
  return true;
}

// Auto-close: closes d's epoch if it is still at d's era and still ACTIVE (an
// epoch closed already, by anyone, is not closed again). Caller holds d's stripe.
void auto_close_locked(EpochDomain* d) noexcept {
  if (slab_epoch_state(d->alloc, d->epoch_id) != EPOCH_ACTIVE) return;
  close_locked(d);
}

}  // namespace

extern "C" {

EpochDomain* epoch_domain_create(SlabAllocator* alloc) {
  if (alloc == nullptr) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_create: NULL allocator");
    set_error(TSLAB_ERR_INVALID_ARGUMENT);
    return nullptr;
  }
  if (slab_epoch_count(alloc) == 0) return nullptr;  // a destroyed allocator (recorded)
  // The current slot and its era, read consistently: retry if an advance moved
  // the ring between the two reads.
  EpochId epoch = epoch_current(alloc);
  std::uint64_t era = slab_epoch_era(alloc, epoch);
  for (int tries = 0; tries < 8; ++tries) {
    const EpochId again = epoch_current(alloc);
    const std::uint64_t again_era = slab_epoch_era(alloc, again);
    if (again == epoch && again_era == era) break;
    epoch = again;
    era = again_era;
  }
  return make_domain(alloc, epoch, era, true);
}

EpochDomain* epoch_domain_wrap(SlabAllocator* alloc, EpochId epoch, bool auto_close) {
  if (alloc == nullptr) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_wrap: NULL allocator");
    set_error(TSLAB_ERR_INVALID_ARGUMENT);
    return nullptr;
  }
  const std::uint32_t count = slab_epoch_count(alloc);
  if (count == 0) return nullptr;  // a destroyed allocator (recorded)
  if (epoch >= count) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_wrap: epoch out of range");
    set_error(TSLAB_ERR_EPOCH_OUT_OF_RANGE);
    return nullptr;
  }
  return make_domain(alloc, epoch, slab_epoch_era(alloc, epoch), auto_close);
}

bool epoch_domain_enter(EpochDomain* d) {
  if (!is_live(d)) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_enter: NULL or destroyed domain");
    return misuse(TSLAB_ERR_INVALID_ARGUMENT);
  }
  if (tl_depth == MAX_DEPTH) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_enter: nesting deeper than EPOCH_DOMAIN_MAX_DEPTH");
    return misuse(TSLAB_ERR_DOMAIN_MISUSE);
  }
  const std::uintptr_t me = thread_token();
  const std::uintptr_t owner = owner_of(d).load(std::memory_order_acquire);
  const bool first = owner != me;
  if (first) {
    // Entered on another thread, or being destroyed: that misuse is reported
    // whatever the domain's era (the compare-and-swap below settles races).
    if (owner != 0) return refuse_owned(owner);
    // A past era (or a destroyed allocator) stays so: refused before the owner
    // word is taken, so such an enter cannot make a racing destroy read
    // "entered". Only an enter the ring's advance overtakes after this check can.
    if (!era_current(d)) return false;
    std::uintptr_t expected = 0;
    if (!owner_of(d).compare_exchange_strong(expected, me, std::memory_order_acq_rel))
      return refuse_owned(expected);
  }
  bool held;
  {
    StripeGuard lock(stripe_of(d));
    held = hold_locked(d);
  }
  if (!held) {
    if (first) owner_of(d).store(0, std::memory_order_release);
    return false;
  }
  d->priv_depth++;
  tl_stack[tl_depth++] = d;
  return true;
}

bool epoch_domain_exit(EpochDomain* d) {
  if (!is_live(d)) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_exit: NULL or destroyed domain");
    return misuse(TSLAB_ERR_INVALID_ARGUMENT);
  }
  if (owner_of(d).load(std::memory_order_acquire) != thread_token()) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_exit: domain not entered on this thread");
    return misuse(TSLAB_ERR_DOMAIN_MISUSE);
  }
  if (tl_depth == 0 || tl_stack[tl_depth - 1] != d) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_exit: not the innermost domain (LIFO order)");
    return misuse(TSLAB_ERR_DOMAIN_MISUSE);
  }
  tl_stack[--tl_depth] = nullptr;
  const bool last = --d->priv_depth == 0;
  {
    StripeGuard lock(stripe_of(d));
    bool era_matches = false;
    const std::uint32_t holders = release_locked(d, &era_matches);
    // Auto-close: the last exit of this domain, no other holder at this era.
    // A close refused here (the ring wrapped meanwhile) is not the exit's failure.
    if (last && d->auto_close && era_matches && holders == 0) auto_close_locked(d);
  }
  if (last) owner_of(d).store(0, std::memory_order_release);
  return true;
}

EpochDomain* epoch_domain_current(void) { return tl_depth == 0 ? nullptr : tl_stack[tl_depth - 1]; }

SlabAllocator* epoch_domain_allocator(void) {
  EpochDomain* d = epoch_domain_current();
  return d == nullptr ? nullptr : d->alloc;
}

bool epoch_domain_destroy(EpochDomain* d) {
  if (!is_live(d)) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_destroy: NULL or destroyed domain");
    return misuse(TSLAB_ERR_INVALID_ARGUMENT);
  }
  // Linearization point of a destroy: the owner word goes from 0 (entered on no
  // thread) to DESTROYING in one step, so an enter either took the domain before
  // (and this destroy is refused) or finds it claimed (and is refused). Of
  // destroys that race, one claims it; every later call finds it dead.
  std::uintptr_t owner = 0;
  if (!owner_of(d).compare_exchange_strong(owner, DESTROYING, std::memory_order_acq_rel)) {
    if (owner == DESTROYING) {
      TSLAB_DOMAIN_ASSERT(false, "epoch_domain_destroy: domain already being destroyed");
      return misuse(TSLAB_ERR_INVALID_ARGUMENT);
    }
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_destroy: domain still entered");
    return misuse(TSLAB_ERR_DOMAIN_MISUSE);
  }
  if (d->auto_close) {
    StripeGuard lock(stripe_of(d));
    if (!d->closed && slab_epoch_era(d->alloc, d->epoch_id) == d->era &&
        slab_epoch_get_refcount(d->alloc, d->epoch_id) == 0)
      auto_close_locked(d);
  }
  identity_of(d).store(0, std::memory_order_release);
  tslab::detail::domain_pool_release(d);
  return true;
}

bool epoch_domain_force_close(EpochDomain* d) {
  if (!is_live(d)) {
    TSLAB_DOMAIN_ASSERT(false, "epoch_domain_force_close: NULL or destroyed domain");
    return misuse(TSLAB_ERR_INVALID_ARGUMENT);
  }
  StripeGuard lock(stripe_of(d));
  // epoch_close_era records why it refused: a stale era, a destroyed allocator,
  // a call from inside tslab (TSLAB_ERR_REENTRANT).
  return close_locked(d);
}

// The same calls under tslab's prefix: the names libtslab-malloc.so exports,
// and those tslab::EpochScope calls.
EpochDomain* slab_epoch_domain_create(SlabAllocator* alloc) { return epoch_domain_create(alloc); }
EpochDomain* slab_epoch_domain_wrap(SlabAllocator* alloc, EpochId epoch, bool auto_close) {
  return epoch_domain_wrap(alloc, epoch, auto_close);
}
bool slab_epoch_domain_enter(EpochDomain* d) { return epoch_domain_enter(d); }
bool slab_epoch_domain_exit(EpochDomain* d) { return epoch_domain_exit(d); }
EpochDomain* slab_epoch_domain_current(void) { return epoch_domain_current(); }
SlabAllocator* slab_epoch_domain_allocator(void) { return epoch_domain_allocator(); }
bool slab_epoch_domain_destroy(EpochDomain* d) { return epoch_domain_destroy(d); }
bool slab_epoch_domain_force_close(EpochDomain* d) { return epoch_domain_force_close(d); }

}  // extern "C"
