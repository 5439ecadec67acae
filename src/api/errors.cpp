// This file contains the error API shared by C and C++: the last error and the
// error strings.
#include "core/thread_cache.h"
#include "tslab/tslab.hpp"

extern "C" TslabError slab_last_error(void) { return tslab::detail::tl_last_error; }

extern "C" const char* slab_error_string(TslabError error) {
  switch (error) {
    case TSLAB_OK:
      return "ok";
    case TSLAB_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case TSLAB_ERR_SIZE_ZERO:
      return "size is zero";
    case TSLAB_ERR_SIZE_TOO_LARGE:
      return "size too large";
    case TSLAB_ERR_BAD_ALIGNMENT:
      return "alignment is zero, not a power of two, or too large";
    case TSLAB_ERR_EPOCH_OUT_OF_RANGE:
      return "epoch out of range";
    case TSLAB_ERR_EPOCH_CLOSING:
      return "epoch is closing and takes no new allocations";
    case TSLAB_ERR_OUT_OF_MEMORY:
      return "out of memory";
    case TSLAB_ERR_INVALID_HANDLE:
      return "invalid handle";
    case TSLAB_ERR_STALE_HANDLE:
      return "stale handle";
    case TSLAB_ERR_FOREIGN:
      return "pointer or handle belongs to another allocator";
    case TSLAB_ERR_NOT_ALLOCATED:
      return "not a block allocated by this allocator";
    case TSLAB_ERR_INTERIOR_POINTER:
      return "interior pointer";
    case TSLAB_ERR_DOUBLE_FREE:
      return "double free";
    case TSLAB_ERR_STALE_EPOCH:
      return "stale epoch: the slot has been re-activated since (era mismatch)";
    case TSLAB_ERR_DOMAIN_MISUSE:
      return "epoch domain misuse";
    case TSLAB_ERR_UNKNOWN_OPTION:
      return "unknown option";
    case TSLAB_ERR_BAD_OPTION_VALUE:
      return "invalid option value";
    case TSLAB_ERR_OPTIONS_FROZEN:
      return "options are already in use and can no longer be set";
    case TSLAB_ERR_ARENA_FULL:
      return "arena is full";
    case TSLAB_ERR_REENTRANT:
      return "called from inside tslab on the same thread (a signal handler or a re-entrant initialisation)";
    case TSLAB_ERR_SYSTEM:
      return "a system call failed";
    case TSLAB_ERR_NO_FREE_EPOCH:
      return "no free epoch slot: every slot but the current one is held open";
    case TSLAB_ERR_PERMANENT:
      return "the process allocator serves malloc: it is never freed, its epoch 0 never closed, and none of "
             "its epochs destroyed";
  }
  return "unknown error";
}

namespace tslab {

Error last_error() noexcept { return static_cast<Error>(slab_last_error()); }
const char* to_string(Error e) noexcept { return slab_error_string(static_cast<TslabError>(e)); }

}  // namespace tslab
