#pragma once

#include <optional>
#include <string>

#include "baton/clock.h"
#include "baton/result.h"

namespace baton {

// What one pass of a long-running loop reports: an elector's heartbeat loop (one pass per
// registration attempt or heartbeat) or a worker's claim loop (one per claim call or wait).
struct LoopPass {
  // When the loop starts its next pass, on its clock: until then it waits, and a loop that
  // has not reported again some time after it is stuck.
  TimePoint next;
  // The pass's store call failed (it is retried), or nothing when it succeeded.
  std::optional<Error> error;
  // What the loop is doing now, for people: "active with token 7", "passive (active: b)",
  // "working: 2 running, 10 done". The last known state when `error` is set.
  std::string state;
};

// Told how a loop goes, for a liveness watchdog and a status line that follow the loop itself
// rather than the store's health (systemd's WATCHDOG=1 and STATUS=): a loop whose store is
// down still reports every pass, with the error.
//
// Thread safety: calls come from the loop's own thread, never two at once for one loop; they
// must return promptly and must not call back into the loop's object. One observer given to
// several loops is called from each of their threads.
class LoopObserver {
 public:
  virtual ~LoopObserver() = default;
  // The loop is set up: an elector's member row is written, a worker's first claim call is
  // made. Once per run, before that pass's OnPass().
  virtual void OnReady() {}
  // After every pass, whether its store call succeeded or not.
  virtual void OnPass(const LoopPass& pass) = 0;
};

}  // namespace baton
