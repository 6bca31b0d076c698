#pragma once

// The control channel between baton and a guardian: a SOCK_STREAM Unix socket carrying
// length-prefixed frames. Both ends run on one host (and one binary), so integers travel
// in native byte order.
//
//   frame   := u32 length-of-rest, u8 type, payload
//   kStart       baton → guardian, first:  i64 deadline_ns, i64 grace_ns, u8 stdio mask,
//                                          u32 count, count × (u32 size, bytes)  (env)
//   kSetDeadline baton → guardian:         i64 deadline_ns
//   kTerminate   baton → guardian:         i64 grace_ns
//   kStarted     guardian → baton:         i32 child pid
//   kExit        guardian → baton, last:   u8 kind, i32 code, i32 signal
//
// One run is kStart … kExit. A guardian started with --reusable waits for another kStart
// after each kExit and ignores what comes in between (messages baton sent for the run that
// just ended); the others exit after their one run. Bit i of the stdio mask says that the
// child's descriptor i (standard input, output, error) travels with the kStart frame as
// SCM_RIGHTS, in that order; a descriptor not sent is the guardian's own.
//
// deadline_ns is an absolute CLOCK_BOOTTIME time; kNoDeadline means none. The child's argv
// travels on the guardian's command line instead, where `ps` shows it (the environment is
// kept off the command line because /proc/PID/cmdline is readable by every user).

#include <sys/types.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guardian/guardian.h"

namespace baton::guardian::detail {

inline constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();
// The guardian is started with the control socket on this descriptor.
inline constexpr int kControlFd = 3;
// Frames larger than this are refused as corrupt (an environment is far smaller).
inline constexpr uint32_t kMaxFrame = 64u << 20;

enum class MessageType : uint8_t {
  kStart = 1,
  kSetDeadline = 2,
  kTerminate = 3,
  kStarted = 4,
  kExit = 5,
};

struct Message {
  MessageType type = MessageType::kStart;
  int64_t deadline_ns = kNoDeadline;  // kStart, kSetDeadline
  int64_t grace_ns = 0;               // kStart, kTerminate
  std::vector<std::string> env;       // kStart
  // kStart: the child's standard input, output and error, -1 for the guardian's own. A
  // decoded message owns the descriptors it carries (see CloseFds()).
  int stdio[3] = {-1, -1, -1};
  int32_t pid = -1;  // kStarted
  ChildExit exit;    // kExit
};

// The frame's bytes; the descriptors in `message.stdio` are sent beside them by SendFrame().
std::string Encode(const Message& message);
// Closes the descriptors a decoded message carries.
void CloseFds(Message& message);

// Splits a byte stream (and the descriptors that came with it) into messages.
// Thread-compatible.
class MessageReader final {
 public:
  MessageReader() = default;
  ~MessageReader();
  MessageReader(const MessageReader&) = delete;
  MessageReader& operator=(const MessageReader&) = delete;

  void Append(const char* data, size_t size) { buffer_.append(data, size); }
  // Descriptors received beside the bytes, in the order they came; the reader owns them.
  void AppendFd(int fd) { fds_.push_back(fd); }
  // The next complete message, or std::nullopt when more bytes are needed. Sets
  // `*corrupt` (and returns std::nullopt) when the stream cannot be a valid one, also when
  // a kStart's descriptors did not come with it.
  std::optional<Message> Next(bool* corrupt);

 private:
  std::string buffer_;
  size_t consumed_ = 0;
  std::vector<int> fds_;
};

// Writes all of `bytes`, blocking as needed; never raises SIGPIPE. False on any error.
bool SendAll(int fd, std::string_view bytes);
// Encode(message) with SendAll(), and the descriptors in `message.stdio` beside its first
// byte. The caller keeps its own copies of them.
bool SendFrame(int fd, const Message& message);
// Writes `bytes` only if the socket can take all of them now; never blocks, never raises
// SIGPIPE. False when the bytes were (wholly or partly) dropped.
bool SendNoWait(int fd, std::string_view bytes);
// Reads what is available (blocking until something is, unless the descriptor is
// non-blocking) into `reader`, descriptors included (received close-on-exec). Returns the number of
// bytes read: 0 on end of file, -1 on an error other than EINTR/EAGAIN, which return -2.
ssize_t ReadInto(int fd, MessageReader& reader);

// CLOCK_BOOTTIME now, in nanoseconds.
int64_t BootNowNs();

}  // namespace baton::guardian::detail
