#include "notify_socket.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstdlib>

namespace baton::systemd {

Result<std::unique_ptr<NotifySocket>> NotifySocket::Open(const std::string& address) {
  if (address.empty()) return Error(ErrorCode::kInvalidArgument, "NOTIFY_SOCKET is empty");
  return std::unique_ptr<NotifySocket>(new NotifySocket(address));
}

bool NotifySocket::Send(const std::string& message) const {
  return sd_notify(0, message.c_str()) > 0;
}

NotifyEnvironment ReadNotifyEnvironment() {
  NotifyEnvironment env;
  if (const char* socket = std::getenv("NOTIFY_SOCKET")) env.socket = socket;
  // Honours $WATCHDOG_PID: a child of the main process that inherited the variables is not it.
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    env.watchdog = std::chrono::microseconds(static_cast<int64_t>(usec));
  }
  return env;
}

bool IsNotifyVariable(const std::string& entry) {
  for (const char* name : {"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="}) {
    if (entry.rfind(name, 0) == 0) return true;
  }
  return false;
}

}  // namespace baton::systemd
