#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "baton/clock.h"
#include "baton/events.h"
#include "baton/loop_observer.h"
#include "baton/result.h"
#include "baton/store.h"
#include "baton/timing.h"

namespace baton {

enum class PassiveReason {
  kLeaseLost,       // The store refused a renewal: the lease expired by its clock or was taken.
  kDeadlinePassed,  // No renewal succeeded by sent + ttl − margin.
  kReleased,        // We gave the lease up (GiveUp()).
  kStopping,        // Graceful stop.
};
const char* ToString(PassiveReason reason);

// What the elector tells the code that runs the active work. Calls are never concurrent
// with each other, come from the elector's heartbeat or watchdog thread, and must not call
// back into the Elector.
class ElectorListener {
 public:
  virtual ~ElectorListener() = default;
  // This instance became active with a new `token`; its active work must end by `deadline`.
  virtual void OnActive(uint64_t token, TimePoint deadline) = 0;
  // A renewal moved the deadline later.
  virtual void OnRenewed(uint64_t token, TimePoint deadline) = 0;
  // This instance is no longer active. Return once active work has stopped, or once
  // something else (a guardian process) is certain to stop it by the old deadline.
  virtual void OnPassive(PassiveReason reason) = 0;
  // A heartbeat succeeded and left this instance passive: another instance holds the lease,
  // or this one holds off. Called after every such heartbeat; a fresh instance that wins the
  // lease at its first heartbeat never gets it.
  virtual void OnStillPassive() {}
  virtual void OnReaped(const std::string& /*member_id*/) {}
};

struct ElectorOptions {
  LeaseKey lease;   // lease.group is the group.
  MemberInfo self;  // self.holder must be unique to this run (NewHolder()).
  Timing timing;
  Clock* clock = nullptr;  // Default: Clock::Real(). Must outlive the elector.
  // Optional: told of every pass of Run()'s loop (OnReady() once registered). Must outlive
  // the elector.
  LoopObserver* observer = nullptr;
  // Optional: told of every heartbeat, transition and reaped member. Must outlive the elector.
  EventSink* events = nullptr;
};

// What went wrong and how often; for logs and metrics.
struct ElectorCounters {
  uint64_t heartbeats = 0;
  uint64_t heartbeat_failures = 0;
  uint64_t acquisitions = 0;
  uint64_t lost_to_other = 0;     // Renewal refused: the lease had moved on.
  uint64_t lost_to_deadline = 0;  // The watchdog ended the active interval.
  uint64_t late_renewals = 0;     // A renewal that came back after its own deadline.
  uint64_t reaped = 0;
  Duration last_heartbeat_latency{0};
};

namespace testing {
class ElectorStepper;  // The unit tests' access to Tick() and CheckDeadline().
}  // namespace testing

// The passive → active → passive state machine of one instance in one group.
//
// The holder measures its deadline from the moment it *sent* the acquisition or renewal
// that succeeded: deadline = sent + ttl − margin. The store frees the lease at the earliest
// at commit + ttl ≥ sent + ttl, so active work stopped by the deadline ends `margin` before
// anyone else can start. A watchdog thread enforces the deadline even while a store call
// hangs. A passive instance tries again just after the lease it was told about runs out,
// and at once when the store reports a release.
//
// Thread safety: Run() on one thread; RequestStop(), GiveUp() and the accessors from any.
class Elector final {
 public:
  Elector(Store& store, ElectorOptions options, ElectorListener& listener);
  ~Elector();
  Elector(const Elector&) = delete;
  Elector& operator=(const Elector&) = delete;

  // Writes the member row (retrying with backoff while the store is unavailable), then
  // heartbeats until RequestStop(); then stops active work, releases the lease and deletes
  // the member row, in that order. Fails at once on a non-retryable error (kSchemaMismatch);
  // an id in use (kConflict) fails once the row has stayed live for the store's
  // MemberExpiryBound(ttl) + heartbeat, since the row of a killed process expires by then,
  // unless the row names a process of this host that is gone: then Run() waits on until the
  // row expires.
  Result<void> Run();
  // Makes Run() return. Active work ends at once (listener.OnPassive(kStopping) from the
  // watchdog thread), even while a store call hangs; an acquisition that comes back after
  // the stop is released without being used.
  void RequestStop();

