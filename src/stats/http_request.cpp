// This file contains the request-head parsing of the metrics endpoint: finding
// the end of the head and classifying its request line (see http_request.h for
// the contract).
#include "stats/http_request.h"

#include <cstring>

namespace tslab::detail {

namespace {

constexpr char HEAD_END[] = "\r\n\r\n";
constexpr std::size_t HEAD_END_BYTES = sizeof HEAD_END - 1;

// True if data[0, size) starts with the `n` bytes of `prefix`.
bool starts_with(const char* data, std::size_t size, const char* prefix, std::size_t n) noexcept {
  return size >= n && std::memcmp(data, prefix, n) == 0;
}

}  // namespace

std::size_t find_http_head_end(const char* data, std::size_t size, std::size_t from) noexcept {
  if (size < HEAD_END_BYTES) return 0;
  for (std::size_t at = from; at <= size - HEAD_END_BYTES; ++at)
    if (std::memcmp(data + at, HEAD_END, HEAD_END_BYTES) == 0) return at + HEAD_END_BYTES;
  return 0;
}

bool is_head_request(const char* data, std::size_t size) noexcept {
  static constexpr char METHOD[] = "HEAD ";
  return starts_with(data, size, METHOD, sizeof METHOD - 1);
}

HttpHeadResult parse_http_head(const char* data, std::size_t size) noexcept {
  // Only the first MAX_HTTP_HEAD_BYTES can hold a head that is served, so a
  // terminator further on never counts.
  const std::size_t searched = size < MAX_HTTP_HEAD_BYTES ? size : MAX_HTTP_HEAD_BYTES;
  const std::size_t head = find_http_head_end(data, searched);
  if (head == 0) return size >= MAX_HTTP_HEAD_BYTES ? HttpHeadResult::too_large : HttpHeadResult::incomplete;

  static constexpr char METHOD[] = "GET ";
  if (!starts_with(data, head, METHOD, sizeof METHOD - 1)) return HttpHeadResult::bad_method;
  const char* target = data + (sizeof METHOD - 1);
  const std::size_t rest = head - (sizeof METHOD - 1);
  // The path must end right after "/metrics": at the space before the version
  // or at the query. "/metricsX" and "/metrics/" are other resources.
  static constexpr char METRICS[] = "/metrics";
  constexpr std::size_t path_bytes = sizeof METRICS - 1;
  if (starts_with(target, rest, METRICS, path_bytes) && rest > path_bytes &&
      (target[path_bytes] == ' ' || target[path_bytes] == '?'))
    return HttpHeadResult::metrics;
  return HttpHeadResult::not_found;
}

}  // namespace tslab::detail
