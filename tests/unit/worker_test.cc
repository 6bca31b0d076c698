// The library's worker hosted service on a real SQLite queue: every item once with its claim
// token, one tenant at a time, a refused extension stops the work at once, and work that
// ignores its stop ends the process at the claim's deadline.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "baton/service_host.h"
#include "baton/sqlite_store.h"
#include "baton/worker.h"
#include "support/temp_dir.h"

namespace baton {
namespace {

using namespace std::chrono_literals;

class WorkerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> OpenStore() {
    SqliteStoreOptions options;
    options.path = dir_.File("baton.db");
    auto store = OpenSqliteStore(options);
    EXPECT_TRUE(store.ok()) << store.error().message();
    return std::move(store).value();
  }
  std::unique_ptr<Queue> OpenQueue() {
    SqliteStoreOptions options;
    options.path = dir_.File("baton.db");
    auto queue = OpenSqliteQueue(options);
    EXPECT_TRUE(queue.ok()) << queue.error().message();
    return std::move(queue).value();
  }
  std::vector<uint64_t> Offer(Queue& queue, const std::vector<std::string>& tenants) {
    OfferRequest request;
    request.queue = key_;
    for (const std::string& t : tenants) {
      OfferItem item;
      item.tenant = t;
      request.items.push_back(item);
    }
    auto reply = queue.Offer(request);
    EXPECT_TRUE(reply.ok()) << reply.error().message();
    std::vector<uint64_t> ids;
    for (const auto& id : reply->ids) ids.push_back(id.value_or(0));
    return ids;
  }
  WorkerOptions Options(int concurrency) {
    WorkerOptions options;
    options.queue = key_;
    options.concurrency = concurrency;
    options.timing.visibility = 1s;
    options.poll = 100ms;
    return options;
  }
  template <typename Pred>
  static bool WaitFor(Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  test_support::TempDir dir_{"worker"};
  const QueueKey key_{"billing", "tenant-sync"};
};

TEST_F(WorkerTest, HostedWorkerRunsEveryItemOnceOneTenantAtATime) {
  auto store = OpenStore();
  auto queue = OpenQueue();
  std::vector<std::string> tenants;
  for (int round = 0; round < 4; ++round) {
    for (int t = 0; t < 10; ++t) tenants.push_back("t" + std::to_string(t));
  }
  const std::vector<uint64_t> ids = Offer(*queue, tenants);
  std::mutex mu;
  std::map<uint64_t, int> runs;
  std::set<std::string> busy;
  std::atomic<int> overlaps{0};
  std::atomic<int> bad_contexts{0};
  ServiceHost host(*store, {.id = "w1", .clock = nullptr});
  ASSERT_TRUE(host.AddWorker(*queue, Options(4),
                             [&](ItemContext& ctx) {
                               {
                                 std::lock_guard lock(mu);
                                 if (!busy.insert(ctx.item().tenant).second) ++overlaps;
                                 ++runs[ctx.item().id];
                               }
                               if (ctx.item().claim_token == 0 ||
                                   ctx.TimeLeft(Clock::Real()) <= 0s) {
                                 ++bad_contexts;
                               }
                               std::this_thread::sleep_for(2ms);
                               std::lock_guard lock(mu);
                               busy.erase(ctx.item().tenant);
                               return WorkResult::Done();
                             })
                  .ok());
  std::thread runner([&] { EXPECT_TRUE(host.Run().ok()); });
  EXPECT_TRUE(WaitFor([&] { return queue->Stats(key_)->done_total == 40; }));
  host.RequestStop();
  runner.join();
  EXPECT_EQ(overlaps, 0);
  EXPECT_EQ(bad_contexts, 0);
  for (uint64_t id : ids) EXPECT_EQ(runs[id], 1) << "item " << id;
}

// A real queue whose claims that carry acknowledgements fail a few times: the 3rd and 7th
// after their acknowledgements committed (the reply lost: kOutcomeUnknown), the 5th and 9th
// before anything was done (kUnavailable).
class LossyClaims final : public Queue {
 public:
  // `lossy` false: a counting pass-through.
  explicit LossyClaims(Queue& queue, bool lossy = true) : queue_(queue), lossy_(lossy) {}

