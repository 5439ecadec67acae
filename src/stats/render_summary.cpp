// This file contains the summary of a snapshot for people: memory, memory
// return, slow paths and the epochs that hold the most.
#include "size_class/size_classes.h"
#include "stats/public_stats.h"
#include "stats/render.h"

namespace tslab::detail {

namespace {

double mib(std::uint64_t bytes) noexcept { return static_cast<double>(bytes) / (1024.0 * 1024.0); }
unsigned long long u(std::uint64_t v) noexcept { return static_cast<unsigned long long>(v); }

}  // namespace

void render_summary(const CoreSnapshot& snap, TextWriter& w) noexcept {
  SlabGlobalStats g;
  fill_global(snap, g);
  w.printf("tslab allocator %llu: %.2f MiB live in %llu blocks, %.2f MiB committed, %.2f MiB resident\n",
           u(snap.uid), mib(g.live_bytes), u(g.live_blocks), mib(g.committed_bytes), mib(g.resident_bytes));
  const double frag =
      g.committed_bytes == 0 ? 0.0 : 100.0 * static_cast<double>(g.fragmentation_bytes) / g.committed_bytes;
  w.printf(
      "  slabs: %llu partial, %llu full, %llu empty; %.2f MiB reclaimable in %llu slabs; %.1f%% of "
      "committed bytes hold no live block\n",
      u(g.slabs_partial), u(g.slabs_full), u(g.slabs_empty), mib(g.reclaimable_bytes), u(g.reclaimable_slabs),
      frag);
  w.printf(
      "  returned to the OS: %.2f MiB in %llu calls (%llu refused); %llu closes took %.3f ms and "
      "returned %llu of %llu slabs scanned, %llu found the epoch drained (rate %.2f); %llu collects\n",
      mib(g.decommit_bytes_total), u(g.decommit_calls_total), u(g.decommit_failures_total),
      u(g.epoch_close_calls_total), static_cast<double>(g.close_ns_total) / 1e6,
      u(g.close_slabs_returned_total), u(g.close_slabs_scanned_total), u(g.closes_drained_total),
      close_drain_rate(g), u(g.collect_calls_total));
  w.printf(
      "  slow paths: %llu allocations, %llu new slabs, %llu reused, %llu remote frees collected, "
      "%llu closing rejections, %llu refused frees, %llu adoptions, lock %llu taken (%llu waited)\n",
      u(g.slow_path_total), u(g.new_slabs_total), u(g.slabs_reused_total), u(g.remote_frees_collected_total),
      u(g.closing_rejections_total), u(g.invalid_frees_total), u(g.thread_adoptions_total),
      u(g.lock_acquisitions_total), u(g.lock_waits_total));
  w.printf("  epochs: %llu of %u active, %llu threads attached, %llu heaps abandoned\n", u(g.epochs_active),
           snap.epoch_count, u(g.threads_attached), u(g.heaps_abandoned));
  // The three epochs holding the most committed memory.
  bool shown[SLAB_MAX_EPOCH_COUNT] = {};
  for (int rank = 0; rank < 3; ++rank) {
    std::uint32_t best = snap.epoch_count;
    for (std::uint32_t e = 0; e < snap.epoch_count; ++e) {
      const std::uint64_t c = snap.epochs[e].occupancy.committed_bytes;
      if (!shown[e] && c != 0 &&
          (best == snap.epoch_count || c > snap.epochs[best].occupancy.committed_bytes))
        best = e;
    }
    if (best == snap.epoch_count) break;
    shown[best] = true;
    const EpochSnapshot& es = snap.epochs[best];
    w.printf("    epoch %u ", best);
    w.quoted_text(es.label);  // the application's text: escaped
    w.printf(" (%s, era %llu): %.2f MiB live in %llu blocks, %.2f MiB committed",
             es.state == EPOCH_ACTIVE ? "active" : "closing", u(es.era), mib(es.occupancy.live_bytes),
             u(es.occupancy.live_blocks), mib(es.occupancy.committed_bytes));
    if (es.closes != 0)
      w.printf("; its last close left %llu blocks pinning %llu slabs (%.2f MiB)",
               u(es.last_close_live_blocks), u(es.last_close_pinned_slabs), mib(es.last_close_pinned_bytes));
    w.put('\n');
  }
}

}  // namespace tslab::detail
