#pragma once

// Two of SPEC 3's latency rows:
//  - offer → claim with an idle worker: one Worker (1 slot) idle on an empty queue; one item
//    offered at a time, `spacing` apart; CLOCK_MONOTONIC read just before Offer() and first
//    thing in the callback. Exercises WatchOffers (NOTIFY on PostgreSQL, a local poll on
//    SQLite).
//  - a stuck item taken again: a child process (baton-queue-bench-worker) claims an item and
//    blocks in its callback; it is SIGKILLed at once; a Worker in this process (the rescuer)
//    claims the item again (the time its callback starts). Reported: kill → re-claim minus the
//    visibility (the kill comes a few ms after the claim, so this can be slightly negative),
//    and the child's claim (when its Worker sent it) → re-claim minus the visibility.
//    Times on CLOCK_BOOTTIME, the Workers' own clock.
//
// Thread safety: each call runs on one thread and starts its own.

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "queue_setup.h"

namespace baton::bench {

struct LatencyResult {
  std::string store;
  int planned = 0;
  std::vector<double> ms;  // One sample per offer whose callback ran.
  std::vector<std::string> problems;

  nlohmann::json ToJson() const;
};

LatencyResult MeasureOfferLatency(const QueueTarget& target, int samples,
                                  std::chrono::milliseconds spacing);

struct StuckResult {
  std::string store;
  std::chrono::milliseconds visibility{0};
  bool late_rescuer = false;
  int planned = 0;
  std::vector<double> after_kill_ms;  // kill → re-claim − visibility.
  // The child's claim (when its Worker sent it) → re-claim − visibility. Never negative
  // unless the store took the claim back early.
  std::vector<double> after_claim_ms;
  std::vector<std::string> problems;

  nlohmann::json ToJson() const;
};

// `helper` is the baton-queue-bench-worker program. The rescuer Worker is idle before the
// item is offered (and a trial it wins the item in is replayed), or with `late_rescuer`
// started only once the helper has claimed it.
StuckResult MeasureStuckReclaim(const QueueTarget& target, const std::string& helper,
                                std::chrono::milliseconds visibility, int trials,
                                bool late_rescuer);

}  // namespace baton::bench