  Result<ClaimReply> Claim(const ClaimRequest& request) override {
    ++claims_;
    if (!lossy_ || request.acknowledge.empty()) return queue_.Claim(request);
    const int n = ++claims_with_acks_;
    if (n == 5 || n == 9) return Error(ErrorCode::kUnavailable, "store unreachable (test)");
    if (n == 3 || n == 7) {
      // The acknowledgements committed, the reply was lost. (Items claimed by a lost reply
      // would wait for their visibility: that is not what this tests.)
      (void)queue_.Acknowledge(request.queue, request.acknowledge);
      return Error(ErrorCode::kOutcomeUnknown, "reply lost (test)");
    }
    Result<ClaimReply> reply = queue_.Claim(request);
    if (reply) acks_in_claims_ += static_cast<int>(request.acknowledge.size());
    return reply;
  }
  Result<std::vector<ClaimOutcome>> Acknowledge(const QueueKey& queue,
                                                const std::vector<ClaimRef>& claims) override {
    return queue_.Acknowledge(queue, claims);
  }
  Result<OfferReply> Offer(const OfferRequest& r) override { return queue_.Offer(r); }
  Result<RoundReply> StartRound(const RoundRequest& r) override { return queue_.StartRound(r); }
  Result<ClaimOutcome> Extend(const QueueKey& q, const ClaimRef& c, Duration v) override {
    return queue_.Extend(q, c, v);
  }
  Result<FailReply> Fail(const QueueKey& q, const ClaimRef& c, const FailRequest& f) override {
    return queue_.Fail(q, c, f);
  }
  Result<ClaimOutcome> Release(const QueueKey& q, const ClaimRef& c) override {
    return queue_.Release(q, c);
  }
  Result<std::vector<std::string>> QueueNames(const std::string& group) override {
    return queue_.QueueNames(group);
  }
  Result<QueueStats> Stats(const QueueKey& q) override { return queue_.Stats(q); }
  Result<std::vector<ItemView>> List(const QueueKey& q, std::optional<ItemState> s,
                                     int limit) override {
    return queue_.List(q, s, limit);
  }
  Result<std::vector<ItemView>> DeadLetters(const QueueKey& q, int limit) override {
    return queue_.DeadLetters(q, limit);
  }
  Result<std::vector<std::string>> QueueGroups() override { return queue_.QueueGroups(); }
  Result<std::vector<MinuteCounts>> Throughput(const QueueKey& q, int minutes) override {
    return queue_.Throughput(q, minutes);
  }
  Result<bool> Requeue(const QueueKey& q, uint64_t id) override { return queue_.Requeue(q, id); }
  Result<int64_t> RequeueDead(const QueueKey& q) override { return queue_.RequeueDead(q); }
  Result<CancelOutcome> Cancel(const QueueKey& q, uint64_t id) override {
    return queue_.Cancel(q, id);
  }
  Result<PurgeReply> Purge(const QueueKey& q) override { return queue_.Purge(q); }
  Result<void> Pause(const QueueKey& q) override { return queue_.Pause(q); }
  Result<void> Resume(const QueueKey& q) override { return queue_.Resume(q); }
  std::unique_ptr<Subscription> WatchOffers(const QueueKey& q,
                                            std::function<void()> on_offer) override {
    return queue_.WatchOffers(q, std::move(on_offer));
  }
  std::string Describe() const override { return queue_.Describe(); }

  int claims() const { return claims_; }
  int claims_with_acks() const { return claims_with_acks_; }
  int acks_in_claims() const { return acks_in_claims_; }

 private:
  Queue& queue_;
  const bool lossy_;
  std::atomic<int> claims_{0};
  std::atomic<int> claims_with_acks_{0};
  std::atomic<int> acks_in_claims_{0};
};

// A busy worker acknowledges with its next claim. When such a claim fails, its
// acknowledgements are made again on their own, whether or not the store had them: every item
// still runs once and ends done, none waits for its visibility to run out.
TEST_F(WorkerTest, AcknowledgementsRideOnClaimsAndSurviveAFailedClaim) {
  auto real = OpenQueue();
  LossyClaims queue(*real);
  std::vector<std::string> tenants;
  for (int t = 0; t < 120; ++t) tenants.push_back("t" + std::to_string(t));
  const std::vector<uint64_t> ids = Offer(queue, tenants);
  std::mutex mu;
  std::map<uint64_t, int> runs;
  WorkerOptions options = Options(4);
  options.timing.visibility = 30s;  // An acknowledgement lost would leave its item running.
  Worker worker(queue, options, [&](ItemContext& ctx) {
    std::lock_guard lock(mu);
    ++runs[ctx.item().id];
    return WorkResult::Done();
  });
  std::thread runner([&] { EXPECT_TRUE(worker.Run().ok()); });
  EXPECT_TRUE(WaitFor([&] { return queue.Stats(key_)->done_total == 120; }));
  worker.RequestStop();
  runner.join();
  for (uint64_t id : ids) EXPECT_EQ(runs[id], 1) << "item " << id;
  EXPECT_TRUE(real->List(key_, std::nullopt, 200)->empty());
  EXPECT_GE(queue.claims_with_acks(), 10) << "acknowledgements seldom went with a claim";
  EXPECT_GT(queue.acks_in_claims(), 0);
  const WorkerCounters counters = worker.counters();
  EXPECT_EQ(counters.claimed, 120u);
  // A failed claim's acknowledgements are sent again (with the next claim or alone); those
  // the store had already, from the claims whose reply was lost, come back stale.
  EXPECT_EQ(counters.done + counters.stale, 120u);
  EXPECT_GE(counters.stale, 2u) << "a lost reply's acknowledgements were not sent again";
  EXPECT_GT(counters.done, 0u);
}

// Tallies what a worker publishes, by kind: counts and the sum of each kind's `count`.
class TallySink final : public EventSink {
 public:
  void OnEvent(const Event& e) override {
    std::lock_guard lock(mu_);
    ++events_[e.kind];
    sums_[e.kind] += e.count;
    if (e.group != "billing" || e.name != "tenant-sync") ++foreign_;
  }
  int events(EventKind kind) const {
    std::lock_guard lock(mu_);
    auto it = events_.find(kind);
    return it == events_.end() ? 0 : it->second;
  }
  int64_t sum(EventKind kind) const {
    std::lock_guard lock(mu_);
    auto it = sums_.find(kind);
    return it == sums_.end() ? 0 : it->second;
  }
  int foreign() const {
    std::lock_guard lock(mu_);
    return foreign_;
  }

