// The queue conformance suite's fixture and its basic cases: offer, claim, acknowledge,
// claim tokens, stale tokens, input checks.

#include "queue_conformance.h"

#include <condition_variable>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <thread>

#include "test_util.h"

namespace baton::conformance {

void PrintTo(const QueueFactory& factory, std::ostream* out) { *out << factory.name; }

std::string QueueFactoryName(const ::testing::TestParamInfo<QueueFactory>& info) {
  return info.param.name;
}

void QueueConformance::SetUp() {
  std::string skip_reason;
  backend_ = GetParam().make_backend(&skip_reason);
  if (backend_ == nullptr) GTEST_SKIP() << GetParam().name << " store skipped: " << skip_reason;
  time_ = backend_->time();
  visibility_ = Seconds(3);
  queue_ = OpenQueue();
}

std::unique_ptr<Queue> QueueConformance::OpenQueue(Clock* clock) {
  return backend_->OpenQueue(clock != nullptr ? clock : &clock_);
}

void QueueConformance::Advance(Duration d) {
  clock_.Advance(d);
  if (time_.sleeps) std::this_thread::sleep_for(d);
}

::testing::AssertionResult QueueConformance::About(Duration actual, Duration expected) const {
  if (actual >= expected - time_.tolerance && actual <= expected + time_.tolerance) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "reported " << actual.count() << " ns, expected " << expected.count() << " ns";
}

std::vector<uint64_t> QueueConformance::OfferTenants(Queue& queue,
                                                     const std::vector<std::string>& tenants,
                                                     bool unique) {
  OfferRequest request{.queue = key_, .unique = unique};
  for (const std::string& tenant : tenants) request.items.push_back(OfferItem{.tenant = tenant});
  Result<OfferReply> reply = queue.Offer(request);
  EXPECT_TRUE(IsOk(reply));
  std::vector<uint64_t> ids;
  if (!reply) return ids;
  EXPECT_FALSE(reply->fenced_out);
  for (const std::optional<uint64_t>& id : reply->ids) {
    EXPECT_TRUE(id.has_value());
    ids.push_back(id.value_or(0));
  }
  return ids;
}

uint64_t QueueConformance::OfferOne(Queue& queue, const OfferItem& item, bool unique) {
  Result<OfferReply> reply =
      queue.Offer(OfferRequest{.queue = key_, .items = {item}, .unique = unique});
  EXPECT_TRUE(IsOk(reply));
  if (!reply || reply->ids.size() != 1) return 0;
  return reply->ids[0].value_or(0);
}

ClaimRequest QueueConformance::Request(int max_items, int max_attempts) const {
  return ClaimRequest{.queue = key_,
                      .worker = "worker",
                      .max_items = max_items,
                      .visibility = visibility_,
                      .max_attempts = max_attempts};
}

ClaimReply QueueConformance::Claim(Queue& queue, int max_items, int max_attempts) {
  Result<ClaimReply> reply = queue.Claim(Request(max_items, max_attempts));
  EXPECT_TRUE(IsOk(reply));
  return reply ? *reply : ClaimReply{};
}

ClaimedItem QueueConformance::ClaimOne(Queue& queue, int max_attempts) {
  ClaimReply reply = Claim(queue, 1, max_attempts);
  EXPECT_EQ(reply.items.size(), 1u);
  return reply.items.empty() ? ClaimedItem{} : reply.items[0];
}

ClaimOutcome QueueConformance::Ack(Queue& queue, const ClaimedItem& item) {
  Result<std::vector<ClaimOutcome>> outcomes =
      queue.Acknowledge(key_, {ClaimRef{item.id, item.claim_token}});
  EXPECT_TRUE(IsOk(outcomes));
  if (!outcomes || outcomes->size() != 1) return ClaimOutcome::kStale;
  return (*outcomes)[0];
}

ClaimOutcome QueueConformance::FailRetry(Queue& queue, const ClaimedItem& item,
                                         Duration retry_after, bool dead_now) {
  Result<FailReply> reply = queue.Fail(
      key_, ClaimRef{item.id, item.claim_token},
      FailRequest{
          .error = "boom", .exit_code = 3, .retry_after = retry_after, .dead_now = dead_now});
  EXPECT_TRUE(IsOk(reply));
  return reply ? reply->outcome : ClaimOutcome::kStale;
}

std::vector<ItemView> QueueConformance::Items(Queue& queue, std::optional<ItemState> state) {
  Result<std::vector<ItemView>> items = queue.List(key_, state, 100000);
  EXPECT_TRUE(IsOk(items));
  return items ? *items : std::vector<ItemView>{};
}

namespace {

using std::chrono::milliseconds;

TEST_P(QueueConformance, OfferClaimAcknowledge) {
  const std::string payload("bytes\0and\xff more", 15);
  const uint64_t id = OfferOne(*queue_, OfferItem{.tenant = "acme", .payload = payload});
  ASSERT_GT(id, 0u);
  ClaimReply reply = Claim(*queue_);
  ASSERT_EQ(reply.items.size(), 1u);
  const ClaimedItem& item = reply.items[0];
  EXPECT_EQ(item.id, id);
  EXPECT_EQ(item.tenant, "acme");
  EXPECT_EQ(item.payload, payload);
  EXPECT_EQ(item.attempt, 1);
  EXPECT_GT(item.claim_token, 0u);
  EXPECT_FALSE(reply.paused);
  ASSERT_TRUE(reply.next_try.has_value()) << "the running claim's expiry";
  EXPECT_TRUE(About(*reply.next_try, visibility_));

  EXPECT_EQ(Ack(*queue_, item), ClaimOutcome::kOk);
  EXPECT_EQ(Ack(*queue_, item), ClaimOutcome::kStale) << "acknowledged twice";
  ClaimReply empty = Claim(*queue_);
  EXPECT_TRUE(empty.items.empty());
  EXPECT_FALSE(empty.next_try.has_value()) << "nothing left that could ever be claimed";
  EXPECT_TRUE(Items(*queue_).empty());
}

TEST_P(QueueConformance, AcknowledgesManyInOneCall) {
  OfferTenants(*queue_, {"a", "b", "c"});
  ClaimReply reply = Claim(*queue_, 3);
  ASSERT_EQ(reply.items.size(), 3u);
  std::vector<ClaimRef> refs;
  for (const ClaimedItem& item : reply.items) refs.push_back({item.id, item.claim_token});
  refs.push_back({refs[0].item, refs[0].claim_token + 1000});  // Never a live claim.
  Result<std::vector<ClaimOutcome>> outcomes = queue_->Acknowledge(key_, refs);
  ASSERT_TRUE(IsOk(outcomes));
  EXPECT_EQ(*outcomes, (std::vector<ClaimOutcome>{ClaimOutcome::kOk, ClaimOutcome::kOk,
                                                  ClaimOutcome::kOk, ClaimOutcome::kStale}));
  Result<QueueStats> stats = queue_->Stats(key_);
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->done_total, 3);
}

// A busy worker acknowledges with its next claim: the acknowledgements come first, in the
// same call, so the tenant an acknowledgement frees is claimable by that very claim; a paused
// queue still takes them; a stale one is refused as by Acknowledge.
TEST_P(QueueConformance, ClaimAcknowledgesFirstInTheSameCall) {
  OfferTenants(*queue_, {"t", "t", "u"});
  ClaimReply first = Claim(*queue_, 2);
  ASSERT_EQ(first.items.size(), 2u) << "t and u";
  const ClaimedItem& t1 = first.items[0].tenant == "t" ? first.items[0] : first.items[1];
  const ClaimedItem& u1 = first.items[0].tenant == "t" ? first.items[1] : first.items[0];

  ClaimRequest request = Request(5);
  request.acknowledge = {{t1.id, t1.claim_token}, {u1.id, u1.claim_token + 1000}};
  Result<ClaimReply> second = queue_->Claim(request);
  ASSERT_TRUE(IsOk(second));
  EXPECT_EQ(second->acknowledged,
            (std::vector<ClaimOutcome>{ClaimOutcome::kOk, ClaimOutcome::kStale}));
  ASSERT_EQ(second->items.size(), 1u) << "t's second item, its tenant freed by the ack";
  EXPECT_EQ(second->items[0].tenant, "t");
  const ClaimedItem t2 = second->items[0];

  ASSERT_TRUE(IsOk(queue_->Pause(key_)));
  request.acknowledge = {{t2.id, t2.claim_token}, {u1.id, u1.claim_token}};
  Result<ClaimReply> paused = queue_->Claim(request);
  ASSERT_TRUE(IsOk(paused));
  EXPECT_TRUE(paused->paused);
  EXPECT_TRUE(paused->items.empty());
  EXPECT_EQ(paused->acknowledged,
            (std::vector<ClaimOutcome>{ClaimOutcome::kOk, ClaimOutcome::kOk}));
  Result<QueueStats> stats = queue_->Stats(key_);
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->done_total, 3);
  EXPECT_TRUE(Items(*queue_).empty());

