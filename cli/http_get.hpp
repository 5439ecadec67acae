// This file contains the HTTP client of `tslab stats --url` and `tslab watch`:
// an http:// URL read into host, port and path, and one HTTP/1.0 GET over a
// plain TCP socket with a deadline on the whole exchange.
#ifndef TSLAB_CLI_HTTP_GET_HPP
#define TSLAB_CLI_HTTP_GET_HPP

#include <cstdint>
#include <stdexcept>
#include <string>

namespace bench {

// The endpoint could not be reached, or did not answer 200 OK in time.
class FetchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HttpUrl {
  std::string host;           // as written: an IPv4 address or localhost
  std::uint32_t address = 0;  // IPv4, host byte order
  std::uint16_t port = 80;
  std::string path = "/";
};

// Reads "http://HOST[:PORT][/PATH]" where HOST is a dotted IPv4 address or
// localhost (127.0.0.1). False, with *error saying why, for anything else
// (another scheme, a name to resolve, a bad port).
bool parse_http_url(const std::string& text, HttpUrl* out, std::string* error);

// GET url.path; the body of a 200 response. Throws FetchError naming the URL
// and the cause (refused, timed out, another status, a reply too large).
std::string http_get(const HttpUrl& url, double timeout_seconds);

// The URL as text, for messages.
std::string to_string(const HttpUrl& url);

}  // namespace bench

#endif
