// This file contains the process malloc's slow paths: creating the process
// allocator on first use (before constructors run, from any thread), the calls
// served outside the core (from the bootstrap reserve, boot_reserve.h, while
// the allocator is being created or when a signal handler interrupted tslab),
// the malloc family beyond malloc and free, and the report of a refused free.
#include "override/process_malloc.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "options/options.h"
#include "override/boot_reserve.h"
#include "platform/fork_hooks.h"
#include "platform/no_cancel.h"
#include "slab_stats.h"
#include "stats/metrics_server.h"
#include "stats/stats_api.h"
#include "tslab/malloc.h"
#include "tslab/options.h"

namespace tslab::detail {

constinit std::atomic<AllocatorCore*> g_malloc_core{nullptr};
thread_local constinit std::uint32_t tl_malloc_epoch = 0;

namespace {

// Process-wide counters (tslab_malloc_counters).
constinit std::atomic<std::uint64_t> g_reentrant_allocations{0}, g_reentrant_refused{0}, g_frees_queued{0},
    g_queued_frees_done{0}, g_frees_dropped{0}, g_bad_frees{0};

// --- re-entrant calls ---------------------------------------------------
// A call that finds the thread inside tslab (a signal handler's: the thread
// was inside malloc, or held a tslab lock): allocations come from the
// bootstrap reserve; frees of tslab blocks wait in a per-thread
// queue of slots, each taken and emptied with one atomic operation, so a
// handler interrupting the thread while it empties the queue loses nothing.
[[gnu::tls_model("initial-exec")]] thread_local constinit std::atomic<void*>
    tl_queued_frees[TSLAB_REENTRANT_FREE_QUEUE];

void* reentrant_alloc(std::size_t size, std::size_t alignment = 16) noexcept {
  if (void* p = boot_alloc(size, alignment)) {
    g_reentrant_allocations.fetch_add(1, std::memory_order_relaxed);
    return p;
  }
  g_reentrant_refused.fetch_add(1, std::memory_order_relaxed);
  errno = ENOMEM;
  return nullptr;
}

void queue_free(void* p) noexcept {
  for (std::atomic<void*>& slot : tl_queued_frees) {
    void* empty = nullptr;
    if (slot.compare_exchange_strong(empty, p, std::memory_order_relaxed)) {
      g_frees_queued.fetch_add(1, std::memory_order_relaxed);
      tl_entry.malloc_frees_queued = true;  // after the slot is filled
      watch_thread_exit();                  // a thread that exits next still frees it
      return;
    }
  }
  g_frees_dropped.fetch_add(1, std::memory_order_relaxed);  // the block stays allocated
}

// Precondition: the thread is not inside malloc. Carries out the queued frees.
void run_queued_frees(AllocatorCore& core) noexcept {
  // Cleared first: a free queued from here on sets it again.
  tl_entry.malloc_frees_queued = false;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  for (std::atomic<void*>& slot : tl_queued_frees) {
    void* p = slot.exchange(nullptr, std::memory_order_relaxed);
    if (p == nullptr) continue;
    TslabError e;
    {
      const InsideMalloc inside;
      e = core.free(p);
    }
    g_queued_frees_done.fetch_add(1, std::memory_order_relaxed);
    if (e != TSLAB_OK) bad_free(p, e, "free");
  }
}

}  // namespace

void thread_exit_frees() noexcept {
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  if (core != nullptr && tl_entry.malloc_frees_queued && !inside_tslab()) run_queued_frees(*core);
}

namespace {

// --- first use -----------------------------------------------------------
TSLAB_FORK_HELD Mutex g_init_mutex;
// Set while this thread creates the process allocator: its re-entrant
// allocations go to the bootstrap reserve.
[[gnu::tls_model("initial-exec")]] thread_local constinit bool tl_initializing = false;

AllocatorCore* malloc_init() noexcept {
  if (tl_initializing) return nullptr;
  tl_initializing = true;
  AllocatorCore* core = nullptr;
  // The layers below register their fork participants first, outside the lock.
  if (AllocatorCore::process_init() && fork_hold_lock(ForkRank::process_malloc, g_init_mutex)) {
    LockGuard lock(g_init_mutex);
    core = g_malloc_core.load(std::memory_order_relaxed);
    if (core == nullptr && scopes_init()) {
      TslabError error = TSLAB_OK;
      core = AllocatorCore::create(CoreOptions{SLAB_MALLOC_EPOCHS, nullptr, true}, &error);
      if (core != nullptr) core->set_name("malloc");
      // Publication point of the process allocator: created once, under the lock.
      if (core != nullptr) g_malloc_core.store(core, std::memory_order_release);
    }
  }
  tl_initializing = false;
  // Outside the guard: the metrics endpoint's thread, if TSLAB_METRICS_PORT asks
  // for one, allocates through the allocator just published. This may be inside
  // a call of the C library that holds a lock of its own (atexit's, setlocale's):
  // what starts here takes none of them (start_requested_services).
  if (core != nullptr) start_requested_services();
  return core;
}

bool refused_as_reentrant() noexcept { return tl_last_error == TSLAB_ERR_REENTRANT; }

void* allocation_failed(TslabError error) noexcept {
  errno = error == TSLAB_ERR_BAD_ALIGNMENT || error == TSLAB_ERR_INVALID_ARGUMENT ? EINVAL : ENOMEM;
  return nullptr;
}

// An allocation into the thread's scope epoch that the core refused because
// the epoch no longer takes allocations (closed through the epoch API): the
// scope's allocations fall back to epoch 0, which never closes, so malloc never
// fails for scopes.
bool epoch_refused() noexcept {
  const TslabError e = tl_last_error;
  return tl_malloc_epoch != 0 && (e == TSLAB_ERR_EPOCH_CLOSING || e == TSLAB_ERR_EPOCH_OUT_OF_RANGE);
}

// Writes "0x" and `v` in hex to `out`; returns the characters written.
std::size_t format_hex(std::uintptr_t v, char* out) noexcept {
  char digits[16];
  std::size_t n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0);
  out[0] = '0', out[1] = 'x';
  for (std::size_t i = 0; i < n; ++i) out[2 + i] = digits[n - 1 - i];
  return n + 2;
}

std::size_t append(char* out, std::size_t used, std::size_t size, const char* text) noexcept {
  for (; *text != '\0' && used + 1 < size; ++text) out[used++] = *text;
  return used;
}

}  // namespace

