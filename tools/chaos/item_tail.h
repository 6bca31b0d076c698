#pragma once

// Follows items.log while a queue chaos run goes on, to tell which item commands run now
// (for the faults that aim at a running command, or at a worker that has one).
//
// Thread safety: one thread only.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace baton::chaos {

struct RunningItem {
  uint64_t item = 0;
  std::string tenant;  // Hex.
  uint64_t token = 0;
  pid_t pid = -1;
};

class ItemTail final {
 public:
  explicit ItemTail(std::string path) : path_(std::move(path)) {}

  // The commands that logged their start and no end yet and are still alive.
  std::vector<RunningItem> Running();

 private:
  void Update();

  std::string path_;
  uint64_t offset_ = 0;
  std::string partial_;  // A line whose end has not been written yet.
  std::map<std::pair<pid_t, uint64_t>, RunningItem> running_;
};

}  // namespace baton::chaos
