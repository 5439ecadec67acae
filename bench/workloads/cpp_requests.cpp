// This file contains the cpp-requests workload: a C++ request loop written the
// ordinary way, on plain operator new/delete, run under each allocator through
// LD_PRELOAD. One thread serves requests; each builds a std::map of strings to
// std::vectors (10-50 entries, 2000-4000 in every `big_every`th request),
// renders it into a std::string, splits that into a std::vector<std::string>
// and throws it all away, except that every
// `keep_every`th request leaves a survivor (a key string and a vector) in a
// global cache of `cache` entries that evicts its oldest. RSS is read after the
// last request and a short idle time (survivors still alive), then after the
// allocator's purge call.
//
// Mode "scoped" (tslab-malloc only) wraps each request in a lifetime scope,
// tslab_scope_begin / tslab_scope_end, looked up with dlsym(RTLD_DEFAULT): the
// same code runs under every allocator, and only where tslab-malloc serves
// malloc do the functions exist. Each scope's epoch is closed at its end, so
// the pages of what died in the request go back to the OS at once while the
// survivors stay valid.
#include <dlfcn.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "harness/allocators.hpp"
#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "harness/stats.hpp"
#include "tslab/malloc.h"
#include "workloads/registry.hpp"

namespace bench {
namespace {

struct Survivor {
  std::string key;
  std::vector<std::uint32_t> values;
};

// The program's global cache, keyed by request number: the oldest entry is the first.
using SurvivorCache = std::map<std::uint64_t, Survivor>;

// The lifetime-scope functions of tslab/malloc.h, if the process has them (they
// are looked up, never linked: this binary does not define them).
struct Scopes {
  decltype(&tslab_scope_begin) begin = nullptr;
  decltype(&tslab_scope_end) end = nullptr;
  decltype(&tslab_scope_counters) counters = nullptr;

  bool find() {
    begin = reinterpret_cast<decltype(begin)>(dlsym(RTLD_DEFAULT, "tslab_scope_begin"));
    end = reinterpret_cast<decltype(end)>(dlsym(RTLD_DEFAULT, "tslab_scope_end"));
    counters = reinterpret_cast<decltype(counters)>(dlsym(RTLD_DEFAULT, "tslab_scope_counters"));
    return begin != nullptr && end != nullptr && counters != nullptr;
  }
};

std::string field_name(Rng& rng) {
  return "field-" + std::to_string(rng.below(100000)) + std::string(rng.below(48), 'x');
}

// One request: garbage of every common kind, and maybe a survivor. Returns a
// checksum so that nothing is optimised away.
std::uint64_t serve(Rng& rng, std::uint64_t id, std::uint32_t n, bool keep, std::uint64_t capacity,
                    SurvivorCache& cache) {
  std::map<std::string, std::vector<std::uint32_t>> fields;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::vector<std::uint32_t>& v = fields[field_name(rng)];
    v.resize(rng.between(4, 64), i);
  }
  std::string body;
  for (const auto& [k, v] : fields) body += k + "=" + std::to_string(v.size()) + ";";
  std::vector<std::string> parts;
  for (std::size_t start = 0, end; (end = body.find(';', start)) != std::string::npos; start = end + 1)
    parts.push_back(body.substr(start, end - start));
  std::uint64_t sum = body.size() + parts.size();
  for (const std::string& p : parts) sum = sum * 31 + static_cast<unsigned char>(p.back());
  if (keep) {
    Survivor s{"session-" + std::to_string(id) + "-" + fields.begin()->first,
               std::vector<std::uint32_t>(rng.between(16, 64), static_cast<std::uint32_t>(id))};
    cache.emplace(id, std::move(s));
    if (cache.size() > capacity) cache.erase(cache.begin());
  }
  return sum;
}

bool cpp_requests(const ChildSpec& sp, PurgeFn purge, Figures& f, std::string& error) {
  const bool scoped = sp.mode == "scoped";
  Scopes scopes;
  if (scoped && !scopes.find())
    return error = "tslab_scope_begin/end not found: the scoped mode needs libtslab-malloc.so preloaded",
           false;
  const std::uint64_t requests = sp.num("requests"), keep_every = sp.num("keep_every"),
                      capacity = sp.num("cache");
  const std::uint64_t big_every = sp.num("big_every");
  TslabScopeCounters before{}, after{};
  if (scoped) scopes.counters(&before);

  Rng rng{sp.num("seed")};
  auto* cache = new SurvivorCache();
  const std::uint64_t base = rss_bytes();
  const bool reset = reset_peak_rss();
  std::uint64_t sum = 0;
  bool ended = true;
  const std::uint64_t t0 = mono_ns();
  for (std::uint64_t r = 1; r <= requests; ++r) {
    const bool keep = r % keep_every == 0;
    const std::uint32_t fields = r % big_every == 0 ? rng.between(2000, 4000) : rng.between(10, 50);
    if (scoped) scopes.begin("request");
    sum += serve(rng, r, fields, keep, capacity, *cache);
    if (scoped) ended = scopes.end() && ended;
  }
  const std::uint64_t t1 = mono_ns();
  const std::uint64_t after_requests = rss_bytes();
  std::this_thread::sleep_for(std::chrono::milliseconds(sp.num("cooldown_ms")));
  const std::uint64_t after_phase = rss_bytes();
  const std::uint64_t peak = peak_rss_bytes();
  const std::uint64_t survivors = cache->size();
  const bool purged = purge();
  const std::uint64_t after_purge = rss_bytes();
  if (scoped) scopes.counters(&after);
  delete cache;
  if (!ended) return error = "tslab_scope_end refused to end a scope", false;
  if (!purged) return error = "the purge call failed", false;

  const double seconds = static_cast<double>(t1 - t0) / 1e9;
  f.add("requests", static_cast<double>(requests));
  f.add("req_per_s", static_cast<double>(requests) / seconds);
  f.add("us_per_req", seconds * 1e6 / static_cast<double>(requests));
  f.add("survivors", static_cast<double>(survivors));
  f.add("rss_base", static_cast<double>(base));
  f.add("rss_peak", static_cast<double>(peak));
  f.add("rss_after_requests", static_cast<double>(after_requests));
  f.add("rss_after_phase", static_cast<double>(after_phase));
  f.add("rss_after_purge", static_cast<double>(after_purge));
  f.add("peak_reset", reset ? 1 : 0);
  f.add("checksum", static_cast<double>(sum % 1000000007u));
  if (scoped) {
    f.add("scopes_begun", static_cast<double>(after.begun - before.begun));
    f.add("scopes_shared", static_cast<double>(after.shared - before.shared));
    f.add("scope_epochs_closed", static_cast<double>(after.closed - before.closed));
  }
  return true;
}

}  // namespace

bool run_cpp_requests(const ChildSpec& sp, Figures& f, std::string& error) {
  if (!uses_malloc_api(sp.alloc))
    return error =
               "cpp-requests runs on plain new/delete: it measures tslab as tslab-malloc, not " + sp.alloc,
           false;
  if (sp.num("requests") == 0 || sp.num("keep_every") == 0 || sp.num("big_every") == 0 ||
      sp.num("cache") == 0)
    return error = "cpp-requests needs requests, keep_every, big_every and cache", false;
  const PurgeFn purge = malloc_purge_fn(sp.alloc, error);
  if (purge == nullptr) return false;
  return cpp_requests(sp, purge, f, error);
}

}  // namespace bench
