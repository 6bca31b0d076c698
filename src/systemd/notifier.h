#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "baton/clock.h"
#include "baton/loop_observer.h"
#include "notify_socket.h"

namespace baton::systemd {

// Tells systemd how baton goes, for Type=notify units with WatchdogSec= (SPEC 6):
// READY=1 once every loop it follows is ready (an elector registered, a worker made its
// first claim call); STATUS= with each loop's state whenever it changes ("active with token
// 7", "store unreachable: …"); WATCHDOG=1 every watchdog/2 while every loop is alive; and
// STOPPING=1 when baton stops.
//
// Alive means the loop itself goes round, not that its store answers: a loop whose store
// calls fail still reports each pass (LoopObserver::OnPass, error included), so a database
// outage does not make systemd restart every instance. Each pass says when the loop's next
// one begins (it waits until then); a loop is stuck once it has not reported for the
// watchdog interval past that time, and then the pings stop, for systemd to restart the
// process. After STOPPING=1 the pings go on regardless: TimeoutStopSec= bounds a stop.
//
// Without a socket (not started by systemd) every call does nothing.
//
// Thread safety: AddLoop() and Start() from one thread before the loops run; the observers
// from each loop's thread; SetStatus() and Stopping() from any thread.
class Notifier final {
 public:
  // `redact` is applied to every error message before it is sent (a store URL's password).
  Notifier(std::unique_ptr<NotifySocket> socket, std::optional<Duration> watchdog,
           std::function<std::string(const std::string&)> redact = nullptr,
           Clock& clock = Clock::Real());
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // A loop to follow. `name` prefixes its state in the STATUS= line when there are several
  // ("run.billing: active with token 7; work.sync: working: 1 running, 4 done"). The
  // observer lives as long as the Notifier. REQUIRES: before any loop reports.
  LoopObserver& AddLoop(std::string name);
  // Starts the watchdog pings, if the environment asked for them.
  void Start();
  // A status before any loop reports (waiting for the store at start).
  void SetStatus(const std::string& text);
  void SetStatusError(const Error& error);
  // STOPPING=1, once.
  void Stopping();

  bool enabled() const { return socket_ != nullptr; }
  std::optional<Duration> watchdog() const { return watchdog_; }

 private:
  class Loop;
  friend class Loop;

  void Send(const std::string& message);
  void OnReady();                                 // From a Loop.
  void OnPass(Loop& loop, const LoopPass& pass);  // From a Loop.
  // The STATUS= line as it is now, one state per loop. REQUIRES: mu_ held.
  std::string StatusLocked() const;
  void SendStatusLocked();
  // Whether every loop is alive at `now`; names the first stuck one in `stuck` otherwise.
  // REQUIRES: mu_ held.
  bool AliveLocked(TimePoint now, std::string& stuck) const;
  void PingLoop();
  std::string Describe(const Error& error) const;

  const std::unique_ptr<NotifySocket> socket_;
  const std::optional<Duration> watchdog_;
  const std::function<std::string(const std::string&)> redact_;
  Clock& clock_;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Loop>> loops_;  // Guarded by mu_ (the vector; set up before).
  std::string status_;                        // Guarded by mu_: before any loop reports.
  std::string last_sent_status_;              // Guarded by mu_.
  bool ready_sent_ = false;                   // Guarded by mu_.
  bool stopping_ = false;                     // Guarded by mu_.
  bool stop_pinging_ = false;                 // Guarded by mu_.
  bool reported_stuck_ = false;               // Guarded by mu_ (the pinger's).
  Wakeup ping_wakeup_;
  std::thread pinger_;
};

}  // namespace baton::systemd