  // Gives up the lease now if held (listener.OnPassive(kReleased), then a release), and
  // does not compete again for `hold_off`. `why` is logged ("the command exited"). The
  // elector does the same by itself, holding off one ttl, when a renewal brings a handover
  // request (Store::RequestHandover: `baton step-down`, or a member of higher priority).
  void GiveUp(Duration hold_off, const std::string& why = "");

  bool active() const;
  uint64_t token() const;
  TimePoint deadline() const;
  ElectorCounters counters() const;
  const ElectorOptions& options() const { return options_; }

 private:
  // Steps the elector on a FakeClock (tests/unit/elector_test.cc), without Run()'s threads.
  friend class testing::ElectorStepper;

  // One heartbeat and the transition it causes (decided by detail::DecideAfterHeartbeat,
  // elector_decision.h); returns when the next one is due.
  TimePoint Tick();
  // Ends the active interval if its deadline has passed; returns the deadline to check
  // next (TimePoint::max() when passive). Run()'s watchdog thread calls it.
  TimePoint CheckDeadline();
  Duration Backoff(bool active);
  TimePoint StopRequestedAt() const;
  void BecomePassive(PassiveReason reason);
  // REQUIRES: transition_mu_ held.
  void BecomePassiveLocked(PassiveReason reason, const std::string& detail = "");
  void WatchdogLoop();
  TimePoint OnHeartbeatFailed(const Error& error, TimePoint received);
  // Tells the observer, if any, of the pass that ends now; the loop runs again at `next`.
  void ReportPass(TimePoint next, const std::optional<Error>& error);
  // Tells options_.events, if any, of `event` (its lease filled in). Never under mu_.
  void Publish(Event event) const;
  // Planned failback (self.priority > 0): asks the holder of `lease` to hand over to this
  // instance if the holder's priority is lower, once per token. Run()'s thread only; never
  // under transition_mu_ (a store call). (elector_handover.cc)
  void AskForTheRole(const LeaseView& lease);

  Store& store_;
  const ElectorOptions options_;
  ElectorListener& listener_;
  Clock& clock_;

  // Serializes transitions and listener calls.
  std::mutex transition_mu_;
  // Guards the fields below; never held during a store call or a listener call.
  mutable std::mutex mu_;
  bool active_ = false;
  uint64_t token_ = 0;
  TimePoint deadline_ = TimePoint::max();
  TimePoint compete_after_ = TimePoint::min();
  int consecutive_failures_ = 0;
  ElectorCounters counters_;
  std::optional<Error> fatal_;  // A non-retryable heartbeat error that stopped Run().
  bool registered_ = false;
  std::optional<Error> last_error_;  // Of the last heartbeat, for the observer.
  std::string last_holder_id_;       // The lease's holder at the last heartbeat ("" free).
  uint64_t asked_token_ = 0;  // The last holder's token AskForTheRole() asked; Run()'s thread.

  std::atomic<bool> stop_requested_{false};
  TimePoint stop_requested_at_{};  // GUARDED_BY(mu_): when RequestStop() was first called.
  Wakeup heartbeat_wakeup_;
  Wakeup watchdog_wakeup_;
};

// "<host>-<pid>-<8 random hex digits>".
std::string DefaultInstanceId();
// This machine's host name ("localhost" if it has none).
std::string LocalHostName();
// `id` plus a random per-run nonce: the identity the store compares.
std::string NewHolder(const std::string& id);
// The id part of a holder identity NewHolder() made (what people know the instance by).
std::string HolderId(const std::string& holder);
// Checks a group, id or queue name: not empty, at most 200 bytes, no control characters.
// `what` names the flag in the message ("--group").
Result<void> ValidateName(const std::string& what, const std::string& value);

}  // namespace baton
