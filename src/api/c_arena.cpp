// This file contains the arena C API (slab_arena.h): one-line forwards into the
// arena layer.
#include "arena/arena_config.h"
#include "arena/arena_core.h"
#include "arena/thread_arena.h"
#include "core/thread_cache.h"
#include "slab_arena.h"

using tslab::detail::ArenaCore;

struct SlabArena;  // never defined: a SlabArena* is an ArenaCore*

namespace {

ArenaCore* arena_of(const SlabArena* a) {
  if (a == nullptr) tslab::detail::set_error(TSLAB_ERR_INVALID_ARGUMENT);
  return reinterpret_cast<ArenaCore*>(const_cast<SlabArena*>(a));
}

bool fail(TslabError e) {
  tslab::detail::set_error(e);
  return false;
}

}  // namespace

extern "C" {

bool slab_arena_options_init(SlabArenaOptions* out) {
  return out == nullptr ? fail(TSLAB_ERR_INVALID_ARGUMENT) : tslab::detail::arena_options_from_table(out);
}

const char* slab_arena_config_error(void) { return tslab::detail::arena_config_error(); }

SlabArena* slab_arena_create(SlabAllocator* alloc, const SlabArenaOptions* options) {
  return reinterpret_cast<SlabArena*>(
      ArenaCore::create(reinterpret_cast<tslab::detail::AllocatorCore*>(alloc), options));
}

bool slab_arena_destroy(SlabArena* arena) {
  ArenaCore* a = arena_of(arena);
  if (a == nullptr || a->thread_owned()) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  const TslabError e = ArenaCore::destroy(a);
  return e == TSLAB_OK || fail(e);
}

void* slab_arena_alloc(SlabArena* arena, size_t size, size_t alignment) {
  ArenaCore* a = arena_of(arena);
  return a == nullptr ? nullptr : a->allocate(size, alignment);
}

bool slab_arena_reset(SlabArena* arena) {
  ArenaCore* a = arena_of(arena);
  if (a == nullptr) return false;
  const TslabError e = a->reset();
  return e == TSLAB_OK || fail(e);
}

bool slab_arena_stats(const SlabArena* arena, SlabArenaStats* out) {
  const ArenaCore* a = arena_of(arena);
  if (a == nullptr || out == nullptr) return fail(TSLAB_ERR_INVALID_ARGUMENT);
  const TslabError e = a->stats(out);
  return e == TSLAB_OK || fail(e);
}

SlabArena* slab_thread_arena(void) { return reinterpret_cast<SlabArena*>(tslab::detail::thread_arena()); }

void* slab_thread_arena_alloc(size_t size, size_t alignment) {
  ArenaCore* a = tslab::detail::thread_arena();
  return a == nullptr ? nullptr : a->allocate(size, alignment);
}

bool slab_thread_arena_reset(void) {
  if (ArenaCore* a = tslab::detail::thread_arena_if_created()) a->reset();
  return true;
}

bool slab_thread_arena_destroy(void) {
  tslab::detail::thread_arena_destroy();
  return true;
}

}  // extern "C"