  request.acknowledge.assign(kMaxRowsPerTransaction + 1, ClaimRef{t2.id, t2.claim_token});
  Result<ClaimReply> too_many = queue_->Claim(request);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().code(), ErrorCode::kInvalidArgument);
}

// SPEC 3.2: once a claim expired and the item was claimed again, the first worker's token
// changes nothing, and the new claim is unaffected.
TEST_P(QueueConformance, StaleTokenIsRefusedAfterTheItemWasClaimedAgain) {
  auto other = OpenQueue();
  OfferTenants(*queue_, {"acme"});
  const ClaimedItem first = ClaimOne(*queue_);
  EXPECT_TRUE(Claim(*other).items.empty()) << "the tenant is busy";  // Also: other watches it.
  Advance(visibility_ + Tick());
  const ClaimedItem second = ClaimOne(*other);
  ASSERT_EQ(second.id, first.id);
  EXPECT_NE(second.claim_token, first.claim_token);
  EXPECT_GT(second.claim_token, first.claim_token);
  EXPECT_EQ(second.attempt, 2);

  const ClaimRef stale{first.id, first.claim_token};
  Result<ClaimOutcome> extended = queue_->Extend(key_, stale, visibility_);
  ASSERT_TRUE(IsOk(extended));
  EXPECT_EQ(*extended, ClaimOutcome::kStale);
  EXPECT_EQ(Ack(*queue_, first), ClaimOutcome::kStale);
  EXPECT_EQ(FailRetry(*queue_, first, Duration::zero(), true), ClaimOutcome::kStale);
  Result<ClaimOutcome> released = queue_->Release(key_, stale);
  ASSERT_TRUE(IsOk(released));
  EXPECT_EQ(*released, ClaimOutcome::kStale);

  std::vector<ItemView> items = Items(*queue_);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].state, ItemState::kRunning) << "the stale calls touched the new claim";
  Result<ClaimOutcome> renewed = other->Extend(key_, {second.id, second.claim_token}, visibility_);
  ASSERT_TRUE(IsOk(renewed));
  EXPECT_EQ(*renewed, ClaimOutcome::kOk);
  EXPECT_EQ(Ack(*other, second), ClaimOutcome::kOk);
}

