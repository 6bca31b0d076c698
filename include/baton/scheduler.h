#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "baton/clock.h"
#include "baton/events.h"
#include "baton/queue.h"
#include "baton/result.h"
#include "baton/timing.h"

namespace baton {

class ActiveContext;

// Where a scheduler's tenants come from: a file, a command, a query. Called once per round,
// from the scheduler's thread only.
class TenantSource {
 public:
  virtual ~TenantSource() = default;
  // This round's tenant ids as the source gives them, one entry per line (the scheduler
  // checks and deduplicates them). An error skips the round: nothing is offered. `stop` is
  // requested when the round must end (the lease may be lost, the host stops): return soon.
  virtual Result<std::vector<std::string>> List(std::stop_token stop) = 0;
  // For logs: "--tenants-file /etc/tenants".
  virtual std::string Describe() const = 0;
};

// One id a line: a trailing '\r' is dropped, blank lines are skipped, and so are lines whose
// first character is '#' when `comments`. Nothing else is changed: spaces and quotes are
// part of an id.
std::vector<std::string> TenantLines(std::string_view text, bool comments);

// A source's ids made fit to offer: each valid id once, in first-seen order.
struct TenantList {
  std::vector<std::string> tenants;
  size_t duplicates = 0;
  // Each id ValidateTenant refused, with why ("line 3: ..."), in order.
  std::vector<std::string> invalid;
};
TenantList CleanTenants(std::vector<std::string> ids);

// A file of ids, one a line, '#' comments and blank lines skipped, read afresh each round.
// A missing or unreadable file is an error (the round is skipped).
std::unique_ptr<TenantSource> TenantFileSource(std::string path);

struct SchedulerOptions {
  QueueKey queue;
  // How often a round runs, counted from the start of the last one by the store's clock.
  Duration every = std::chrono::seconds(45);
  // The time-to-live of each offered item. Default: `every`, so an item nobody claimed
  // makes way for the next round's.
  std::optional<Duration> item_ttl;
  // Items per Offer call; each is fenced and between two the scheduler checks that its lease
  // may still be held. 1 .. kMaxRowsPerTransaction.
  int batch = kMaxRowsPerTransaction;
  // The longest wait before trying again after a store error or a refused fence.
  Duration retry = std::chrono::seconds(1);
  Clock* clock = nullptr;  // Default: Clock::Real(). Must outlive the scheduler.
  // Optional: told of every round and what went wrong in it. Must outlive the scheduler.
  EventSink* events = nullptr;
  // Tests only (BATON_UNSAFE_* in the CLI): go on offering after the lease may be lost,
  // so that the store's fence alone must refuse the offers; and offer without the fence.
  bool unsafe_offer_past_deadline = false;
  bool unsafe_no_fence = false;
};

// The name of the scheduler lease of queue `queue` in its group: "queue:<queue>".
std::string SchedulerLeaseName(const std::string& queue);

// What one round did, for logs and tests.
struct RoundReport {
  bool ran = false;  // The store started a round (it was due).
  bool source_failed = false;
  bool fenced_out = false;  // The store refused the lease's token: nothing more offered.
  bool stopped = false;     // Stopped midway: the lease may have been lost.
  bool store_error = false;
  std::string error;  // What went wrong, when anything did.
  size_t listed = 0;  // Ids the source gave.
  size_t duplicates = 0;
  size_t invalid = 0;
  size_t offered = 0;  // New items.
  size_t skipped = 0;  // Tenants that had a pending, waiting or running item.
  size_t batches = 0;
  Duration took{0};
  // When the store said the last round was (negative: in the future, a clock step).
  std::optional<Duration> since_last;
};

struct SchedulerCounters {
  uint64_t rounds = 0;         // Rounds the store started.
  uint64_t source_errors = 0;  // Rounds skipped because the source failed.
  uint64_t fenced_out = 0;     // Offers or round starts refused on the token.
  uint64_t store_errors = 0;
  uint64_t offered = 0;
  uint64_t skipped = 0;
  uint64_t invalid = 0;
  uint64_t clock_steps = 0;  // Last rounds found in the future.
};

// The scheduler of one queue (SPEC 3.1): while its instance holds the queue's scheduler
// lease, it runs a round every `every`: it asks the store whether a round is due (Queue::
// StartRound, which keeps the last round's time by the store's clock, so a new holder waits
// until last + every), lists the tenants from its source and offers one unique item per
// tenant in fenced batches. A tenant that has a pending, waiting or running item gets none
// (the store enforces it). Every write carries the lease's token and is refused by the store
// once that token no longer holds the lease; in addition the scheduler stops offering as
// soon as its context's stop token is requested (no renewal by deadline − grace, or the
// lease lost).
//
// Thread safety: RunActive() and Step() on one thread at a time; counters() from any.
class Scheduler final {
 public:
  // REQUIRES: `queue` and `source` outlive the scheduler; Validate(options) passed.
  Scheduler(Queue& queue, SchedulerOptions options, TenantSource& source);

  // kInvalidArgument naming what is wrong (a bad queue, a non-positive every or item ttl, a
  // batch out of range), each option by `names`.
  static Result<void> Validate(const SchedulerOptions& options,
                               const OptionNames& names = FieldNames());

  // The hosted service's active callback: runs rounds under `context.token()` until its stop
  // token is requested.
  void RunActive(ActiveContext& context);

  // One step under `token`: asks the store for a round and runs it if due. Returns when to
  // step next (on the scheduler's clock) and what the round did. RunActive() calls it; tests
  // call it directly on a FakeClock. `stop` ends a round between batches.
  TimePoint Step(uint64_t token, std::stop_token stop, RoundReport* report = nullptr);

  SchedulerCounters counters() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  void RunRound(uint64_t token, const std::stop_token& stop, RoundReport& report);
  std::optional<OfferFence> Fence(uint64_t token) const;
  void Log(const RoundReport& report) const;
  // Tells options_.events, if any, of what a step did.
  void Publish(const RoundReport& report) const;
  // Whether the round may go on offering: no stop request, and the lease's local deadline
  // (when run by RunActive) not passed.
  bool MayOffer(const std::stop_token& stop) const;

  Queue& queue_;
  const SchedulerOptions options_;
  TenantSource& source_;
  Clock& clock_;
  const std::string lease_;
  const ActiveContext* context_ = nullptr;  // Set while RunActive() runs.
  bool announced_wait_ = false;             // A wait for a due round was logged.
  mutable std::mutex mu_;                   // Guards counters_.
  SchedulerCounters counters_;
};

}  // namespace baton
