// This file contains tslab_scope_loop, a plain-new request loop for counting
// what a lifetime scope per request costs (callgrind, time, page faults) under
// libtslab-malloc.so: each request builds a std::map of 10-49 strings to
// vectors and renders it into a string; one request in 8 leaves a survivor (a
// 40-character string and a vector) in a global FIFO cache of CACHE entries
// (300 unless given), whose eviction frees the oldest. With SCOPED=1 each request runs inside
// tslab_scope_begin / tslab_scope_end, looked up with dlsym, so the binary runs
// unchanged under any allocator (it exits 2 if asked for scopes without them).
//
// With THREADS, that many threads each run REQUESTS requests at once, each with
// its own cache and requests (a request per thread, as a server runs them).
//
//   tslab_scope_loop REQUESTS SCOPED [CACHE [THREADS]]
//
// It prints the rendered bytes, the same for every allocator.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using ScopeBegin = unsigned (*)(const char*);
using ScopeEnd = void (*)();
using Survivor = std::pair<std::string, std::vector<unsigned>>;

// A linear congruential generator: the same requests on every run and allocator.
struct Random {
  std::uint64_t state = 42;
  unsigned next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<unsigned>(state >> 33);
  }
};

// One request; returns the size of what it rendered.
std::size_t serve(Random& rng, int request, std::deque<Survivor*>& cache, std::size_t cache_size) {
  std::map<std::string, std::vector<unsigned>> fields;
  const unsigned n = 10 + rng.next() % 40;
  for (unsigned i = 0; i < n; ++i)
    fields["field_" + std::to_string(rng.next())].assign(1 + rng.next() % 20, i);
  std::string out;
  for (const auto& [key, values] : fields) {
    out += key;
    out += '=';
    out += std::to_string(values.size());
    out += ';';
  }
  if (request % 8 == 0) {
    cache.push_back(
        new Survivor(out.substr(0, 40), std::vector<unsigned>(8, static_cast<unsigned>(request))));
    if (cache.size() > cache_size) {
      delete cache.front();
      cache.pop_front();
    }
  }
  return out.size();
}

// One thread's requests; returns the bytes they rendered.
std::uint64_t serve_all(unsigned thread, int requests, bool scoped, std::size_t cache_size, ScopeBegin begin,
                        ScopeEnd end) {
  Random rng;
  rng.state += thread;
  std::deque<Survivor*> cache;
  std::uint64_t rendered = 0;
  for (int r = 0; r < requests; ++r) {
    if (scoped) begin("request");
    rendered += serve(rng, r, cache, cache_size);
    if (scoped) end();
  }
  for (Survivor* s : cache) delete s;
  return rendered;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: %s REQUESTS SCOPED(0|1) [CACHE [THREADS]]\n", argv[0]);
    return 1;
  }
  const std::size_t cache_size = argc >= 4 ? std::strtoul(argv[3], nullptr, 10) : 300;
  const unsigned threads = argc == 5 ? static_cast<unsigned>(std::strtoul(argv[4], nullptr, 10)) : 1;
  const int requests = std::atoi(argv[1]);
  const bool scoped = std::atoi(argv[2]) != 0;
  const auto begin = reinterpret_cast<ScopeBegin>(dlsym(RTLD_DEFAULT, "tslab_scope_begin"));
  const auto end = reinterpret_cast<ScopeEnd>(dlsym(RTLD_DEFAULT, "tslab_scope_end"));
  if (scoped && (begin == nullptr || end == nullptr)) return 2;
  if (threads <= 1) {
    std::printf("%llu\n",
                static_cast<unsigned long long>(serve_all(0, requests, scoped, cache_size, begin, end)));
    return 0;
  }
  std::vector<std::uint64_t> rendered(threads);
  std::vector<std::thread> crowd;
  for (unsigned t = 0; t < threads; ++t)
    crowd.emplace_back([&, t] { rendered[t] = serve_all(t, requests, scoped, cache_size, begin, end); });
  std::uint64_t total = 0;
  for (unsigned t = 0; t < threads; ++t) {
    crowd[t].join();
    total += rendered[t];
  }
  std::printf("%llu\n", static_cast<unsigned long long>(total));
  return 0;
}
