#include "metrics/event_metrics.h"

#include "baton/elector.h"

namespace baton::metrics {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;

// A heartbeat or a claim is one round trip: from half a millisecond on a quiet local store to
// seconds when the store struggles, where the timing rules start to bite.
const Histogram::BucketBoundaries& RoundTripBuckets() {
  static const Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                                   0.1,    0.25,  0.5,   1,     2.5,  5};
  return buckets;
}

// An item's work or a round: from a no-op to the 30 minutes of the default --timeout.
const Histogram::BucketBoundaries& WorkBuckets() {
  static const Histogram::BucketBoundaries buckets{0.001, 0.01, 0.1, 0.5, 1,   2.5,
                                                   5,     10,   30,  60,  300, 1800};
  return buckets;
}

Family<Gauge>& GaugeFamily(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}
Family<Counter>& CounterFamily(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}
Family<Histogram>& HistogramFamily(prometheus::Registry& registry, const char* name,
                                   const char* help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

// `labels` and one more.
Labels With(Labels labels, const char* key, const char* value) {
  labels.emplace(key, value);
  return labels;
}

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

// Why an instance lost its lease, as a label value; empty for a passive turn that is no loss.
const char* LossCause(PassiveReason reason) {
  switch (reason) {
    case PassiveReason::kLeaseLost:
      return "lease_lost";
    case PassiveReason::kDeadlinePassed:
      return "deadline_passed";
    case PassiveReason::kReleased:
    case PassiveReason::kStopping:
      return "";
  }
  return "";
}

}  // namespace

struct EventMetrics::Lease {
  Labels labels;
  Gauge* is_active;
  Gauge* token;
  Counter* to_active;
  Counter* to_passive;
  Histogram* heartbeat;
  Counter* heartbeat_failures;
  Counter* late_acquisitions;
  Counter* reaped;
};

struct EventMetrics::Work {
  Histogram* claim;
  Counter* claim_failures;
  Counter* claimed;
  Gauge* in_flight;
  Counter* done;
  Counter* failed;
  Counter* dead;
  Counter* released;
  Counter* timed_out;
  Counter* cancelled;
  Counter* stale;
  Counter* store_errors;
  Histogram* done_seconds;
  Histogram* failed_seconds;
};

struct EventMetrics::Schedule {
  Counter* rounds;
  Counter* offered;
  Histogram* round;
  Counter* source_failures;
  Counter* store_failures;
  Counter* fenced_out;
  Counter* clock_steps;
};

EventMetrics::EventMetrics(prometheus::Registry& r)
    : is_active_(GaugeFamily(r, "baton_is_active", "1 while this instance holds the lease")),
      token_(GaugeFamily(r, "baton_token",
                         "The fencing token of this instance's latest active interval")),
      transitions_(CounterFamily(r, "baton_transitions_total",
                                 "Turns to active or to passive, by the state turned to")),
      heartbeat_seconds_(HistogramFamily(r, "baton_heartbeat_duration_seconds",
                                         "Round trip of one heartbeat to the store")),
      heartbeat_failures_(CounterFamily(r, "baton_heartbeat_failures_total",
                                        "Heartbeats that failed (and were retried)")),
      lease_losses_(CounterFamily(r, "baton_lease_losses_total",
                                  "Active intervals that ended against this instance's will, "
                                  "by cause: lease_lost (the store refused a renewal) or "
                                  "deadline_passed (no renewal succeeded in time)")),
      late_acquisitions_(CounterFamily(r, "baton_late_acquisitions_total",
                                       "Acquisitions that came back after their own deadline, "
                                       "unused")),
      reaped_(CounterFamily(r, "baton_reaped_members_total",
                            "Member rows of instances that stopped heartbeating, deleted by "
                            "this one")),
      claim_seconds_(HistogramFamily(r, "baton_claim_duration_seconds",
                                     "Round trip of one claim call to the store")),
      claim_failures_(
          CounterFamily(r, "baton_claim_failures_total", "Claim calls that failed (retried)")),
      claimed_(CounterFamily(r, "baton_items_claimed_total", "Items claimed by this instance")),
      in_flight_(GaugeFamily(r, "baton_items_in_flight",
                             "Items claimed by this instance whose outcome the store does not "
                             "have yet")),
      outcomes_(CounterFamily(r, "baton_items_total",
                              "Items this instance finished, by outcome: done, failed (an "
                              "attempt to retry or dead-letter), dead, released (given back "
                              "on stop), timed_out (stopped at --timeout), cancelled")),
      stale_claims_(CounterFamily(r, "baton_stale_claims_total",
                                  "Calls on a claim that the store refused: the claim was no "
                                  "longer this instance's")),
      queue_errors_(CounterFamily(r, "baton_queue_store_errors_total",
                                  "Other queue calls of the worker that failed")),
      item_seconds_(HistogramFamily(r, "baton_item_duration_seconds",
                                    "How long an item's work ran, by outcome: done or failed")),
      rounds_(CounterFamily(r, "baton_rounds_total", "Scheduling rounds run")),
      offered_(CounterFamily(r, "baton_items_offered_total", "Items offered by rounds")),
      round_seconds_(HistogramFamily(r, "baton_round_duration_seconds",
                                     "How long a round took, its tenant source included")),
      round_failures_(CounterFamily(r, "baton_round_failures_total",
                                    "Rounds that failed, by cause: source (the tenant source "
                                    "failed), store, fenced (the store refused the token)")),
      clock_steps_(CounterFamily(r, "baton_scheduler_clock_steps_total",
                                 "Times the last round lay in the future by the store's clock")) {}

