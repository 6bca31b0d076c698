#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include "baton/clock.h"
#include "baton/events.h"
#include "baton/loop_observer.h"
#include "baton/queue.h"
#include "baton/result.h"
#include "baton/timing.h"

namespace baton {

// The three durations of a claim (SPEC 3.2). A claim is extended every visibility/3 while its
// work runs; its local deadline is sent + visibility − margin of the last claim or extension
// that succeeded, so work stopped by then ends `margin` before any other worker can claim the
// item again. Two extensions must fit before the deadline, so one failed extension never
// costs the claim, and the grace lets the work stop cleanly.
struct ClaimTiming {
  Duration visibility;
  Duration margin;
  Duration grace;
};

struct ClaimTimingOptions {
  Duration visibility = std::chrono::seconds(30);
  std::optional<Duration> margin;  // Default: max(visibility / 10, 100ms).
  std::optional<Duration> grace;   // Default: visibility / 5.
};

// Fills in the defaults and checks 2 × visibility/3 + margin + grace ≤ visibility and a
// visibility of at least 500 ms; kInvalidArgument naming the options (by `names`) otherwise.
Result<ClaimTiming> ResolveClaimTiming(const ClaimTimingOptions& options,
                                       const OptionNames& names = FieldNames());

// The wait before retry number `attempt` + 1 after attempt `attempt` failed: base × 2^(attempt−1),
// at most `max`, times a random factor in [0.5, 1] so that failing items spread out. Below the
// cap, never shorter than the wait after the attempt before (the factor spans one doubling).
Duration RetryBackoff(int attempt, Duration base, Duration max);

// Why an item's work is asked to stop.
enum class StopReason {
  kNone,
  kWorkerStopping,  // The worker stops (SIGTERM): finish or be released to another worker.
  kTimeout,         // The attempt ran past --timeout: it fails.
  kClaimLost,       // An extension was refused (stale or cancelled): stop at once.
  kDeadline,        // No extension succeeded by deadline − grace.
};
const char* ToString(StopReason reason);

// What one item's work gets. Valid while the work runs; safe to use from any thread.
class ItemContext {
 public:
  virtual ~ItemContext() = default;
  virtual const QueueKey& queue() const = 0;
  // The item, its attempt and its claim token: pass the token to the user's own writes
  // (check_claim on PostgreSQL, baton_claim_fence on SQLite).
  virtual const ClaimedItem& item() const = 0;
  // Requested on every StopReason; return promptly.
  virtual std::stop_token stop_token() const = 0;
  virtual StopReason stop_reason() const = 0;
  // The claim's local deadline; work must have ended by then.
  virtual TimePoint deadline() const = 0;
  Duration TimeLeft(const Clock& clock) const { return deadline() - clock.Now(); }
  // Extends the claim now, besides the worker's own extension every visibility/3. False
  // when the store refused (the claim is lost: stop_token() is then requested) or could not
  // be reached.
  virtual bool Extend() = 0;
  // Calls `on_change` with the new deadline after every extension that succeeded, and with
  // now when the claim is lost. For work that enforces the deadline elsewhere (a guardian
  // process). Set once, before the work starts anything that needs it.
  virtual void OnDeadlineChange(std::function<void(TimePoint)> on_change) = 0;
};

// How one attempt ended.
struct WorkResult {
  enum class Kind {
    kDone,   // Acknowledged: the item leaves the queue.
    kRetry,  // Failed: retried after a backoff, or dead once attempts are used up.
    kDead,   // A poison item: dead-lettered at once.
  };
  Kind kind = Kind::kDone;
  std::string error;  // kRetry, kDead: what went wrong (the tail of standard error).
  std::optional<int> exit_code;

  static WorkResult Done() { return {}; }
  static WorkResult Retry(std::string error, std::optional<int> exit_code = std::nullopt) {
    return {Kind::kRetry, std::move(error), exit_code};
  }
  static WorkResult Dead(std::string error, std::optional<int> exit_code = std::nullopt) {
    return {Kind::kDead, std::move(error), exit_code};
  }
};

// The work of one item. Called on a thread of its own per running item, up to `concurrency`
// at once; must return soon after its stop token is requested. An exception counts as a
// failed attempt.
using ItemWork = std::function<WorkResult(ItemContext&)>;

struct WorkerOptions {
  QueueKey queue;
  std::string worker_id;  // Who claims, for `baton queue list` and logs. Default: the host's.
  int concurrency = 1;
  ClaimTimingOptions timing;
  Duration timeout = std::chrono::minutes(30);  // Bound on one attempt.
  int max_attempts = 5;
  Duration backoff = std::chrono::seconds(1);
  Duration backoff_max = std::chrono::minutes(10);
  // Longest wait between claims of an idle worker when no wake-up comes.
  Duration poll = std::chrono::seconds(1);
  // When work has not returned by its claim's deadline, end the process (exit code 70)
  // rather than let it run on while another worker may claim the item. Off: wait for it.
  bool exit_on_overrun = true;
  Clock* clock = nullptr;  // Default: Clock::Real(). Must outlive the worker.
  // Optional: told of every pass of the claim loop (OnReady() after the first claim call,
  // whatever its outcome). Must outlive the worker.
  LoopObserver* observer = nullptr;
  // Optional: told of every claim call and every item's start and outcome. Must outlive
  // the worker.
  EventSink* events = nullptr;
};

// What happened, for logs and metrics: a tally of the events the worker publishes.
struct WorkerCounters {
  uint64_t claimed = 0;
  uint64_t done = 0;
  uint64_t failed = 0;     // Attempts that failed (to be retried or dead).
  uint64_t dead = 0;       // Dead-lettered by this worker.
  uint64_t released = 0;   // Given back on stop.
  uint64_t timed_out = 0;  // Attempts stopped at --timeout.
  uint64_t stale = 0;      // Calls refused: the claim was no longer this worker's.
  uint64_t cancelled = 0;  // Items cancelled or purged while running here.
  uint64_t store_errors = 0;
};

// Claims items of one queue and runs `work` on each, up to `concurrency` at once (SPEC 3.2–3.8):
// extends each claim every visibility/3 while its work runs, asks the work to stop at
// deadline − grace when no extension succeeded and ends the process at the deadline
// (exit_on_overrun), acknowledges (in batches), fails with a backoff or dead-letters by the
// result, and on stop releases the claims of work that did not finish. An idle worker
// claims again at an offer's wake-up, at the time the queue said something becomes ready,
// or after `poll`.
//
// Thread safety: Run() on one thread; RequestStop() and counters() from any.
class Worker final {
 public:
  // REQUIRES: `queue` outlives the worker. Check the options with Validate() first.
  Worker(Queue& queue, WorkerOptions options, ItemWork work);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // kInvalidArgument naming what is wrong with `options` (each option by `names`).
  static Result<void> Validate(const WorkerOptions& options,
                               const OptionNames& names = FieldNames());

  // Runs until RequestStop(); then stops claiming, asks running work to stop, waits for it
  // (work still running after the grace is the work's to end: a guardian kills a command),
  // releases the claims of what did not finish, and returns. Fails only on a non-retryable
  // store error (kSchemaMismatch, kInvalidArgument).
  Result<void> Run();
  void RequestStop();

  WorkerCounters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton
