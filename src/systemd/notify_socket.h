#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "baton/clock.h"
#include "baton/result.h"

namespace baton::systemd {

// The sender's half of systemd's notify protocol: each message is one datagram of
// "NAME=value" lines to the socket $NOTIFY_SOCKET names, sent by libsystemd's sd_notify(3).
//
// Thread safety: Send() from any thread.
class NotifySocket final {
 public:
  // The socket at `address` ($NOTIFY_SOCKET): kInvalidArgument when empty.
  static Result<std::unique_ptr<NotifySocket>> Open(const std::string& address);
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // Sends `message`; false when it could not be sent. A datagram that finds the queue full
  // is dropped, as the next ping or status line will follow.
  bool Send(const std::string& message) const;

 private:
  explicit NotifySocket(std::string address) : address_(std::move(address)) {}

  const std::string address_;  // For messages only: sd_notify reads $NOTIFY_SOCKET itself.
};

// What the environment systemd gives a service asks for.
struct NotifyEnvironment {
  std::string socket;  // $NOTIFY_SOCKET; empty when not started by systemd with Type=notify.
  // $WATCHDOG_USEC, when set and $WATCHDOG_PID is unset or names this process.
  std::optional<Duration> watchdog;
};
NotifyEnvironment ReadNotifyEnvironment();

// The variables of ReadNotifyEnvironment(): addressed to baton, never passed to its children
// (a child that sent READY=1 or STOPPING=1 to them would speak for baton).
bool IsNotifyVariable(const std::string& entry);  // "NAME=value"

}  // namespace baton::systemd
