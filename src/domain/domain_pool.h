// This file contains the pool that epoch domains are allocated from: memory of
// tslab's own, obtained from the OS platform, never from the system malloc.
#ifndef TSLAB_DOMAIN_DOMAIN_POOL_H
#define TSLAB_DOMAIN_DOMAIN_POOL_H

#include "epoch_domain.h"
#include "platform/mutex.h"

namespace tslab::detail {

// A zeroed EpochDomain, or nullptr if the OS refuses memory. Thread-safe.
EpochDomain* domain_pool_acquire() noexcept;
// Returns a domain obtained from domain_pool_acquire. Thread-safe.
void domain_pool_release(EpochDomain* d) noexcept;
// For fork (domain/epoch_domain.cpp): the pool's lock, held across the fork.
Mutex& domain_pool_mutex() noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_DOMAIN_DOMAIN_POOL_H
