// This file contains the server-buffers workload: each thread holds a number of
// connection buffers of 16, 32, 64 or 128 KiB (a seeded random choice) and
// replaces random ones, writing the first and the last page of each new buffer,
// as a server receiving into per-connection buffers does. Blocks of 64 KiB and
// more are above most allocators' small classes, so this is where an allocator's
// path for large blocks (a lock, a cache, mmap) shows. Figures: replacements per
// second over all threads, peak RSS, RSS once every buffer is freed and after
// the purge call.
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "harness/common.hpp"
#include "harness/rss_timing.hpp"
#include "workloads/object_ops.hpp"
#include "workloads/registry.hpp"
#include "workloads/run_memory.hpp"

namespace bench {
namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kPage = 4096;

struct Buffer {
  unsigned char* p;
  std::uint64_t size;
};

void fill(const Buffer& b, unsigned char v) {
  std::memset(b.p, v, kPage);
  std::memset(b.p + b.size - kPage, v, kPage);
}

template <class A>
bool server_buffers(A& a, const ChildSpec& sp, Figures& f) {
  const unsigned T = sp.threads;
  const std::uint64_t held = sp.num("buffers"), ops = sp.num("ops");
  std::atomic<std::uint64_t> bad{0};
  SpinBarrier bar(T);
  std::uint64_t t_start = 0, t_end = 0;

  RunMemory memory;  // RSS before the run, and the peak reset
  auto body = [&](unsigned t) {
    Rng rng{sp.num("seed") + 0x9e3779b97f4a7c15ull * (t + 1)};
    std::uint64_t my_bad = 0;
    auto next = [&](std::uint64_t i) {
      const std::uint64_t size = (16 * kKiB) << rng.below(4);
      const Buffer b{static_cast<unsigned char*>(a.alloc(size)), size};
      if (__builtin_expect(b.p == nullptr, 0)) die("allocation returned NULL");
      fill(b, static_cast<unsigned char>(i));
      return b;
    };
    std::vector<Buffer> mine(held);
    for (std::uint64_t i = 0; i < held; ++i) mine[i] = next(i);
    bar.wait();
    if (t == 0) t_start = mono_ns();
    for (std::uint64_t i = 0; i < ops; ++i) {
      Buffer& s = mine[rng.below(static_cast<std::uint32_t>(held))];
      // The old buffer's first and last bytes are what it was written with.
      my_bad += s.p[0] != s.p[s.size - 1];
      my_bad += !a.release(s.p);
      s = next(i);
    }
    bar.wait();
    if (t == 0) t_end = mono_ns();
    for (const Buffer& b : mine) my_bad += !a.release(b.p);
    bad.fetch_add(my_bad, std::memory_order_relaxed);
  };
  run_on_threads(T, body);
  const bool purged = memory.finish(a);
  if (bad.load() != 0 || !purged) return false;

  const double seconds = static_cast<double>(t_end - t_start) / 1e9;
  const double total = static_cast<double>(ops * T);
  f.add("threads", T);
  f.add("replacements", total);
  f.add("kops_per_s", total / seconds / 1e3);
  memory.add_to(f);
  return true;
}

}  // namespace

bool run_server_buffers(const ChildSpec& sp, Figures& f, std::string& error) {
  if (sp.threads == 0 || sp.num("buffers") == 0 || sp.num("buffers") > 0xffffffffull || sp.num("ops") == 0)
    return error = "server-buffers needs threads, ops and 1..2^32-1 buffers per thread", false;
  return with_object_ops(sp, error, [&](auto& a) { return server_buffers(a, sp, f); });
}

}  // namespace bench
