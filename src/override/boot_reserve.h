// This file contains the bootstrap reserve: 1 MiB of static memory that serves
// the allocations malloc cannot take from the process allocator — those made
// while the allocator is being created (the OS or libc calling malloc back),
// and those of a signal handler that interrupted tslab on its own thread
// (override/process_malloc.h). Its blocks are freed back to it and reused.
//
// Every function is async-signal-safe and thread-safe: no lock, only atomic
// operations that never wait (boot_reserve.cpp).
#ifndef TSLAB_OVERRIDE_BOOT_RESERVE_H
#define TSLAB_OVERRIDE_BOOT_RESERVE_H

#include <cstddef>

#include "tslab/error.h"

namespace tslab::detail {

// True if p points anywhere into the reserve.
bool is_boot(const void* p) noexcept;

// A block of at least `size` bytes at an address that is a multiple of
// `alignment` (a power of two), or nullptr if the reserve has no room. Its
// contents are unspecified: a reused block holds what it held.
void* boot_alloc(std::size_t size, std::size_t alignment = 16) noexcept;

// Precondition: is_boot(p). Frees the block starting at p for reuse:
// TSLAB_OK, or TSLAB_ERR_DOUBLE_FREE if it is not allocated now, or
// TSLAB_ERR_NOT_ALLOCATED if no block the reserve handed out starts at p.
TslabError boot_free(const void* p) noexcept;

// Precondition: is_boot(p). The usable size of the allocated block starting at
// p, else 0.
std::size_t boot_size(const void* p) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_OVERRIDE_BOOT_RESERVE_H