AllocatorCore* process_malloc_core() noexcept {
  if (AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire)) return core;
  return malloc_init();
}

void* malloc_miss(std::size_t size) noexcept {
  if (inside_tslab()) return reentrant_alloc(size);
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  if (core == nullptr) {
    core = malloc_init();
    if (core == nullptr) {
      if (tl_initializing) return boot_alloc(size);
      return allocation_failed(TSLAB_ERR_OUT_OF_MEMORY);
    }
  }
  if (tl_entry.malloc_frees_queued) run_queued_frees(*core);
  const InsideMalloc inside;
  if (void* p = core->alloc(size, tl_malloc_epoch)) return p;
  if (epoch_refused()) {
    if (void* p = core->alloc(size, 0)) return p;
  }
  // Inside a tslab lock without being inside malloc (a handler that interrupted
  // another tslab call): the bootstrap reserve too.
  if (refused_as_reentrant()) return reentrant_alloc(size);
  return allocation_failed(tl_last_error);
}

void free_miss(void* p, const char* function) noexcept {
  if (p == nullptr) return;
  // The reserve's blocks are the override's own: back there (checked), never
  // through the core, which counts each free it refuses (invalid_frees).
  if (inside_tslab()) return is_boot(p) ? bad_free(p, TSLAB_OK, function) : queue_free(p);
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  if (core != nullptr && tl_entry.malloc_frees_queued) run_queued_frees(*core);
  if (is_boot(p)) return bad_free(p, TSLAB_OK, function);
  if (core == nullptr) return bad_free(p, TSLAB_ERR_NOT_ALLOCATED, function);
  TslabError e;
  {
    const InsideMalloc inside;
    e = core->free(p);
  }
  if (e != TSLAB_OK) bad_free(p, e, function);
}

// The fast paths' endings (process_malloc.h). The process allocator exists:
// the fast path that ends here found it.
void* malloc_missed(std::size_t size) noexcept {
  void* p = g_malloc_core.load(std::memory_order_relaxed)->alloc_slow(size, tl_malloc_epoch);
  leave_tslab();
  return p != nullptr ? p : malloc_miss(size);
}

void* malloc_refilled(Heap* heap, Slab* s, void* p) noexcept {
  heap->refilled_then(s, p);
  leave_tslab();
  return p;
}

void free_refused(void* p, TslabError e, FreeCall call) noexcept {
  g_malloc_core.load(std::memory_order_relaxed)->reject_free(e);
  leave_tslab();
  bad_free(p, e, free_call_name(call));
}

void free_closed(void* p, Heap* heap, Slab* s, std::uint64_t era, bool emptied, FreeCall call) noexcept {
  const TslabError e =
      g_malloc_core.load(std::memory_order_relaxed)->freed_into_closed(heap, s, era, emptied);
  leave_tslab();
  if (e != TSLAB_OK) bad_free(p, e, free_call_name(call));
}

void free_emptied(Heap* heap, Slab* s) noexcept {
  heap->slab_emptied(s);
  leave_tslab();
}

