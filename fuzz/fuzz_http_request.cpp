// This file contains the fuzz_http_request target: the metrics endpoint's
// request-head parser (src/stats/http_request.h) on arbitrary bytes, against an
// independent reading of its contract. find_http_head_end must find the first
// "\r\n\r\n" at or after `from`, also when the bytes arrive piecewise and each
// search rescans only the new bytes; parse_http_head must classify the head as
// the header describes (incomplete, too large, bad method, not found, metrics),
// keep that answer however many bytes follow the head, read only the bytes it
// is given (the input sits in a buffer of exactly its size, so ASan sees any
// read past it), never write them and never allocate.
//
// Input: the bytes a client sends, as they are.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "fuzz_support.h"
#include "stats/http_request.h"

extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             std::size_t),
                                                         void (*free_hook)(const volatile void*))
    __attribute__((weak));

namespace fuzz {

namespace {

using tslab::detail::find_http_head_end;
using tslab::detail::HttpHeadResult;
using tslab::detail::MAX_HTTP_HEAD_BYTES;
using tslab::detail::parse_http_head;

constexpr char TERMINATOR[] = "\r\n\r\n";
constexpr std::size_t TERMINATOR_BYTES = 4;

// Heap allocations made by this thread while `counting` (the parser must make none).
thread_local bool counting = false;
thread_local std::size_t allocations = 0;

void on_malloc(const volatile void*, std::size_t) {
  if (counting) ++allocations;
}
void on_free(const volatile void*) {}

// --- an independent reading of the contract ---

std::size_t reference_head_end(const char* data, std::size_t size, std::size_t from) {
  for (std::size_t at = from < size ? from : size; at + TERMINATOR_BYTES <= size; ++at)
    if (std::memcmp(data + at, TERMINATOR, TERMINATOR_BYTES) == 0) return at + TERMINATOR_BYTES;
  return 0;
}

bool starts_with(const char* data, std::size_t size, const char* prefix) {
  const std::size_t n = std::strlen(prefix);
  return size >= n && std::memcmp(data, prefix, n) == 0;
}

HttpHeadResult reference_parse(const char* data, std::size_t size) {
  const std::size_t head =
      reference_head_end(data, size < MAX_HTTP_HEAD_BYTES ? size : MAX_HTTP_HEAD_BYTES, 0);
  if (head == 0) return size >= MAX_HTTP_HEAD_BYTES ? HttpHeadResult::too_large : HttpHeadResult::incomplete;
  if (!starts_with(data, head, "GET ")) return HttpHeadResult::bad_method;
  if (starts_with(data, head, "GET /metrics ") || starts_with(data, head, "GET /metrics?"))
    return HttpHeadResult::metrics;
  return HttpHeadResult::not_found;
}

const char* name(HttpHeadResult r) {
  switch (r) {
    case HttpHeadResult::incomplete:
      return "incomplete";
    case HttpHeadResult::too_large:
      return "too_large";
    case HttpHeadResult::bad_method:
      return "bad_method";
    case HttpHeadResult::not_found:
      return "not_found";
    case HttpHeadResult::metrics:
      return "metrics";
  }
  return "?";
}

// --- the checks ---

// Calls `f` with allocation counting on; a finding if it allocated.
template <class F>
auto without_allocating(const char* what, F f) {
  allocations = 0;
  counting = true;
  const auto result = f();
  counting = false;
  FUZZ_REQUIRE(allocations == 0, "%s allocated %zu times", what, allocations);
  count_operation();
  return result;
}

void check_parse(const char* data, std::size_t size) {
  const HttpHeadResult got =
      without_allocating("parse_http_head", [&] { return parse_http_head(data, size); });
  const HttpHeadResult want = reference_parse(data, size);
  FUZZ_REQUIRE(got == want, "parse_http_head of %zu bytes: %s, expected %s", size, name(got), name(want));
}

void check_find(const char* data, std::size_t size, std::size_t from) {
  const std::size_t got =
      without_allocating("find_http_head_end", [&] { return find_http_head_end(data, size, from); });
  const std::size_t want = reference_head_end(data, size, from);
  FUZZ_REQUIRE(got == want, "find_http_head_end(%zu bytes, from %zu) = %zu, expected %zu", size, from, got,
               want);
}

// Feeds the bytes as a server receives them, in pieces, rescanning only what is
// new: the head end found so must be the one a full scan finds, and once the
// head is complete its classification never changes.
void check_piecewise(const char* data, std::size_t size) {
  std::size_t received = 0, found = 0;
  HttpHeadResult settled = HttpHeadResult::incomplete;
  bool has_settled = false;
  for (std::size_t piece = 1; received < size; piece = piece * 5 % 97 + 1) {
    const std::size_t previous = received;
    received = size - received < piece ? size : received + piece;
    if (found == 0) {
      const std::size_t rescan_from = previous < TERMINATOR_BYTES - 1 ? 0 : previous - (TERMINATOR_BYTES - 1);
      found = without_allocating("find_http_head_end",
                                 [&] { return find_http_head_end(data, received, rescan_from); });
      const std::size_t full = reference_head_end(data, received, 0);
      FUZZ_REQUIRE(found == full, "after %zu bytes, rescanning from %zu finds %zu, a full scan %zu", received,
                   rescan_from, found, full);
    }
    const HttpHeadResult now =
        without_allocating("parse_http_head", [&] { return parse_http_head(data, received); });
    if (has_settled)
      FUZZ_REQUIRE(now == settled, "after %zu bytes the head reads %s, before it read %s", received,
                   name(now), name(settled));
    if (now != HttpHeadResult::incomplete && !has_settled) settled = now, has_settled = true;
  }
}

}  // namespace

}  // namespace fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::report_operations_at_exit("fuzz_http_request");
  if (__sanitizer_install_malloc_and_free_hooks != nullptr)
    __sanitizer_install_malloc_and_free_hooks(fuzz::on_malloc, fuzz::on_free);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t size) {
  // A buffer of exactly `size` bytes (none for an empty input): a read past it is an ASan report.
  std::unique_ptr<char[]> copy(size == 0 ? nullptr : new char[size]);
  if (size != 0) std::memcpy(copy.get(), input, size);
  const char* data = copy.get();
  fuzz::check_parse(data, size);
  for (std::size_t from : {std::size_t{0}, size / 2, size, size + 1, SIZE_MAX})
    fuzz::check_find(data, size, from);
  fuzz::check_piecewise(data, size);
  FUZZ_REQUIRE(size == 0 || std::memcmp(data, input, size) == 0, "the parser wrote into its input");
  fuzz::count_input();
  return 0;
}
