// The queue conformance suite: one running item per tenant, fairness, priority, delays,
// time-to-live, retries, dead letters and releases.

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "queue_conformance.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

// SPEC 3.3: 8 threads, each with its own handle, claim and finish concurrently; no tenant
// ever has two items running by our own count, every item is processed once, and no claim
// token is handed out twice.
TEST_P(QueueConformance, OneRunningItemPerTenantUnderConcurrentClaims) {
  constexpr int kTenants = 5;
  constexpr int kPerTenant = 16;
  constexpr int kThreads = 8;
  std::vector<std::string> tenants;
  for (int round = 0; round < kPerTenant; ++round) {
    for (int t = 0; t < kTenants; ++t) tenants.push_back("tenant-" + std::to_string(t));
  }
  OfferTenants(*queue_, tenants);
  visibility_ = Seconds(600);  // Nothing expires here: overlap could only be the store's fault.

  std::mutex mu;
  std::map<std::string, int> running;  // By our own records.
  std::set<uint64_t> done;
  std::set<uint64_t> tokens;
  std::atomic<int> overlaps{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      std::unique_ptr<Queue> queue = OpenQueue();
      int idle = 0;
      while (idle < 200) {
        {
          std::lock_guard lock(mu);
          if (done.size() == tenants.size()) return;
        }
        Result<ClaimReply> reply = queue->Claim(Request(1 + i % 2));
        if (!reply) {
          ++errors;
          ADD_FAILURE() << reply.error().message();
          return;
        }
        if (reply->items.empty()) {
          ++idle;
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          continue;
        }
        std::vector<ClaimRef> refs;
        {
          std::lock_guard lock(mu);
          for (const ClaimedItem& item : reply->items) {
            if (++running[item.tenant] > 1) ++overlaps;
            if (!tokens.insert(item.claim_token).second) ++overlaps;
            refs.push_back({item.id, item.claim_token});
          }
        }
        std::this_thread::sleep_for(std::chrono::microseconds(300));
        {
          // Off our books before the store frees the slot, so an overlap we count is real.
          std::lock_guard lock(mu);
          for (const ClaimedItem& item : reply->items) --running[item.tenant];
        }
        Result<std::vector<ClaimOutcome>> acked = queue->Acknowledge(key_, refs);
        if (!acked) {
          ++errors;
          ADD_FAILURE() << acked.error().message();
          return;
        }
        std::lock_guard lock(mu);
        for (size_t k = 0; k < refs.size(); ++k) {
          EXPECT_EQ((*acked)[k], ClaimOutcome::kOk);
          EXPECT_TRUE(done.insert(refs[k].item).second) << "item processed twice";
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0) << "two running items of one tenant, or a reused token";
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(done.size(), tenants.size());
}

// pg-boss #535: a claim never fails or stalls on a busy tenant; it takes the next one.
TEST_P(QueueConformance, ClaimSkipsABusyTenant) {
  auto other = OpenQueue();
  OfferTenants(*queue_, {"a", "a", "b"});
  const ClaimedItem first = ClaimOne(*queue_);
  EXPECT_EQ(first.tenant, "a");
  ClaimReply second = Claim(*other, 5);
  ASSERT_EQ(second.items.size(), 1u) << "one item per free tenant";
  EXPECT_EQ(second.items[0].tenant, "b");
  ClaimReply none = Claim(*other, 5);
  EXPECT_TRUE(none.items.empty());
  ASSERT_TRUE(none.next_try.has_value()) << "a's second item waits for a's claim";
  EXPECT_TRUE(About(*none.next_try, visibility_));
  EXPECT_EQ(Ack(*queue_, first), ClaimOutcome::kOk);
  ClaimReply third = Claim(*other, 5);
  ASSERT_EQ(third.items.size(), 1u);
  EXPECT_EQ(third.items[0].tenant, "a");
}

// SPEC 3.5: a tenant with 10,000 items delays another tenant's single item by at most one claim.
TEST_P(QueueConformance, ABigTenantDelaysOthersByOneClaimAtMost) {
  std::vector<std::string> big(10000, "big");
  OfferTenants(*queue_, big);
  std::vector<std::string> small;
  for (int i = 0; i < 100; ++i) small.push_back("small-" + std::to_string(i));
  OfferTenants(*queue_, small);
  std::set<std::string> served;
  for (int claim = 0; claim < 101; ++claim) {
    const ClaimedItem item = ClaimOne(*queue_);
    if (item.tenant != "big") served.insert(item.tenant);
    ASSERT_EQ(Ack(*queue_, item), ClaimOutcome::kOk);
  }
  EXPECT_EQ(served.size(), 100u) << "small tenants waited behind the big one";
}

TEST_P(QueueConformance, ClaimsGoRoundRobinAcrossTenants) {
  std::vector<std::string> tenants;
  for (int t = 0; t < 10; ++t) {
    for (int k = 0; k < 3; ++k) tenants.push_back("t" + std::to_string(t));
  }
  OfferTenants(*queue_, tenants);  // Tenant by tenant: t0, t0, t0, t1, ...
  std::vector<std::string> order;
  for (int claim = 0; claim < 30; ++claim) {
    const ClaimedItem item = ClaimOne(*queue_);
    order.push_back(item.tenant);
    ASSERT_EQ(Ack(*queue_, item), ClaimOutcome::kOk);
  }
  for (int claim = 0; claim < 30; ++claim) {
    EXPECT_EQ(order[claim], "t" + std::to_string(claim % 10)) << "claim " << claim;
  }
}

TEST_P(QueueConformance, PriorityOrdersATenantsItemsAndDelayHoldsThemBack) {
  OfferOne(*queue_, OfferItem{.tenant = "a", .payload = "low", .priority = 0});
  OfferOne(*queue_, OfferItem{.tenant = "a", .payload = "high", .priority = 5});
  OfferOne(*queue_, OfferItem{.tenant = "a", .payload = "mid", .priority = 1});
  OfferOne(*queue_, OfferItem{.tenant = "b", .payload = "later", .delay = Seconds(5)});
  std::vector<std::string> payloads;
  for (int i = 0; i < 3; ++i) {
    ClaimReply reply = Claim(*queue_, 5);
    ASSERT_EQ(reply.items.size(), 1u) << "b's delayed item was claimable";
    payloads.push_back(reply.items[0].payload);
    ASSERT_EQ(Ack(*queue_, reply.items[0]), ClaimOutcome::kOk);
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{"high", "mid", "low"}));
  ClaimReply waiting = Claim(*queue_);
  EXPECT_TRUE(waiting.items.empty());
  ASSERT_TRUE(waiting.next_try.has_value());
  EXPECT_TRUE(About(*waiting.next_try, Seconds(5)));
  Advance(Seconds(5) + Tick());
  const ClaimedItem later = ClaimOne(*queue_);
  EXPECT_EQ(later.payload, "later");
}

// SPEC 3.4: a never-claimed item past its time-to-live is dropped and counted, never
// returned; a claimed one never expires.
TEST_P(QueueConformance, TimeToLiveDropsOnlyNeverClaimedItems) {
  OfferOne(*queue_, OfferItem{.tenant = "claimed", .ttl = Seconds(2)});
  OfferOne(*queue_, OfferItem{.tenant = "unclaimed", .ttl = Seconds(2)});
  visibility_ = Seconds(10);
  ClaimReply first = Claim(*queue_);
  ASSERT_EQ(first.items.size(), 1u);
  const ClaimedItem kept = first.items[0];
  EXPECT_EQ(kept.tenant, "claimed") << "offered first";
  Advance(Seconds(3));
  EXPECT_TRUE(Claim(*queue_).items.empty()) << "an expired item was claimed";
  EXPECT_EQ(Ack(*queue_, kept), ClaimOutcome::kOk) << "a claimed item expired";
  Result<QueueStats> stats = queue_->Stats(key_);
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->expired_total, 1);
  EXPECT_EQ(stats->done_total, 1);
  EXPECT_EQ(stats->pending + stats->waiting, 0);
}

