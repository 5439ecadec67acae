// This file contains the cross-thread free tests: producers allocate blocks
// stamped with (thread, sequence) and hand them through queues to consumers,
// which verify the whole block and free it (remote frees); and concurrent
// double frees, where two threads race to free the same pointer or handle and
// exactly one of them may succeed.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "slab_alloc.h"
#include "test_util.h"
#include "tslab/tslab.hpp"

namespace {

using tslab::Error;

struct Message {
  void* p = nullptr;
  tslab::Handle h = 0;  // non-zero: the consumer frees by handle
  std::size_t size = 0;
  std::uint32_t producer = 0;
  std::uint64_t seq = 0;
};

// A blocking multi-producer multi-consumer queue; close() releases waiters.
class Queue {
 public:
  void push(const Message& m) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push_back(m);
    }
    cv_.notify_one();
  }
  bool pop(Message& out) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    out = q_.front();
    q_.pop_front();
    return true;
  }
  void close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> q_;
  bool closed_ = false;
};

struct ConsumerStats {
  std::size_t received = 0;
  std::size_t corrupted = 0;
  std::size_t free_failures = 0;
  std::size_t duplicates = 0;
  std::string failure_details;  // the first few failed frees, for the report
};

TEST(MtRemote, ProducersConsumersFullPatternVerified) {
  tslab::Allocator a;
  constexpr unsigned kProducers = 2, kConsumers = 2;
  const std::size_t per_producer = tslab_test::scaled(150000);
  Queue queue;
  std::vector<std::vector<std::atomic<std::uint8_t>>> seen(kProducers);
  for (auto& s : seen) s = std::vector<std::atomic<std::uint8_t>>(per_producer);
  std::vector<std::size_t> producer_failures(kProducers, 0);
  std::vector<std::size_t> local_free_failures(kProducers, 0);
  std::vector<ConsumerStats> cstats(kConsumers);

  std::vector<std::thread> consumers;
  for (unsigned c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&, c] {
      ConsumerStats& st = cstats[c];
      Message m;
      while (queue.pop(m)) {
        ++st.received;
        const std::uint64_t tag = tslab_test::make_tag(m.producer, m.seq);
        if (!tslab_test::check_pattern(m.p, m.size, tag)) ++st.corrupted;
        if (seen[m.producer][m.seq].fetch_add(1) != 0) ++st.duplicates;
        const Error err = m.h != 0 ? a.free_handle(m.h) : a.deallocate(m.p);
        if (err != Error::ok) {
          if (++st.free_failures <= 5)
            st.failure_details += std::string(" [") + (m.h != 0 ? "handle" : "pointer") + " free of " +
                                  std::to_string(m.size) + " B: " + tslab::to_string(err) + "]";
        }
      }
    });
  }
  std::vector<std::thread> producers;
  for (unsigned p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      tslab_test::Rng rng(500 + p);
      std::vector<void*> keep;  // some blocks are freed locally, interleaved
      for (std::size_t i = 0; i < per_producer; ++i) {
        Message m;
        m.producer = p;
        m.seq = i;
        m.size = rng.range(1, 2048);
        if (rng.range(0, 199) == 0) m.size = rng.range(16385, 131072);
        if (rng.coin()) {
          const tslab::Allocation r = a.allocate_with_handle(m.size, 0);
          m.p = r.ptr;
          m.h = r.handle;
        } else {
          m.p = a.allocate(m.size, 0);
        }
        if (m.p == nullptr) {
          ++producer_failures[p];
          seen[p][i].store(1);
          continue;
        }
        tslab_test::fill_pattern(m.p, m.size, tslab_test::make_tag(p, i));
        queue.push(m);
        // Local allocations and frees in the same slabs the consumers free into.
        if (void* q = a.allocate(m.size, 0)) keep.push_back(q);
        if (keep.size() > 64) {
          for (void* q : keep)
            if (a.deallocate(q) != Error::ok) ++local_free_failures[p];
          keep.clear();
        }
      }
      for (void* q : keep)
        if (a.deallocate(q) != Error::ok) ++local_free_failures[p];
    });
  }
  for (auto& t : producers) t.join();
  queue.close();
  for (auto& t : consumers) t.join();

  std::size_t received = 0;
  for (unsigned c = 0; c < kConsumers; ++c) {
    EXPECT_EQ(cstats[c].corrupted, 0u) << "consumer " << c;
    EXPECT_EQ(cstats[c].free_failures, 0u) << "consumer " << c << cstats[c].failure_details;
    EXPECT_EQ(cstats[c].duplicates, 0u) << "consumer " << c;
    received += cstats[c].received;
  }
  for (unsigned p = 0; p < kProducers; ++p) {
    EXPECT_EQ(producer_failures[p], 0u) << "producer " << p;
    EXPECT_EQ(local_free_failures[p], 0u) << "producer " << p;
  }
  EXPECT_EQ(received, kProducers * per_producer);
  std::size_t missing = 0;
  for (auto& s : seen)
    for (auto& x : s)
      if (x.load() != 1) ++missing;
  EXPECT_EQ(missing, 0u) << "messages lost or duplicated";
  EXPECT_ALLOCATOR_OK(a);
}

// Two racers free the same batch of blocks (in the same order, or towards each
// other). For each block exactly one free may succeed; the loser must see
// double_free.
enum class RaceKind { remote_pointers, remote_handles, owner_vs_remote_pointers, owner_vs_remote_handles };

void run_double_free_race(RaceKind kind) {
  tslab::Allocator a;
  const bool by_handle = kind == RaceKind::remote_handles || kind == RaceKind::owner_vs_remote_handles;
  const bool owner_races =
      kind == RaceKind::owner_vs_remote_pointers || kind == RaceKind::owner_vs_remote_handles;
  const std::size_t rounds = tslab_test::scaled(1000);
  constexpr std::size_t kBatch = 256;
  std::vector<tslab::Allocation> batch(kBatch);
  std::vector<std::uint8_t> won[2] = {std::vector<std::uint8_t>(kBatch), std::vector<std::uint8_t>(kBatch)};
  std::vector<std::size_t> bad_loser_error(2, 0);
  tslab_test::SpinBarrier barrier(3);  // the allocating thread and two racers
  std::atomic<bool> stop{false};

  // The owner allocates each batch; when it races, it is racer 0 itself.
  // In odd rounds racer 1 walks the batch backwards: the racers then meet in the
  // middle even when one of them starts late.
  std::atomic<bool> reverse{false};
  auto race = [&](int who) {
    const bool back = who == 1 && reverse.load(std::memory_order_relaxed);
    for (std::size_t k = 0; k < kBatch; ++k) {
      const std::size_t i = back ? kBatch - 1 - k : k;
      const Error err = by_handle ? a.free_handle(batch[i].handle) : a.deallocate(batch[i].ptr);
      won[who][i] = err == Error::ok ? 1 : 0;
      if (err != Error::ok && err != Error::double_free) ++bad_loser_error[who];
    }
  };
  std::thread racer1([&] {
    for (;;) {
      barrier.arrive_and_wait();
      if (stop.load()) return;
      race(1);
      barrier.arrive_and_wait();
    }
  });
  std::thread racer0([&] {
    for (;;) {
      barrier.arrive_and_wait();
      if (stop.load()) return;
      if (!owner_races) race(0);
      barrier.arrive_and_wait();
    }
  });
  std::size_t both = 0, neither = 0;
  tslab_test::Rng rng(static_cast<std::uint64_t>(kind) + 1);
  std::size_t alloc_failures = 0;
  for (std::size_t r = 0; r < rounds && alloc_failures == 0; ++r) {
    for (auto& b : batch) {
      const std::size_t size = rng.range(16, 1024);
      b = by_handle ? a.allocate_with_handle(size, 0) : tslab::Allocation{a.allocate(size, 0), 0};
      if (b.ptr == nullptr) ++alloc_failures;
    }
    if (alloc_failures != 0) break;
    reverse.store(r % 2 == 1, std::memory_order_relaxed);
    barrier.arrive_and_wait();  // start
    if (owner_races) race(0);
    barrier.arrive_and_wait();  // finish
    for (std::size_t i = 0; i < kBatch; ++i) {
      const int wins = won[0][i] + won[1][i];
      if (wins == 2) ++both;
      if (wins == 0) ++neither;
    }
    if (neither != 0 || (!owner_races && both != 0)) break;
  }
  stop.store(true);
  barrier.arrive_and_wait();
  racer0.join();
  racer1.join();
  ASSERT_EQ(alloc_failures, 0u);
  // Racing remote frees are decided by one read-modify-write: exactly one wins.
  // The owner's own free takes no read-modify-write and no fence (the fast-path
  // rule), so against a racing remote free both may report success; the allocator
  // must stay consistent and never hand the block out twice (checked below).
  if (!owner_races) {
    EXPECT_EQ(both, 0u) << "a block was freed twice by racing threads";
  }
  EXPECT_EQ(neither, 0u) << "a live block could not be freed by either thread";
  EXPECT_EQ(bad_loser_error[0] + bad_loser_error[1], 0u) << "losers must see double_free";
  EXPECT_ALLOCATOR_OK(a);
  // No block was put on a free list twice: fresh blocks are all distinct.
  std::vector<void*> fresh;
  std::unordered_set<void*> distinct;
  for (std::size_t i = 0; i < 4 * kBatch; ++i) {
    void* p = a.allocate(rng.range(16, 1024), 0);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(distinct.insert(p).second) << "block handed out twice";
    fresh.push_back(p);
  }
  for (void* p : fresh) EXPECT_EQ(a.deallocate(p), Error::ok);
}

