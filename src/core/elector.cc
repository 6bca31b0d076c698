#include "baton/elector.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include "elector_decision.h"

namespace baton {
namespace {

using std::chrono::milliseconds;

constexpr Duration kFirstBackoff = milliseconds(50);

// Failures in a row worth a log line: 1, 2, 4, 8, 16, then every 30th (about once a minute
// at the default heartbeat), so an outage is visible without flooding the log.
bool WorthLogging(int failures) {
  if (failures <= 16) return failures > 0 && (failures & (failures - 1)) == 0;
  return failures % 30 == 0;
}

}  // namespace

const char* ToString(PassiveReason reason) {
  switch (reason) {
    case PassiveReason::kLeaseLost:
      return "the store refused the renewal";
    case PassiveReason::kDeadlinePassed:
      return "no renewal succeeded before the deadline";
    case PassiveReason::kReleased:
      return "gave the lease up";
    case PassiveReason::kStopping:
      return "baton is stopping";
  }
  return "unknown";
}

namespace {

// Whether the row holding our id names a process on this host that no longer exists: then it
// is a dead predecessor's for certain, and its row will expire, however long the store takes
// (etcd restarts every lease at full length on a leader change).
bool PredecessorIsGone(Store& store, const std::string& group, const MemberInfo& self) {
  Result<GroupSnapshot> snapshot = store.Snapshot(group);
  if (!snapshot) return false;
  for (const Member& m : snapshot->members) {
    if (m.info.id != self.id || m.info.holder == self.holder) continue;
    return m.info.host == self.host && m.info.pid > 0 &&
           kill(static_cast<pid_t>(m.info.pid), 0) != 0 && errno == ESRCH;
  }
  return false;
}

}  // namespace

Elector::Elector(Store& store, ElectorOptions options, ElectorListener& listener)
    : store_(store),
      options_(std::move(options)),
      listener_(listener),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()) {}

Elector::~Elector() = default;

TimePoint Elector::StopRequestedAt() const {
  std::lock_guard lock(mu_);
  return stop_requested_at_;
}

Result<void> Elector::Run() {
  const std::string& group = options_.lease.group;
  // A row with our id may be the leftover of a process that was killed and is now being
  // restarted (by systemd, say): it expires within the store's bound (one ttl on the SQL
  // stores), while a live owner renews it.
  std::optional<TimePoint> conflict_until;
  bool predecessor_gone = false;
  while (!stop_requested_) {
    auto registered = store_.Register(group, options_.self, options_.timing.ttl);
    if (registered) break;
    if (registered.error().code() == ErrorCode::kConflict) {
      const TimePoint now = clock_.Now();
      if (!conflict_until) {
        const Duration wait =
            store_.MemberExpiryBound(options_.timing.ttl) + options_.timing.heartbeat;
        conflict_until = now + wait;
        spdlog::warn("{}; waiting up to {} in case it is the row of a process that has died",
                     registered.error().message(), FormatDuration(wait));
      }
      if (now >= *conflict_until && !predecessor_gone) {
        predecessor_gone = PredecessorIsGone(store_, group, options_.self);
        if (!predecessor_gone) return registered.error();
        spdlog::warn(
            "the process that row names is gone from this host: waiting until the "
            "store expires its row");
      }
      const TimePoint next = predecessor_gone
                                 ? now + options_.timing.heartbeat
                                 : std::min(now + options_.timing.heartbeat, *conflict_until);
      ReportPass(next, registered.error());
      clock_.WaitUntil(next, heartbeat_wakeup_);
      continue;
    }
    if (!registered.error().retryable()) return registered.error();
    int failures;
    {
      std::lock_guard lock(mu_);
      failures = ++consecutive_failures_;
    }
    const Duration delay = Backoff(false);
    if (WorthLogging(failures)) {
      spdlog::warn("cannot register in {} ({} in a row): {}; retrying in {}", store_.Describe(),
                   failures, registered.error().message(), FormatDuration(delay));
    }
    const TimePoint next = clock_.Now() + delay;
    ReportPass(next, registered.error());
    clock_.WaitUntil(next, heartbeat_wakeup_);
  }
  if (stop_requested_) return Ok();
  {
    std::lock_guard lock(mu_);
    consecutive_failures_ = 0;
    registered_ = true;
  }
  spdlog::info("registered as {} in group \"{}\" on {}", options_.self.id, group,
               store_.Describe());
  if (options_.observer != nullptr) options_.observer->OnReady();

  auto watch = store_.WatchReleases(options_.lease, [this] { heartbeat_wakeup_.Notify(); });
  std::thread watchdog([this] { WatchdogLoop(); });
  while (!stop_requested_) {
    const TimePoint next = Tick();
    std::optional<Error> error;
    {
      std::lock_guard lock(mu_);
      error = last_error_;
    }
    ReportPass(next, error);
    if (stop_requested_) break;
    clock_.WaitUntil(next, heartbeat_wakeup_);
  }
  watch.reset();

  // SPEC 2.3: stop the active work first, then release the lease, then unregister.
  BecomePassive(PassiveReason::kStopping);
  watchdog_wakeup_.Notify();
  watchdog.join();
  uint64_t token;
  std::optional<Error> fatal;
  {
    std::lock_guard lock(mu_);
    token = token_;
    fatal = fatal_;
  }
  if (token != 0) {
    auto released = store_.Release(options_.lease, options_.self.holder, token);
    if (!released) {
      spdlog::warn("could not release the lease (it will expire by itself): {}",
                   released.error().message());
    } else if (*released) {
      spdlog::info("released the lease (token {}): the handover took {} from the stop", token,
                   FormatDuration(clock_.Now() - StopRequestedAt()));
    }
  }
  auto unregistered = store_.Unregister(group, options_.self);
  if (!unregistered) {
    spdlog::warn("could not delete the member row (others will reap it): {}",
                 unregistered.error().message());
  }
  if (fatal) return *fatal;
  return Ok();
}

