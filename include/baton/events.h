#pragma once

#include <cstdint>
#include <string_view>

#include "baton/clock.h"

namespace baton {

enum class PassiveReason;  // baton/elector.h

// What an elector, a worker or a scheduler did: the one stream a worker's counters are kept
// from, and the one that metrics subscribe to. (Log lines are still written where the event
// happens.) Each kind says which fields it fills; the others keep their defaults.
enum class EventKind {
  // An elector's, for the lease `group`/`name`.
  kHeartbeat,        // A heartbeat came back: `latency`.
  kHeartbeatFailed,  // A heartbeat failed (retried): `latency`, `detail` = the error.
  kBecameActive,     // `token`.
  kBecamePassive,    // `token` given up, `passive_reason`.
  kLateAcquisition,  // An acquisition came back after its own deadline, unused: `token`.
  kReaped,           // The row of a member that stopped heartbeating was deleted: `detail` = id.
  // A worker's, for the queue `group`/`name`.
  kClaimed,         // A claim call came back: `latency`, `count` = items claimed.
  kClaimFailed,     // A claim call failed: `latency`, `detail` = the error.
  kItemStarted,     // One claimed item's work starts.
  kItemDone,        // Acknowledged: `latency` = how long its work ran.
  kItemFailed,      // A failed attempt recorded (to be retried, or dead): `latency` as above.
  kItemDead,        // Dead-lettered by this worker (after its kItemFailed).
  kItemReleased,    // Given back unfinished on stop.
  kItemTimedOut,    // Its work was stopped at --timeout.
  kItemSettled,     // `count` items' slots are free: the store has their outcomes (or never will).
  kClaimStale,      // The store refused a call on the claim: it was no longer ours.
  kClaimCancelled,  // The item was cancelled or purged while it ran here.
  kStoreError,      // Any other queue call failed.
  // A scheduler's, for the queue `group`/`name`.
  kRound,              // A round ran: `count` = items offered, `latency` = how long it took.
  kRoundSourceFailed,  // The tenant source failed: the round was skipped.
  kFencedOut,          // The store refused the lease's token.
  kClockStep,          // The last round lay in the future.
  kRoundStoreError,    // A round's store call failed.
};
const char* ToString(EventKind kind);

struct Event {
  EventKind kind;
  // The lease (elector) or queue (worker, scheduler) it concerns. Valid during the call.
  std::string_view group = {};
  std::string_view name = {};
  uint64_t token = 0;
  PassiveReason passive_reason{};
  Duration latency{0};
  int64_t count = 0;
  std::string_view detail = {};
};

// Told of every event. The elector, worker and scheduler each take one (their options'
// `events`); one sink may serve them all.
//
// Thread safety: called from the publisher's threads, several at once when one sink serves
// several publishers (or a worker's many threads). Must return promptly, must not block on a
// store call and must not call back into the publisher.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnEvent(const Event& event) = 0;
};

}  // namespace baton
