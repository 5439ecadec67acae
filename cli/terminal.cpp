// This file contains the terminal session of `tslab watch`.
#include "cli/terminal.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>

namespace bench {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

void write_all(const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, s.data() + done, s.size() - done);
    if (n > 0)
      done += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR)
      return;
  }
}

// Cuts a line to `width` columns, counting a UTF-8 character as one column.
std::string fit(const std::string& line, std::size_t width) {
  std::size_t columns = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;
    if (columns == width) return line.substr(0, i);
    ++columns;
  }
  return line;
}

}  // namespace

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

int TerminalSession::stop_signal() { return g_stop_signal; }

TerminalSession::TerminalSession() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the wait for a key returns at once
  for (int sig : kStopSignals) ::sigaction(sig, &sa, nullptr);
  if (::isatty(STDIN_FILENO) == 1 && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
    termios raw = saved_;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    raw_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  write_all("\x1b[?1049h\x1b[?25l");  // the alternate screen, cursor hidden
}

TerminalSession::~TerminalSession() {
  write_all("\x1b[?25h\x1b[?1049l");
  if (raw_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int sig : kStopSignals) ::sigaction(sig, &sa, nullptr);
}

int TerminalSession::wait_key(double seconds) {
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (;;) {
    if (g_stop_signal != 0) return -1;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int n = ::poll(&p, stdin_open_ ? 1 : 0, static_cast<int>(left));
    if (n <= 0) continue;  // the time passed, or a signal (checked above)
    char c = 0;
    const ssize_t got = ::read(STDIN_FILENO, &c, 1);
    if (got == 1) return static_cast<unsigned char>(c);
    if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) stdin_open_ = false;  // no more keys
  }
}

void TerminalSession::draw(const std::vector<std::string>& lines) {
  winsize ws{};
  std::size_t width = 80, height = 24;
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col != 0 && ws.ws_row != 0) {
    width = ws.ws_col;
    height = ws.ws_row;
  }
  std::string frame = "\x1b[H\x1b[2J";
  const bool cut = lines.size() > height;
  const std::size_t shown = cut ? height - 1 : lines.size();
  for (std::size_t i = 0; i < shown; ++i) {
    if (i != 0) frame += "\r\n";
    frame += fit(lines[i], width);
  }
  if (cut)
    frame +=
        (shown != 0 ? "\r\n" : "") +
        fit("(" + std::to_string(lines.size() - shown) + " more lines: a taller terminal shows them)", width);
  write_all(frame);
}

}  // namespace bench