TEST_P(QueueConformance, ExtendKeepsTheClaim) {
  auto other = OpenQueue();
  OfferTenants(*queue_, {"acme"});
  const ClaimedItem item = ClaimOne(*queue_);
  EXPECT_TRUE(Claim(*other).items.empty());
  for (int i = 0; i < 3; ++i) {
    Advance(visibility_ / 2);
    Result<ClaimOutcome> extended = queue_->Extend(key_, {item.id, item.claim_token}, visibility_);
    ASSERT_TRUE(IsOk(extended));
    EXPECT_EQ(*extended, ClaimOutcome::kOk);
    EXPECT_TRUE(Claim(*other).items.empty()) << "an extended claim was taken";
  }
  EXPECT_EQ(Ack(*queue_, item), ClaimOutcome::kOk);
}

TEST_P(QueueConformance, ClaimTokensAreNeverReused) {
  std::set<uint64_t> tokens;
  auto other = OpenQueue();
  for (int round = 0; round < 5; ++round) {
    OfferTenants(*queue_, {"a", "b", "c", "d"});
    for (Queue* q : {queue_.get(), other.get()}) {
      ClaimReply reply = Claim(*q, 2);
      for (const ClaimedItem& item : reply.items) {
        EXPECT_TRUE(tokens.insert(item.claim_token).second) << "token reused";
        EXPECT_EQ(Ack(*q, item), ClaimOutcome::kOk);
      }
    }
  }
  EXPECT_EQ(tokens.size(), 20u);
}

