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
// A done item waits this long for a claimer to acknowledge it with its next claim (one
// statement for both) before the finisher acknowledges it alone.
constexpr Duration kAckWait = std::chrono::milliseconds(5);
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

  // A claimer: claims while slots are free, then waits for a wake-up. Claimer 0 also
  // waits for the time the queue names.
  void ClaimLoop(int index);
  // Tells the observer, if any, of claimer `index`'s pass that ends now (claimer 0 speaks
  // for them all: its passes go on while the others' do), then waits for the next one at
  // `next` (or a wake-up).
  void WaitForNextPass(int index, TimePoint next, const std::optional<Error>& error);
  void StartItem(const ClaimedItem& item, TimePoint sent);
  // Extends `running`'s claim now. False when refused or not reached.
  bool ExtendOne(worker_detail::RunningItem& running);
  void ExtenderLoop();
  void WatchdogLoop();
  void FinisherLoop();
  // What the finisher takes from `finished` now: everything but done items younger than
  // kAckWait, unless stopping. Sets `wake` to when the first of those is due. REQUIRES: mu.
  std::vector<worker_detail::Finished> TakeForFinisher(TimePoint now,
                                                       std::optional<TimePoint>& wake);
  // The done items in `finished`, for a claimer's next claim. REQUIRES: mu.
  std::vector<worker_detail::Finished> TakeDone();
  void Finish(std::vector<worker_detail::Finished> batch);
  // Logs and counts acknowledgements' outcomes, one per item of `acked`, in order.
  void RecordAcks(const std::vector<const worker_detail::Finished*>& acked,
                  const std::vector<ClaimOutcome>& outcomes);
  // Frees the slots of finished items whose outcome the store has (or never will).
  void Settle(const std::vector<worker_detail::Finished>& batch);
  void Record(const worker_detail::RunningItem& running, ClaimOutcome outcome, const char* what);
  template <typename Call>
  auto WithRetries(Call call, const char* what, uint64_t id) -> decltype(call());
  // Slots taken: items whose work runs, and items whose work has returned but whose outcome
  // the store does not have yet beyond `concurrency` of them. A finished item frees its slot
  // at once, so the next claim overlaps its acknowledgement; the store still keeps its
  // tenant until the acknowledgement. The bound keeps a slow store from piling them up.
  // REQUIRES: mu.
  int BusySlotsLocked() const {
    const size_t settling = std::min(finishing, static_cast<size_t>(options.concurrency));
    return static_cast<int>(running.size() - settling);
  }
  // Counts `event` in `counters` and tells options.events, if any: the one path by which the
  // worker reports what it did. Its queue is filled in.
  void Publish(Event event);
  // How long `f`'s work ran, from the claim that took it.
  static Duration WorkTime(const worker_detail::Finished& f) { return f.at - f.running->started; }

  Queue& queue;
  const WorkerOptions options;
  const ItemWork work;
  Clock& clock;
  const ClaimTiming timing;

  std::atomic<bool> stopping{false};
  std::optional<Error> fatal;  // Guarded by mu; read once the claimers are done.

  std::mutex mu;  // Guards running, finished and the counts beside them.
  std::map<uint64_t, std::shared_ptr<worker_detail::RunningItem>> running;
  std::deque<worker_detail::Finished> finished;
  size_t finishing = 0;  // Items in `running` whose work has returned.
  int reserved = 0;      // Slots that claims out now may fill.
  // Claims out now: done items wait for the next one, however long these take, rather than
  // going alone after kAckWait.
  int claims_out = 0;
  std::condition_variable finished_cv;
  bool finisher_done = false;  // Guarded by mu: every item has been finished.

  Wakeup claim_wakeup;     // An offer, a freed slot, a stop.
  Wakeup extend_wakeup;    // A new item, a stop.
  Wakeup watchdog_wakeup;  // A new item or deadline, a stop.

  mutable std::mutex counters_mu;
  WorkerCounters counters;
};

}  // namespace baton