 private:
  mutable std::mutex mu_;
  std::map<EventKind, int> events_;
  std::map<EventKind, int64_t> sums_;
  int foreign_ = 0;
};

// The events are the counters' only source: every item claimed is started, settled once,
// and ends done or failed; the claim calls' item counts add up to the items started.
TEST_F(WorkerTest, EveryItemsStartAndOutcomeArePublishedAndAgreeWithTheCounters) {
  auto queue = OpenQueue();
  std::vector<std::string> tenants;
  for (int t = 0; t < 30; ++t) tenants.push_back("t" + std::to_string(t));
  Offer(*queue, tenants);
  TallySink sink;
  WorkerOptions options = Options(4);
  options.max_attempts = 1;
  options.events = &sink;
  Worker worker(*queue, options, [](ItemContext& ctx) {
    return ctx.item().tenant == "t7" ? WorkResult::Retry("t7 fails") : WorkResult::Done();
  });
  std::thread runner([&] { EXPECT_TRUE(worker.Run().ok()); });
  EXPECT_TRUE(WaitFor([&] { return worker.counters().done == 29 && worker.counters().dead == 1; }));
  worker.RequestStop();
  runner.join();
  EXPECT_EQ(sink.events(EventKind::kItemStarted), 30);
  EXPECT_EQ(sink.sum(EventKind::kClaimed), 30);
  EXPECT_GE(sink.events(EventKind::kClaimed), 1);
  EXPECT_EQ(sink.events(EventKind::kItemDone), 29);
  EXPECT_EQ(sink.events(EventKind::kItemFailed), 1);
  EXPECT_EQ(sink.events(EventKind::kItemDead), 1);
  EXPECT_EQ(sink.sum(EventKind::kItemSettled), 30) << "in flight would not return to 0";
  EXPECT_EQ(sink.foreign(), 0) << "events without their queue";
  const WorkerCounters counters = worker.counters();
  EXPECT_EQ(counters.claimed, 30u);
  EXPECT_EQ(counters.done, 29u);
  EXPECT_EQ(counters.failed, 1u);
  EXPECT_EQ(counters.dead, 1u);
}

// An idle worker waits for an offer, a freed slot or its poll: it does not claim again and
// again (a claim that freed no slot once woke its own claimer, which spun on an empty queue).
TEST_F(WorkerTest, AnIdleWorkerDoesNotSpin) {
  auto real = OpenQueue();
  LossyClaims queue(*real, /*lossy=*/false);
  Offer(queue, {"a", "b", "c"});
  WorkerOptions options = Options(2);
  options.poll = 200ms;
  Worker worker(queue, options, [](ItemContext&) { return WorkResult::Done(); });
  std::thread runner([&] { EXPECT_TRUE(worker.Run().ok()); });
  ASSERT_TRUE(WaitFor([&] { return worker.counters().done == 3; }));
  const int before = queue.claims();
  std::this_thread::sleep_for(1s);
  const int idle_claims = queue.claims() - before;
  worker.RequestStop();
  runner.join();
  EXPECT_LE(idle_claims, 10) << "claims in one idle second with a 200 ms poll";
}

TEST_F(WorkerTest, RefusedExtensionStopsTheWorkAtOnce) {
  auto queue = OpenQueue();
  auto admin = OpenQueue();
  const std::vector<uint64_t> ids = Offer(*queue, {"acme"});
  std::atomic<int> started{0};
  std::atomic<StopReason> reason{StopReason::kNone};
  Worker worker(*queue, Options(1), [&](ItemContext& ctx) {
    ++started;
    while (!ctx.stop_token().stop_requested()) std::this_thread::sleep_for(1ms);
    reason = ctx.stop_reason();
    return WorkResult::Done();
  });
  std::thread runner([&] { EXPECT_TRUE(worker.Run().ok()); });
  ASSERT_TRUE(WaitFor([&] { return started == 1; }));
  ASSERT_EQ(*admin->Cancel(key_, ids[0]), CancelOutcome::kCancelling);
  // The next extension (every visibility/3) finds the item cancelled.
  EXPECT_TRUE(WaitFor([&] { return reason != StopReason::kNone; }, 1s));
  EXPECT_EQ(reason, StopReason::kClaimLost);
  EXPECT_TRUE(WaitFor([&] { return worker.counters().cancelled >= 1; }));
  worker.RequestStop();
  runner.join();
  EXPECT_TRUE(admin->List(key_, std::nullopt, 10)->empty()) << "the cancelled item stayed";
}

// Work already told to stop (here by --timeout) that then loses its claim: one refused
// extension, not a loop of them while the work winds down.
TEST_F(WorkerTest, AClaimLostAfterAnotherStopIsNotExtendedAgain) {
  auto queue = OpenQueue();
  auto admin = OpenQueue();
  const std::vector<uint64_t> ids = Offer(*queue, {"acme"});
  WorkerOptions options = Options(1);
  options.timeout = 100ms;
  options.exit_on_overrun = false;
  std::atomic<bool> stopped{false};
  Worker worker(*queue, options, [&](ItemContext& ctx) {
    while (!ctx.stop_token().stop_requested()) std::this_thread::sleep_for(1ms);
    stopped = true;
    std::this_thread::sleep_for(1500ms);  // Winds down slowly, through several extensions.
    return WorkResult::Retry("timed out");
  });
  std::thread runner([&] { EXPECT_TRUE(worker.Run().ok()); });
  ASSERT_TRUE(WaitFor([&] { return stopped.load(); }));
  ASSERT_EQ(*admin->Cancel(key_, ids[0]), CancelOutcome::kCancelling);
  std::this_thread::sleep_for(1500ms);
  worker.RequestStop();
  runner.join();
  EXPECT_EQ(worker.counters().cancelled + worker.counters().stale, 2u)
      << "one refused extension and one refused failure expected";
}

TEST_F(WorkerTest, WorkThatIgnoresItsStopEndsTheProcessAtTheClaimsDeadline) {
  EXPECT_EXIT(
      {
        auto queue = OpenQueue();
        auto admin = OpenQueue();
        const std::vector<uint64_t> ids = Offer(*queue, {"acme"});
        std::atomic<bool> started{false};
        Worker worker(*queue, Options(1), [&](ItemContext&) {
          started = true;
          std::this_thread::sleep_for(1h);  // Ignores its stop token.
          return WorkResult::Done();
        });
        std::thread runner([&] { (void)worker.Run(); });
        while (!started) std::this_thread::sleep_for(1ms);
        (void)admin->Cancel(key_, ids[0]);  // No extension succeeds from now on.
        runner.join();
        std::exit(0);
      },
      ::testing::ExitedWithCode(70), "");
}

TEST(ClaimTiming, RulesAndDefaults) {
  ClaimTimingOptions defaults;
  defaults.visibility = 30s;
  auto t = ResolveClaimTiming(defaults);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->margin, 3s);
  EXPECT_EQ(t->grace, 6s);
  auto tight = ResolveClaimTiming({.visibility = 1s, .margin = std::nullopt, .grace = 500ms});
  ASSERT_FALSE(tight.ok());
  EXPECT_NE(tight.error().message().find("2 × visibility/3 + margin + grace ≤ visibility"),
            std::string::npos);
  ClaimTimingOptions short_one;
  short_one.visibility = 400ms;
  EXPECT_FALSE(ResolveClaimTiming(short_one).ok());
}

TEST(RetryBackoff, GrowsWithJitterUpToTheCap) {
  for (int i = 0; i < 100; ++i) {
    const Duration first = RetryBackoff(1, 1s, 10min);
    const Duration second = RetryBackoff(2, 1s, 10min);
    EXPECT_GE(first, 500ms);
    EXPECT_LE(first, 1s);
    EXPECT_GE(second, first);
    EXPECT_LE(RetryBackoff(30, 1s, 10min), 10min);
    EXPECT_GE(RetryBackoff(30, 1s, 10min), 5min);
  }
}

}  // namespace
}  // namespace baton
