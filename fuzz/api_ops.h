// This file contains the operations fuzz_api_sequence decodes from its input:
// each reads its arguments, asks the shadow model (api_world.h) what tslab must
// do, makes the call and checks the outcome. Also the argument selectors they
// share and the end-of-input tear-down.
#ifndef TSLAB_FUZZ_API_OPS_H
#define TSLAB_FUZZ_API_OPS_H

#include <cstddef>
#include <cstdint>
#include <optional>

#include "api_world.h"
#include "fuzz_support.h"

namespace fuzz {

// --- argument selectors (api_select.cpp) ---

// A live model allocator, a destroyed one, the arena host (if allowed) or NULL
// (NONE); nullopt when the choice names nothing this input has.
std::optional<int> pick_allocator(const World& w, ByteReader& r, bool allow_arena_host);
// A destroyed allocator of this input, or NONE.
int pick_destroyed_allocator(const World& w, ByteReader& r);
// Mostly the current epoch, else any slot, the first slot out of range or any number.
std::uint32_t pick_epoch(const World& w, int a, ByteReader& r);
// 0, small, class boundaries, the small/large limit, large, big, and sizes that must be refused.
std::size_t pick_size(ByteReader& r);
// Mostly powers of two up to a page; also 0, non-powers, 1 GiB and beyond.
std::size_t pick_alignment(ByteReader& r);
// Any block record of the input (live or not, any kind), or NONE.
int pick_block(const World& w, ByteReader& r);
// A live slab block, or NONE.
int pick_live_block(const World& w, ByteReader& r);
// An address derived from the input and the model: raw, near a live block, NULL, ...
std::uintptr_t pick_garbage_address(const World& w, ByteReader& r);
// A handle derived from the input and the model: raw, a live handle with a field changed, ...
SlabHandle pick_garbage_handle(const World& w, ByteReader& r);

bool valid_alignment(std::size_t alignment);
// Sets the calling thread's last error to a code no other call reports, so that
// a void call's failure can be seen.
void prime_last_error();
inline constexpr TslabError PRIMED_ERROR = TSLAB_ERR_UNKNOWN_OPTION;

// --- allocators and blocks (api_ops_blocks.cpp) ---
void op_create_allocator(World& w, ByteReader& r);
void op_destroy_allocator(World& w, ByteReader& r);
void op_allocate(World& w, ByteReader& r);
void op_free_block(World& w, ByteReader& r);
void op_free_interior(World& w, ByteReader& r);
void op_free_garbage(World& w, ByteReader& r);
void op_convert(World& w, ByteReader& r);
void op_realloc(World& w, ByteReader& r);
void op_stale_allocator_call(World& w, ByteReader& r);
int create_allocator(World& w, std::uint32_t epoch_count, bool hosts_arenas);
void destroy_allocator(World& w, int a);
// Frees every live block, by handle or by pointer; each free must succeed.
void free_all_blocks(World& w);

// --- epochs and domains (api_ops_epochs.cpp) ---
void op_epoch_advance(World& w, ByteReader& r);
void op_epoch_close(World& w, ByteReader& r);
void op_epoch_open_and_reserve(World& w, ByteReader& r);
void op_epoch_metadata(World& w, ByteReader& r);
void op_collect_and_check(World& w, ByteReader& r);
void op_domain_create(World& w, ByteReader& r);
void op_domain_enter(World& w, ByteReader& r);
void op_domain_exit(World& w, ByteReader& r);
void op_domain_destroy(World& w, ByteReader& r);
void op_domain_misuse(World& w, ByteReader& r);
void exit_domain(World& w, int d);
void destroy_domain(World& w, int d);

// --- arenas (api_ops_arenas.cpp) ---
void op_arena_create(World& w, ByteReader& r);
void op_arena_alloc(World& w, ByteReader& r);
void op_arena_reset(World& w, ByteReader& r);
void op_arena_destroy(World& w, ByteReader& r);
void op_arena_stats(World& w, ByteReader& r);
void op_thread_arena(World& w, ByteReader& r);
void destroy_arena(World& w, int a);
void destroy_thread_arena(World& w);

}  // namespace fuzz

#endif  // TSLAB_FUZZ_API_OPS_H
