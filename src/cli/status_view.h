#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "baton/queue.h"
#include "baton/store.h"

namespace baton::cli {

struct QueueDepth {
  std::string name;
  QueueStats stats;  // Without its per-tenant lines.
};

// One look at a group: its lease and members, and the depth of each of its queues.
struct StatusView {
  GroupSnapshot snapshot;
  std::string fencing_key;  // Store::FencingKey of the group's lease; empty: none.
  std::vector<QueueDepth> queues;
  std::string queues_error;  // Why the queues could not be read, or empty.
};

// Reads the group, and its queues through `queue` when given.
Result<StatusView> ReadStatus(Store& store, Queue* queue, const std::string& group);

// `status --json`: {group, active, active_pid, lease, members, queues}.
nlohmann::json ToJson(const std::string& group, const StatusView& view);
// The table `status` prints: the active instance, the members, then the queues (if any).
void PrintTable(const std::string& store, const std::string& group, const StatusView& view);

}  // namespace baton::cli
