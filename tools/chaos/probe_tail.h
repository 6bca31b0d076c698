#pragma once

// Follows the probes' log while a chaos run goes on, to tell which instance is active now
// and which pid its child has: the record, not `baton status`, is what the faults aim at.
//
// Thread safety: one thread only.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace baton::chaos {

struct LiveChild {
  std::string instance;
  int64_t token = 0;
  pid_t pid = -1;
};

class ProbeTail final {
 public:
  explicit ProbeTail(std::string path) : path_(std::move(path)) {}

  // Reads what the probes appended since the last call.
  void Update();
  // The child of the latest start line, if it has not logged its end and is still alive.
  std::optional<LiveChild> Active();

 private:
  std::string path_;
  uint64_t offset_ = 0;
  std::string partial_;  // A line whose end has not been written yet.
  std::optional<LiveChild> latest_;
};

}  // namespace baton::chaos
