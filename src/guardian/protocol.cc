#include "guardian/protocol.h"

#include <chrono>

#include "baton/clock.h"

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace baton::guardian::detail {
namespace {

// Marks a descriptor Decode() found in the mask, for Next() to take from the queue.
constexpr int kFdPending = -2;

uint8_t StdioMask(const Message& m) {
  uint8_t mask = 0;
  for (int i = 0; i < 3; ++i) {
    if (m.stdio[i] >= 0) mask |= static_cast<uint8_t>(1u << i);
  }
  return mask;
}

template <typename T>
void Put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(value));
}

void PutString(std::string& out, const std::string& s) {
  Put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Reads fixed-size fields from one frame's payload; remembers whether it ran short.
class Cursor {
 public:
  explicit Cursor(std::string_view data) : data_(data) {}

  template <typename T>
  T Get() {
    T value{};
    if (data_.size() < sizeof(T)) {
      short_ = true;
      return value;
    }
    std::memcpy(&value, data_.data(), sizeof(T));
    data_.remove_prefix(sizeof(T));
    return value;
  }
  std::string GetString() {
    const uint32_t size = Get<uint32_t>();
    if (short_ || data_.size() < size) {
      short_ = true;
      return {};
    }
    std::string s(data_.substr(0, size));
    data_.remove_prefix(size);
    return s;
  }
  bool ok() const { return !short_; }
  // True when every field was present and nothing is left over.
  bool Complete() const { return !short_ && data_.empty(); }

 private:
  std::string_view data_;
  bool short_ = false;
};

std::optional<Message> Decode(MessageType type, std::string_view payload) {
  Message m;
  m.type = type;
  Cursor in(payload);
  switch (type) {
    case MessageType::kStart: {
      m.deadline_ns = in.Get<int64_t>();
      m.grace_ns = in.Get<int64_t>();
      const uint8_t mask = in.Get<uint8_t>();
      if (mask > 7) return std::nullopt;
      for (int i = 0; i < 3; ++i) m.stdio[i] = (mask >> i) & 1 ? kFdPending : -1;
      const uint32_t count = in.Get<uint32_t>();
      for (uint32_t i = 0; i < count && in.ok(); ++i) m.env.push_back(in.GetString());
      break;
    }
    case MessageType::kSetDeadline:
      m.deadline_ns = in.Get<int64_t>();
      break;
    case MessageType::kTerminate:
      m.grace_ns = in.Get<int64_t>();
      break;
    case MessageType::kStarted:
      m.pid = in.Get<int32_t>();
      break;
    case MessageType::kExit: {
      const uint8_t kind = in.Get<uint8_t>();
      if (kind > static_cast<uint8_t>(ExitKind::kSpawnFailed)) return std::nullopt;
      m.exit.kind = static_cast<ExitKind>(kind);
      m.exit.code = in.Get<int32_t>();
      m.exit.signal = in.Get<int32_t>();
      break;
    }
    default:
      return std::nullopt;
  }
  if (!in.Complete()) return std::nullopt;
  return m;
}

}  // namespace

std::string Encode(const Message& m) {
  std::string payload;
  switch (m.type) {
    case MessageType::kStart:
      Put<int64_t>(payload, m.deadline_ns);
      Put<int64_t>(payload, m.grace_ns);
      Put<uint8_t>(payload, StdioMask(m));
      Put<uint32_t>(payload, static_cast<uint32_t>(m.env.size()));
      for (const std::string& entry : m.env) PutString(payload, entry);
      break;
    case MessageType::kSetDeadline:
      Put<int64_t>(payload, m.deadline_ns);
      break;
    case MessageType::kTerminate:
      Put<int64_t>(payload, m.grace_ns);
      break;
    case MessageType::kStarted:
      Put<int32_t>(payload, m.pid);
      break;
    case MessageType::kExit:
      Put<uint8_t>(payload, static_cast<uint8_t>(m.exit.kind));
      Put<int32_t>(payload, m.exit.code);
      Put<int32_t>(payload, m.exit.signal);
      break;
  }
  std::string frame;
  Put<uint32_t>(frame, static_cast<uint32_t>(payload.size() + 1));
  Put<uint8_t>(frame, static_cast<uint8_t>(m.type));
  frame += payload;
  return frame;
}

std::optional<Message> MessageReader::Next(bool* corrupt) {
  *corrupt = false;
  const std::string_view pending = std::string_view(buffer_).substr(consumed_);
  uint32_t length = 0;
  if (pending.size() < sizeof(length)) return std::nullopt;
  std::memcpy(&length, pending.data(), sizeof(length));
  if (length == 0 || length > kMaxFrame) {
    *corrupt = true;
    return std::nullopt;
  }
  if (pending.size() - sizeof(length) < length) return std::nullopt;
  const auto type = static_cast<MessageType>(pending[sizeof(length)]);
  std::optional<Message> m = Decode(type, pending.substr(sizeof(length) + 1, length - 1));
  if (!m) {
    *corrupt = true;
    return std::nullopt;
  }
  // A frame's descriptors arrive with its first byte, so they are here by its last.
  for (int& fd : m->stdio) {
    if (fd != kFdPending) continue;
    if (fds_.empty()) {
      CloseFds(*m);
      *corrupt = true;
      return std::nullopt;
    }
    fd = fds_.front();
    fds_.erase(fds_.begin());
  }
  consumed_ += sizeof(length) + length;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return m;
}

void CloseFds(Message& message) {
  for (int& fd : message.stdio) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

MessageReader::~MessageReader() {
  for (int fd : fds_) close(fd);
}

bool SendFrame(int fd, const Message& message) {
  const std::string bytes = Encode(message);
  int fds[3];
  size_t count = 0;
  for (int stdio_fd : message.stdio) {
    if (stdio_fd >= 0) fds[count++] = stdio_fd;
  }
  if (count == 0) return SendAll(fd, bytes);
  iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(fds))] = {};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(count * sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), fds, count * sizeof(int));
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return false;
  return SendAll(fd, std::string_view(bytes).substr(static_cast<size_t>(n)));
}

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool SendNoWait(int fd, std::string_view bytes) {
  // Frames from the guardian are a few bytes and there are at most two of them, so a
  // partial send does not happen in practice; if it did, the reader would see a truncated
  // frame at end of file and treat the report as lost, which is what dropping means.
  ssize_t n;
  do {
    n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(bytes.size());
}

ssize_t ReadInto(int fd, MessageReader& reader) {
  char buf[4096];
  iovec iov = {buf, sizeof(buf)};
  alignas(cmsghdr) char control[CMSG_SPACE(3 * sizeof(int))];
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0 && errno == ENOTSOCK) n = read(fd, buf, sizeof(buf));  // A pipe, in tests.
  if (n < 0) return (errno == EINTR || errno == EAGAIN) ? -2 : -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      reader.AppendFd(received);
    }
  }
  // Descriptors cut off for lack of room would leave a kStart without them: Next() then
  // reports the stream corrupt, which is what it is.
  reader.Append(buf, static_cast<size_t>(n));
  return n;
}

int64_t BootNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(BootClock::now().time_since_epoch())
      .count();
}

}  // namespace baton::guardian::detail
