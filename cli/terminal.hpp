// This file contains the terminal handling of `tslab watch`: keys read one at a
// time without echo (termios, canonical mode and echo off; signals and output
// processing left on), the alternate screen with the cursor hidden, and all of
// it undone when the session ends, whether by a key, an exception or SIGINT,
// SIGTERM or SIGHUP.
#ifndef TSLAB_CLI_TERMINAL_HPP
#define TSLAB_CLI_TERMINAL_HPP

#include <termios.h>

#include <string>
#include <vector>

namespace bench {

class TerminalSession {
 public:
  // Takes over the terminal on stdin/stdout (stdout must be one; stdin is put in
  // raw-ish mode only if it is one too) and installs the signal handlers.
  TerminalSession();
  // Restores the terminal mode and the main screen, and the default signal handlers.
  ~TerminalSession();
  TerminalSession(const TerminalSession&) = delete;
  TerminalSession& operator=(const TerminalSession&) = delete;

  // Waits up to `seconds` for a key. Returns the key, 0 when the time passed,
  // -1 when a signal asked to stop.
  int wait_key(double seconds);
  // Clears the screen and writes `lines`, each cut to the terminal's width, as
  // many as fit in its height (the last row then says how many more there are).
  void draw(const std::vector<std::string>& lines);
  // The signal that ended the session (0 if none): the caller restores the
  // terminal (destroys the session) and then re-raises it.
  static int stop_signal();

 private:
  bool raw_ = false;
  bool stdin_open_ = true;
  termios saved_{};
};

// True if stdout is a terminal.
bool stdout_is_terminal();

}  // namespace bench

#endif