TEST(MtRemote, ConcurrentDoubleFreeOfPointersByTwoRemoteThreads) {
  run_double_free_race(RaceKind::remote_pointers);
}
TEST(MtRemote, ConcurrentDoubleFreeOfHandlesByTwoRemoteThreads) {
  run_double_free_race(RaceKind::remote_handles);
}
TEST(MtRemote, ConcurrentDoubleFreeOfPointersOwnerVsRemote) {
  run_double_free_race(RaceKind::owner_vs_remote_pointers);
}
TEST(MtRemote, ConcurrentDoubleFreeOfHandlesOwnerVsRemote) {
  run_double_free_race(RaceKind::owner_vs_remote_handles);
}

// Remote frees only: one thread allocates everything, another frees it all;
// then the owner allocates as much again and reuses the remotely freed blocks.
TEST(MtRemote, OwnerReusesRemotelyFreedBlocks) {
  tslab::Allocator a;
  const std::size_t n = tslab_test::scaled(200000);
  std::vector<void*> blocks(n);
  for (std::size_t i = 0; i < n; ++i) {
    blocks[i] = a.allocate(64, 0);
    ASSERT_NE(blocks[i], nullptr);
    tslab_test::fill_pattern(blocks[i], 64, i);
  }
  const std::uint64_t slabs_before = tslab_test::total_new_slabs(a);
  std::size_t remote_failures = 0, corrupted = 0;
  std::thread freer([&] {
    for (std::size_t i = 0; i < n; ++i) {
      if (!tslab_test::check_pattern(blocks[i], 64, i)) ++corrupted;
      if (a.deallocate(blocks[i]) != Error::ok) ++remote_failures;
    }
  });
  freer.join();
  EXPECT_EQ(remote_failures, 0u);
  EXPECT_EQ(corrupted, 0u);
  // The owner collects its remote frees: reallocating the same amount needs
  // (almost) no fresh slabs.
  std::vector<void*> again(n);
  for (std::size_t i = 0; i < n; ++i) {
    again[i] = a.allocate(64, 0);
    ASSERT_NE(again[i], nullptr);
  }
  const std::uint64_t grown = tslab_test::total_new_slabs(a) - slabs_before;
  EXPECT_LE(grown, slabs_before / 10 + 2) << "remotely freed memory was not reused";
  for (void* p : again) ASSERT_EQ(a.deallocate(p), Error::ok);
  EXPECT_ALLOCATOR_OK(a);
}

