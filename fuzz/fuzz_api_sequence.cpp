// This file contains the fuzz_api_sequence target: it reads its input as a
// sequence of operations on tslab's public C API (allocators, blocks, epochs,
// domains, arenas; see api_ops.h), checks every outcome against a shadow model,
// and ends each input by checking everything, exiting and destroying what is
// left and freeing every block, so inputs are independent.
//
// Input: one byte choosing the first allocator's epoch count, then operations,
// each an opcode byte (modulo 64: DISTINCT, then REPEATED) and its arguments.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "api_ops.h"
#include "worker.h"

namespace fuzz {

namespace {

using Operation = void (*)(World&, ByteReader&);

struct NamedOperation {
  Operation run;
  const char* name;
};

// Opcodes 0..24: one operation each.
constexpr NamedOperation DISTINCT[] = {
    {op_allocate, "allocate"},                     // 0
    {op_free_block, "free_block"},                 // 1
    {op_free_interior, "free_interior"},           // 2
    {op_free_garbage, "free_garbage"},             // 3
    {op_convert, "convert"},                       // 4
    {op_realloc, "realloc"},                       // 5
    {op_create_allocator, "create_allocator"},     // 6
    {op_destroy_allocator, "destroy_allocator"},   // 7
    {op_stale_allocator_call, "stale_allocator"},  // 8
    {op_epoch_advance, "epoch_advance"},           // 9
    {op_epoch_close, "epoch_close"},               // 10
    {op_epoch_metadata, "epoch_metadata"},         // 11
    {op_collect_and_check, "collect_and_check"},   // 12
    {op_domain_create, "domain_create"},           // 13
    {op_domain_enter, "domain_enter"},             // 14
    {op_domain_exit, "domain_exit"},               // 15
    {op_domain_destroy, "domain_destroy"},         // 16
    {op_domain_misuse, "domain_misuse"},           // 17
    {op_arena_create, "arena_create"},             // 18
    {op_arena_alloc, "arena_alloc"},               // 19
    {op_arena_reset, "arena_reset"},               // 20
    {op_arena_destroy, "arena_destroy"},           // 21
    {op_arena_stats, "arena_stats"},               // 22
    {op_thread_arena, "thread_arena"},             // 23
    {op_epoch_open_and_reserve, "epoch_open"},     // 24
};

// Opcodes 25..63 repeat these, so that allocator churn (slow: each new allocator
// maps and zeroes its metadata) stays rare next to block traffic.
constexpr std::uint8_t REPEATED[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  1,  1,  1,  1,  1, 1,  1, 1,
                                     1, 1, 2, 3, 3, 3, 4, 4, 4, 19, 19, 19, 19, 11, 14, 15, 9, 10, 5};
static_assert(std::size(DISTINCT) + std::size(REPEATED) == 64);

constexpr std::uint32_t FIRST_EPOCH_COUNTS[] = {1, 2, 3, 4, 16};

const NamedOperation& decode_operation(std::uint8_t byte) {
  const std::size_t code = byte % (std::size(DISTINCT) + std::size(REPEATED));
  return DISTINCT[code < std::size(DISTINCT) ? code : REPEATED[code - std::size(DISTINCT)]];
}

// TSLAB_FUZZ_TRACE=1 prints each operation as it runs (to read a finding's input).
void run_operation(World& w, ByteReader& r) {
  static const bool trace = std::getenv("TSLAB_FUZZ_TRACE") != nullptr;
  const NamedOperation& op = decode_operation(r.u8());
  if (trace) std::fprintf(stderr, "op %s\n", op.name);
  op.run(w, r);
}

void tear_down(World& w) {
  w.verify_everything();
  while (!w.entered.empty()) exit_domain(w, w.entered.back());
  for (std::size_t d = 0; d < w.domains.size(); ++d)
    if (w.domains[d].live) destroy_domain(w, static_cast<int>(d));
  for (std::size_t a = 0; a < w.arenas.size(); ++a)
    if (w.arenas[a].live) destroy_arena(w, static_cast<int>(a));
  destroy_thread_arena(w);
  free_all_blocks(w);
  for (std::size_t a = 0; a < w.allocators.size(); ++a) {
    if (!w.allocators[a].live) continue;
    w.verify_allocator(static_cast<int>(a));
    destroy_allocator(w, static_cast<int>(a));
  }
}

}  // namespace

}  // namespace fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::report_operations_at_exit("fuzz_api_sequence");
  fuzz::Worker::instance();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::ByteReader r(data, size);
  fuzz::World w;
  const std::uint32_t first_count = fuzz::FIRST_EPOCH_COUNTS[r.u8() % std::size(fuzz::FIRST_EPOCH_COUNTS)];
  w.slots[0] = fuzz::create_allocator(w, first_count, false);
  while (!r.empty()) fuzz::run_operation(w, r);
  fuzz::tear_down(w);
  fuzz::count_input();
  return 0;
}
