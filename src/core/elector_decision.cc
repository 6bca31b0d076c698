#include "elector_decision.h"

#include <algorithm>

namespace baton::detail {
namespace {

// A passive instance tries this long after the expiry it was told about, so that by the
// store's clock the lease has certainly run out (see NextPassiveTick).
constexpr Duration kAfterExpiry = std::chrono::milliseconds(1);

std::string WhyLost(const LeaseView& lease, const std::string& self_holder) {
  if (lease.holder == self_holder) return "by the store's clock the lease has expired";
  return (lease.holder.empty() ? std::string("nobody") : lease.holder) + " holds it with token " +
         std::to_string(lease.token);
}

}  // namespace

HeartbeatDecision DecideAfterHeartbeat(const HeartbeatBelief& before, const HeartbeatReply& reply,
                                       const Timing& timing, const std::string& self_holder,
                                       TimePoint sent, TimePoint received) {
  HeartbeatDecision d;
  d.token = before.token;
  d.deadline = sent + timing.ttl - timing.margin;
  d.next = received;
  if (before.active && reply.held && reply.lease.token == before.token) {
    if (!reply.handover) {
      d.outcome = HeartbeatOutcome::kRenewed;
      d.next = sent + timing.heartbeat;
      return d;
    }
    // A step-down: end the interval as a SIGTERM would, and leave the lease to the others
    // (or to the one named) for a ttl.
    d.outcome = HeartbeatOutcome::kStepDown;
    d.why = reply.handover->empty() ? std::string("a step-down was asked for")
                                    : "a step-down to " + *reply.handover + " was asked for";
    return d;
  }
  if (before.active) d.lost = WhyLost(reply.lease, self_holder);
  if (reply.acquired) {
    d.token = reply.lease.token;
    if (before.stopping) {
      d.outcome = HeartbeatOutcome::kAcquiredStopping;
    } else if (received >= d.deadline) {
      d.outcome = HeartbeatOutcome::kAcquiredLate;
    } else {
      d.outcome = HeartbeatOutcome::kAcquired;
      d.next = sent + timing.heartbeat;
    }
    return d;
  }
  if (reply.held) {
    // A new interval needs a new token.
    d.outcome = HeartbeatOutcome::kStaleHold;
    d.token = reply.lease.token;
    return d;
  }
  d.outcome = HeartbeatOutcome::kPassive;
  d.next = NextPassiveTick(sent, received, reply.lease, timing.heartbeat, before.compete_after);
  return d;
}

TimePoint NextPassiveTick(TimePoint sent, TimePoint received, const LeaseView& lease,
                          Duration heartbeat, TimePoint compete_after) {
  TimePoint next = sent + heartbeat;
  if (!lease.holder.empty() && lease.remaining > Duration::zero()) {
    // The store read its clock between `sent` and `received`, so the lease ends by
    // received + remaining on ours: a try just after that cannot be too early.
    next = std::min(next, received + lease.remaining + kAfterExpiry);
  }
  if (compete_after > received) next = std::min(next, compete_after);
  return next;
}

}  // namespace baton::detail
