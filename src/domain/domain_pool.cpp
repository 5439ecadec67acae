// This file contains the epoch-domain pool (platform/record_pool.h).
#include "domain/domain_pool.h"

#include <cstring>

#include "platform/fork_hooks.h"
#include "platform/record_pool.h"

namespace tslab::detail {

namespace {
TSLAB_FORK_HELD constinit RecordPool g_domain_records(sizeof(EpochDomain), alignof(EpochDomain));
}  // namespace

EpochDomain* domain_pool_acquire() noexcept {
  void* record = g_domain_records.acquire();
  if (record == nullptr) return nullptr;
  std::memset(record, 0, sizeof(EpochDomain));
  return static_cast<EpochDomain*>(record);
}

void domain_pool_release(EpochDomain* d) noexcept { g_domain_records.release(d); }

Mutex& domain_pool_mutex() noexcept { return g_domain_records.mutex(); }

}  // namespace tslab::detail
