#include "notify_socket.h"

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace baton::systemd {

Result<std::unique_ptr<NotifySocket>> NotifySocket::Open(const std::string& address) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (address.size() < 2 || (address[0] != '/' && address[0] != '@')) {
    return Error(ErrorCode::kInvalidArgument,
                 "NOTIFY_SOCKET=" + address + " is neither a path nor an @abstract name");
  }
  if (address.size() >= sizeof addr.sun_path) {
    return Error(ErrorCode::kInvalidArgument, "NOTIFY_SOCKET=" + address + " is too long");
  }
  std::memcpy(addr.sun_path, address.data(), address.size());
  // An abstract name starts with a NUL byte and is exactly as long as given: no terminator.
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  if (address[0] == '@') {
    addr.sun_path[0] = '\0';
  } else {
    ++length;  // The path's terminating NUL.
  }
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return Error(ErrorCode::kUnavailable,
                 std::string("cannot make a socket for NOTIFY_SOCKET: ") + std::strerror(errno));
  }
  return std::unique_ptr<NotifySocket>(new NotifySocket(fd, addr, length));
}

NotifySocket::~NotifySocket() { close(fd_); }

bool NotifySocket::Send(const std::string& message) const {
  while (true) {
    const ssize_t sent = sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&address_), length_);
    if (sent >= 0) return true;
    if (errno != EINTR) return false;
  }
}

NotifyEnvironment ReadNotifyEnvironment() {
  NotifyEnvironment env;
  if (const char* socket = std::getenv("NOTIFY_SOCKET")) env.socket = socket;
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (usec == nullptr) return env;
  if (const char* pid = std::getenv("WATCHDOG_PID")) {
    // systemd names the main process; a child of it that inherited the variables is not it.
    if (std::strtoll(pid, nullptr, 10) != static_cast<long long>(getpid())) return env;
  }
  char* end = nullptr;
  const unsigned long long value = std::strtoull(usec, &end, 10);
  if (end != usec && *end == '\0' && value > 0) {
    env.watchdog = std::chrono::microseconds(static_cast<int64_t>(value));
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