void Elector::RequestStop() {
  {
    std::lock_guard lock(mu_);
    if (!stop_requested_) stop_requested_at_ = clock_.Now();
  }
  stop_requested_ = true;
  heartbeat_wakeup_.Notify();
  watchdog_wakeup_.Notify();
}

TimePoint Elector::Tick() {
  const Timing& timing = options_.timing;
  HeartbeatRequest request;
  request.lease = options_.lease;
  request.self = options_.self;
  request.member_ttl = timing.ttl;
  request.lease_ttl = timing.ttl;
  const TimePoint sent = clock_.Now();
  {
    std::lock_guard lock(mu_);
    if (active_) {
      request.intent = LeaseIntent::kRenew;
      request.token = token_;
      request.role = MemberRole::kActive;
    } else {
      request.intent = sent < compete_after_ ? LeaseIntent::kObserve : LeaseIntent::kAcquire;
    }
  }
  auto reply = store_.Heartbeat(request);
  const TimePoint received = clock_.Now();
  {
    std::lock_guard lock(mu_);
    last_error_ = reply ? std::nullopt : std::optional<Error>(reply.error());
  }
  if (!reply) {
    Publish({.kind = EventKind::kHeartbeatFailed,
             .latency = received - sent,
             .detail = reply.error().message()});
    return OnHeartbeatFailed(reply.error(), received);
  }
  Publish({.kind = EventKind::kHeartbeat, .latency = received - sent});
  {
    std::lock_guard lock(mu_);
    const std::string& holder = reply->lease.free() ? std::string() : reply->lease.holder;
    last_holder_id_ = HolderId(holder);
    ++counters_.heartbeats;
    counters_.last_heartbeat_latency = received - sent;
    consecutive_failures_ = 0;
    counters_.reaped += reply->reaped.size();
  }
  for (const std::string& id : reply->reaped) {
    spdlog::info("reaped orphan member {}", id);
    Publish({.kind = EventKind::kReaped, .detail = id});
    listener_.OnReaped(id);
  }
  std::unique_lock transition(transition_mu_);
  // A deadline that passed while the call was in flight ends the interval before the
  // reply counts: the guardian has already acted on it.
  BecomePassiveLocked(PassiveReason::kDeadlinePassed);
  detail::HeartbeatBelief before;
  {
    std::lock_guard lock(mu_);
    before = {.active = active_,
              .token = token_,
              .stopping = stop_requested_,
              .compete_after = compete_after_};
  }
  const detail::HeartbeatDecision d =
      detail::DecideAfterHeartbeat(before, *reply, timing, options_.self.holder, sent, received);
  if (d.lost) BecomePassiveLocked(PassiveReason::kLeaseLost, *d.lost);
  using detail::HeartbeatOutcome;
  {
    std::lock_guard lock(mu_);
    token_ = d.token;
    if (d.outcome == HeartbeatOutcome::kRenewed || d.outcome == HeartbeatOutcome::kStepDown) {
      deadline_ = d.deadline;
    } else if (d.outcome == HeartbeatOutcome::kAcquired) {
      active_ = true;
      deadline_ = d.deadline;
      ++counters_.acquisitions;
    } else if (d.outcome == HeartbeatOutcome::kAcquiredLate) {
      ++counters_.late_renewals;
    }
  }
  switch (d.outcome) {
    case HeartbeatOutcome::kRenewed:
      listener_.OnRenewed(d.token, d.deadline);
      break;
    case HeartbeatOutcome::kStepDown:
      listener_.OnRenewed(d.token, d.deadline);
      transition.unlock();
      GiveUp(timing.ttl, d.why);
      return clock_.Now();
    case HeartbeatOutcome::kAcquired:
      Publish({.kind = EventKind::kBecameActive, .token = d.token});
      spdlog::info("became active with token {} (deadline in {})", d.token,
                   FormatDuration(d.deadline - received));
      listener_.OnActive(d.token, d.deadline);
      watchdog_wakeup_.Notify();
      break;
    case HeartbeatOutcome::kAcquiredLate:
      Publish({.kind = EventKind::kLateAcquisition, .token = d.token});
      break;
    case HeartbeatOutcome::kAcquiredStopping:
    case HeartbeatOutcome::kStaleHold:
      break;
    case HeartbeatOutcome::kPassive:
      listener_.OnStillPassive();
      transition.unlock();
      if (options_.self.priority > 0) AskForTheRole(reply->lease);
      break;
  }
  return d.next;
}