// Remote frees racing with the owner's collection of them: while another thread
// frees a batch of the owner's blocks, the owner keeps allocating and freeing in
// the same size class, so it collects remote frees concurrently. Every remote
// free of a live block must succeed.
TEST(MtRemote, RemoteFreesWhileOwnerCollects) {
  tslab::Allocator a;
  const std::size_t rounds = tslab_test::scaled(40);
  constexpr std::size_t kBatch = 20000;
  std::size_t remote_failures = 0, local_failures = 0, alloc_failures = 0;
  std::string details;
  for (std::size_t r = 0; r < rounds; ++r) {
    std::vector<void*> batch(kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) {
      batch[i] = a.allocate(64, 0);
      ASSERT_NE(batch[i], nullptr);
    }
    std::vector<void*> rejected;
    std::atomic<bool> done{false};
    std::thread freer([&] {
      for (void* p : batch) {
        const Error err = a.deallocate(p);
        if (err == Error::ok) continue;
        if (++remote_failures <= 3) details += std::string(" [") + tslab::to_string(err) + "]";
        rejected.push_back(p);
      }
      done.store(true, std::memory_order_release);
    });
    std::vector<void*> local;
    while (!done.load(std::memory_order_acquire)) {
      void* p = a.allocate(64, 0);
      if (p == nullptr) {
        ++alloc_failures;
        break;
      }
      local.push_back(p);
      // Keep blocks so the bin runs dry and the owner must collect remote frees.
      if (local.size() >= 4 * kBatch) {
        for (void* q : local)
          if (a.deallocate(q) != Error::ok) ++local_failures;
        local.clear();
      }
    }
    freer.join();
    for (void* q : local)
      if (a.deallocate(q) != Error::ok) ++local_failures;
    // Tell a spurious error (the block was freed anyway) from a lost free.
    std::size_t still_live = 0;
    for (void* p : rejected) still_live += a.usable_size(p) != 0 ? 1 : 0;
    if (!rejected.empty())
      details += " (" + std::to_string(rejected.size() - still_live) +
                 " of the rejected blocks were freed anyway, " + std::to_string(still_live) + " stayed live)";
    if (remote_failures != 0) break;
  }
  EXPECT_EQ(remote_failures, 0u) << "valid remote frees rejected:" << details;
  EXPECT_EQ(local_failures, 0u);
  EXPECT_EQ(alloc_failures, 0u);
  EXPECT_ALLOCATOR_OK(a);
}

