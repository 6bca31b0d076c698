// The elector's transitions: giving the lease up, turning passive, and the watchdog that
// ends an active interval at its deadline even while a heartbeat hangs on the store.

#include <spdlog/spdlog.h>

#include "baton/elector.h"

namespace baton {

void Elector::GiveUp(Duration hold_off, const std::string& why) {
  const TimePoint began = clock_.Now();
  {
    std::lock_guard lock(mu_);
    compete_after_ = began + hold_off;
  }
  {
    std::lock_guard transition(transition_mu_);
    BecomePassiveLocked(PassiveReason::kReleased, why);
  }
  uint64_t token;
  {
    std::lock_guard lock(mu_);
    token = token_;
  }
  if (token != 0) {
    auto released = store_.Release(options_.lease, options_.self.holder, token);
    if (released && *released) {
      spdlog::info("released the lease (token {}): the handover took {}", token,
                   FormatDuration(clock_.Now() - began));
    }
  }
  heartbeat_wakeup_.Notify();
}

void Elector::BecomePassive(PassiveReason reason) {
  std::lock_guard transition(transition_mu_);
  BecomePassiveLocked(reason);
}

void Elector::BecomePassiveLocked(PassiveReason reason, const std::string& detail) {
  uint64_t token;
  {
    std::lock_guard lock(mu_);
    if (!active_) return;
    // A renewal may have moved the deadline since the watchdog looked.
    if (reason == PassiveReason::kDeadlinePassed && clock_.Now() < deadline_) return;
    active_ = false;
    deadline_ = TimePoint::max();
    token = token_;
    if (reason == PassiveReason::kLeaseLost) ++counters_.lost_to_other;
    if (reason == PassiveReason::kDeadlinePassed) ++counters_.lost_to_deadline;
  }
  Publish({.kind = EventKind::kBecamePassive, .token = token, .passive_reason = reason});
  const std::string why =
      detail.empty()
          ? ToString(reason)
          : ToString(reason) +
                std::string(reason == PassiveReason::kReleased ? " because " : ": ") + detail;
  if (reason == PassiveReason::kStopping || reason == PassiveReason::kReleased) {
    spdlog::info("no longer active (token {}): {}", token, why);
  } else {
    spdlog::warn("lost the lease (token {}): {}", token, why);
  }
  listener_.OnPassive(reason);
}

TimePoint Elector::CheckDeadline() {
  {
    std::lock_guard lock(mu_);
    if (!active_) return TimePoint::max();
    if (clock_.Now() < deadline_) return deadline_;
  }
  BecomePassive(PassiveReason::kDeadlinePassed);
  heartbeat_wakeup_.Notify();
  return TimePoint::max();
}

void Elector::WatchdogLoop() {
  while (!stop_requested_) {
    const TimePoint next = CheckDeadline();
    clock_.WaitUntil(next, watchdog_wakeup_);
  }
  // A stop ends active work now, not when a heartbeat that may hang on the store returns.
  BecomePassive(PassiveReason::kStopping);
}

}  // namespace baton
