// This file contains tslab_icount: four fixed workloads (churn, bulk, request on
// one thread; handoff on two taking turns) whose allocator calls all go through
// three wrapper functions,
// icount_alloc, icount_free and icount_phase, so that callgrind, told to count
// only inside them (--toggle-collect), counts the allocator's instructions and
// nothing of the loop around it. bench/instructions.py runs it under callgrind
// for tslab and each peer and reads the counts of the wrappers' callees.
//
//   tslab_icount WORKLOAD ALLOCATOR [NAME=VALUE ...]   one measurement; a JSON line on stdout
//   tslab_icount --preload ALLOCATOR                   the shared object to LD_PRELOAD for it ("" for glibc)
//
// WORKLOAD is churn, bulk, request or handoff; ALLOCATOR is tslab, tslab-handle (tslab's
// pointer and handle APIs), tslab-malloc (malloc/free with libtslab-malloc.so
// LD_PRELOADed by the caller) or glibc, mimalloc, jemalloc, tcmalloc (malloc/free,
// the peer LD_PRELOADed by the caller). The program checks which allocator
// serves malloc before it measures and refuses to run if it is not the one named.
#include <sys/mman.h>

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "harness/allocators.hpp"
#include "harness/common.hpp"
#include "harness/stats.hpp"
#include "slab_alloc.h"
#include "workloads/object_ops.hpp"

// The wrappers must stay whole, uncloned functions under their own names: callgrind
// toggles counting on their entry and exit and the script reads their callees' costs.
#if defined(__clang__)
#define ICOUNT_WRAPPER __attribute__((noinline, used))
#else
#define ICOUNT_WRAPPER __attribute__((noipa, used))
#endif

namespace {

enum class Api { malloc_free, tslab_pointer, tslab_handle };

// What a free needs: the pointer (malloc, tslab's pointer API) or the handle.
struct Slot {
  void* p;
  SlabHandle h;
};

// The allocator one call goes to. For tslab, `epoch` is where allocations go and
// may move when a batch's epoch was closed under it.
struct Target {
  Api api;
  SlabAllocator* a;
  EpochId epoch;
  std::uint64_t refused;  // frees tslab refused (every one is an error)
};

enum class Phase {
  advance,  // end of a batch (tslab: epoch_advance closes the batch's epoch)
  open,     // start of a serve phase (tslab: the cache's epoch, reopened if closed)
  close     // the cache has drained (tslab: epoch_close of the cache's epoch)
};

inline __attribute__((always_inline)) void* do_alloc(Target& t, std::size_t n, Slot& s) {
  switch (t.api) {
    case Api::malloc_free:
      s.p = std::malloc(n);
      break;
    case Api::tslab_pointer:
      s.p = slab_malloc_epoch(t.a, n, t.epoch);
      // As in the request workload: the epoch was closed by an advance, move to
      // the current one (never taken with one thread, kept for the same code).
      if (s.p == nullptr && slab_last_error() == TSLAB_ERR_EPOCH_CLOSING) {
        t.epoch = epoch_current(t.a);
        s.p = slab_malloc_epoch(t.a, n, t.epoch);
      }
      break;
    case Api::tslab_handle:
      s.p = alloc_obj_epoch(t.a, static_cast<std::uint32_t>(n), t.epoch, &s.h);
      if (s.p == nullptr && slab_last_error() == TSLAB_ERR_EPOCH_CLOSING) {
        t.epoch = epoch_current(t.a);
        s.p = alloc_obj_epoch(t.a, static_cast<std::uint32_t>(n), t.epoch, &s.h);
      }
      break;
  }
  return s.p;
}

inline __attribute__((always_inline)) void do_free(Target& t, const Slot& s) {
  switch (t.api) {
    case Api::malloc_free:
      std::free(s.p);
      break;
    case Api::tslab_pointer:
      t.refused += !slab_free_checked(t.a, s.p);
      break;
    case Api::tslab_handle:
      t.refused += !free_obj(t.a, s.h);
      break;
  }
}

}  // namespace

// The counted calls. Everything they call is the allocator's work; their own
// instructions (argument moves, the dispatch, call and return) are not counted
// by the script, which takes only the costs of their callees.
extern "C" ICOUNT_WRAPPER void* icount_alloc(Target& t, std::size_t n, Slot& s) { return do_alloc(t, n, s); }

extern "C" ICOUNT_WRAPPER void icount_free(Target& t, const Slot& s) { do_free(t, s); }

