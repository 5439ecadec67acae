// This file contains lifetime scopes for plain malloc (tslab/malloc.h): a
// per-thread stack of the epochs a thread's allocations go to, each opened
// for its scope (AllocatorCore::epoch_open) and closed at its end. The C
// functions are in malloc_exports.cpp.
#include <pthread.h>
#include <sys/mman.h>

#include "override/process_malloc.h"
#include "tslab/malloc.h"

namespace tslab::detail {
namespace {

struct ScopeFrame {
  std::uint32_t epoch;
  bool owned;  // opened for this scope, closed at its end; else shared with the parent
  // Its end was asked for while scopes nested in it were open (a misuse,
  // tslab_scope_end_checked): it ends as soon as it is innermost.
  bool end_pending;
  std::uint64_t id;  // tslab_scope_innermost(): unique in the process, never 0
  // The activation the scope opened: its end closes that one only. The slot may
  // have been closed through the epoch API meanwhile and opened again for
  // another thread's scope, which must stay open.
  std::uint64_t era;
};

// The frames live in a page of their own, mapped at the thread's first scope
// that opens an epoch and unmapped at its exit: in thread-local storage they
// were 1,536 of the library's 2,784 bytes of initial-exec TLS, more than the C
// library keeps for a library loaded later (a dlopen of libtslab-malloc.so, or
// of a plugin linked with it, failed), and every thread of a program that never
// begins a scope carried them.
constexpr std::size_t FRAMES_BYTES = sizeof(ScopeFrame) * TSLAB_SCOPE_MAX_DEPTH;

struct ScopeStack {
  std::uint32_t depth;     // frames in use
  std::uint32_t overflow;  // scopes begun beyond TSLAB_SCOPE_MAX_DEPTH or with no frames (all shared)
  // Shared scopes keep no frame, but each has an id of its own all the same:
  // the one at overflow level k is overflow_ids + k, from a block of ids drawn
  // when the level rose from 0 (so an end on another thread cannot match it).
  std::uint64_t overflow_ids;
  ScopeFrame* frames;  // TSLAB_SCOPE_MAX_DEPTH of them, or null until the first is needed
};

[[gnu::tls_model("initial-exec")]] thread_local constinit ScopeStack tl_scopes = {};

std::atomic<std::uint64_t> g_begun{0}, g_shared{0}, g_closed{0};
std::atomic<std::uint64_t> g_next_id{1};
// The ids of one run of shared scopes on a thread: more than any thread can nest.
constexpr std::uint64_t OVERFLOW_IDS = std::uint64_t{1} << 32;

// Thread exit inside scopes ends them, so their epoch slots come back. The key
// is created with the process allocator (scopes_init), under its lock.
pthread_key_t g_exit_key;
bool g_key_ready = false;

bool end_innermost() noexcept;

void on_thread_exit(void*) noexcept {
  // Stops if a scope cannot end (a thread that exits inside tslab): its slot
  // stays held rather than the exit looping for ever.
  while ((tl_scopes.depth != 0 || tl_scopes.overflow != 0) && end_innermost()) {
  }
  // The frames go with the last of them. A scope begun after this (by a later
  // thread-exit destructor) maps them again and arms the key again, so the C
  // library calls this once more (up to its limit of rounds).
  if (tl_scopes.depth == 0 && tl_scopes.frames != nullptr) {
    ::munmap(tl_scopes.frames, FRAMES_BYTES);
    tl_scopes.frames = nullptr;
  }
  thread_exit_frees();
}

// The thread's frames, mapped if it has none yet; false if the system refused
// (the scope is then shared: malloc never fails because of scopes). Inside
// tslab: a signal handler meanwhile begins a shared scope, touching no frame.
// Only with the exit key, which unmaps them.
bool have_frames(ScopeStack& s) noexcept {
  if (s.frames != nullptr) [[likely]]
    return true;
  if (!g_key_ready) return false;
  void* p = ::mmap(nullptr, FRAMES_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  s.frames = static_cast<ScopeFrame*>(p);
  return true;
}

// A shared scope: a count and an id. A lock-free add: a signal handler may
// begin one at any point.
std::uint32_t begin_shared(ScopeStack& s) noexcept {
  if (s.overflow == 0) s.overflow_ids = g_next_id.fetch_add(OVERFLOW_IDS, std::memory_order_relaxed);
  ++s.overflow;
  g_shared.fetch_add(1, std::memory_order_relaxed);
  return tl_malloc_epoch;
}

EpochId epoch_in_use() noexcept {
  return tl_scopes.depth == 0 ? 0 : tl_scopes.frames[tl_scopes.depth - 1].epoch;
}

// A signal handler may begin and end scopes of its own at any point (tslab/malloc.h).
// Every change to the thread's frames is made inside tslab (InsideMalloc), so a
// handler that interrupts one finds the thread inside tslab and begins a shared
// scope, which touches no frame: it could otherwise take the very frame being
// pushed or popped. A shared scope is a count, and a handler ends every scope it
// begins, so the count it raised is back where it was when it returns.

// Pops the innermost frame and closes the epoch it opened. Inside tslab.
void pop_frame(ScopeStack& s) noexcept {
  const ScopeFrame frame = s.frames[--s.depth];
  // From here on the thread allocates into the parent's epoch; the closed one
  // takes no allocation from it again.
  tl_malloc_epoch = epoch_in_use();
  if (frame.owned) {
    if (AllocatorCore* core = g_malloc_core.load(std::memory_order_acquire))
      core->epoch_close_era(frame.epoch, frame.era);
    g_closed.fetch_add(1, std::memory_order_relaxed);
  }
}

bool end_innermost() noexcept {
  ScopeStack& s = tl_scopes;
  if (s.overflow != 0) {
    --s.overflow;
    return true;
  }
  if (s.depth == 0) {
    set_error(TSLAB_ERR_DOMAIN_MISUSE);
    return false;
  }
  if (inside_tslab() && s.frames[s.depth - 1].owned) {
    set_error(TSLAB_ERR_REENTRANT);  // a signal handler's, inside tslab: the close would enter the core
    return false;
  }
  const InsideMalloc inside;  // a handler meanwhile touches no frame, and its malloc not the core
  pop_frame(s);
  return true;
}

// Ends the innermost frame if its end came early (scope_end_checked); false if
// it did not. Looked at inside tslab: a handler that ran since the caller's
// last look may have ended that frame itself, and the frame under it is not
// one to end. A handler that interrupted the thread inside tslab leaves the
// look to the thread.
bool end_pending_frame() noexcept {
  ScopeStack& s = tl_scopes;
  if (inside_tslab()) return false;
  const InsideMalloc inside;
  if (s.overflow != 0 || s.depth == 0 || !s.frames[s.depth - 1].end_pending) return false;
  pop_frame(s);
  return true;
}

}  // namespace

bool scopes_init() noexcept {
  if (!g_key_ready)
    g_key_ready = ::pthread_key_create(&g_exit_key, [](void* arg) { on_thread_exit(arg); }) == 0;
  return g_key_ready;
}

// pthread_setspecific takes no lock; for a key past glibc's first block it may
// allocate, which inside malloc comes from the re-entrant reserve.
void watch_thread_exit() noexcept {
  if (g_key_ready) ::pthread_setspecific(g_exit_key, &tl_scopes);
}

EpochId scope_begin(const char* label) noexcept {
  ScopeStack& s = tl_scopes;
  g_begun.fetch_add(1, std::memory_order_relaxed);
  AllocatorCore* core = process_malloc_core();
  // Any non-null value: the destructor runs at this thread's exit.
  if (core != nullptr && s.depth == 0 && s.overflow == 0) ::pthread_setspecific(g_exit_key, &tl_scopes);
  // Beyond the depth, without an allocator, or from a signal handler that
  // interrupted tslab (opening an epoch would enter the core) or a scope's
  // begin or end: shared, with the epoch the thread allocates into.
  if (s.depth == TSLAB_SCOPE_MAX_DEPTH || core == nullptr || inside_tslab()) return begin_shared(s);
  const InsideMalloc inside;  // a handler meanwhile touches no frame, and its malloc not the core
  if (!have_frames(s)) return begin_shared(s);
  std::uint64_t era = 0;
  const std::uint32_t opened = core->epoch_open(&era);
  if (opened != SLAB_NO_EPOCH && label != nullptr) core->epoch_set_label(opened, label);
  ScopeFrame frame{opened, opened != SLAB_NO_EPOCH, false, g_next_id.fetch_add(1, std::memory_order_relaxed),
                   era};
  if (!frame.owned) {
    frame.epoch = epoch_in_use();  // every slot is held: share the parent's epoch
    g_shared.fetch_add(1, std::memory_order_relaxed);
  }
  s.frames[s.depth++] = frame;
  tl_malloc_epoch = frame.epoch;
  return frame.epoch;
}

namespace {

// Ends the innermost scope, then the scopes around it whose end came early.
bool end_innermost_and_pending() noexcept {
  if (!end_innermost()) return false;
  while (end_pending_frame()) {
  }
  return true;
}

}  // namespace

bool scope_end() noexcept { return end_innermost_and_pending(); }

std::uint64_t scope_innermost() noexcept {
  const ScopeStack& s = tl_scopes;
  if (s.overflow != 0) return s.overflow_ids + s.overflow;
  return s.depth == 0 ? 0 : s.frames[s.depth - 1].id;
}

bool scope_end_checked(std::uint64_t id) noexcept {
  ScopeStack& s = tl_scopes;
  if (id != 0 && id == scope_innermost()) return end_innermost_and_pending();
  // Not the innermost scope: ended out of order, its end waits for the scopes
  // nested in it; or not a scope of this thread (or of any), which ends nothing.
  for (std::uint32_t i = 0; id != 0 && i < s.depth; ++i)
    if (s.frames[i].id == id) s.frames[i].end_pending = true;
  set_error(TSLAB_ERR_DOMAIN_MISUSE);
  return false;
}

std::uint32_t scope_depth() noexcept { return tl_scopes.depth + tl_scopes.overflow; }

bool scope_counters(TslabScopeCounters* out) noexcept {
  if (out == nullptr) {
    set_error(TSLAB_ERR_INVALID_ARGUMENT);
    return false;
  }
  out->begun = g_begun.load(std::memory_order_relaxed);
  out->shared = g_shared.load(std::memory_order_relaxed);
  out->closed = g_closed.load(std::memory_order_relaxed);
  return true;
}

}  // namespace tslab::detail
