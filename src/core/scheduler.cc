#include "baton/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "baton/service_host.h"

namespace baton {
namespace {

// Invalid ids named one by one in a round's log, at most; the rest are counted.
constexpr size_t kInvalidLogged = 20;

double Millis(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

std::string SchedulerLeaseName(const std::string& queue) { return "queue:" + queue; }

Scheduler::Scheduler(Queue& queue, SchedulerOptions options, TenantSource& source)
    : queue_(queue),
      options_(std::move(options)),
      source_(source),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()),
      lease_(SchedulerLeaseName(options_.queue.queue)) {}

Result<void> Scheduler::Validate(const SchedulerOptions& options, const OptionNames& names) {
  if (auto r = queue_detail::CheckQueueKey(options.queue); !r) return r;
  if (options.every <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, names("every") + " must be positive");
  }
  if (options.item_ttl && *options.item_ttl <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, names("item_ttl") + " must be positive");
  }
  if (options.batch < 1 || options.batch > kMaxRowsPerTransaction) {
    return Error(ErrorCode::kInvalidArgument,
                 names("batch") + " must be 1 to " + std::to_string(kMaxRowsPerTransaction));
  }
  if (options.retry <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, names("retry") + " must be positive");
  }
  return Ok();
}

SchedulerCounters Scheduler::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

std::optional<OfferFence> Scheduler::Fence(uint64_t token) const {
  if (options_.unsafe_no_fence) return std::nullopt;
  return OfferFence{lease_, token};
}

void Scheduler::RunActive(ActiveContext& context) {
  const uint64_t token = context.token();
  spdlog::info("scheduling queue \"{}\" of group \"{}\" with token {}: a round every {}",
               options_.queue.queue, options_.queue.group, token, FormatDuration(options_.every));
  context_ = &context;
  announced_wait_ = false;  // A new holder says how long it waits for the last round's every.
  Wakeup wakeup;
  std::stop_callback wake_on_stop(context.stop_token(), [&wakeup] { wakeup.Notify(); });
  while (!context.stop_token().stop_requested()) {
    const TimePoint next = Step(token, context.stop_token());
    while (!context.stop_token().stop_requested() && clock_.Now() < next) {
      clock_.WaitUntil(next, wakeup);
    }
  }
  context_ = nullptr;
  spdlog::info("stopped scheduling queue \"{}\" (token {})", options_.queue.queue, token);
}

TimePoint Scheduler::Step(uint64_t token, std::stop_token stop, RoundReport* out) {
  RoundReport report;
  const Duration retry = std::min(options_.retry, options_.every);
  Result<RoundReply> round = queue_.StartRound(
      RoundRequest{.queue = options_.queue, .fence = {lease_, token}, .every = options_.every});
  // Counted from the reply: the store's now lies between sending and the reply, so a round
  // is never asked for before the store will call it due.
  const TimePoint received = clock_.Now();
  TimePoint next = received + retry;
  if (!round) {
    report.store_error = true;
    report.error = round.error().message();
    std::lock_guard lock(mu_);
    ++counters_.store_errors;
    spdlog::warn("queue \"{}\": cannot start a round: {}; trying again in {}", options_.queue.queue,
                 report.error, FormatDuration(retry));
  } else if (round->fenced_out) {
    report.fenced_out = true;
    std::lock_guard lock(mu_);
    ++counters_.fenced_out;
    spdlog::error(
        "queue \"{}\": the store refused token {}: it no longer holds lease {} of group "
        "\"{}\"; no round started",
        options_.queue.queue, token, lease_, options_.queue.group);
  } else if (!round->started) {
    report.since_last = round->since_last;
    if (round->since_last && *round->since_last < Duration::zero()) {
      {
        std::lock_guard lock(mu_);
        ++counters_.clock_steps;
      }
      spdlog::warn(
          "queue \"{}\": the last round lies {} in the future by the store's clock (a clock "
          "step); counting from now: the next round in {}",
          options_.queue.queue, FormatDuration(-*round->since_last), FormatDuration(round->wait));
    } else if (!announced_wait_) {
      spdlog::info("queue \"{}\": the last round was {} ago; the next one in {}",
                   options_.queue.queue,
                   FormatDuration(round->since_last.value_or(Duration::zero())),
                   FormatDuration(round->wait));
    }
    announced_wait_ = true;
    next = received + round->wait;
  } else {
    report.ran = true;
    report.since_last = round->since_last;
    {
      std::lock_guard lock(mu_);
      ++counters_.rounds;
    }
    RunRound(token, stop, report);
    announced_wait_ = true;
    next = received + options_.every;
  }
  Publish(report);
  if (out != nullptr) *out = report;
  return next;
}