void bad_free(void* p, TslabError error, const char* function) noexcept {
  // A bootstrap block goes back to the reserve; a free of anything else there is bad.
  if (is_boot(p)) error = boot_free(p);
  if (error == TSLAB_OK) return;
  // A free from a signal handler that interrupted another tslab call inside a
  // lock: carried out later, like a free that interrupted malloc.
  if (error == TSLAB_ERR_REENTRANT) return queue_free(p);
  g_bad_frees.fetch_add(1, std::memory_order_relaxed);
  const OptionValue policy = option(OptionId::bad_free);
  // One line, built without allocating: "tslab: free(0x...): double free ...".
  char line[256];
  std::size_t n = append(line, 0, sizeof line, "tslab: ");
  n = append(line, n, sizeof line, function);
  n = append(line, n, sizeof line, "(");
  n += format_hex(reinterpret_cast<std::uintptr_t>(p), line + n);
  n = append(line, n, sizeof line, "): ");
  n = append(line, n, sizeof line, slab_error_string(error));
  const bool abort_now = policy.ok && policy.value == TSLAB_BAD_FREE_ABORT;
  n = append(
      line, n, sizeof line,
      abort_now ? "; aborting (TSLAB_BAD_FREE=abort)\n" : "; ignored (TSLAB_BAD_FREE=abort stops here)\n");
  write_stderr(line, n);
  if (abort_now) std::abort();
}

void* process_calloc(std::size_t count, std::size_t size) noexcept {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) return allocation_failed(TSLAB_ERR_SIZE_TOO_LARGE);
  // The core clears only what may hold data: a large block's pages new from the
  // OS, or handed back to it, read as zero already.
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  // The process's first allocation may be a calloc of a large array: the
  // allocator is made here, so that its pages come zeroed from the OS rather
  // than be cleared (and so touched) below.
  if (core == nullptr && malloc_state_clear()) core = malloc_init();
  if (core != nullptr && malloc_state_clear()) [[likely]] {
    void* p;
    {
      const InsideMalloc inside;
      p = core->alloc_zeroed(bytes, tl_malloc_epoch);
      if (p == nullptr && epoch_refused()) p = core->alloc_zeroed(bytes, 0);  // a scope's epoch closed
    }
    if (p != nullptr) [[likely]]
      return p;
  }
  // Whatever else malloc handles (re-entry, the allocator's own making, out of
  // memory), cleared whole: a bootstrap block may be one freed before.
  void* p = process_malloc(bytes);
  if (p != nullptr) std::memset(p, 0, bytes);
  return p;
}

std::size_t process_usable_size(const void* p) noexcept {
  if (p == nullptr) return 0;
  if (is_boot(p)) return boot_size(p);
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  return core == nullptr ? 0 : core->usable_size(p);
}

namespace {

// realloc's free, its report naming the function called.
void free_for(void* p, FreeCall call) noexcept {
  if (call == FreeCall::reallocarray) return process_free<FreeCall::reallocarray>(p);
  return process_free<FreeCall::realloc>(p);
}

}  // namespace

void* process_realloc(void* p, std::size_t size, FreeCall call) noexcept {
  if (p == nullptr) return process_malloc(size);
  if (size == 0) {  // as glibc: the block is freed and NULL returned
    free_for(p, call);
    return nullptr;
  }
  // A large block staying large: the core resizes it in place while its
  // reservation has room, else moves it into one with room to grow. Tried first,
  // so that the block is validated once (a string grown a byte at a time).
  AllocatorCore* const large_core = size > MAX_SMALL_SIZE && !is_boot(p) && malloc_state_clear()
                                        ? g_malloc_core.load(std::memory_order_acquire)
                                        : nullptr;
  if (large_core != nullptr) {
    void* q;
    {
      const InsideMalloc inside;
      q = large_core->realloc_large(p, size, tl_malloc_epoch);
    }
    if (q != nullptr) return q;  // else not a live large block, or no memory: as any other realloc
  }
  const std::size_t usable = process_usable_size(p);
  if (usable == 0) {  // not a live block of tslab's: refused as free refuses it
    AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
    TslabError e = TSLAB_ERR_NOT_ALLOCATED;
    if (is_boot(p)) {
      e = TSLAB_ERR_DOUBLE_FREE;  // a freed block of the reserve: the core never sees the reserve's
    } else if (core != nullptr) {
      const InsideMalloc inside;
      e = core->free(p);
    }
    if (e == TSLAB_OK) [[unlikely]]
      return process_malloc(size);  // freed in between by another thread's race: treat as new
    bad_free(p, e, free_call_name(call));
    return allocation_failed(TSLAB_ERR_INVALID_ARGUMENT);
  }
  // A small block stays when the new size is of its class.
  if (!is_boot(p) && usable <= MAX_SMALL_SIZE && size <= usable &&
      size_to_class(size) == size_to_class(usable))
    return p;
  void* q = process_malloc(size);
  if (q == nullptr) return nullptr;  // errno set; p is left as it was
  // Inside tslab (a signal handler's realloc) the free of `p` is queued, as its
  // free is (free_for), never made inside the call it interrupted.
  if (is_boot(p) || is_boot(q) || !malloc_state_clear()) {
    std::memcpy(q, p, size < usable ? size : usable);
    free_for(p, call);
    return q;
  }
  // The copy under a pin, and realloc's own free of `p` checked: a free of `p`
  // racing this call fails, or this one does (its copy freed).
  AllocatorCore* const core = g_malloc_core.load(std::memory_order_acquire);
  {
    const InsideMalloc inside;
    if (void* moved = core->move_block(p, q, size)) return moved;
  }
  bad_free(p, tl_last_error, free_call_name(call));
  return allocation_failed(TSLAB_ERR_INVALID_ARGUMENT);
}

