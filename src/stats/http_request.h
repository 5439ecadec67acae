// This file contains the request-head parsing of the metrics endpoint: pure
// functions from the bytes a client sent to what the server should answer.
//
// Contract of both functions, so that they can be fed arbitrary input:
//   - they read only data[0, size) and never write; data may be null when size is 0;
//   - any byte value is allowed, NUL included: nothing is treated as a C string;
//   - they keep no state between calls and take no locks: safe from any thread;
//   - they never allocate and never throw.
#ifndef TSLAB_STATS_HTTP_REQUEST_H
#define TSLAB_STATS_HTTP_REQUEST_H

#include <cstddef>

namespace tslab::detail {

// The largest request head served, its closing "\r\n\r\n" included. The server
// never buffers more than this per connection.
inline constexpr std::size_t MAX_HTTP_HEAD_BYTES = 8 * 1024;

enum class HttpHeadResult {
  incomplete,  // no "\r\n\r\n" yet and still under MAX_HTTP_HEAD_BYTES: read more
  too_large,   // no "\r\n\r\n" within the first MAX_HTTP_HEAD_BYTES bytes: 431
  bad_method,  // the request line does not start with "GET " (methods are case-sensitive): 405
  not_found,   // a GET of anything but /metrics: 404
  metrics,     // "GET /metrics " or "GET /metrics?...": the Prometheus text
};

// The length of the head in data[0, size): the offset just past its first
// "\r\n\r\n", or 0 if there is none. The search starts at `from` (clamped to
// size), so that a caller receiving the head piecewise can rescan only the new
// bytes: passing the previous size minus 3 finds a terminator split across reads.
std::size_t find_http_head_end(const char* data, std::size_t size, std::size_t from = 0) noexcept;

// Classifies what a client sent so far. Only the head is looked at: bytes after
// the first "\r\n\r\n" (a body, a pipelined request) are ignored. A head of
// exactly MAX_HTTP_HEAD_BYTES bytes is served; one a byte longer is too_large,
// as is any input of MAX_HTTP_HEAD_BYTES bytes or more with no terminator in
// its first MAX_HTTP_HEAD_BYTES. Only the request line decides the rest; the
// version and the header fields are not checked.
HttpHeadResult parse_http_head(const char* data, std::size_t size) noexcept;

// True if the request line is a HEAD's, whose reply carries no content (RFC
// 9110 9.3.2) whatever its status.
bool is_head_request(const char* data, std::size_t size) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_HTTP_REQUEST_H
