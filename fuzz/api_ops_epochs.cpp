// This file contains fuzz_api_sequence's operations on epochs and epoch
// domains: advance, close and close-by-era (in range or not, current era or
// stale), refcounts and labels, collect with a full check, and domains created,
// wrapped, entered, exited, destroyed and force-closed, in order and out of it,
// from this thread and from the worker.
#include <cinttypes>
#include <cstring>
#include <functional>

#include "api_ops.h"
#include "worker.h"

namespace fuzz {

namespace {

TslabError epoch_call_error(const World& w, int a, std::uint32_t e) {
  if (!w.alive(a)) return TSLAB_ERR_INVALID_ARGUMENT;
  return w.allocators[a].epochs.in_range(e) ? TSLAB_OK : TSLAB_ERR_EPOCH_OUT_OF_RANGE;
}

std::uint64_t pick_era(const World& w, int a, std::uint32_t e, ByteReader& r) {
  const std::uint64_t era = w.alive(a) ? w.allocators[a].epochs.era(e) : 1;
  switch (r.u8() % 6) {
    case 0:
      return era - 1;
    case 1:
      return era + 1;
    case 2:
      return 0;
    case 3:
      return r.u64();
    default:
      return era;
  }
}

int pick_domain(const World& w, ByteReader& r) {
  const std::uint8_t v = r.u8();
  if (w.domains.empty()) return NONE;
  if (v < 96 && !w.entered.empty()) return w.entered.back();
  return v % static_cast<int>(w.domains.size());
}

void require_current_domain(const World& w) {
  EpochDomain* want = w.entered.empty() ? nullptr : w.domains[w.entered.back()].api;
  FUZZ_REQUIRE(epoch_domain_current() == want, "epoch_domain_current() = %p, model %p",
               static_cast<void*>(epoch_domain_current()), static_cast<void*>(want));
  SlabAllocator* alloc = want == nullptr ? nullptr : w.api_of(w.domains[w.entered.back()].allocator);
  FUZZ_REQUIRE(epoch_domain_allocator() == alloc, "epoch_domain_allocator() differs from the model");
}

// The era the domain's allocator has now for its slot (0 once it is destroyed).
std::uint64_t current_era(const World& w, const DomainRecord& d) {
  return w.alive(d.allocator) ? w.allocators[d.allocator].epochs.era(d.epoch) : 0;
}

Expectation expect_enter(const World& w, const DomainRecord& d) {
  if (!d.live) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  if (w.entered.size() == EPOCH_DOMAIN_MAX_DEPTH) return fail(TSLAB_ERR_DOMAIN_MISUSE);
  // A destroyed allocator refuses as itself (law 9), not as a stale era.
  if (!w.alive(d.allocator)) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  if (current_era(w, d) != d.era) return fail(TSLAB_ERR_STALE_EPOCH);
  return succeed();
}

Expectation expect_exit(const World& w, int d) {
  const DomainRecord& domain = w.domains[d];
  if (!domain.live) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  if (domain.depth == 0 || w.entered.back() != d) return fail(TSLAB_ERR_DOMAIN_MISUSE);
  return succeed();
}

Expectation expect_destroy(const DomainRecord& d) {
  if (!d.live) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  return d.depth != 0 ? fail(TSLAB_ERR_DOMAIN_MISUSE) : succeed();
}

// The domain closes its epoch if the slot is still at its era and open.
void close_by_domain(World& w, DomainRecord& d) {
  if (current_era(w, d) != d.era) return;
  EpochModel& epochs = w.allocators[d.allocator].epochs;
  if (!epochs.open(d.epoch)) return;
  epochs.close_era(d.epoch, d.era);
  d.closed = true;
}

void apply_enter(World& w, int d) {
  DomainRecord& domain = w.domains[d];
  w.allocators[domain.allocator].epochs.inc_refcount(domain.epoch);
  ++domain.depth;
  w.entered.push_back(d);
}

void apply_exit(World& w, int d) {
  DomainRecord& domain = w.domains[d];
  w.entered.pop_back();
  const bool last = --domain.depth == 0;
  const bool era_matches = current_era(w, domain) == domain.era;
  const std::uint32_t holders =
      era_matches ? w.allocators[domain.allocator].epochs.dec_refcount(domain.epoch) : 0;
  if (last && domain.auto_close && era_matches && holders == 0) close_by_domain(w, domain);
}

void apply_destroy(World& w, int d) {
  DomainRecord& domain = w.domains[d];
  if (domain.auto_close && !domain.closed && current_era(w, domain) == domain.era &&
      w.allocators[domain.allocator].epochs.refcount(domain.epoch) == 0)
    close_by_domain(w, domain);
  domain.live = false;
}

bool call_domain(bool (*call)(EpochDomain*), EpochDomain* d, TslabError* error) {
  prime_last_error();
  const bool ok = call(d);
  *error = slab_last_error();
  count_operation();
  return ok;
}

}  // namespace

// --- epochs -----------------------------------------------------------------------

void op_epoch_advance(World& w, ByteReader& r) {
  const auto target = pick_allocator(w, r, true);
  if (!target) return;
  prime_last_error();
  const EpochId got = epoch_advance(w.api_of(*target));
  count_operation();
  if (!w.alive(*target)) {
    FUZZ_REQUIRE(got == 0 && slab_last_error() == TSLAB_ERR_INVALID_ARGUMENT,
                 "epoch_advance on a NULL or destroyed allocator: %u, error %d", got, slab_last_error());
    return;
  }
  const std::uint32_t want = w.allocators[*target].epochs.advance();
  FUZZ_REQUIRE(got == want, "epoch_advance returned %u, model %u", got, want);
}

// slab_epoch_open, slab_epoch_is_held and the warm reserve's bound.
void op_epoch_open_and_reserve(World& w, ByteReader& r) {
  const auto target = pick_allocator(w, r, true);
  const std::uint8_t how = r.u8() % 3;
  if (!target) return;
  const int a = *target;
  SlabAllocator* api = w.api_of(a);
  prime_last_error();
  if (how == 0) {
    const EpochId got = slab_epoch_open(api);
    const TslabError error = slab_last_error();
    count_operation();
    if (!w.alive(a)) {
      FUZZ_REQUIRE(got == SLAB_NO_EPOCH && error == TSLAB_ERR_INVALID_ARGUMENT,
                   "slab_epoch_open on a NULL or destroyed allocator: %u, error %d", got, error);
      return;
    }
    const std::uint32_t want = w.allocators[a].epochs.open_held();
    if (want == w.allocators[a].epochs.count())
      FUZZ_REQUIRE(got == SLAB_NO_EPOCH && error == TSLAB_ERR_NO_FREE_EPOCH,
                   "slab_epoch_open with no free slot: %u, error %d", got, error);
    else
      FUZZ_REQUIRE(got == want, "slab_epoch_open returned %u, model %u", got, want);
  } else if (how == 1) {
    const std::uint32_t e = pick_epoch(w, a, r);
    const bool got = slab_epoch_is_held(api, e);
    count_operation();
    const bool want = w.alive(a) && w.allocators[a].epochs.held(e);
    FUZZ_REQUIRE(got == want, "slab_epoch_is_held(%u) = %d, model %d", e, got, want);
  } else {
    // Up to 2 GiB: half of the range is above the 1 GiB bound.
    const std::size_t bytes = static_cast<std::size_t>(r.u32()) % (std::size_t{2} << 30);
    const bool ok = slab_set_warm_reserve(api, bytes);
    const TslabError error = slab_last_error();
    count_operation();
    const bool want = w.alive(a) && bytes <= (std::size_t{1} << 30);
    FUZZ_REQUIRE(ok == want && (ok || error == TSLAB_ERR_INVALID_ARGUMENT),
                 "slab_set_warm_reserve(%zu): %d, error %d", bytes, ok, error);
    if (ok)
      FUZZ_REQUIRE(slab_warm_reserve(api) == bytes / SLAB_PAGE_SIZE * SLAB_PAGE_SIZE,
                   "warm reserve read back");
  }
}

void op_epoch_close(World& w, ByteReader& r) {
  const auto target = pick_allocator(w, r, true);
  const std::uint8_t how = r.u8();
  if (!target) return;
  const int a = *target;
  const std::uint32_t e = pick_epoch(w, a, r);
  const bool by_era = (how & 1) != 0;
  const std::uint64_t era = by_era ? pick_era(w, a, e, r) : 0;
  const TslabError refusal = epoch_call_error(w, a, e);
  Expectation want = refusal != TSLAB_OK ? fail(refusal) : succeed();
  if (refusal == TSLAB_OK && by_era && w.allocators[a].epochs.era(e) != era)
    want = fail(TSLAB_ERR_STALE_EPOCH);
  bool ok = false;
  TslabError error = TSLAB_OK;
  const std::function<void()> task = [&] {
    ok = by_era ? epoch_close_era(w.api_of(a), e, era) : epoch_close(w.api_of(a), e);
    error = slab_last_error();
  };
  if ((how & 6) == 6)
    Worker::instance().run(task);
  else
    task();
  count_operation();
  require_outcome(by_era ? "epoch_close_era" : "epoch_close", want, ok, error);
  if (ok) w.allocators[a].epochs.close(e);
}

void op_epoch_metadata(World& w, ByteReader& r) {
  const auto target = pick_allocator(w, r, true);
  const std::uint8_t how = r.u8() % 4;
  if (!target) return;
  const int a = *target;
  SlabAllocator* api = w.api_of(a);
  const std::uint32_t e = pick_epoch(w, a, r);
  const TslabError refusal = epoch_call_error(w, a, e);
  EpochModel* epochs = refusal == TSLAB_OK ? &w.allocators[a].epochs : nullptr;
  prime_last_error();
  if (how == 3) {
    char label[48] = {};
    const std::size_t n = r.u8() % sizeof label;
    r.bytes(reinterpret_cast<std::uint8_t*>(label), n < sizeof label - 1 ? n : sizeof label - 1);
    const char* text = n == sizeof label - 1 ? nullptr : label;
    const bool ok = slab_epoch_set_label(api, e, text);
    count_operation();
    require_outcome("slab_epoch_set_label", refusal == TSLAB_OK ? succeed() : fail(refusal), ok,
                    slab_last_error());
    if (ok) epochs->set_label(e, text);
    return;
  }
  std::uint32_t got = 0, want = 0;
  if (how == 0) got = slab_epoch_inc_refcount(api, e), want = epochs ? epochs->inc_refcount(e) : 0;
  if (how == 1) got = slab_epoch_dec_refcount(api, e), want = epochs ? epochs->dec_refcount(e) : 0;
  if (how == 2) got = slab_epoch_get_refcount(api, e), want = epochs ? epochs->refcount(e) : 0;
  count_operation();
  FUZZ_REQUIRE(got == want, "refcount call %u on epoch %u: %u, model %u", how, e, got, want);
  if (refusal != TSLAB_OK)
    FUZZ_REQUIRE(slab_last_error() == refusal, "refcount call %u on epoch %u: error %d, expected %d", how, e,
                 slab_last_error(), refusal);
}

void op_collect_and_check(World& w, ByteReader& r) {
  const auto target = pick_allocator(w, r, true);
  if (!target) return;
  const int a = *target;
  const std::uint64_t returned = slab_collect(w.api_of(a));
  count_operation();
  if (!w.alive(a)) {
    char message[64];
    FUZZ_REQUIRE(returned == 0 && !slab_check(w.api_of(a), message, sizeof message),
                 "collect or check through a NULL or destroyed allocator was not refused");
    return;
  }
  w.verify_allocator(a);
  count_operation();
}

// --- domains ---------------------------------------------------------------------------

void exit_domain(World& w, int d) {
  TslabError error = TSLAB_OK;
  const Expectation want = expect_exit(w, d);
  const bool ok = call_domain(epoch_domain_exit, w.domains[d].api, &error);
  require_outcome("epoch_domain_exit", want, ok, error);
  if (ok) apply_exit(w, d);
  require_current_domain(w);
}

void destroy_domain(World& w, int d) {
  TslabError error = TSLAB_OK;
  const Expectation want = expect_destroy(w.domains[d]);
  const bool ok = call_domain(epoch_domain_destroy, w.domains[d].api, &error);
  require_outcome("epoch_domain_destroy", want, ok, error);
  if (ok) apply_destroy(w, d);
}

void op_domain_create(World& w, ByteReader& r) {
  const auto target = pick_allocator(w, r, true);
  const std::uint8_t how = r.u8();
  if (!target || w.domains_created >= MAX_CREATIONS) return;
  const int a = *target;
  const bool wrap = (how & 1) != 0;
  DomainRecord d;
  d.allocator = a;
  d.auto_close = !wrap || (how & 2) != 0;
  d.epoch = wrap ? pick_epoch(w, a, r) : (w.alive(a) ? w.allocators[a].epochs.current() : 0);
  Expectation want = succeed();
  if (!w.alive(a)) want = fail(TSLAB_ERR_INVALID_ARGUMENT);
  if (w.alive(a) && !w.allocators[a].epochs.in_range(d.epoch)) want = fail(TSLAB_ERR_EPOCH_OUT_OF_RANGE);
  prime_last_error();
  d.api = wrap ? epoch_domain_wrap(w.api_of(a), d.epoch, d.auto_close) : epoch_domain_create(w.api_of(a));
  count_operation();
  require_outcome(wrap ? "epoch_domain_wrap" : "epoch_domain_create", want, d.api != nullptr,
                  slab_last_error());
  if (d.api == nullptr) return;
  d.live = true;
  d.era = w.allocators[a].epochs.era(d.epoch);
  FUZZ_REQUIRE(d.api->alloc == w.api_of(a) && d.api->epoch_id == d.epoch && d.api->era == d.era &&
                   d.api->auto_close == d.auto_close && !d.api->closed,
               "new domain binds allocator %p epoch %u era %" PRIu64 " auto %d; model %p %u %" PRIu64 " %d",
               static_cast<void*>(d.api->alloc), d.api->epoch_id, d.api->era, d.api->auto_close,
               static_cast<void*>(w.api_of(a)), d.epoch, d.era, d.auto_close);
  w.add_domain(d);
}

void op_domain_enter(World& w, ByteReader& r) {
  const int d = pick_domain(w, r);
  if (d == NONE) return;
  TslabError error = TSLAB_OK;
  const Expectation want = expect_enter(w, w.domains[d]);
  const bool ok = call_domain(epoch_domain_enter, w.domains[d].api, &error);
  require_outcome("epoch_domain_enter", want, ok, error);
  if (ok) apply_enter(w, d);
  require_current_domain(w);
}

void op_domain_exit(World& w, ByteReader& r) {
  const int d = pick_domain(w, r);
  if (d != NONE) exit_domain(w, d);
}

void op_domain_destroy(World& w, ByteReader& r) {
  const int d = pick_domain(w, r);
  const std::uint8_t how = r.u8();
  if (d == NONE) return;
  if ((how & 1) == 0) return destroy_domain(w, d);
  DomainRecord& domain = w.domains[d];
  TslabError error = TSLAB_OK;
  // A destroyed domain, or one over a destroyed allocator: INVALID_ARGUMENT (the
  // close's own error); a slot re-activated since the domain was bound: STALE_EPOCH.
  Expectation want = fail(TSLAB_ERR_INVALID_ARGUMENT);
  if (domain.live && w.alive(domain.allocator))
    want = current_era(w, domain) == domain.era ? succeed() : fail(TSLAB_ERR_STALE_EPOCH);
  const bool ok = call_domain(epoch_domain_force_close, domain.api, &error);
  require_outcome("epoch_domain_force_close", want, ok, error);
  if (!ok) return;
  w.allocators[domain.allocator].epochs.close_era(domain.epoch, domain.era);
  domain.closed = true;
}

// Calls from the worker thread on a domain this thread may have entered: every
// one is refused and changes nothing.
void op_domain_misuse(World& w, ByteReader& r) {
  const int d = pick_domain(w, r);
  const bool enter = r.flag();
  if (d == NONE) return;
  const DomainRecord& domain = w.domains[d];
  if (enter && domain.live && domain.depth == 0) return;  // the worker would really enter it
  const Expectation want = domain.live ? fail(TSLAB_ERR_DOMAIN_MISUSE) : fail(TSLAB_ERR_INVALID_ARGUMENT);
  bool ok = false;
  TslabError error = TSLAB_OK;
  EpochDomain* current = nullptr;
  Worker::instance().run([&] {
    ok = call_domain(enter ? epoch_domain_enter : epoch_domain_exit, domain.api, &error);
    current = epoch_domain_current();
  });
  require_outcome(enter ? "epoch_domain_enter from another thread" : "epoch_domain_exit from another thread",
                  want, ok, error);
  FUZZ_REQUIRE(current == nullptr, "the worker thread has a current domain");
  require_current_domain(w);
}

}  // namespace fuzz
