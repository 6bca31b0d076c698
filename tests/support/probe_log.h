#pragma once

// Reading what baton-probe wrote to its --log file.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace baton::test_support {

struct ProbeEvent {
  std::string kind;  // "start", "alive", "stop", "exit" or "overlap".
  int64_t token = -1;
  std::string instance;
  pid_t pid = -1;
  int64_t mono_ns = 0;  // CLOCK_MONOTONIC when the probe wrote the line.

  std::string line;  // The line as written, for messages.
};

// The complete lines of the log, in order (a line still being written is left out).
// Throws std::runtime_error on a line that is not a probe event.
std::vector<ProbeEvent> ReadProbeLog(const std::string& path);

// Only the events of one kind.
std::vector<ProbeEvent> ProbeEvents(const std::string& path, const std::string& kind);

// The last "start" line, if any.
std::optional<ProbeEvent> LastStart(const std::string& path);

// Empty when every start's token is larger than the one before; else a description of the
// first pair out of order.
std::string CheckTokensIncrease(const std::vector<ProbeEvent>& events);

}  // namespace baton::test_support