TimePoint Elector::OnHeartbeatFailed(const Error& error, TimePoint received) {
  bool active;
  int failures;
  {
    std::lock_guard lock(mu_);
    ++counters_.heartbeat_failures;
    failures = ++consecutive_failures_;
    active = active_;
    if (!error.retryable()) fatal_ = error;
  }
  if (!error.retryable()) {
    spdlog::error("heartbeat failed and cannot be retried: {}", error.message());
    RequestStop();
    return received;
  }
  const Duration delay = Backoff(active);
  if (WorthLogging(failures)) {
    spdlog::warn("heartbeat to {} failed ({} in a row): {}; retrying in {}", store_.Describe(),
                 failures, error.message(), FormatDuration(delay));
  }
  return received + delay;
}

Duration Elector::Backoff(bool active) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  int failures;
  {
    std::lock_guard lock(mu_);
    failures = std::max(consecutive_failures_, 1);
  }
  // An active instance retries quickly so that a short outage does not cost the lease; a
  // passive one backs off up to its heartbeat.
  const Duration cap = active ? std::max<Duration>(options_.timing.heartbeat / 4, milliseconds(10))
                              : options_.timing.heartbeat;
  Duration delay = kFirstBackoff * (1LL << std::min(failures - 1, 16));
  delay = std::min(delay, cap);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::duration_cast<Duration>(delay * jitter(rng));
}

bool Elector::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

uint64_t Elector::token() const {
  std::lock_guard lock(mu_);
  return token_;
}

TimePoint Elector::deadline() const {
  std::lock_guard lock(mu_);
  return deadline_;
}

ElectorCounters Elector::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

}  // namespace baton
