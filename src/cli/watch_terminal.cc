#include "watch_terminal.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>

namespace baton::cli {
namespace {

std::atomic<bool> stop_signalled{false};

void OnStopSignal(int) { stop_signalled.store(true); }

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

}  // namespace

WatchTerminal::WatchTerminal() {
  stop_signalled.store(false);
  // No SA_RESTART: a signal ends the poll() below with EINTR.
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  for (int sig : kStopSignals) sigaction(sig, &action, nullptr);
  if (isatty(STDIN_FILENO) == 1 && tcgetattr(STDIN_FILENO, &saved_) == 0) {
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    raw_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    keys_ = raw_;
  }
}

WatchTerminal::~WatchTerminal() {
  if (raw_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  for (int sig : kStopSignals) sigaction(sig, &fallback, nullptr);
}

bool WatchTerminal::WaitForQuit(Duration timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!stop_signalled.load()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (!keys_) {
      // Nothing to read keys from: sleep in short steps, so a signal is seen soon.
      const int step = static_cast<int>(std::min<long long>(left.count(), 100));
      poll(nullptr, 0, step);
      continue;
    }
    pollfd in{.fd = STDIN_FILENO, .events = POLLIN, .revents = 0};
    const int ready = poll(&in, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char key = 0;
    const ssize_t n = read(STDIN_FILENO, &key, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) keys_ = false;  // The terminal went away: watch on until a signal.
    if (n == 1 && (key == 'q' || key == 'Q')) return true;
  }
  return true;
}

}  // namespace baton::cli