TEST_P(QueueConformance, FailedItemIsRetriedAfterRetryAfter) {
  OfferTenants(*queue_, {"a"});
  const ClaimedItem first = ClaimOne(*queue_);
  ASSERT_EQ(FailRetry(*queue_, first, Seconds(4)), ClaimOutcome::kOk);
  ClaimReply waiting = Claim(*queue_);
  EXPECT_TRUE(waiting.items.empty()) << "retried before retry_after";
  ASSERT_TRUE(waiting.next_try.has_value());
  EXPECT_TRUE(About(*waiting.next_try, Seconds(4)));
  Advance(Seconds(4) + Tick());
  const ClaimedItem second = ClaimOne(*queue_);
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(second.attempt, 2);
  EXPECT_NE(second.claim_token, first.claim_token);
}

TEST_P(QueueConformance, DeadAtOnceOnDeadNowAndAfterMaxAttempts) {
  const uint64_t poison = OfferOne(*queue_, OfferItem{.tenant = "poison"});
  const ClaimedItem item = ClaimOne(*queue_);
  Result<FailReply> failed =
      queue_->Fail(key_, {item.id, item.claim_token},
                   FailRequest{.error = "bad data", .exit_code = 65, .dead_now = true});
  ASSERT_TRUE(IsOk(failed));
  EXPECT_EQ(failed->outcome, ClaimOutcome::kOk);
  EXPECT_TRUE(failed->dead);

  const uint64_t flaky = OfferOne(*queue_, OfferItem{.tenant = "flaky"});
  for (int attempt = 1; attempt <= 2; ++attempt) {
    const ClaimedItem again = ClaimOne(*queue_, /*max_attempts=*/2);
    EXPECT_EQ(again.attempt, attempt);
    ASSERT_EQ(FailRetry(*queue_, again, Duration::zero()), ClaimOutcome::kOk);
  }
  EXPECT_TRUE(Claim(*queue_, 1, /*max_attempts=*/2).items.empty()) << "attempts exhausted";

  Result<std::vector<ItemView>> dead = queue_->DeadLetters(key_, 10);
  ASSERT_TRUE(IsOk(dead));
  ASSERT_EQ(dead->size(), 2u);
  EXPECT_EQ((*dead)[0].id, poison);
  EXPECT_EQ((*dead)[0].last_error, "bad data");
  EXPECT_EQ((*dead)[0].exit_code, 65);
  EXPECT_EQ((*dead)[0].attempts, 1);
  EXPECT_EQ((*dead)[1].id, flaky);
  EXPECT_EQ((*dead)[1].attempts, 2);
  EXPECT_EQ((*dead)[1].state, ItemState::kDead);
}