// Every remote free reaches the owner, also when it races the owner's draining
// of its queue: a freer that finds the slab still queued writes nothing
// (Heap::notify_remote) and relies on the owner's collection seeing its bit.
// The owner keeps one block of every slab live, so no slab empties and would be
// taken whole; the checker then finds any slab with remotely freed blocks that
// is not queued, and the owner must reuse every remotely freed block.
TEST(MtRemote, EveryRemoteFreeReachesItsOwnerWhileItDrains) {
  tslab::Allocator a;
  const std::size_t rounds = tslab_test::scaled(20);
  constexpr std::size_t kBlocks = 40000, kKeepEvery = 50;
  for (std::size_t r = 0; r < rounds; ++r) {
    std::vector<void*> keep, handed;
    for (std::size_t i = 0; i < kBlocks; ++i) {
      void* p = a.allocate(64, 0);
      ASSERT_NE(p, nullptr);
      (i % kKeepEvery == 0 ? keep : handed).push_back(p);
    }
    std::atomic<bool> done{false};
    std::size_t remote_failures = 0;
    std::thread freer([&] {
      for (void* p : handed) remote_failures += a.deallocate(p) != Error::ok;
      done.store(true, std::memory_order_release);
    });
    // The owner drains its queue while the frees land: it holds what it
    // allocates, so its bin keeps running dry and each refill collects.
    std::vector<void*> local;
    while (!done.load(std::memory_order_acquire)) {
      local.push_back(a.allocate(64, 0));
      ASSERT_NE(local.back(), nullptr);
    }
    freer.join();
    ASSERT_EQ(remote_failures, 0u);
    EXPECT_ALLOCATOR_OK(a);
    for (void* p : local) ASSERT_EQ(a.deallocate(p), Error::ok);
    // All of it comes back to the owner: as many blocks again need no new slab.
    const std::uint64_t slabs = tslab_test::total_new_slabs(a);
    std::vector<void*> again;
    for (std::size_t i = 0; i < handed.size(); ++i) {
      again.push_back(a.allocate(64, 0));
      ASSERT_NE(again.back(), nullptr);
    }
    EXPECT_EQ(tslab_test::total_new_slabs(a), slabs) << "round " << r << ": remotely freed blocks were lost";
    for (void* p : again) ASSERT_EQ(a.deallocate(p), Error::ok);
    for (void* p : keep) ASSERT_EQ(a.deallocate(p), Error::ok);
  }
  EXPECT_ALLOCATOR_OK(a);
}

// A free of another thread's block is validated from the slab the free path
// found (AllocatorCore::free_other): every misuse of such a block gets, from a
// thread that does not own it, the error its owner would get, through the
// checked and the error-returning API, and leaves the blocks as they were.
TEST(MtRemote, AnotherThreadsBadFreesGetTheOwnersErrors) {
  tslab::Allocator a, b;
  // A class whose slab ends in a tail shorter than a block.
  std::size_t size = 0;
  for (std::size_t s = 48; s <= 1024 && size == 0; s += 16)
    if (std::size_t{slab_object_count(static_cast<std::uint32_t>(s))} *
            slab_class_size(slab_size_class_of(s)) <
        65536)
      size = s;
  ASSERT_NE(size, 0u);
  const std::size_t block = slab_class_size(slab_size_class_of(size));
  char* x = static_cast<char*>(a.allocate(size, 0));
  char* y = static_cast<char*>(a.allocate(size, 0));
  void* z = b.allocate(size, 0);
  ASSERT_NE(x, nullptr);
  ASSERT_NE(y, nullptr);
  ASSERT_NE(z, nullptr);
  tslab_test::fill_pattern(x, size, 1);
  const auto base = reinterpret_cast<std::uintptr_t>(x) & ~std::uintptr_t{65535};
  char* tail = reinterpret_cast<char*>(base + slab_object_count(static_cast<std::uint32_t>(size)) * block);
  char* last =
      reinterpret_cast<char*>(base) + (slab_object_count(static_cast<std::uint32_t>(size)) - 1) * block;
  ASSERT_NE(last, x);
  ASSERT_NE(last, y);

  struct Probe {
    void* p;
    Error owner;
    Error other = Error::ok, other_last = Error::ok;
    bool other_checked = true;
  };
  std::vector<Probe> probes = {{x + 8, a.deallocate(x + 8)},
                               {x + block - 1, a.deallocate(x + block - 1)},
                               {tail, a.deallocate(tail)},
                               {last, a.deallocate(last)}};
  EXPECT_EQ(probes[0].owner, Error::interior_pointer);
  EXPECT_EQ(probes[1].owner, Error::interior_pointer);
  EXPECT_EQ(probes[2].owner, Error::not_allocated);
  EXPECT_NE(probes[3].owner, Error::ok);
  Error foreign = Error::ok, first = Error::invalid_argument, second = Error::ok;
  std::thread other([&] {
    // The thread allocates here too, so that it has a heap of its own.
    void* mine = a.allocate(size, 0);
    for (Probe& probe : probes) {
      probe.other = a.deallocate(probe.p);
      probe.other_last = tslab::last_error();
      probe.other_checked = slab_free_checked(a.c_allocator(), probe.p);
    }
    foreign = a.deallocate(z);
    first = a.deallocate(y);
    second = a.deallocate(y);
    a.deallocate(mine);
  });
  other.join();
  for (const Probe& probe : probes) {
    const auto offset = static_cast<char*>(probe.p) - x;
    EXPECT_EQ(probe.other, probe.owner) << "at offset " << offset;
    EXPECT_EQ(probe.other_last, probe.owner) << "at offset " << offset;
    EXPECT_FALSE(probe.other_checked) << "at offset " << offset;
  }
  EXPECT_EQ(foreign, Error::foreign);
  EXPECT_EQ(first, Error::ok);
  EXPECT_EQ(second, Error::double_free);
  EXPECT_EQ(a.deallocate(y), Error::double_free);  // the owner, before it collects
  EXPECT_TRUE(tslab_test::check_pattern(x, size, 1));
  EXPECT_ALLOCATOR_OK(a);
  EXPECT_EQ(a.deallocate(x), Error::ok);
  EXPECT_EQ(b.deallocate(z), Error::ok);
  // A slab recycled since: its old pointers are refused from any thread.
  const tslab::EpochId e = slab_epoch_open(a.c_allocator());
  ASSERT_NE(e, SLAB_NO_EPOCH);
  void* old = a.allocate(size, e);
  ASSERT_NE(old, nullptr);
  ASSERT_EQ(a.deallocate(old), Error::ok);
  ASSERT_TRUE(epoch_close(a.c_allocator(), e));
  slab_collect(a.c_allocator());
  Error stale = Error::ok;
  std::thread([&] { stale = a.deallocate(old); }).join();
  EXPECT_EQ(stale, a.deallocate(old));
  EXPECT_NE(stale, Error::ok);
  EXPECT_ALLOCATOR_OK(a);
  EXPECT_ALLOCATOR_OK(b);
}