void Scheduler::Publish(const RoundReport& report) const {
  if (options_.events == nullptr) return;
  Event event{.kind = EventKind::kRound,
              .group = options_.queue.group,
              .name = options_.queue.queue,
              .latency = report.took,
              .count = static_cast<int64_t>(report.offered)};
  if (report.ran && !report.source_failed) options_.events->OnEvent(event);
  const auto also = [&](bool happened, EventKind kind) {
    if (!happened) return;
    event.kind = kind;
    options_.events->OnEvent(event);
  };
  also(report.source_failed, EventKind::kRoundSourceFailed);
  also(report.fenced_out, EventKind::kFencedOut);
  also(report.store_error, EventKind::kRoundStoreError);
  also(!report.ran && report.since_last && *report.since_last < Duration::zero(),
       EventKind::kClockStep);
}

void Scheduler::RunRound(uint64_t token, const std::stop_token& stop, RoundReport& report) {
  const TimePoint start = clock_.Now();
  Result<std::vector<std::string>> listed = source_.List(stop);
  if (!listed) {
    report.source_failed = true;
    report.error = listed.error().message();
    report.took = clock_.Now() - start;
    {
      std::lock_guard lock(mu_);
      ++counters_.source_errors;
    }
    spdlog::error("queue \"{}\": round skipped, nothing offered: {}", options_.queue.queue,
                  report.error);
    return;
  }
  report.listed = listed->size();
  TenantList clean = CleanTenants(std::move(*listed));
  report.duplicates = clean.duplicates;
  report.invalid = clean.invalid.size();
  for (size_t i = 0; i < clean.invalid.size() && i < kInvalidLogged; ++i) {
    spdlog::warn("queue \"{}\": skipped an invalid tenant id from {}: {}", options_.queue.queue,
                 source_.Describe(), clean.invalid[i]);
  }
  if (clean.invalid.size() > kInvalidLogged) {
    spdlog::warn("queue \"{}\": {} more invalid tenant ids skipped", options_.queue.queue,
                 clean.invalid.size() - kInvalidLogged);
  }
  OfferItem item;
  item.ttl = options_.item_ttl.value_or(options_.every);
  const size_t batch = static_cast<size_t>(options_.batch);
  for (size_t begin = 0; begin < clean.tenants.size(); begin += batch) {
    if (!MayOffer(stop)) {
      report.stopped = true;
      break;
    }
    OfferRequest request{
        .queue = options_.queue, .items = {}, .unique = true, .fence = Fence(token)};
    const size_t end = std::min(clean.tenants.size(), begin + batch);
    for (size_t i = begin; i < end; ++i) {
      item.tenant = clean.tenants[i];
      request.items.push_back(item);
    }
    Result<OfferReply> reply = queue_.Offer(request);
    ++report.batches;
    if (!reply) {
      report.store_error = true;
      report.error = reply.error().message();
      break;
    }
    for (const std::optional<uint64_t>& id : reply->ids) ++(id ? report.offered : report.skipped);
    if (reply->fenced_out) {
      report.fenced_out = true;
      break;
    }
  }
  // Ids after a refused batch were not offered: they are neither offered nor skipped.
  report.took = clock_.Now() - start;
  {
    std::lock_guard lock(mu_);
    counters_.offered += report.offered;
    counters_.skipped += report.skipped;
    counters_.invalid += report.invalid;
    if (report.fenced_out) ++counters_.fenced_out;
    if (report.store_error) ++counters_.store_errors;
  }
  Log(report);
  if (report.fenced_out) {
    spdlog::error(
        "queue \"{}\": offer refused: token {} no longer holds lease {} of group \"{}\"; "
        "nothing more offered this round",
        options_.queue.queue, token, lease_, options_.queue.group);
  }
}

bool Scheduler::MayOffer(const std::stop_token& stop) const {
  if (options_.unsafe_offer_past_deadline) return true;
  // The deadline too, not only the stop token: after a pause (SIGSTOP) the thread that would
  // request the stop may run after this one.
  return !stop.stop_requested() && (context_ == nullptr || context_->TimeLeft() > Duration::zero());
}

void Scheduler::Log(const RoundReport& report) const {
  const char* how = report.fenced_out    ? "cut short (fenced out)"
                    : report.stopped     ? "cut short (the lease may be lost)"
                    : report.store_error ? "cut short (store error)"
                                         : "done";
  spdlog::info(
      "queue \"{}\": round {}: {} tenants listed, {} offered, {} skipped (an item already "
      "pending or running), {} duplicates, {} invalid, in {:.1f} ms ({} batches){}{}",
      options_.queue.queue, how, report.listed, report.offered, report.skipped, report.duplicates,
      report.invalid, Millis(report.took), report.batches, report.error.empty() ? "" : ": ",
      report.error);
}

}  // namespace baton
