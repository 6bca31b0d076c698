#pragma once

// The worker's shared state (baton/worker.h), split over worker.cc (claiming, extending, the
// watchdog) and worker_finish.cc (acknowledging, failing, releasing).

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "baton/worker.h"
#include "worker_item.h"

namespace baton {

namespace worker_detail {

constexpr int kOverrunExitCode = 70;  // EX_SOFTWARE, as the service host's.
// After a failed extension, the next try of that item's extension.
constexpr Duration kExtensionRetry = std::chrono::milliseconds(100);
// Acknowledgements that arrive within this long share one statement.
constexpr Duration kAckGather = std::chrono::milliseconds(2);
// Tries of one acknowledgement or failure before leaving the item to its visibility.
constexpr int kFinishTries = 3;

}  // namespace worker_detail

// Thread safety: see each field.
struct Worker::Impl {
  Impl(Queue& q, WorkerOptions o, ItemWork w)
      : queue(q),
        options(std::move(o)),
        work(std::move(w)),
        clock(options.clock != nullptr ? *options.clock : Clock::Real()),
        timing(*ResolveClaimTiming(options.timing)) {}

  class Context;

  // The dispatcher: claims while slots are free, then waits for a wake-up.
  void ClaimLoop();
  // Tells the observer, if any, of the claim loop's pass that ends now, then waits for the
  // next one at `next` (or a wake-up).
  void WaitForNextPass(TimePoint next, const std::optional<Error>& error);
  void StartItem(const ClaimedItem& item, TimePoint sent);
  // Extends `running`'s claim now. False when refused or not reached.
  bool ExtendOne(worker_detail::RunningItem& running);
  void ExtenderLoop();
  void WatchdogLoop();
  void FinisherLoop();
  void Finish(std::vector<worker_detail::Finished> batch);
  void Record(const worker_detail::RunningItem& running, ClaimOutcome outcome, const char* what);
  template <typename Call>
  auto WithRetries(Call call, const char* what, uint64_t id) -> decltype(call());
  // Slots taken: items whose work runs, and items whose work has returned but whose outcome
  // the store does not have yet beyond `concurrency` of them. A finished item frees its slot
  // at once, so the next claim overlaps its acknowledgement; the store still keeps its
  // tenant until the acknowledgement. The bound keeps a slow store from piling them up.
  int BusySlots() {
    std::lock_guard lock(mu);
    const size_t settling = std::min(finishing, static_cast<size_t>(options.concurrency));
    return static_cast<int>(running.size() - settling);
  }
  bool WorkStillRunning() {
    std::lock_guard lock(mu);
    return running.size() > finishing;
  }
  void Count(uint64_t WorkerCounters::*field, uint64_t n = 1) {
    std::lock_guard lock(counters_mu);
    counters.*field += n;
  }

  Queue& queue;
  const WorkerOptions options;
  const ItemWork work;
  Clock& clock;
  const ClaimTiming timing;

  std::atomic<bool> stopping{false};
  std::optional<Error> fatal;  // Set by the dispatcher only.

  std::mutex mu;  // Guards running and finished.
  std::map<uint64_t, std::shared_ptr<worker_detail::RunningItem>> running;
  std::deque<worker_detail::Finished> finished;
  size_t finishing = 0;  // Items in `running` whose work has returned.
  std::condition_variable finished_cv;
  bool finisher_done = false;  // Guarded by mu: every item has been finished.

  Wakeup claim_wakeup;     // An offer, a freed slot, a stop.
  Wakeup extend_wakeup;    // A new item, a stop.
  Wakeup watchdog_wakeup;  // A new item or deadline, a stop.

  mutable std::mutex counters_mu;
  WorkerCounters counters;
};

}  // namespace baton