void* process_reallocarray(void* p, std::size_t count, std::size_t size) noexcept {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) return allocation_failed(TSLAB_ERR_SIZE_TOO_LARGE);
  return process_realloc(p, bytes, FreeCall::reallocarray);
}

void* process_aligned(std::size_t alignment, std::size_t size) noexcept {
  if (inside_tslab()) return reentrant_alloc(size, alignment);
  AllocatorCore* core = process_malloc_core();
  if (core == nullptr) {
    if (tl_initializing) return boot_alloc(size, alignment);
    return allocation_failed(TSLAB_ERR_OUT_OF_MEMORY);
  }
  if (tl_entry.malloc_frees_queued) run_queued_frees(*core);
  const InsideMalloc inside;
  if (void* p = core->alloc_aligned(size, alignment, tl_malloc_epoch)) return p;
  if (epoch_refused()) {
    if (void* p = core->alloc_aligned(size, alignment, 0)) return p;
  }
  if (refused_as_reentrant()) return reentrant_alloc(size, alignment);
  return allocation_failed(tl_last_error);
}

bool process_trim() noexcept {
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  if (core == nullptr || inside_tslab()) return false;
  const InsideMalloc inside;
  return core->collect() != 0;
}

struct mallinfo2 process_mallinfo() noexcept {
  struct mallinfo2 info = {};
  AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire);
  if (core == nullptr || inside_tslab()) return info;
  SlabGlobalStats stats{};
  {
    const InsideMalloc inside;
    // Counters only: mallinfo2 reports no resident bytes, which would cost a
    // mincore call per reservation under the allocator's lock.
    if (stats_global(*core, &stats, false) != TSLAB_OK) return info;
  }
  // Small blocks are glibc's heap chunks, large spans its mmapped chunks.
  const std::uint64_t small_live = stats.live_bytes - stats.large_live_bytes;
  const std::uint64_t small_committed =
      stats.committed_bytes > stats.large_live_bytes ? stats.committed_bytes - stats.large_live_bytes : 0;
  info.arena = small_committed;
  info.ordblks = stats.slabs_partial + stats.slabs_empty;
  info.hblks = stats.large_spans_live;
  info.hblkhd = stats.large_live_bytes;
  info.uordblks = small_live;
  info.fordblks = small_committed > small_live ? small_committed - small_live : 0;
  info.keepcost = stats.reclaimable_bytes;
  return info;
}

void malloc_counters(TslabMallocCounters* out) noexcept {
  if (out == nullptr) return;
  out->reentrant_allocations = g_reentrant_allocations.load(std::memory_order_relaxed);
  out->reentrant_allocations_refused = g_reentrant_refused.load(std::memory_order_relaxed);
  out->reentrant_frees_deferred = g_frees_queued.load(std::memory_order_relaxed);
  const std::uint64_t done = g_queued_frees_done.load(std::memory_order_relaxed);
  out->reentrant_frees_queued =
      out->reentrant_frees_deferred > done ? out->reentrant_frees_deferred - done : 0;
  out->reentrant_frees_dropped = g_frees_dropped.load(std::memory_order_relaxed);
  out->bad_frees = g_bad_frees.load(std::memory_order_relaxed);
}

void process_print_stats() noexcept {
  AllocatorCore* core = process_malloc_core();
  if (core == nullptr || inside_tslab()) return;
  const InsideMalloc inside;
  // The summary's text comes from OS memory, never from malloc.
  OsPlatform& os = OsPlatform::instance();
  constexpr std::size_t BYTES = std::size_t{1} << 20;
  char* text = static_cast<char*>(os.reserve(BYTES, os.page_size()));
  if (text == nullptr || !os.commit(text, BYTES)) return;
  const std::size_t n = slab_stats_summary(reinterpret_cast<SlabAllocator*>(core), text, BYTES);
  write_stderr(text, n < BYTES ? n : BYTES - 1);
  os.release(text, BYTES);
}

}  // namespace tslab::detail
