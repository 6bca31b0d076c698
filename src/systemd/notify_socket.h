#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "baton/clock.h"
#include "baton/result.h"

namespace baton::systemd {

// The sender's half of systemd's notify protocol (sd_notify(3)), written out rather than
// taken from libsystemd: each message is one datagram of "NAME=value" lines to the AF_UNIX
// socket named by $NOTIFY_SOCKET.
//
// Thread safety: Send() from any thread (one sendto() each).
class NotifySocket final {
 public:
  // The socket at `address`: a path ("/run/systemd/notify"), or "@name" for the abstract
  // namespace. kInvalidArgument for another form (vsock:…) or a name too long;
  // kUnavailable when no socket can be made.
  static Result<std::unique_ptr<NotifySocket>> Open(const std::string& address);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // Sends `message`; false when it could not be sent. Never blocks: a datagram that finds
  // the queue full is dropped, as the next ping or status line will follow.
  bool Send(const std::string& message) const;

 private:
  NotifySocket(int fd, const sockaddr_un& address, socklen_t length)
      : fd_(fd), address_(address), length_(length) {}

  const int fd_;
  const sockaddr_un address_;
  const socklen_t length_;
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
