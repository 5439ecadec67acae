// This file contains thread attachment: how a thread gets its heap in an
// allocator, and how the heap goes back when the thread exits.
//
// Each thread keeps a ThreadRecord (from process-wide metadata pages, never the
// system malloc): up to RECORD_ENTRIES (allocator id, heap) pairs. A pthread key
// destructor runs at thread exit and abandons every heap whose allocator is still
// live; the global live lock makes that check and the abandon atomic with respect
// to allocator destruction.
#include "core/threads.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <new>

#include "core/allocator_core.h"
#include "core/thread_cache.h"
#include "platform/fork_hooks.h"
#include "platform/mutex.h"
#include "tslab/platform.hpp"

namespace tslab::detail {

namespace {
constexpr ThreadCache EMPTY_CACHE_LINE = {NO_ALLOCATOR, nullptr, nullptr};
}

thread_local constinit ThreadCache tl_cache[THREAD_CACHE_WAYS] = {
    EMPTY_CACHE_LINE, EMPTY_CACHE_LINE, EMPTY_CACHE_LINE, EMPTY_CACHE_LINE,
    EMPTY_CACHE_LINE, EMPTY_CACHE_LINE, EMPTY_CACHE_LINE, EMPTY_CACHE_LINE,
    EMPTY_CACHE_LINE, EMPTY_CACHE_LINE, EMPTY_CACHE_LINE, EMPTY_CACHE_LINE,
    EMPTY_CACHE_LINE, EMPTY_CACHE_LINE, EMPTY_CACHE_LINE, EMPTY_CACHE_LINE};
static_assert(THREAD_CACHE_WAYS == 16, "the initialiser above lists every way");
thread_local constinit TslabError tl_last_error = TSLAB_OK;
thread_local constinit std::uint32_t tl_arena_work = 0;

namespace {

constexpr std::uint32_t RECORD_ENTRIES = 64;

struct ThreadRecord {
  std::uint32_t count;
  struct Entry {
    std::uint64_t uid;
    Heap* heap;
  } entries[RECORD_ENTRIES];
  ThreadRecord* next_free;
};

[[gnu::tls_model("initial-exec")]] thread_local constinit ThreadRecord* tl_record = nullptr;

TSLAB_FORK_HELD Mutex g_live_mutex;  // guards everything below
AllocatorCore* g_live = nullptr;
std::uint32_t g_way_users[THREAD_CACHE_WAYS] = {};  // live allocators per thread-cache way
std::uint64_t g_next_uid = 1;
ThreadRecord* g_free_records = nullptr;
pthread_key_t g_exit_key;
bool g_key_created = false;

AllocatorCore* find_live(std::uint64_t uid) {
  for (AllocatorCore* c = g_live; c != nullptr; c = c->next_live)
    if (c->uid() == uid) return c;
  return nullptr;
}

// Caller holds g_live_mutex.
ThreadRecord* new_record() {
  if (g_free_records == nullptr) {
    OsPlatform& os = OsPlatform::instance();
    const std::size_t bytes = os.page_size() * 4;
    char* mem = static_cast<char*>(os.reserve(bytes, os.page_size()));
    if (mem == nullptr) return nullptr;
    for (std::size_t off = 0; off + sizeof(ThreadRecord) <= bytes; off += sizeof(ThreadRecord)) {
      auto* r = new (mem + off) ThreadRecord();
      r->next_free = g_free_records;
      g_free_records = r;
    }
  }
  ThreadRecord* r = g_free_records;
  g_free_records = r->next_free;
  r->count = 0;
  return r;
}

// Caller holds g_live_mutex. Drops entries of destroyed allocators.
void prune_dead(ThreadRecord* r) {
  std::uint32_t kept = 0;
  for (std::uint32_t i = 0; i < r->count; ++i)
    if (find_live(r->entries[i].uid) != nullptr) r->entries[kept++] = r->entries[i];
  r->count = kept;
}

void on_thread_exit(void* arg) {
  auto* r = static_cast<ThreadRecord*>(arg);
  // Held to the end, past the cache's reset: while it is, the thread's count of
  // tslab locks keeps a signal handler's malloc out of the core (platform/mutex.h),
  // so no handler allocates from a heap given away below.
  LockGuard lock(g_live_mutex);
  // The cache forgets the heaps before they are given away, as attach_thread does.
  for (ThreadCache& line : tl_cache) line = EMPTY_CACHE_LINE;
  for (std::uint32_t i = 0; i < r->count; ++i)
    if (AllocatorCore* core = find_live(r->entries[i].uid)) core->abandon_heap(r->entries[i].heap);
  r->count = 0;
  r->next_free = g_free_records;
  g_free_records = r;
  tl_record = nullptr;
  for (ThreadCache& line : tl_cache) line = EMPTY_CACHE_LINE;
}

// Caller holds g_live_mutex. The thread's cache line naming `heap`, if any, stops
// naming it.
void forget_cached(const Heap* heap) {
  for (ThreadCache& line : tl_cache)
    if (line.heap == heap) line = EMPTY_CACHE_LINE;
}

// fork: the live lock, then every live allocator's locks (core/fork.cpp).
void fork_prepare() noexcept {
  g_live_mutex.lock();
  for (AllocatorCore* c = g_live; c != nullptr; c = c->next_live) c->fork_prepare();
}

void fork_parent() noexcept {
  for (AllocatorCore* c = g_live; c != nullptr; c = c->next_live) c->fork_parent();
  g_live_mutex.unlock();
}

TSLAB_FORK_STEP void fork_child() noexcept {
  const ThreadRecord* r = tl_record;
  for (AllocatorCore* c = g_live; c != nullptr; c = c->next_live) {
    const Heap* mine = nullptr;
    for (std::uint32_t i = 0; r != nullptr && i < r->count; ++i)
      if (r->entries[i].uid == c->uid()) mine = r->entries[i].heap;
    c->fork_child(mine);
  }
  g_live_mutex.unlock();
}

}  // namespace

bool threads_init() noexcept {
  // Registered before the live lock is first taken: a fork that starts in
  // between takes it too (platform/fork_hooks.h).
  fork_participate(ForkRank::allocators, {fork_prepare, fork_parent, fork_child});
  LockGuard lock(g_live_mutex);
  if (!g_key_created) g_key_created = ::pthread_key_create(&g_exit_key, on_thread_exit) == 0;
  return g_key_created;
}

std::uint64_t next_allocator_uid() noexcept {
  LockGuard lock(g_live_mutex);
  return g_next_uid++;
}

std::uint64_t allocator_uid_watermark() noexcept {
  LockGuard lock(g_live_mutex);
  return g_next_uid;
}

void register_live(AllocatorCore* core) noexcept {
  LockGuard lock(g_live_mutex);
  std::uint32_t way = 0;
  for (std::uint32_t w = 1; w < THREAD_CACHE_WAYS; ++w)
    if (g_way_users[w] < g_way_users[way]) way = w;
  ++g_way_users[way];
  core->set_cache_way(way);
  core->next_live = g_live;
  g_live = core;
}

void unregister_live(AllocatorCore* core) noexcept {
  LockGuard lock(g_live_mutex);
  for (AllocatorCore** link = &g_live; *link != nullptr; link = &(*link)->next_live) {
    if (*link == core) {
      *link = core->next_live;
      --g_way_users[core->cache_way()];
      break;
    }
  }
}

void for_each_live(void (*fn)(const AllocatorCore& core, void* context), void* context) noexcept {
  LockGuard lock(g_live_mutex);
  for (const AllocatorCore* c = g_live; c != nullptr; c = c->next_live) fn(*c, context);
}

std::size_t live_allocator_count() noexcept {
  LockGuard lock(g_live_mutex);
  std::size_t n = 0;
  for (const AllocatorCore* c = g_live; c != nullptr; c = c->next_live) ++n;
  return n;
}

void AllocatorCore::abandon_heap(Heap* heap) noexcept {
  const CountedLock lock(mutex_, counters_);
  // Quiescence point of a heap: its owner is gone. The allocator lock orders the
  // owner's last writes before whichever thread adopts it next.
  heap->owner_tid.store(0, std::memory_order_release);
  heap->next_abandoned = abandoned_;
  abandoned_ = heap;
  unstash_locked(heap);  // its spans serve every thread again
  // A heap holding many empty slabs hands them back to the pool now, kept
  // committed within the warm reserve and the retention (recycle_slabs): left in
  // its bins they would wait for the heap's adoption, which may never come, while
  // other threads grow. A few stay, for the thread that adopts the heap: with
  // them a short-lived thread's first allocations take no slab (2,000 threads of
  // 200 blocks each, thread-churn: 0.7x the best peer's rate when every exit
  // handed its slabs back, 1.15x with them kept). Blocks still live stay. (The
  // count is kept in statistics builds, the default: without them a heap's empty
  // slabs wait for its adoption, collect() or malloc_trim, as hand-backs do.)
  // What other threads free into it meanwhile is collected at the adoption. The
  // abandoned heaps together keep what the warm reserve and the retention would
  // (abandoned_keep_limit_locked).
  keep_or_hand_back_empty_locked(heap);
}

void AllocatorCore::keep_or_hand_back_empty_locked(Heap* heap) noexcept {
  const std::uint32_t empty = heap->counted_empty();
  if (empty > ABANDON_KEEP_EMPTY || abandoned_kept_ + empty > abandoned_keep_limit_locked())
    recycle_empty_slabs_locked(heap, true, true);
  heap->kept_empty = heap->counted_empty();
  abandoned_kept_ += heap->kept_empty;
}

void AllocatorCore::hand_back_idle_slabs_locked(Heap* heap) noexcept {
  // A heap adopted after other threads freed the blocks its last owner left would
  // keep the slabs those blocks emptied, of every earlier owner's size classes,
  // where its new owner may need others: they are collected now, and go back to
  // the pool as at an exit (abandon_heap) if more than ABANDON_KEEP_EMPTY emptied.
  heap->drain_remote(*this);
  if (heap->counted_empty() > ABANDON_KEEP_EMPTY) recycle_empty_slabs_locked(heap, true, true);
}

Heap* AllocatorCore::acquire_heap() noexcept {
  const CountedLock lock(mutex_, counters_);
  Heap* heap = abandoned_;
  if (heap != nullptr) {
    abandoned_ = heap->next_abandoned;  // adoption: slabs, blocks and handles carry over
    heap->next_abandoned = nullptr;
    abandoned_kept_ -= heap->kept_empty;
    heap->kept_empty = 0;
    counters_.thread_adoptions.add();
    hand_back_idle_slabs_locked(heap);  // what emptied while it waited
  } else {
    heap = Heap::create(meta_, epoch_count_);
    if (heap == nullptr) return nullptr;
    sampler_.prepare(*heap);
    heap->next_all = heaps_;
    heaps_ = heap;
  }
  heap->owner_tid.store(static_cast<std::uint64_t>(::syscall(SYS_gettid)), std::memory_order_release);
  return heap;
}

Heap* AllocatorCore::own_heap_uncached() const noexcept {
  const ThreadRecord* r = tl_record;
  for (std::uint32_t i = 0; r != nullptr && i < r->count; ++i)
    if (r->entries[i].uid == uid_) return r->entries[i].heap;
  return nullptr;
}

Heap* AllocatorCore::attach_thread() noexcept {
  ThreadRecord* r = tl_record;
  if (r == nullptr) {
    {
      LockGuard lock(g_live_mutex);
      r = new_record();
    }
    if (r == nullptr || ::pthread_setspecific(g_exit_key, r) != 0) {
      set_error(TSLAB_ERR_OUT_OF_MEMORY);
      return nullptr;
    }
    tl_record = r;
  }
  Heap* heap = nullptr;
  for (std::uint32_t i = 0; i < r->count && heap == nullptr; ++i)
    if (r->entries[i].uid == uid_) heap = r->entries[i].heap;
  if (heap == nullptr) {
    heap = acquire_heap();
    if (heap == nullptr) {
      set_error(TSLAB_ERR_OUT_OF_MEMORY);
      return nullptr;
    }
    if (r->count == RECORD_ENTRIES) {
      // Full: drop entries of destroyed allocators, else hand the oldest heap back.
      // The new heap is already ours, and the cache stops naming the old one before
      // it is given away, so this thread never touches a heap another may adopt.
      LockGuard lock(g_live_mutex);
      prune_dead(r);
      if (r->count == RECORD_ENTRIES) {
        forget_cached(r->entries[0].heap);
        if (AllocatorCore* core = find_live(r->entries[0].uid)) core->abandon_heap(r->entries[0].heap);
        for (std::uint32_t i = 1; i < r->count; ++i) r->entries[i - 1] = r->entries[i];
        --r->count;
      }
    }
    r->entries[r->count++] = {uid_, heap};
  }
  tl_cache[cache_way_] = ThreadCache{uid_, &heap->hot_at(0), heap};
  return heap;
}

}  // namespace tslab::detail