// SPEC 3.4: the attempt is counted at claim, so claims that keep expiring (a worker that
// crashes on the item) still end in the dead letters.
TEST_P(QueueConformance, ACrashLoopEndsDead) {
  OfferTenants(*queue_, {"crash"});
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const ClaimedItem item = ClaimOne(*queue_, /*max_attempts=*/3);
    EXPECT_EQ(item.attempt, attempt);
    Advance(visibility_ + Tick());  // The worker died: its claim runs out.
  }
  EXPECT_TRUE(Claim(*queue_, 1, 3).items.empty());
  Result<std::vector<ItemView>> dead = queue_->DeadLetters(key_, 10);
  ASSERT_TRUE(IsOk(dead));
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].attempts, 3);
  EXPECT_NE((*dead)[0].last_error.find("worker was lost"), std::string::npos)
      << (*dead)[0].last_error;
}

TEST_P(QueueConformance, ReleaseGivesTheAttemptBackThreeTimes) {
  OfferTenants(*queue_, {"a"});
  std::vector<int> attempts;
  for (int i = 0; i < 5; ++i) {
    const ClaimedItem item = ClaimOne(*queue_);
    attempts.push_back(item.attempt);
    Result<ClaimOutcome> released = queue_->Release(key_, {item.id, item.claim_token});
    ASSERT_TRUE(IsOk(released));
    EXPECT_EQ(*released, ClaimOutcome::kOk);
  }
  EXPECT_EQ(attempts, (std::vector<int>{1, 1, 1, 1, 2}));
}

}  // namespace
}  // namespace baton::conformance