EventMetrics::~EventMetrics() = default;

EventMetrics::Lease& EventMetrics::LeaseOf(const Event& e) {
  std::lock_guard lock(mu_);
  auto& slot = leases_[{std::string(e.group), std::string(e.name)}];
  if (!slot) {
    const Labels l{{"group", std::string(e.group)}, {"lease", std::string(e.name)}};
    slot = std::make_unique<Lease>(Lease{
        .labels = l,
        .is_active = &is_active_.Add(l),
        .token = &token_.Add(l),
        .to_active = &transitions_.Add(With(l, "to", "active")),
        .to_passive = &transitions_.Add(With(l, "to", "passive")),
        .heartbeat = &heartbeat_seconds_.Add(l, RoundTripBuckets()),
        .heartbeat_failures = &heartbeat_failures_.Add(l),
        .late_acquisitions = &late_acquisitions_.Add(l),
        .reaped = &reaped_.Add(l),
    });
    for (const char* cause : {"lease_lost", "deadline_passed"})
      lease_losses_.Add(With(l, "cause", cause));
  }
  return *slot;
}

EventMetrics::Work& EventMetrics::WorkOf(const Event& e) {
  std::lock_guard lock(mu_);
  auto& slot = works_[{std::string(e.group), std::string(e.name)}];
  if (!slot) {
    const Labels l{{"group", std::string(e.group)}, {"queue", std::string(e.name)}};
    auto outcome = [&](const char* name) { return &outcomes_.Add(With(l, "outcome", name)); };
    slot = std::make_unique<Work>(Work{
        .claim = &claim_seconds_.Add(l, RoundTripBuckets()),
        .claim_failures = &claim_failures_.Add(l),
        .claimed = &claimed_.Add(l),
        .in_flight = &in_flight_.Add(l),
        .done = outcome("done"),
        .failed = outcome("failed"),
        .dead = outcome("dead"),
        .released = outcome("released"),
        .timed_out = outcome("timed_out"),
        .cancelled = outcome("cancelled"),
        .stale = &stale_claims_.Add(l),
        .store_errors = &queue_errors_.Add(l),
        .done_seconds = &item_seconds_.Add(With(l, "outcome", "done"), WorkBuckets()),
        .failed_seconds = &item_seconds_.Add(With(l, "outcome", "failed"), WorkBuckets()),
    });
  }
  return *slot;
}