extern "C" ICOUNT_WRAPPER void icount_phase(Target& t, Phase op) {
  if (t.api == Api::malloc_free) return;
  switch (op) {
    case Phase::advance:
      t.epoch = epoch_advance(t.a);
      break;
    case Phase::open:
      if (t.epoch == SLAB_NO_EPOCH || !slab_epoch_is_held(t.a, t.epoch)) t.epoch = slab_epoch_open(t.a);
      slab_epoch_set_label(t.a, t.epoch, "cache");
      break;
    case Phase::close:
      epoch_close(t.a, t.epoch);
      break;
  }
}

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "tslab_icount: %s\n", what.c_str());
  std::exit(1);
}

// Harness arrays come from mmap, faulted in before the measurement, so they
// never come from the allocator under test.
template <class T>
T* map_array(std::size_t n) {
  void* p =
      mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) fail("mmap failed");
  return static_cast<T*>(p);
}

template <class T>
void unmap_array(T* p, std::size_t n) {
  munmap(p, n * sizeof(T));
}

struct Params {
  std::uint64_t ops = 200000, slots = 10000, size = 128;         // churn
  std::uint64_t count = 100000;                                  // bulk (size as above)
  std::uint64_t requests = 20000, cache = 5000, cache_bp = 100;  // request
  std::uint64_t batch = 4096, obj_min = 16, obj_max = 1024, req_min = 20, req_max = 200;
  std::uint64_t handoff_batch = 256;   // handoff (ops, obj_min, obj_max as above)
  std::uint64_t seed = 0x5eedf00dull;  // the tslab command's default seed

  bool set(const std::string& name, std::uint64_t v) {
    std::uint64_t* fields[] = {&ops,   &slots,   &size,    &count,   &requests, &cache, &cache_bp,
                               &batch, &obj_min, &obj_max, &req_min, &req_max,  &seed,  &handoff_batch};
    const char* names[] = {"ops",   "slots",   "size",    "count",   "requests", "cache", "cache_bp",
                           "batch", "obj_min", "obj_max", "req_min", "req_max",  "seed",  "handoff_batch"};
    for (std::size_t i = 0; i < sizeof names / sizeof names[0]; ++i)
      if (name == names[i]) return *fields[i] = v, true;
    return false;
  }
};

// What a run did, printed as its JSON line.
struct Counts {
  std::uint64_t allocs = 0, frees = 0, phases = 0, requests = 0;
};

void check_alloc(const void* p) {
  if (p == nullptr) fail("an allocation returned NULL");
}

// churn: a window of `slots` blocks of `size` B; `ops` times, free a random one
// and allocate into its place. Only the pairs are counted, not the fill.
Counts churn(Target& t, const Params& pr) {
  const auto n = static_cast<std::uint32_t>(pr.slots);
  Slot* slots = map_array<Slot>(n);
  bench::Rng rng{pr.seed};
  for (std::uint32_t i = 0; i < n; ++i) {
    check_alloc(do_alloc(t, pr.size, slots[i]));
    static_cast<volatile unsigned char*>(slots[i].p)[0] = static_cast<unsigned char>(i);
  }
  Counts c;
  for (std::uint64_t i = 0; i < pr.ops; ++i) {
    Slot& s = slots[rng.below(n)];
    icount_free(t, s);
    check_alloc(icount_alloc(t, pr.size, s));
    static_cast<volatile unsigned char*>(s.p)[0] = static_cast<unsigned char>(i);
  }
  c.allocs = c.frees = pr.ops;
  for (std::uint32_t i = 0; i < n; ++i) do_free(t, slots[i]);
  unmap_array(slots, n);
  return c;
}

// bulk: allocate `count` blocks of `size` B, then free them all in order.
Counts bulk(Target& t, const Params& pr) {
  Slot* slots = map_array<Slot>(pr.count);
  for (std::uint64_t i = 0; i < pr.count; ++i) {
    check_alloc(icount_alloc(t, pr.size, slots[i]));
    static_cast<volatile unsigned char*>(slots[i].p)[0] = static_cast<unsigned char>(i);
  }
  for (std::uint64_t i = 0; i < pr.count; ++i) icount_free(t, slots[i]);
  unmap_array(slots, pr.count);
  Counts c;
  c.allocs = c.frees = pr.count;
  return c;
}

// The request workload's shared cache (bench/workloads/request.cpp), for one
// thread: a FIFO ring; a full ring evicts its oldest entry.
class FifoCache {
 public:
  explicit FifoCache(std::uint32_t capacity) : capacity_(capacity), slots_(map_array<Slot>(capacity)) {}
  ~FifoCache() { unmap_array(slots_, capacity_); }
  FifoCache(const FifoCache&) = delete;
  FifoCache& operator=(const FifoCache&) = delete;

