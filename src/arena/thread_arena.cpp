// This file contains the thread-local arenas.
//
// Each thread has one trivially destructible slot: its arena and a state, NONE,
// CREATING or READY. thread_arena()'s slow path, thread_arena_create, sets
// CREATING before it does anything that could call back into it (reading the
// options, creating the process allocator, taking the first chunk); a call that
// finds CREATING is a re-entry: it is refused loudly and allocates nothing, so a
// re-entry can never create a second arena or leak one. A pthread key's destructor destroys the arena at
// thread exit (a key, not a C++ thread_local destructor, so no system malloc is involved).
//
// The chunks of every thread arena come from one process-wide allocator with a
// single epoch that never closes. It is created once, by the first thread that
// needs it, under a mutex, and lives as long as the process.
#include "arena/thread_arena.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>

#include "arena/arena_config.h"
#include "core/allocator_core.h"
#include "core/thread_cache.h"
#include "platform/fork_hooks.h"
#include "platform/mutex.h"
#include "platform/no_cancel.h"

namespace tslab::detail {

thread_local constinit ThreadArenaSlot tl_arena_slot = {nullptr, ThreadArenaState::none};

namespace {

std::atomic<AllocatorCore*> g_allocator{nullptr};
TSLAB_FORK_HELD Mutex g_allocator_mutex;

pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
pthread_key_t g_exit_key;
bool g_key_ok = false;  // written once under g_key_once

std::atomic<void (*)(void*)> g_init_hook{nullptr};
std::atomic<void*> g_init_hook_arg{nullptr};
std::atomic<std::uint64_t> g_live{0};

void destroy_arena(ArenaCore* arena) noexcept {
  ArenaCore::destroy(arena);
  g_live.fetch_sub(1, std::memory_order_relaxed);
}

void on_thread_exit(void* value) {
  auto* arena = static_cast<ArenaCore*>(value);
  if (tl_arena_slot.arena == arena) tl_arena_slot = ThreadArenaSlot{nullptr, ThreadArenaState::none};
  destroy_arena(arena);
}

void create_exit_key() { g_key_ok = ::pthread_key_create(&g_exit_key, on_thread_exit) == 0; }

AllocatorCore* process_allocator() noexcept {
  AllocatorCore* alloc = g_allocator.load(std::memory_order_acquire);
  if (alloc != nullptr) return alloc;
  // Held across fork(): the process allocator is created once in the child too.
  // The layers below register their fork participants first, outside the lock.
  if (!AllocatorCore::process_init()) {
    set_error(TSLAB_ERR_OUT_OF_MEMORY);
    return nullptr;
  }
  fork_hold_lock(ForkRank::thread_arena, g_allocator_mutex);
  LockGuard lock(g_allocator_mutex);
  alloc = g_allocator.load(std::memory_order_relaxed);
  if (alloc == nullptr) {
    TslabError error = TSLAB_OK;
    alloc = AllocatorCore::create(CoreOptions{1, nullptr}, &error);
    if (alloc == nullptr) {
      set_error(error);
      return nullptr;
    }
    // Publication point of the process allocator: created once, under the mutex.
    g_allocator.store(alloc, std::memory_order_release);
  }
  return alloc;
}

// Written with write(2): reporting must not allocate either.
void report_reentry() noexcept {
  write_stderr("tslab: re-entrant initialisation of the thread-local arena refused (TSLAB_ERR_REENTRANT)\n");
}

ArenaCore* make_thread_arena() noexcept {
  if (void (*hook)(void*) = g_init_hook.load(std::memory_order_acquire))
    hook(g_init_hook_arg.load(std::memory_order_acquire));
  SlabArenaOptions options;
  if (!arena_options_from_table(&options)) return nullptr;
  AllocatorCore* alloc = process_allocator();
  if (alloc == nullptr) return nullptr;
  ::pthread_once(&g_key_once, create_exit_key);
  if (!g_key_ok) {
    set_error(TSLAB_ERR_SYSTEM);
    return nullptr;
  }
  options.epoch = 0;
  ArenaCore* arena = ArenaCore::create(alloc, &options);
  if (arena == nullptr) return nullptr;
  arena->set_thread_owned();
  g_live.fetch_add(1, std::memory_order_relaxed);
  if (::pthread_setspecific(g_exit_key, arena) != 0) {
    destroy_arena(arena);
    set_error(TSLAB_ERR_OUT_OF_MEMORY);
    return nullptr;
  }
  return arena;
}

}  // namespace

ArenaCore* thread_arena_create() noexcept {
  if (tl_arena_slot.state == ThreadArenaState::ready) return tl_arena_slot.arena;
  if (tl_arena_slot.state == ThreadArenaState::creating) {
    report_reentry();
    set_error(TSLAB_ERR_REENTRANT);
    return nullptr;
  }
  // The re-entry guard: set before anything that could call back in.
  tl_arena_slot.state = ThreadArenaState::creating;
  ArenaCore* arena = make_thread_arena();
  tl_arena_slot = ThreadArenaSlot{arena, arena != nullptr ? ThreadArenaState::ready : ThreadArenaState::none};
  return arena;
}

void thread_arena_destroy() noexcept {
  if (tl_arena_slot.state != ThreadArenaState::ready) return;
  ArenaCore* arena = tl_arena_slot.arena;
  tl_arena_slot = ThreadArenaSlot{nullptr, ThreadArenaState::none};
  ::pthread_setspecific(g_exit_key, nullptr);
  destroy_arena(arena);
}

void set_thread_arena_init_hook_for_testing(void (*hook)(void*), void* arg) noexcept {
  g_init_hook_arg.store(arg, std::memory_order_release);
  g_init_hook.store(hook, std::memory_order_release);
}

std::uint64_t thread_arenas_live_for_testing() noexcept { return g_live.load(std::memory_order_relaxed); }

}  // namespace tslab::detail
