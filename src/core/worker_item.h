#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

#include "baton/worker.h"

namespace baton::worker_detail {

// One claimed item in flight: its claim, its deadline and what stops its work. Shared by the
// worker's threads (claimers, extender, watchdog, finisher) and the item's own thread.
//
// Thread-safe: the atomics are read anywhere; `mu` guards the rest.
struct RunningItem {
  RunningItem(ClaimedItem claimed, TimePoint claim_sent, TimePoint deadline_at)
      : item(std::move(claimed)),
        started(claim_sent),
        deadline_ns(deadline_at.time_since_epoch().count()),
        last_extension_sent(claim_sent) {}

  TimePoint deadline() const { return TimePoint(Duration(deadline_ns.load())); }
  // Asks the work to stop for `why`, unless it was already asked. Returns whether this call
  // was the first.
  bool Stop(StopReason why) {
    StopReason none = StopReason::kNone;
    if (!reason.compare_exchange_strong(none, why)) return false;
    stop.request_stop();
    return true;
  }

  const ClaimedItem item;
  const TimePoint started;  // When the claim was sent: --timeout counts from here.
  std::stop_source stop;
  std::atomic<StopReason> reason{StopReason::kNone};
  std::atomic<Duration::rep> deadline_ns;
  std::atomic<bool> finished{false};  // The work has returned.
  // The store refused an extension: never extend again. Apart from `reason`, whose first
  // value wins: work already told to stop for another reason can still lose its claim.
  std::atomic<bool> claim_lost{false};

  std::mutex mu;  // Guards the fields below; serializes this item's extensions.
  TimePoint last_extension_sent;
  TimePoint next_extension_try{TimePoint::min()};  // After a failed extension, retry then.
  std::function<void(TimePoint)> on_deadline_change;
  std::thread thread;
};

// What the work of an item returned, for the finisher.
struct Finished {
  std::shared_ptr<RunningItem> running;
  WorkResult result;
  TimePoint at;  // When the work returned.
};

}  // namespace baton::worker_detail
