#pragma once

// Items claimed + processed + acknowledged per second (SPEC 3's first two rows), for one
// configuration: a fresh queue, `items` offered beforehand (not timed) over `tenants`
// tenants, then `workers` baton::Workers of `slots` slots each (one per process-equivalent:
// each has its own queue connection) with a no-op callback, timed until the store has
// acknowledged every item; or, in command mode, one `baton work ... -- true` process.
//
// Thread safety: each call runs on one thread and starts its own.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "queue_setup.h"

namespace baton::bench {

struct ThroughputConfig {
  std::string mode = "callback";  // "callback" or "command".
  int64_t items = 20000;
  int tenants = 1000;
  int slots = 1;
  int workers = 1;  // callback mode only.
  int run = 1;      // Which repetition.
  // PostgreSQL: ANALYZE the queue tables after offering (not timed), as autovacuum would in
  // time; without it a freshly filled queue is claimed with plans for an empty table.
  bool analyze = false;
  std::string baton;    // command mode: the baton program.
  std::string scratch;  // command mode: where the baton process's log goes.
};

struct ThroughputResult {
  ThroughputConfig config;
  std::string store;
  double seconds = 0;
  double items_per_s = 0;
  // Empty when every item was acknowledged exactly once by both accounts.
  std::vector<std::string> problems;
  std::string
      skipped;  // Why the configuration was not measured (command mode without `baton work`).

  nlohmann::json ToJson() const;
};

ThroughputResult MeasureThroughput(const QueueTarget& target, const ThroughputConfig& config);

// Whether `baton` has the `work` subcommand (`baton work --help` exits 0).
bool HasWorkCommand(const std::string& baton);

}  // namespace baton::bench
