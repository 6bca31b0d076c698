#pragma once

#include <termios.h>

#include "baton/clock.h"

namespace baton::cli {

// The keyboard and the stop signals of `baton status --watch`: while it lives, a terminal on
// standard input gives single keys without echo (so `q` quits without Enter), and SIGINT,
// SIGTERM and SIGHUP end the wait instead of the process, so the terminal is always put back
// as it was (by the destructor). Standard input that is not a terminal is left alone.
//
// Thread safety: one thread; one instance at a time (the signal handlers are process-wide).
class WatchTerminal final {
 public:
  WatchTerminal();
  ~WatchTerminal();
  WatchTerminal(const WatchTerminal&) = delete;
  WatchTerminal& operator=(const WatchTerminal&) = delete;

  // Waits up to `timeout`; true as soon as `q` (or `Q`) is typed or a stop signal comes.
  bool WaitForQuit(Duration timeout);

 private:
  bool raw_ = false;   // Standard input is a terminal put in single-key mode.
  bool keys_ = false;  // Keys can still come (raw_, and the terminal has not gone away).
  termios saved_{};
};

}  // namespace baton::cli
