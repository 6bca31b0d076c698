#include "baton/worker.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>

#include "baton/elector.h"
#include "baton/timing.h"
#include "worker_impl.h"

namespace baton {

using worker_detail::Finished;
using worker_detail::kExtensionRetry;
using worker_detail::kOverrunExitCode;
using worker_detail::RunningItem;

// What the work of one item sees.
class Worker::Impl::Context final : public ItemContext {
 public:
  Context(Impl& impl, std::shared_ptr<RunningItem> running)
      : impl_(impl), running_(std::move(running)) {}
  const QueueKey& queue() const override { return impl_.options.queue; }
  const ClaimedItem& item() const override { return running_->item; }
  std::stop_token stop_token() const override { return running_->stop.get_token(); }
  StopReason stop_reason() const override { return running_->reason.load(); }
  TimePoint deadline() const override { return running_->deadline(); }
  bool Extend() override { return impl_.ExtendOne(*running_); }
  void OnDeadlineChange(std::function<void(TimePoint)> on_change) override {
    std::lock_guard lock(running_->mu);
    running_->on_deadline_change = std::move(on_change);
  }

 private:
  Impl& impl_;
  std::shared_ptr<RunningItem> running_;
};

Worker::Worker(Queue& queue, WorkerOptions options, ItemWork work)
    : impl_(std::make_unique<Impl>(queue, std::move(options), std::move(work))) {}

Worker::~Worker() = default;

Result<void> Worker::Validate(const WorkerOptions& options, const OptionNames& names) {
  if (auto r = queue_detail::CheckQueueKey(options.queue); !r) return r;
  if (auto r = ResolveClaimTiming(options.timing, names); !r) return r.error();
  const auto invalid = [](std::string m) { return Error(ErrorCode::kInvalidArgument, m); };
  if (options.concurrency < 1 || options.concurrency > kMaxClaimItems) {
    return invalid(names("concurrency") + " " + std::to_string(options.concurrency) +
                   " is out of range: give 1 to " + std::to_string(kMaxClaimItems));
  }
  if (options.max_attempts < 1) return invalid(names("max_attempts") + " must be at least 1");
  for (const auto& [field, d] :
       {std::pair{"timeout", options.timeout}, std::pair{"backoff", options.backoff},
        std::pair{"backoff_max", options.backoff_max}, std::pair{"poll", options.poll}}) {
    if (d <= Duration::zero()) return invalid(names(field) + " must be positive");
  }
  if (options.backoff_max < options.backoff) {
    return invalid(names("backoff_max") + " " + FormatDuration(options.backoff_max) +
                   " is shorter than " + names("backoff") + " " + FormatDuration(options.backoff));
  }
  return Ok();
}

void Worker::Impl::Publish(Event event) {
  {
    std::lock_guard lock(counters_mu);
    switch (event.kind) {
      case EventKind::kItemStarted:
        ++counters.claimed;
        break;
      case EventKind::kItemDone:
        ++counters.done;
        break;
      case EventKind::kItemFailed:
        ++counters.failed;
        break;
      case EventKind::kItemDead:
        ++counters.dead;
        break;
      case EventKind::kItemReleased:
        ++counters.released;
        break;
      case EventKind::kItemTimedOut:
        ++counters.timed_out;
        break;
      case EventKind::kClaimStale:
        ++counters.stale;
        break;
      case EventKind::kClaimCancelled:
        ++counters.cancelled;
        break;
      case EventKind::kClaimFailed:
      case EventKind::kStoreError:
        ++counters.store_errors;
        break;
      default:
        break;
    }
  }
  if (options.events == nullptr) return;
  event.group = options.queue.group;
  event.name = options.queue.queue;
  options.events->OnEvent(event);
}

WorkerCounters Worker::counters() const {
  std::lock_guard lock(impl_->counters_mu);
  return impl_->counters;
}

void Worker::RequestStop() {
  impl_->stopping = true;
  impl_->claim_wakeup.Notify();
}

Result<void> Worker::Run() {
  Impl& impl = *impl_;
  std::unique_ptr<Subscription> offers =
      impl.queue.WatchOffers(impl.options.queue, [&impl] { impl.claim_wakeup.Notify(); });
  std::thread extender([&impl] { impl.ExtenderLoop(); });
  std::thread watchdog([&impl] { impl.WatchdogLoop(); });
  std::thread finisher([&impl] { impl.FinisherLoop(); });
  // Claims side by side where the store serves them so (PostgreSQL), each for the slots
  // free when it starts.
  const int claimers = std::clamp(impl.queue.ConcurrentClaims(), 1, impl.options.concurrency);
  std::vector<std::thread> more_claimers;
  for (int i = 1; i < claimers; ++i) more_claimers.emplace_back([&impl, i] { impl.ClaimLoop(i); });
  impl.ClaimLoop(0);
  for (std::thread& t : more_claimers) t.join();

  // Stopping: no more claims; running work is asked to stop and, unless it finishes, its
  // claim is released by the finisher once it has returned.
  std::vector<std::shared_ptr<RunningItem>> left;
  {
    std::lock_guard lock(impl.mu);
    for (auto& [id, r] : impl.running) left.push_back(r);
  }
  for (auto& r : left) r->Stop(StopReason::kWorkerStopping);
  if (!left.empty()) {
    spdlog::info("stopping: asked the work of {} running item(s) to stop", left.size());
  }
  {
    std::unique_lock lock(impl.mu);
    impl.finished_cv.wait(lock, [&] { return impl.running.empty(); });
    impl.finisher_done = true;
  }
  impl.finished_cv.notify_all();
  impl.extend_wakeup.Notify();
  impl.watchdog_wakeup.Notify();
  finisher.join();
  extender.join();
  watchdog.join();
  offers.reset();
  if (impl.fatal) return *impl.fatal;
  return Ok();
}

void Worker::Impl::ClaimLoop(int index) {
  Duration error_wait = std::chrono::milliseconds(100);
  bool ready = false;
  while (!stopping) {
    // Reserve the free slots (and take the done items) for this claim, so claimers side by
    // side never claim more than the slots between them.
    int free = 0;
    std::vector<Finished> acking;
    {
      std::lock_guard lock(mu);
      free = options.concurrency - BusySlotsLocked() - reserved;
      if (free > 0) {
        reserved += free;
        ++claims_out;
        acking = TakeDone();  // One statement for both: acknowledging alone took another.
      }
    }
    if (free <= 0) {
      WaitForNextPass(index, clock.Now() + options.poll, std::nullopt);
      continue;
    }
    ClaimRequest request;
    request.queue = options.queue;
    request.worker = options.worker_id;
    request.max_items = free;
    request.visibility = timing.visibility;
    request.max_attempts = options.max_attempts;
    for (const Finished& f : acking) {
      request.acknowledge.push_back({f.running->item.id, f.running->item.claim_token});
    }
    const TimePoint sent = clock.Now();
    Result<ClaimReply> reply = queue.Claim(request);
    if (reply) {
      Publish({.kind = EventKind::kClaimed,
               .latency = clock.Now() - sent,
               .count = static_cast<int64_t>(reply->items.size())});
    } else {
      Publish({.kind = EventKind::kClaimFailed,
               .latency = clock.Now() - sent,
               .detail = reply.error().message()});
    }
    if (reply) {
      for (const ClaimedItem& item : reply->items) StartItem(item, sent);
    }
    {
      std::lock_guard lock(mu);
      reserved -= free;
      --claims_out;
      if (!reply) {
        // Whether they were acknowledged is unknown: send them again, with the next claim or
        // by the finisher.
        for (Finished& f : acking) finished.push_front(std::move(f));
        acking.clear();
      }
    }
    finished_cv.notify_all();  // The finisher may take what waited for this claim.
    if (reply) {
      std::vector<const Finished*> acked;
      for (const Finished& f : acking) acked.push_back(&f);
      RecordAcks(acked, reply->acknowledged);
      Settle(acking);
    }
    if (!ready && index == 0 && options.observer != nullptr) options.observer->OnReady();
    ready = true;
    if (!reply) {
      if (!reply.error().retryable()) {
        spdlog::error("cannot claim from queue \"{}\": {}", options.queue.queue,
                      reply.error().message());
        {
          std::lock_guard lock(mu);
          if (!fatal) fatal = reply.error();
        }
        stopping = true;
        claim_wakeup.Notify();  // The other claimers stop too.
        break;
      }
      spdlog::warn("claiming from queue \"{}\" failed: {}; retrying in {}", options.queue.queue,
                   reply.error().message(), FormatDuration(error_wait));
      WaitForNextPass(index, clock.Now() + error_wait, reply.error());
      error_wait = std::min<Duration>(error_wait * 2, options.poll);
      continue;
    }
    error_wait = std::chrono::milliseconds(100);
    if (static_cast<int>(reply->items.size()) == free) {
      WaitForNextPass(index, clock.Now(), std::nullopt);  // There may be more: claim again.
      continue;
    }
    TimePoint next = clock.Now() + options.poll;
    // Just after the time the queue named, as a passive instance does with a lease. One
    // claimer is enough for that; the others wait for a freed slot, an offer or the poll.
    if (index == 0 && reply->next_try && !reply->paused) {
      next = std::min(next, clock.Now() + *reply->next_try + std::chrono::milliseconds(1));
    }
    WaitForNextPass(index, next, std::nullopt);
  }
}

void Worker::Impl::WaitForNextPass(int index, TimePoint next, const std::optional<Error>& error) {
  if (index == 0 && options.observer != nullptr) {
    LoopPass pass;
    pass.next = next;
    pass.error = error;
    uint64_t done;
    {
      std::lock_guard lock(counters_mu);
      done = counters.done;
    }
    int busy;
    {
      std::lock_guard lock(mu);
      busy = BusySlotsLocked();
    }
    pass.state = "working: " + std::to_string(busy) + " running, " + std::to_string(done) + " done";
    options.observer->OnPass(pass);
  }
  if (next > clock.Now()) clock.WaitUntil(next, claim_wakeup);
}

void Worker::Impl::StartItem(const ClaimedItem& item, TimePoint sent) {
  auto r = std::make_shared<RunningItem>(item, sent, sent + timing.visibility - timing.margin);
  Publish({.kind = EventKind::kItemStarted});
  spdlog::info("claimed item {} of tenant \"{}\" (attempt {}, claim token {})", item.id,
               item.tenant, item.attempt, item.claim_token);
  {
    std::lock_guard lock(mu);
    running[item.id] = r;
  }
  std::lock_guard item_lock(r->mu);
  r->thread = std::thread([this, r] {
    Context context(*this, r);
    WorkResult result;
    try {
      result = work(context);
    } catch (const std::exception& e) {
      result = WorkResult::Retry(std::string("the work threw: ") + e.what());
    }
    r->finished = true;
    {
      std::lock_guard lock(mu);
      finished.push_back({r, std::move(result), clock.Now()});
      ++finishing;
    }
    finished_cv.notify_all();
    claim_wakeup.Notify();
  });
  extend_wakeup.Notify();
  watchdog_wakeup.Notify();
}

bool Worker::Impl::ExtendOne(RunningItem& r) {
  std::unique_lock lock(r.mu);
  if (r.claim_lost) return false;
  const TimePoint sent = clock.Now();
  Result<ClaimOutcome> outcome =
      queue.Extend(options.queue, {r.item.id, r.item.claim_token}, timing.visibility);
  if (!outcome) {
    Publish({.kind = EventKind::kStoreError, .detail = outcome.error().message()});
    r.next_extension_try = clock.Now() + kExtensionRetry;
    spdlog::warn(
        "extending the claim of item {} failed: {}; the work stops by {} from now "
        "unless an extension succeeds",
        r.item.id, outcome.error().message(), FormatDuration(r.deadline() - clock.Now()));
    return false;
  }
  if (*outcome == ClaimOutcome::kOk) {
    const TimePoint deadline = sent + timing.visibility - timing.margin;
    r.last_extension_sent = sent;
    r.deadline_ns = deadline.time_since_epoch().count();
    if (r.on_deadline_change) r.on_deadline_change(deadline);
    watchdog_wakeup.Notify();
    return true;
  }
  // Refused: another worker may hold the item now, so its work must stop at once.
  Publish({.kind = *outcome == ClaimOutcome::kStale ? EventKind::kClaimStale
                                                    : EventKind::kClaimCancelled});
  spdlog::warn("item {} of tenant \"{}\": extension refused ({}): stopping its work now", r.item.id,
               r.item.tenant, ToString(*outcome));
  r.claim_lost = true;
  r.next_extension_try = TimePoint::max();
  r.Stop(StopReason::kClaimLost);
  // A guardian kills a command now. The deadline itself stays: a stale claim had expired by
  // the store's clock, so that deadline has passed already, and a cancelled item keeps its
  // tenant's slot until its work stops.
  if (r.on_deadline_change) r.on_deadline_change(clock.Now());
  return false;
}

void Worker::Impl::ExtenderLoop() {
  while (true) {
    std::vector<std::shared_ptr<RunningItem>> items;
    {
      std::lock_guard lock(mu);
      if (finisher_done) return;
      for (auto& [id, r] : running) items.push_back(r);
    }
    TimePoint next = clock.Now() + timing.visibility / 3;
    for (auto& r : items) {
      if (r->finished || r->claim_lost) continue;
      TimePoint due;
      {
        std::lock_guard lock(r->mu);
        due = std::max(r->last_extension_sent + timing.visibility / 3, r->next_extension_try);
      }
      if (clock.Now() >= due) {
        ExtendOne(*r);
        std::lock_guard lock(r->mu);
        due = std::max(r->last_extension_sent + timing.visibility / 3, r->next_extension_try);
      }
      next = std::min(next, due);
    }
    clock.WaitUntil(next, extend_wakeup);
  }
}

void Worker::Impl::WatchdogLoop() {
  while (true) {
    std::vector<std::shared_ptr<RunningItem>> items;
    {
      std::lock_guard lock(mu);
      if (finisher_done) return;
      for (auto& [id, r] : running) items.push_back(r);
    }
    const TimePoint now = clock.Now();
    TimePoint next = now + options.poll;
    for (auto& r : items) {
      if (r->finished) continue;
      const TimePoint deadline = r->deadline();
      const TimePoint warn_at = deadline - timing.grace;
      const TimePoint timeout_at = r->started + options.timeout;
      if (now >= timeout_at && r->Stop(StopReason::kTimeout)) {
        Publish({.kind = EventKind::kItemTimedOut});
        spdlog::warn("item {} of tenant \"{}\" ran past its timeout {}: stopping it", r->item.id,
                     r->item.tenant, FormatDuration(options.timeout));
      }
      if (now >= warn_at && r->Stop(StopReason::kDeadline)) {
        spdlog::warn(
            "item {} of tenant \"{}\": no extension succeeded in time: stopping its "
            "work, {} before the claim's deadline",
            r->item.id, r->item.tenant, FormatDuration(timing.grace));
      }
      if (now >= deadline && options.exit_on_overrun) {
        spdlog::critical(
            "the work of item {} did not return by its claim's deadline; exiting so "
            "it cannot run on while another worker claims the item",
            r->item.id);
        _exit(kOverrunExitCode);
      }
      if (r->reason == StopReason::kNone) next = std::min({next, warn_at, timeout_at});
      if (options.exit_on_overrun) next = std::min(next, deadline);
    }
    clock.WaitUntil(next, watchdog_wakeup);
  }
}

}  // namespace baton
