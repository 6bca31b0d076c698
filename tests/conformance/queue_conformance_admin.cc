// The queue conformance suite: operations on a queue (requeue, cancel, purge, pause, stats)
// and the scheduler's offers (unique, fenced).

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "queue_conformance.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

TEST_P(QueueConformance, QueueNamesListsTheGroupsOfferedAndPausedQueuesInOrder) {
  Result<std::vector<std::string>> none = queue_->QueueNames(key_.group);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
  OfferTenants(*queue_, {"a"});
  ASSERT_TRUE(IsOk(queue_->Pause(QueueKey{.group = key_.group, .queue = "also"})));
  ASSERT_TRUE(IsOk(queue_->Pause(QueueKey{.group = "another group", .queue = "elsewhere"})));
  Result<std::vector<std::string>> names = queue_->QueueNames(key_.group);
  ASSERT_TRUE(IsOk(names));
  EXPECT_EQ(*names, (std::vector<std::string>{"also", key_.queue}));
  Result<std::vector<std::string>> groups = queue_->QueueGroups();
  ASSERT_TRUE(IsOk(groups));
  EXPECT_EQ(*groups, (std::vector<std::string>{"another group", key_.group}));
}

TEST_P(QueueConformance, RequeueBringsDeadItemsBack) {
  OfferTenants(*queue_, {"a", "b", "c"});
  ClaimReply reply = Claim(*queue_, 3);
  ASSERT_EQ(reply.items.size(), 3u);
  for (const ClaimedItem& item : reply.items) {
    ASSERT_EQ(FailRetry(*queue_, item, Duration::zero(), /*dead_now=*/true), ClaimOutcome::kOk);
  }
  Result<bool> one = queue_->Requeue(key_, reply.items[0].id);
  ASSERT_TRUE(IsOk(one));
  EXPECT_TRUE(*one);
  Result<bool> again = queue_->Requeue(key_, reply.items[0].id);
  ASSERT_TRUE(IsOk(again));
  EXPECT_FALSE(*again) << "not dead any more";
  const ClaimedItem requeued = ClaimOne(*queue_);
  EXPECT_EQ(requeued.id, reply.items[0].id);
  EXPECT_EQ(requeued.attempt, 1) << "attempts start again";
  Result<int64_t> rest = queue_->RequeueDead(key_);
  ASSERT_TRUE(IsOk(rest));
  EXPECT_EQ(*rest, 2);
  EXPECT_TRUE(Items(*queue_, ItemState::kDead).empty());
}

// What `baton web` charts: every finish is counted in its minute, by outcome.
TEST_P(QueueConformance, ThroughputCountsEachMinutesFinishedItemsByOutcome) {
  OfferTenants(*queue_, {"a", "b", "c", "d", "e"});
  ClaimReply reply = Claim(*queue_, 5);
  ASSERT_EQ(reply.items.size(), 5u);
  ASSERT_EQ(Ack(*queue_, reply.items[0]), ClaimOutcome::kOk);
  ASSERT_EQ(Ack(*queue_, reply.items[1]), ClaimOutcome::kOk);
  ASSERT_EQ(FailRetry(*queue_, reply.items[2], Duration::zero()), ClaimOutcome::kOk);
  ASSERT_EQ(FailRetry(*queue_, reply.items[3], Duration::zero(), /*dead_now=*/true),
            ClaimOutcome::kOk);
  Result<std::vector<MinuteCounts>> minutes = queue_->Throughput(key_, 5);
  ASSERT_TRUE(IsOk(minutes));
  // Usually one minute; two when the test straddled a minute's end.
  ASSERT_GE(minutes->size(), 1u);
  ASSERT_LE(minutes->size(), 2u);
  MinuteCounts sum;
  for (size_t i = 0; i < minutes->size(); ++i) {
    const MinuteCounts& m = (*minutes)[i];
    EXPECT_EQ(
        std::chrono::duration_cast<std::chrono::milliseconds>(m.minute.time_since_epoch()).count() %
            60000,
        0)
        << "a minute's start";
    if (i > 0) {
      EXPECT_GT(m.minute, (*minutes)[i - 1].minute) << "oldest first";
    }
    sum.done += m.done;
    sum.failed += m.failed;
    sum.dead += m.dead;
  }
  EXPECT_EQ(sum.done, 2);
  EXPECT_EQ(sum.failed, 2) << "both failed attempts, the one that went dead included";
  EXPECT_EQ(sum.dead, 1);
  const auto now = std::chrono::system_clock::now();
  EXPECT_LE(minutes->back().minute, now);
  EXPECT_GT(minutes->back().minute, now - std::chrono::minutes(2));

  Result<std::vector<MinuteCounts>> elsewhere =
      queue_->Throughput(QueueKey{.group = key_.group, .queue = "other"}, 5);
  ASSERT_TRUE(IsOk(elsewhere));
  EXPECT_TRUE(elsewhere->empty());
}