// A thread using more allocators than its cache has lines: a free whose line
// names another allocator reaches the same validation, and its own blocks are
// freed as the owner's, remote ones as remote.
TEST(MtRemote, FreesThroughACacheLineOfAnotherAllocator) {
  constexpr int ALLOCATORS = 40;
  std::vector<tslab::Allocator> all(ALLOCATORS);
  std::vector<void*> blocks;
  for (int round = 0; round < 4; ++round)
    for (tslab::Allocator& a : all) {
      blocks.push_back(a.allocate(64, 0));
      ASSERT_NE(blocks.back(), nullptr);
      tslab_test::fill_pattern(blocks.back(), 64, blocks.size());
    }
  // Half freed here, out of order (each allocator's block after the other
  // allocators' lines took its way), half by another thread.
  std::size_t failures = 0, corrupted = 0;
  for (std::size_t i = 0; i < blocks.size(); i += 2) {
    corrupted += !tslab_test::check_pattern(blocks[i], 64, i + 1);
    failures += all[i % ALLOCATORS].deallocate(blocks[i]) != Error::ok;
  }
  std::thread([&] {
    for (std::size_t i = 1; i < blocks.size(); i += 2) {
      corrupted += !tslab_test::check_pattern(blocks[i], 64, i + 1);
      failures += all[i % ALLOCATORS].deallocate(blocks[i]) != Error::ok;
    }
  }).join();
  EXPECT_EQ(failures, 0u);
  EXPECT_EQ(corrupted, 0u);
  for (std::size_t i = 0; i < blocks.size(); ++i)
    EXPECT_NE(all[i % ALLOCATORS].deallocate(blocks[i]), Error::ok) << "block " << i << " freed twice";
  for (tslab::Allocator& a : all) EXPECT_ALLOCATOR_OK(a);
}

}  // namespace
