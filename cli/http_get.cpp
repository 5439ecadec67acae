// This file contains the HTTP/1.0 GET of `tslab stats --url` and `tslab watch`:
// a non-blocking connect and exchange, each step waiting in poll() for what is
// left of one deadline, so a silent or slow endpoint cannot hang the command.
#include "cli/http_get.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace bench {

namespace {

constexpr std::size_t kMaxResponse = std::size_t{64} << 20;

using Clock = std::chrono::steady_clock;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

[[noreturn]] void fail(const HttpUrl& url, const std::string& what) {
  throw FetchError("cannot read " + to_string(url) + ": " + what);
}

// Waits for `events` on fd until the deadline; false when it passed.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

void connect_to(const HttpUrl& url, int fd, Clock::time_point deadline) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(url.port);
  addr.sin_addr.s_addr = htonl(url.address);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return;
  if (errno != EINPROGRESS && errno != EINTR) fail(url, std::strerror(errno));
  if (!wait_for(fd, POLLOUT, deadline)) fail(url, "timed out connecting");
  int error = 0;
  socklen_t len = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  if (error != 0) fail(url, std::strerror(error));
}

void send_all(const HttpUrl& url, int fd, const std::string& request, Clock::time_point deadline) {
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, POLLOUT, deadline)) fail(url, "timed out sending the request");
    } else {
      fail(url, std::string("sending the request: ") + std::strerror(errno));
    }
  }
}

std::string receive_all(const HttpUrl& url, int fd, Clock::time_point deadline) {
  std::string reply;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      reply.append(buf, static_cast<std::size_t>(n));
      if (reply.size() > kMaxResponse) fail(url, "the reply is larger than 64 MiB");
    } else if (n == 0) {
      return reply;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd, POLLIN, deadline)) fail(url, "timed out waiting for the reply");
    } else {
      fail(url, std::string("reading the reply: ") + std::strerror(errno));
    }
  }
}

bool parse_port(const std::string& text, std::uint16_t* port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return false;
  *port = static_cast<std::uint16_t>(v);
  return true;
}

}  // namespace

std::string to_string(const HttpUrl& url) {
  return "http://" + url.host + ":" + std::to_string(url.port) + url.path;
}

bool parse_http_url(const std::string& text, HttpUrl* out, std::string* error) {
  const std::string scheme = "http://";
  if (text.compare(0, scheme.size(), scheme) != 0) {
    *error = "'" + text + "' is not an http:// URL";
    return false;
  }
  const std::string rest = text.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  HttpUrl url;
  url.path = slash == std::string::npos ? "/" : rest.substr(slash);
  const std::size_t colon = authority.rfind(':');
  url.host = authority.substr(0, colon);
  if (colon != std::string::npos && !parse_port(authority.substr(colon + 1), &url.port)) {
    *error = "bad port in '" + text + "' (1 to 65535)";
    return false;
  }
  in_addr addr{};
  if (url.host == "localhost") {
    url.address = INADDR_LOOPBACK;
  } else if (::inet_pton(AF_INET, url.host.c_str(), &addr) == 1) {
    url.address = ntohl(addr.s_addr);
  } else {
    *error = "bad host in '" + text + "' (an IPv4 address such as 127.0.0.1, or localhost)";
    return false;
  }
  for (char c : url.path)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      *error = "bad character in the path of '" + text + "'";
      return false;
    }
  *out = url;
  return true;
}

std::string http_get(const HttpUrl& url, double timeout_seconds) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(timeout_seconds));
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (s.fd() < 0) fail(url, std::string("socket: ") + std::strerror(errno));
  connect_to(url, s.fd(), deadline);
  send_all(url, s.fd(),
           "GET " + url.path + " HTTP/1.0\r\nHost: " + url.host + ":" + std::to_string(url.port) +
               "\r\nUser-Agent: tslab\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
           deadline);
  const std::string reply = receive_all(url, s.fd(), deadline);
  const std::size_t head_end = reply.find("\r\n\r\n");
  if (reply.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos)
    fail(url, reply.empty() ? "the connection closed without a reply" : "the reply is not HTTP");
  const std::size_t sp = reply.find(' ');
  const std::string status = reply.substr(sp + 1, reply.find("\r\n") - sp - 1);
  if (status.compare(0, 3, "200") != 0) fail(url, "the server answered " + status);
  return reply.substr(head_end + 4);
}

}  // namespace bench
