// This file contains the fork hooks: how every layer that owns a lock takes
// part in fork() without the layers knowing of each other.
//
// A layer registers one participant for its rank when it first initialises.
// One pthread_atfork handler (installed with the first participant) runs them:
//   prepare  in rank order: each takes its locks, so the lock order below is
//            also the order in which the library nests them (a lower rank may
//            be held while a higher one is taken, never the reverse);
//   parent   in reverse rank order: each releases its locks;
//   child    in reverse rank order: each repairs its state for a process with
//            one thread (the forking one) and releases its locks.
// So no lock of tslab is held by a thread that does not exist in the child, and
// everything guarded by one is as consistent there as it was in the parent.
#ifndef TSLAB_PLATFORM_FORK_HOOKS_H
#define TSLAB_PLATFORM_FORK_HOOKS_H

#include <cstdint>

#include "platform/mutex.h"

namespace tslab::detail {

enum class ForkRank : std::uint8_t {
  metrics,            // the metrics endpoint (reported as not running in the child) and
                      // the exit report's copy of stderr (closed in the child)
  process_malloc,     // the malloc override's process allocator (its creation)
  thread_arena,       // the process allocator of thread-local arenas
  domains,            // epoch domains' stripe locks and record pool
  arena_records,      // arenas' record pool
  shared_arenas,      // the live shared arenas' list, then each one's grow lock
  allocator_records,  // allocator records
  allocators,         // the live-allocator list, then every live allocator's locks
  registry,           // the slab-id registry
  segment_map,        // the segment map's initialisation
  span_chunks,        // the chunks large spans are carved out of (platform/span_chunks.h)
  meta_burial,        // ended allocators' metadata chunks (segment/meta_arena.h)
  count
};

struct ForkParticipant {
  void (*prepare)() noexcept;  // may be null
  void (*parent)() noexcept;   // may be null
  void (*child)() noexcept;    // may be null
};

// Registers the participant of `rank` (once; later calls for a rank are ignored)
// and installs the handlers on first use. Thread-safe; false if pthread_atfork
// refused, in which case fork() is not made safe. A first registration waits
// for a fork under way, so the caller must hold no tslab lock (a fork may be
// waiting for it); once registered, a call is one load.
bool fork_participate(ForkRank rank, const ForkParticipant& participant) noexcept;
// The participant of a layer whose state one lock guards: `lock` is held across
// the fork and released in the parent and in the child.
bool fork_hold_lock(ForkRank rank, Mutex& lock) noexcept;

// Placed on a lock (or a small object holding one) of static storage that a
// fork holds: such locks lie side by side in one section, so that the fork's
// parent and child, which write each of them after the address space was
// copied (a copy of the page, a page fault, for each page written), write one
// or two pages between them rather than one per layer. (The options layer's
// fork step writes nothing once the options are loaded: its state stays put.)
#define TSLAB_FORK_HELD [[gnu::section(TSLAB_FORK_HELD_SECTION)]]
#define TSLAB_FORK_HELD_SECTION "tslab_fork_held"

// Placed on a function a fork's child runs (its steps and what they call that
// nothing else does). A child starts with none of the library's code mapped
// (the kernel copies no page table of a file's text), so each 64 KiB window of
// code it runs is a page fault; cold functions lie together at the start of
// the code, beside the calls into the C library, so the child's steps fault in
// one window rather than one per file. The options layer, which includes no
// other, says [[gnu::cold]] itself (options/options.cpp).
#define TSLAB_FORK_STEP [[gnu::cold]]

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_FORK_HOOKS_H