TEST_P(QueueConformance, CancelRemovesPendingAndStopsRunningKeepingTheSlot) {
  const std::vector<uint64_t> ids = OfferTenants(*queue_, {"a", "a", "b"});
  Result<CancelOutcome> pending = queue_->Cancel(key_, ids[2]);
  ASSERT_TRUE(IsOk(pending));
  EXPECT_EQ(*pending, CancelOutcome::kRemoved);

  const ClaimedItem running = ClaimOne(*queue_);
  ASSERT_EQ(running.id, ids[0]);
  Result<CancelOutcome> cancelled = queue_->Cancel(key_, ids[0]);
  ASSERT_TRUE(IsOk(cancelled));
  EXPECT_EQ(*cancelled, CancelOutcome::kCancelling);
  EXPECT_TRUE(Claim(*queue_).items.empty())
      << "the tenant's slot was freed before the work stopped";
  Result<ClaimOutcome> extend =
      queue_->Extend(key_, {running.id, running.claim_token}, visibility_);
  ASSERT_TRUE(IsOk(extend));
  EXPECT_EQ(*extend, ClaimOutcome::kCancelled);
  EXPECT_TRUE(Claim(*queue_).items.empty());
  EXPECT_EQ(Ack(*queue_, running), ClaimOutcome::kCancelled);  // The worker stopped.
  const ClaimedItem next = ClaimOne(*queue_);
  EXPECT_EQ(next.id, ids[1]);
  Result<CancelOutcome> missing = queue_->Cancel(key_, ids[2]);
  ASSERT_TRUE(IsOk(missing));
  EXPECT_EQ(*missing, CancelOutcome::kNotFound);
}

TEST_P(QueueConformance, ACancelledClaimThatExpiresFreesItsSlot) {
  auto other = OpenQueue();
  const std::vector<uint64_t> ids = OfferTenants(*queue_, {"a", "a"});
  const ClaimedItem running = ClaimOne(*queue_);
  ASSERT_TRUE(IsOk(queue_->Cancel(key_, running.id)));
  EXPECT_TRUE(Claim(*other).items.empty());
  Advance(visibility_ + Tick());
  const ClaimedItem next = ClaimOne(*other);
  EXPECT_EQ(next.id, ids[1]);
  EXPECT_EQ(Items(*queue_).size(), 1u) << "the cancelled item is gone";
}

TEST_P(QueueConformance, PurgeRemovesWaitingItemsAndCancelsRunningOnes) {
  OfferTenants(*queue_, {"a", "a", "b", "c"});
  const ClaimedItem running = ClaimOne(*queue_);
  const ClaimedItem dying = ClaimOne(*queue_);
  ASSERT_EQ(FailRetry(*queue_, dying, Duration::zero(), true), ClaimOutcome::kOk);
  Result<PurgeReply> purged = queue_->Purge(key_);
  ASSERT_TRUE(IsOk(purged));
  EXPECT_EQ(purged->removed, 3);  // a's second, c, and b's dead one.
  EXPECT_EQ(purged->cancelled, 1);
  Result<ClaimOutcome> extend =
      queue_->Extend(key_, {running.id, running.claim_token}, visibility_);
  ASSERT_TRUE(IsOk(extend));
  EXPECT_EQ(*extend, ClaimOutcome::kCancelled);
  Result<FailReply> failed = queue_->Fail(key_, {running.id, running.claim_token}, FailRequest{});
  ASSERT_TRUE(IsOk(failed));
  EXPECT_EQ(failed->outcome, ClaimOutcome::kCancelled);
  EXPECT_TRUE(Items(*queue_).empty());
}