TEST_P(QueueConformance, RefusesBadTenantsAndPayloadsNamingTheItem) {
  const std::vector<OfferItem> bad = {
      OfferItem{.tenant = ""},
      OfferItem{.tenant = "line\nbreak"},
      OfferItem{.tenant = std::string(kMaxTenantBytes + 1, 't')},
      OfferItem{.tenant = "bad\xff utf8"},
      OfferItem{.tenant = "big", .payload = std::string(kMaxPayloadBytes + 1, 'x')},
  };
  for (const OfferItem& item : bad) {
    Result<OfferReply> reply =
        queue_->Offer(OfferRequest{.queue = key_, .items = {OfferItem{.tenant = "fine"}, item}});
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(reply.error().message().find("item 1"), std::string::npos) << reply.error().message();
  }
  EXPECT_TRUE(Items(*queue_).empty()) << "a refused offer inserted something";
  EXPECT_TRUE(IsOk(ValidateTenant("tenant-42 ünïcode")));
  EXPECT_EQ(OfferOne(*queue_,
                     OfferItem{.tenant = "max", .payload = std::string(kMaxPayloadBytes, 'x')}) > 0,
            true);
}

TEST_P(QueueConformance, UnknownQueueIsAnEmptyAnswer) {
  const QueueKey unknown{.group = "nobody", .queue = "nothing"};
  Result<QueueStats> stats = queue_->Stats(unknown);
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->pending + stats->running + stats->dead + stats->done_total, 0);
  EXPECT_TRUE(stats->tenants.empty());
  Result<std::vector<ItemView>> items = queue_->List(unknown, std::nullopt, 10);
  ASSERT_TRUE(IsOk(items));
  EXPECT_TRUE(items->empty());
  Result<ClaimReply> claim = queue_->Claim(ClaimRequest{.queue = unknown, .worker = "w"});
  ASSERT_TRUE(IsOk(claim));
  EXPECT_TRUE(claim->items.empty());
  EXPECT_FALSE(claim->paused);
  EXPECT_FALSE(claim->next_try.has_value());
  Result<CancelOutcome> cancel = queue_->Cancel(unknown, 1);
  ASSERT_TRUE(IsOk(cancel));
  EXPECT_EQ(*cancel, CancelOutcome::kNotFound);
  Result<bool> requeue = queue_->Requeue(unknown, 1);
  ASSERT_TRUE(IsOk(requeue));
  EXPECT_FALSE(*requeue);
}

// SPEC 3.8: an offer wakes a waiting worker, whichever handle made it.
TEST_P(QueueConformance, WatchOffersWakesAWaitingThread) {
  auto watching = OpenQueue(&Clock::Real());  // The watcher polls on its handle's clock.
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  auto subscription = watching->WatchOffers(key_, [&] {
    std::lock_guard lock(mu);
    ++calls;
    cv.notify_all();
  });
  std::this_thread::sleep_for(milliseconds(100));  // The watcher's first look.
  {
    std::lock_guard lock(mu);
    calls = 0;  // Spurious calls before the offer are allowed; count from here.
  }
  OfferTenants(*queue_, {"acme"});
  std::unique_lock lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return calls > 0; }))
      << "no wake-up after an offer";
}

}  // namespace
}  // namespace baton::conformance