EventMetrics::Schedule& EventMetrics::ScheduleOf(const Event& e) {
  std::lock_guard lock(mu_);
  auto& slot = schedules_[{std::string(e.group), std::string(e.name)}];
  if (!slot) {
    const Labels l{{"group", std::string(e.group)}, {"queue", std::string(e.name)}};
    auto failure = [&](const char* cause) { return &round_failures_.Add(With(l, "cause", cause)); };
    slot = std::make_unique<Schedule>(Schedule{
        .rounds = &rounds_.Add(l),
        .offered = &offered_.Add(l),
        .round = &round_seconds_.Add(l, WorkBuckets()),
        .source_failures = failure("source"),
        .store_failures = failure("store"),
        .fenced_out = failure("fenced"),
        .clock_steps = &clock_steps_.Add(l),
    });
  }
  return *slot;
}

void EventMetrics::OnEvent(const Event& event) {
  switch (event.kind) {
    case EventKind::kHeartbeat:
    case EventKind::kHeartbeatFailed:
    case EventKind::kBecameActive:
    case EventKind::kBecamePassive:
    case EventKind::kLateAcquisition:
    case EventKind::kReaped:
      return OnLeaseEvent(event);
    case EventKind::kRound:
    case EventKind::kRoundSourceFailed:
    case EventKind::kFencedOut:
    case EventKind::kClockStep:
    case EventKind::kRoundStoreError:
      return OnScheduleEvent(event);
    default:
      return OnWorkEvent(event);
  }
}

void EventMetrics::OnLeaseEvent(const Event& e) {
  Lease& m = LeaseOf(e);
  switch (e.kind) {
    case EventKind::kHeartbeat:
      m.heartbeat->Observe(Seconds(e.latency));
      break;
    case EventKind::kHeartbeatFailed:
      m.heartbeat_failures->Increment();
      break;
    case EventKind::kBecameActive:
      m.is_active->Set(1);
      m.token->Set(static_cast<double>(e.token));
      m.to_active->Increment();
      break;
    case EventKind::kBecamePassive:
      m.is_active->Set(0);
      m.to_passive->Increment();
      if (const char* cause = LossCause(e.passive_reason); *cause != '\0') {
        lease_losses_.Add(With(m.labels, "cause", cause)).Increment();
      }
      break;
    case EventKind::kLateAcquisition:
      m.late_acquisitions->Increment();
      break;
    case EventKind::kReaped:
      m.reaped->Increment();
      break;
    default:
      break;
  }
}

void EventMetrics::OnWorkEvent(const Event& e) {
  Work& m = WorkOf(e);
  switch (e.kind) {
    case EventKind::kClaimed:
      m.claim->Observe(Seconds(e.latency));
      break;
    case EventKind::kClaimFailed:
      m.claim->Observe(Seconds(e.latency));
      m.claim_failures->Increment();
      break;
    case EventKind::kItemStarted:
      m.claimed->Increment();
      m.in_flight->Increment();
      break;
    case EventKind::kItemSettled:
      m.in_flight->Decrement(static_cast<double>(e.count));
      break;
    case EventKind::kItemDone:
      m.done->Increment();
      m.done_seconds->Observe(Seconds(e.latency));
      break;
    case EventKind::kItemFailed:
      m.failed->Increment();
      m.failed_seconds->Observe(Seconds(e.latency));
      break;
    case EventKind::kItemDead:
      m.dead->Increment();
      break;
    case EventKind::kItemReleased:
      m.released->Increment();
      break;
    case EventKind::kItemTimedOut:
      m.timed_out->Increment();
      break;
    case EventKind::kClaimCancelled:
      m.cancelled->Increment();
      break;
    case EventKind::kClaimStale:
      m.stale->Increment();
      break;
    case EventKind::kStoreError:
      m.store_errors->Increment();
      break;
    default:
      break;
  }
}

void EventMetrics::OnScheduleEvent(const Event& e) {
  Schedule& m = ScheduleOf(e);
  switch (e.kind) {
    case EventKind::kRound:
      m.rounds->Increment();
      m.offered->Increment(static_cast<double>(e.count));
      m.round->Observe(Seconds(e.latency));
      break;
    case EventKind::kRoundSourceFailed:
      m.source_failures->Increment();
      break;
    case EventKind::kRoundStoreError:
      m.store_failures->Increment();
      break;
    case EventKind::kFencedOut:
      m.fenced_out->Increment();
      break;
    case EventKind::kClockStep:
      m.clock_steps->Increment();
      break;
    default:
      break;
  }
}

}  // namespace baton::metrics
