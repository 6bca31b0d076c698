// The worker's finisher: what happens to an item once its work has returned (failed with a
// backoff, dead-lettered, released on stop, or acknowledged when no claim took it along).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "baton/timing.h"
#include "baton/worker.h"
#include "worker_impl.h"

namespace baton {
namespace {

// The last line of an error tail, for a log line of its own (the dead letter keeps it all).
std::string LastLine(const std::string& error) {
  std::string text = error;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  const size_t nl = text.find_last_of('\n');
  const size_t colon = error.find(": ");
  if (nl == std::string::npos) return text;
  // "exited with code 3: …last line".
  return (colon != std::string::npos && colon < nl ? error.substr(0, colon) + ": …" : "…") +
         text.substr(nl + 1);
}

}  // namespace

using worker_detail::Finished;
using worker_detail::kAckWait;
using worker_detail::kFinishTries;
using worker_detail::RunningItem;

void Worker::Impl::FinisherLoop() {
  std::unique_lock lock(mu);
  while (!(finished.empty() && finisher_done)) {
    std::optional<TimePoint> wake;
    std::vector<Finished> batch = TakeForFinisher(clock.Now(), wake);
    if (!batch.empty()) {
      lock.unlock();
      Finish(std::move(batch));
      lock.lock();
    } else if (wake) {
      lock.unlock();
      clock.SleepUntil(*wake);
      lock.lock();
    } else {
      finished_cv.wait(lock);  // New work, a claim's end, or the end.
    }
  }
}

std::vector<Finished> Worker::Impl::TakeForFinisher(TimePoint now, std::optional<TimePoint>& wake) {
  std::vector<Finished> batch;
  const bool all = finisher_done || stopping;
  for (auto it = finished.begin(); it != finished.end();) {
    const bool done = it->result.kind == WorkResult::Kind::kDone;
    const TimePoint due = it->at + kAckWait;
    if (all || !done || (claims_out == 0 && now >= due)) {
      batch.push_back(std::move(*it));
      it = finished.erase(it);
    } else {
      // Overdue while a claim is out: a claimer takes it with its next claim, or wakes us
      // when this one ends.
      if (now < due) wake = wake ? std::min(*wake, due) : due;
      ++it;
    }
  }
  return batch;
}

std::vector<Finished> Worker::Impl::TakeDone() {
  std::vector<Finished> done;
  for (auto it = finished.begin();
       it != finished.end() && done.size() < static_cast<size_t>(kMaxRowsPerTransaction);) {
    if (it->result.kind == WorkResult::Kind::kDone) {
      done.push_back(std::move(*it));
      it = finished.erase(it);
    } else {
      ++it;
    }
  }
  return done;
}

template <typename Call>
auto Worker::Impl::WithRetries(Call call, const char* what, uint64_t id) -> decltype(call()) {
  for (int attempt = 1;; ++attempt) {
    auto result = call();
    if (result || !result.error().retryable() || attempt == kFinishTries) {
      if (!result) {
        Publish({.kind = EventKind::kStoreError, .detail = result.error().message()});
        spdlog::error(
            "could not {} item {}: {}; it will be claimed again once its visibility "
            "runs out",
            what, id, result.error().message());
      }
      return result;
    }
    clock.SleepFor(std::chrono::milliseconds(50) * attempt);
  }
}

void Worker::Impl::Record(const RunningItem& r, ClaimOutcome outcome, const char* what) {
  if (outcome == ClaimOutcome::kStale) {
    Publish({.kind = EventKind::kClaimStale});
    spdlog::warn(
        "item {} of tenant \"{}\": the claim was no longer ours when it was to be {} "
        "(claim token {} is stale): nothing recorded",
        r.item.id, r.item.tenant, what, r.item.claim_token);
  } else if (outcome == ClaimOutcome::kCancelled) {
    Publish({.kind = EventKind::kClaimCancelled});
    spdlog::info("item {} of tenant \"{}\" was cancelled while it ran", r.item.id, r.item.tenant);
  }
}

void Worker::Impl::Finish(std::vector<Finished> batch) {
  std::vector<ClaimRef> acks;
  std::vector<const Finished*> acked;
  for (const Finished& f : batch) {
    const RunningItem& r = *f.running;
    const ClaimRef claim{r.item.id, r.item.claim_token};
    const StopReason reason = r.reason.load();
    const WorkResult& result = f.result;
    if (result.kind == WorkResult::Kind::kDone) {
      acks.push_back(claim);
      acked.push_back(&f);
      continue;
    }
    if (reason == StopReason::kWorkerStopping) {
      // Did not finish before the stop: another worker takes it at once, not after the
      // visibility. The work has returned (a command is dead), so nothing runs it twice.
      auto released =
          WithRetries([&] { return queue.Release(options.queue, claim); }, "release", r.item.id);
      if (released && *released == ClaimOutcome::kOk) {
        Publish({.kind = EventKind::kItemReleased});
        spdlog::info("released item {} of tenant \"{}\" for another worker", r.item.id,
                     r.item.tenant);
      } else if (released) {
        Record(r, *released, "released");
      }
      continue;
    }
    FailRequest failure;
    failure.error = result.error;
    failure.exit_code = result.exit_code;
    if (reason == StopReason::kTimeout) {
      failure.error = "stopped after its timeout " + FormatDuration(options.timeout) +
                      (result.error.empty() ? "" : ": " + result.error);
    }
    const bool poison = result.kind == WorkResult::Kind::kDead;
    failure.dead_now = poison || r.item.attempt >= options.max_attempts;
    failure.retry_after = RetryBackoff(r.item.attempt, options.backoff, options.backoff_max);
    auto failed =
        WithRetries([&] { return queue.Fail(options.queue, claim, failure); }, "fail", r.item.id);
    if (!failed) continue;
    if (failed->outcome != ClaimOutcome::kOk) {
      Record(r, failed->outcome, "failed");
      continue;
    }
    Publish({.kind = EventKind::kItemFailed, .latency = WorkTime(f)});
    if (failed->dead) {
      Publish({.kind = EventKind::kItemDead});
      spdlog::warn("item {} of tenant \"{}\" dead-lettered after attempt {}{}: {}", r.item.id,
                   r.item.tenant, r.item.attempt, poison ? " (poison: exit 65 or dead)" : "",
                   LastLine(failure.error));
    } else {
      spdlog::warn("item {} of tenant \"{}\" failed attempt {}: {}; retrying in {}", r.item.id,
                   r.item.tenant, r.item.attempt, LastLine(failure.error),
                   FormatDuration(failure.retry_after));
    }
  }
  for (size_t begin = 0; begin < acks.size(); begin += kMaxRowsPerTransaction) {
    const size_t end = std::min(acks.size(), begin + kMaxRowsPerTransaction);
    const std::vector<ClaimRef> some(acks.begin() + begin, acks.begin() + end);
    auto outcomes = WithRetries([&] { return queue.Acknowledge(options.queue, some); },
                                "acknowledge", some.front().item);
    if (outcomes) {
      RecordAcks({acked.begin() + begin, acked.begin() + end}, *outcomes);
    }
  }
  Settle(batch);
}

void Worker::Impl::RecordAcks(const std::vector<const Finished*>& acked,
                              const std::vector<ClaimOutcome>& outcomes) {
  for (size_t i = 0; i < acked.size() && i < outcomes.size(); ++i) {
    const RunningItem& r = *acked[i]->running;
    if (outcomes[i] == ClaimOutcome::kOk) {
      Publish({.kind = EventKind::kItemDone, .latency = WorkTime(*acked[i])});
      spdlog::debug("item {} of tenant \"{}\" done", r.item.id, r.item.tenant);
    } else {
      Record(r, outcomes[i], "acknowledged");
    }
  }
}

void Worker::Impl::Settle(const std::vector<Finished>& batch) {
  // Nothing to free: no wake-up either (a claimer woken for nothing claims again, and an idle
  // one would spin).
  if (batch.empty()) return;
  // Only now are the slots free: the store has the outcome, so the tenant is free too.
  for (const Finished& f : batch) {
    std::thread thread;
    {
      std::lock_guard lock(f.running->mu);
      thread = std::move(f.running->thread);
    }
    if (thread.joinable()) thread.join();
    std::lock_guard lock(mu);
    running.erase(f.running->item.id);
    --finishing;
  }
  Publish({.kind = EventKind::kItemSettled, .count = static_cast<int64_t>(batch.size())});
  finished_cv.notify_all();
  claim_wakeup.Notify();
}

}  // namespace baton
