#include "baton/events.h"

namespace baton {

const char* ToString(EventKind kind) {
  switch (kind) {
    case EventKind::kHeartbeat:
      return "heartbeat";
    case EventKind::kHeartbeatFailed:
      return "heartbeat failed";
    case EventKind::kBecameActive:
      return "became active";
    case EventKind::kBecamePassive:
      return "became passive";
    case EventKind::kLateAcquisition:
      return "late acquisition";
    case EventKind::kReaped:
      return "reaped";
    case EventKind::kClaimed:
      return "claimed";
    case EventKind::kClaimFailed:
      return "claim failed";
    case EventKind::kItemStarted:
      return "item started";
    case EventKind::kItemDone:
      return "item done";
    case EventKind::kItemFailed:
      return "item failed";
    case EventKind::kItemDead:
      return "item dead";
    case EventKind::kItemReleased:
      return "item released";
    case EventKind::kItemTimedOut:
      return "item timed out";
    case EventKind::kItemSettled:
      return "item settled";
    case EventKind::kClaimStale:
      return "claim stale";
    case EventKind::kClaimCancelled:
      return "claim cancelled";
    case EventKind::kStoreError:
      return "store error";
    case EventKind::kRound:
      return "round";
    case EventKind::kRoundSourceFailed:
      return "round source failed";
    case EventKind::kFencedOut:
      return "fenced out";
    case EventKind::kClockStep:
      return "clock step";
    case EventKind::kRoundStoreError:
      return "round store error";
  }
  return "unknown";
}

}  // namespace baton