  // Inserts `s`; true with the evicted oldest entry in `old` when the ring was full.
  bool insert(const Slot& s, Slot& old) {
    if (count_ == capacity_) {
      old = slots_[head_];
      slots_[head_] = s;
      head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
      return true;
    }
    std::uint32_t tail = head_ + count_;
    if (tail >= capacity_) tail -= capacity_;
    slots_[tail] = s;
    ++count_;
    return false;
  }
  bool pop(Slot& s) {
    if (count_ == 0) return false;
    s = slots_[head_];
    head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
    --count_;
    return true;
  }

 private:
  const std::uint32_t capacity_;
  Slot* slots_;
  std::uint32_t head_ = 0, count_ = 0;
};

// request: the request workload's serve loop on one thread for a fixed number of
// requests, then the drain. Each request allocates req_min..req_max objects of
// obj_min..obj_max B, writes every cache line of each, and frees them when it
// ends, except cache_bp/10000 of them that go into the FIFO cache. tslab: request
// objects in `req`'s batch epoch, advanced every `batch` requests; cached objects
// in `cached`'s long-lived epoch of the same allocator, held outside the rotation
// and closed after the drain. Peers: one target.
Counts request(Target& req, Target& cached, const Params& pr) {
  constexpr std::uint32_t kMaxObjects = 4096;
  if (pr.req_min == 0 || pr.req_min > pr.req_max || pr.req_max > kMaxObjects || pr.obj_min == 0 ||
      pr.obj_min > pr.obj_max || pr.cache == 0 || pr.cache > 0xffffffffull || pr.cache_bp > 10000)
    fail("request: bad parameters");
  FifoCache cache(static_cast<std::uint32_t>(pr.cache));
  Slot* keep = map_array<Slot>(2 * kMaxObjects);
  Slot* to_cache = keep + kMaxObjects;
  // The seed of the workload's first worker thread.
  bench::Rng rng{pr.seed + 0x9e3779b97f4a7c15ull};
  const auto obj_min = static_cast<std::uint32_t>(pr.obj_min),
             obj_max = static_cast<std::uint32_t>(pr.obj_max);
  Counts c;
  icount_phase(cached, Phase::open);
  ++c.phases;
  std::uint64_t in_batch = 0;
  for (std::uint64_t r = 0; r < pr.requests; ++r) {
    const std::uint32_t k =
        rng.between(static_cast<std::uint32_t>(pr.req_min), static_cast<std::uint32_t>(pr.req_max));
    std::uint32_t nkeep = 0, ncache = 0;
    for (std::uint32_t i = 0; i < k; ++i) {
      const std::uint32_t size = rng.between(obj_min, obj_max);
      const bool to_the_cache = rng.below(10000) < pr.cache_bp;
      Slot& s = to_the_cache ? to_cache[ncache++] : keep[nkeep++];
      check_alloc(icount_alloc(to_the_cache ? cached : req, size, s));
      bench::touch_lines(s.p, size, i);
    }
    c.allocs += k;
    Slot old;
    for (std::uint32_t i = 0; i < ncache; ++i)
      if (cache.insert(to_cache[i], old)) icount_free(cached, old), ++c.frees;
    for (std::uint32_t i = 0; i < nkeep; ++i) icount_free(req, keep[i]);
    c.frees += nkeep;
    if (pr.batch != 0 && ++in_batch == pr.batch) icount_phase(req, Phase::advance), ++c.phases, in_batch = 0;
  }
  c.requests = pr.requests;
  // The end of the serve phase: the last batch's epoch is closed, the cache drains
  // and its epoch is closed.
  icount_phase(req, Phase::advance);
  Slot old;
  while (cache.pop(old)) icount_free(cached, old), ++c.frees;
  icount_phase(cached, Phase::close);
  c.phases += 2;
  unmap_array(keep, 2 * kMaxObjects);
  return c;
}

// handoff: one thread allocates `ops` blocks of obj_min-obj_max B in batches of
// `handoff_batch`, and a second thread frees each batch, so every free is of a
// block another thread allocated (tslab: a remote free, and the allocating
// thread collects it on a later allocation). The threads take turns under a
// lock, so the counts do not depend on scheduling. Both threads' calls count.
Counts handoff(Target& t, const Params& pr) {
  const std::uint64_t n = pr.handoff_batch, rounds = pr.ops / n;
  Slot* batch = map_array<Slot>(n);
  std::mutex m;
  std::condition_variable cv;
  bool full = false, done = false;
  std::thread consumer([&] {
    std::unique_lock<std::mutex> lock(m);
    for (;;) {
      cv.wait(lock, [&] { return full || done; });
      if (!full) return;
      for (std::uint64_t i = 0; i < n; ++i) icount_free(t, batch[i]);
      full = false;
      cv.notify_all();
    }
  });
  bench::Rng rng{pr.seed};
  const auto lo = static_cast<std::uint32_t>(pr.obj_min), hi = static_cast<std::uint32_t>(pr.obj_max);
  for (std::uint64_t r = 0; r < rounds; ++r) {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return !full; });
    for (std::uint64_t i = 0; i < n; ++i) {
      check_alloc(icount_alloc(t, rng.between(lo, hi), batch[i]));
      static_cast<volatile unsigned char*>(batch[i].p)[0] = static_cast<unsigned char>(i);
    }
    full = true;
    cv.notify_all();
  }
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return !full; });
    done = true;
    cv.notify_all();
  }
  consumer.join();
  unmap_array(batch, n);
  Counts c;
  c.allocs = c.frees = rounds * n;
  return c;
}

