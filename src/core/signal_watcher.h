#pragma once

#include <signal.h>

#include <functional>
#include <thread>

namespace baton::detail {

// SIGTERM, SIGINT and SIGHUP: the signals that stop baton and every host (SPEC 2.3).
sigset_t StopSignals();

// Blocks the stop signals in the calling thread, and so in every thread it starts afterwards,
// for a SignalWatcher (or sigtimedwait) to take them. Returns the set.
sigset_t BlockStopSignals();

// Takes the stop signals on a thread of its own and calls `on_signal` with each, one at a
// time, so no handler ever runs in the middle of a store call. The thread belongs to the
// watcher: the destructor wakes it and joins it, so `on_signal` never runs once the watcher
// is gone, and whatever it refers to may be destroyed right after the watcher. Signals that
// come after that stay pending (blocked), harming nothing.
//
// REQUIRES: the stop signals blocked in every thread of the process (BlockStopSignals()
// before any thread starts), or the kernel may deliver one to a thread that does not block
// it. Thread safety: construct and destroy on one thread; `on_signal` runs on the watcher's.
class SignalWatcher final {
 public:
  explicit SignalWatcher(std::function<void(int)> on_signal);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  void Loop();

  const std::function<void(int)> on_signal_;
  int signal_fd_ = -1;
  int wake_fd_ = -1;  // An eventfd the destructor writes to end Loop().
  std::thread thread_;
};

}  // namespace baton::detail
