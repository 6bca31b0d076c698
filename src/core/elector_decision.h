#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "baton/clock.h"
#include "baton/store.h"
#include "baton/timing.h"

// What a heartbeat's reply means for an instance, apart from the store call and the
// transitions that carry it out (Elector::Tick): a pure function, unit-tested on its own
// (tests/unit/elector_decision_test.cc).
namespace baton::detail {

// What the elector believed when the reply came back (after its watchdog had ended an
// interval whose deadline passed during the call).
struct HeartbeatBelief {
  bool active = false;
  uint64_t token = 0;  // The interval's token, or a token kept only to be released.
  bool stopping = false;
  TimePoint compete_after = TimePoint::min();  // A hold-off after GiveUp().
};

enum class HeartbeatOutcome {
  kRenewed,           // Still active, with a new deadline.
  kStepDown,          // Renewed, and a handover was asked for: give up for a ttl.
  kAcquired,          // Active from now on, with the reply's token.
  kAcquiredLate,      // Acquired, but the reply came after its deadline: acquire again now.
  kAcquiredStopping,  // Acquired while stopping: keep the token only to release it.
  kStaleHold,         // The store says ours, from an interval that ended here: acquire again.
  kPassive,           // Another holds it, or it is free and we did not (yet) compete.
};

struct HeartbeatDecision {
  HeartbeatOutcome outcome = HeartbeatOutcome::kPassive;
  // Set when the active interval ends because of this reply: why, for the log.
  std::optional<std::string> lost;
  uint64_t token = 0;  // The token to keep from now on.
  TimePoint deadline;  // The interval's deadline (kRenewed, kStepDown, kAcquired).
  TimePoint next;      // When the next heartbeat is due.
  std::string why;     // kStepDown: what to log as the reason.
};

// `sent` and `received` bound the store's commit, so the store frees the lease no earlier
// than sent + ttl: the deadline is sent + ttl − margin.
HeartbeatDecision DecideAfterHeartbeat(const HeartbeatBelief& before, const HeartbeatReply& reply,
                                       const Timing& timing, const std::string& self_holder,
                                       TimePoint sent, TimePoint received);

// A passive instance's next heartbeat: one heartbeat after `sent`, sooner when the lease
// runs out (or the hold-off ends) before that.
TimePoint NextPassiveTick(TimePoint sent, TimePoint received, const LeaseView& lease,
                          Duration heartbeat, TimePoint compete_after);

}  // namespace baton::detail