bool parse_u64(const char* s, std::uint64_t& v) {
  if (*s < '0' || *s > '9') return false;
  char* end = nullptr;
  v = std::strtoull(s, &end, 0);
  return *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--preload") == 0) {
    if (!bench::uses_malloc_api(argv[2])) fail(std::string("not measured through malloc: ") + argv[2]);
    std::printf("%s\n", bench::preload_library(argv[2]).c_str());
    return 0;
  }
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: tslab_icount churn|bulk|request|handoff "
                 "tslab|tslab-handle|tslab-malloc|glibc|mimalloc|jemalloc|tcmalloc [NAME=VALUE ...]\n"
                 "       tslab_icount --preload tslab-malloc|mimalloc|jemalloc|tcmalloc\n");
    return 2;
  }
  const std::string workload = argv[1], alloc = argv[2];
  Params pr;
  for (int i = 3; i < argc; ++i) {
    const char* eq = std::strchr(argv[i], '=');
    std::uint64_t v = 0;
    if (eq == nullptr || !parse_u64(eq + 1, v) ||
        !pr.set(std::string(argv[i], static_cast<std::size_t>(eq - argv[i])), v))
      fail(std::string("bad parameter: ") + argv[i]);
  }
  if (pr.slots == 0 || pr.slots > 0xffffffffull || pr.size == 0) fail("bad slots or size");
  if (workload != "churn" && workload != "bulk" && workload != "request" && workload != "handoff")
    fail("unknown workload " + workload);
  if (pr.handoff_batch == 0 || pr.obj_min == 0 || pr.obj_min > pr.obj_max || pr.obj_max > 0xffffffffull)
    fail("bad handoff_batch, obj_min or obj_max");
  Api api = Api::malloc_free;
  if (alloc == "tslab")
    api = Api::tslab_pointer;
  else if (alloc == "tslab-handle")
    api = Api::tslab_handle;
  else if (!bench::uses_malloc_api(alloc))
    fail("unknown allocator " + alloc);

  // The allocator serving malloc must be the one named (tslab: glibc, no peer or
  // tslab-malloc loaded).
  std::string live;
  if (!bench::verify_live_allocator(alloc, live)) fail("wrong allocator: " + live);

  Target req{api, nullptr, 0, 0}, cached{api, nullptr, 0, 0};
  if (api != Api::malloc_free) {
    req.a = slab_allocator_create();
    // The request workload keeps its cache in an epoch of the same allocator held
    // outside the rotation (see request.cpp), opened by its first Phase::open.
    cached.a = req.a;
    if (req.a == nullptr) fail("slab_allocator_create failed");
    req.epoch = epoch_current(req.a);
    cached.epoch = SLAB_NO_EPOCH;
  }

  Counts c;
  if (workload == "churn")
    c = churn(req, pr);
  else if (workload == "bulk")
    c = bulk(req, pr);
  else if (workload == "handoff")
    c = handoff(req, pr);
  else
    c = request(req, cached, pr);

  const std::uint64_t refused = req.refused + cached.refused;
  if (api != Api::malloc_free) {
    char msg[256] = {};
    if (!slab_check(req.a, msg, sizeof msg)) fail(std::string("slab_check failed: ") + msg);
    slab_allocator_free(req.a);
  }
  if (refused != 0) fail(std::to_string(refused) + " frees were refused");
  std::printf(
      "{\"workload\":\"%s\",\"allocator\":\"%s\",\"live\":\"%s\",\"allocs\":%llu,\"frees\":%llu,"
      "\"phases\":%llu,\"requests\":%llu}\n",
      workload.c_str(), alloc.c_str(), bench::json_escape(live).c_str(),
      static_cast<unsigned long long>(c.allocs), static_cast<unsigned long long>(c.frees),
      static_cast<unsigned long long>(c.phases), static_cast<unsigned long long>(c.requests));
  return 0;
}