TEST_P(QueueConformance, PausedQueueClaimsNothingAndSaysSo) {
  OfferTenants(*queue_, {"a", "b"});
  const ClaimedItem running = ClaimOne(*queue_);
  ASSERT_TRUE(IsOk(queue_->Pause(key_)));
  ClaimReply paused = Claim(*queue_);
  EXPECT_TRUE(paused.paused);
  EXPECT_TRUE(paused.items.empty());
  EXPECT_EQ(Ack(*queue_, running), ClaimOutcome::kOk) << "running items finish";
  Result<QueueStats> stats = queue_->Stats(key_);
  ASSERT_TRUE(IsOk(stats));
  EXPECT_TRUE(stats->paused);
  ASSERT_TRUE(IsOk(queue_->Resume(key_)));
  ClaimReply resumed = Claim(*queue_);
  EXPECT_FALSE(resumed.paused);
  EXPECT_EQ(resumed.items.size(), 1u);
}

// SPEC 3.1: unique offers from two handles racing create one item per tenant.
TEST_P(QueueConformance, RacingUniqueOffersCreateOneItemPerTenant) {
  std::vector<std::string> tenants;
  for (int i = 0; i < 50; ++i) tenants.push_back("t" + std::to_string(i));
  std::vector<std::thread> threads;
  for (int h = 0; h < 2; ++h) {
    threads.emplace_back([&] {
      std::unique_ptr<Queue> queue = OpenQueue();
      for (int round = 0; round < 5; ++round) {
        OfferRequest request{.queue = key_, .unique = true};
        for (const std::string& t : tenants) request.items.push_back(OfferItem{.tenant = t});
        EXPECT_TRUE(IsOk(queue->Offer(request)));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(Items(*queue_).size(), tenants.size());

  // Running counts too; a non-unique offer is not held back.
  const ClaimedItem running = ClaimOne(*queue_);
  Result<OfferReply> skipped = queue_->Offer(
      OfferRequest{.queue = key_, .items = {OfferItem{.tenant = running.tenant}}, .unique = true});
  ASSERT_TRUE(IsOk(skipped));
  ASSERT_EQ(skipped->ids.size(), 1u);
  EXPECT_FALSE(skipped->ids[0].has_value());
  EXPECT_GT(OfferOne(*queue_, OfferItem{.tenant = running.tenant}), 0u);
}

TEST_P(QueueConformance, UniqueOfferReplacesAnExpiredPendingItem) {
  const uint64_t first = OfferOne(*queue_, OfferItem{.tenant = "a", .ttl = Seconds(2)}, true);
  EXPECT_EQ(OfferOne(*queue_, OfferItem{.tenant = "a"}, true), 0u) << "a has a pending item";
  Advance(Seconds(3));
  const uint64_t second = OfferOne(*queue_, OfferItem{.tenant = "a"}, true);
  EXPECT_GT(second, first);
  std::vector<ItemView> items = Items(*queue_);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].id, second);
  Result<QueueStats> stats = queue_->Stats(key_);
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->expired_total, 1);
}

// SPEC 3.1: a deposed scheduler's offer is refused as a value and inserts nothing.
TEST_P(QueueConformance, FencedOfferNeedsTheLiveLeaseToken) {
  std::unique_ptr<Store> store = backend_->OpenStore(&clock_);
  const LeaseKey lease{.group = key_.group, .name = "queue:" + key_.queue};
  const auto acquire = [&](const std::string& who) {
    HeartbeatRequest request;
    request.lease = lease;
    request.self =
        MemberInfo{.id = who, .holder = who + "#1", .host = "h", .pid = 1, .version = "test"};
    request.intent = LeaseIntent::kAcquire;
    request.member_ttl = request.lease_ttl = Seconds(30);
    Result<HeartbeatReply> reply = store->Heartbeat(request);
    EXPECT_TRUE(IsOk(reply));
    EXPECT_TRUE(reply && reply->acquired);
    return reply ? reply->lease.token : 0;
  };
  const uint64_t old_token = acquire("old");
  const auto fenced = [&](uint64_t token) {
    Result<OfferReply> reply =
        queue_->Offer(OfferRequest{.queue = key_,
                                   .items = {OfferItem{.tenant = "a"}, OfferItem{.tenant = "b"}},
                                   .fence = OfferFence{.lease = lease.name, .token = token}});
    EXPECT_TRUE(IsOk(reply));
    return reply ? *reply : OfferReply{};
  };
  OfferReply accepted = fenced(old_token);
  EXPECT_FALSE(accepted.fenced_out);
  EXPECT_EQ(accepted.ids.size(), 2u);
  ASSERT_TRUE(IsOk(store->Release(lease, "old#1", old_token)));
  const uint64_t new_token = acquire("new");
  ASSERT_GT(new_token, old_token);

  OfferReply refused = fenced(old_token);
  EXPECT_TRUE(refused.fenced_out);
  ASSERT_EQ(refused.ids.size(), 2u);
  EXPECT_FALSE(refused.ids[0].has_value());
  EXPECT_FALSE(refused.ids[1].has_value());
  EXPECT_EQ(Items(*queue_).size(), 2u) << "a fenced-out offer inserted items";
  EXPECT_FALSE(fenced(new_token).fenced_out);
  EXPECT_EQ(Items(*queue_).size(), 4u);
}

TEST_P(QueueConformance, StatsReportDepthsTotalsAndTenants) {
  OfferTenants(*queue_, {"ok", "bad", "waits", "dead"});
  OfferOne(*queue_, OfferItem{.tenant = "later", .delay = Seconds(100)});
  ClaimReply reply = Claim(*queue_, 4);
  ASSERT_EQ(reply.items.size(), 4u);
  for (const ClaimedItem& item : reply.items) {
    if (item.tenant == "ok") {
      EXPECT_EQ(Ack(*queue_, item), ClaimOutcome::kOk);
    }
    if (item.tenant == "bad") {
      EXPECT_EQ(FailRetry(*queue_, item, Seconds(100)), ClaimOutcome::kOk);
    }
    if (item.tenant == "dead") {
      EXPECT_EQ(FailRetry(*queue_, item, Duration::zero(), true), ClaimOutcome::kOk);
    }
  }
  OfferTenants(*queue_, {"fresh"});
  Advance(Seconds(1));
  Result<QueueStats> stats = queue_->Stats(key_);
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->pending, 1);  // fresh
  EXPECT_EQ(stats->waiting, 2);  // later (delayed), bad (retry)
  EXPECT_EQ(stats->running, 1);  // waits
  EXPECT_EQ(stats->dead, 1);
  EXPECT_EQ(stats->tenants_pending, 3);
  ASSERT_TRUE(stats->oldest_pending_age.has_value());
  EXPECT_GE(*stats->oldest_pending_age, Seconds(1) - time_.tolerance);
  EXPECT_EQ(stats->done_total, 1);
  EXPECT_EQ(stats->failed_total, 2);
  EXPECT_EQ(stats->dead_total, 1);
  EXPECT_EQ(stats->expired_total, 0);
  ASSERT_EQ(stats->tenants.size(), 6u);
  for (const TenantStats& tenant : stats->tenants) {
    if (tenant.tenant == "ok") {
      EXPECT_TRUE(tenant.last_success.has_value());
      EXPECT_FALSE(tenant.last_failure.has_value());
    } else if (tenant.tenant == "bad") {
      EXPECT_FALSE(tenant.last_success.has_value());
      EXPECT_TRUE(tenant.last_failure.has_value());
      EXPECT_EQ(tenant.last_error, "boom");
    }
  }
  std::vector<ItemView> running = Items(*queue_, ItemState::kRunning);
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].tenant, "waits");
  EXPECT_EQ(running[0].claimed_by, "worker");
  EXPECT_GT(running[0].claim_left, Duration::zero());
}

}  // namespace
}  // namespace baton::conformance
