#pragma once

// Heartbeat latency while the queue runs flat out on the same store (SPEC 3: p99 ≤ 50 ms).
// `instances` Electors (the state machine of `baton run`) of one group heartbeat on their own
// lease connections, every heartbeat timed; first for `baseline` with the queue idle, then
// for `window` while Workers (`slots` slots, one queue connection each) drain a queue that a
// feeder keeps stocked with offers of kMaxRowsPerTransaction items over `tenants` tenants.
//
// Thread safety: the call runs on one thread and starts its own.

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "queue_setup.h"

namespace baton::bench {

struct HeartbeatConfig {
  int instances = 5;
  std::chrono::milliseconds ttl{1000};
  std::chrono::milliseconds heartbeat{100};
  std::chrono::milliseconds baseline{5000};
  std::chrono::milliseconds window{20000};
  int slots = 16;
  int workers = 1;
  int tenants = 1000;
};

struct HeartbeatPhase {
  std::vector<double> ms;  // Successful heartbeats.
  int failed = 0;
  double queue_items_per_s = 0;  // Acknowledged during the phase.
};

struct HeartbeatResult {
  std::string store;
  HeartbeatConfig config;
  HeartbeatPhase idle;
  HeartbeatPhase loaded;
  std::vector<std::string> problems;

  nlohmann::json ToJson() const;
};

HeartbeatResult MeasureHeartbeatUnderLoad(const QueueTarget& target, const HeartbeatConfig& config);

}  // namespace baton::bench
