#include "store_conformance.h"

#include <chrono>
#include <ostream>
#include <string>
#include <thread>

#include "test_util.h"

namespace baton::conformance {

void PrintTo(const StoreFactory& factory, std::ostream* out) { *out << factory.name; }

std::string StoreFactoryName(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

LeaseKey StoreConformance::Key(const std::string& group) {
  return LeaseKey{.group = group, .name = kActiveLease};
}

void StoreConformance::SetUp() {
  std::string skip_reason;
  backend_ = GetParam().make_backend(&skip_reason);
  if (backend_ == nullptr) GTEST_SKIP() << GetParam().name << " store skipped: " << skip_reason;
  time_ = backend_->time();
  traits_ = backend_->traits();
  ttl_ = Seconds(10);
}

void StoreConformance::Advance(Duration d) {
  clock_.Advance(d);
  if (time_.sleeps) std::this_thread::sleep_for(d);
}

::testing::AssertionResult StoreConformance::About(Duration actual, Duration expected) const {
  // Time that passes during the calls makes a time left shorter and an age longer.
  if (actual >= expected - time_.tolerance && actual <= expected + time_.tolerance) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "reported " << actual.count() << " ns, expected " << expected.count() << " ns"
         << (time_.tolerance > Duration::zero()
                 ? " (give or take " + std::to_string(time_.tolerance.count()) + " ns)"
                 : std::string());
}

std::unique_ptr<Store> StoreConformance::OpenStore(Clock* clock) {
  return backend_->Open(clock != nullptr ? clock : &clock_);
}

MemberInfo StoreConformance::Instance(const std::string& name, const std::string& nonce) {
  return MemberInfo{.id = name,
                    .holder = name + "#" + nonce,
                    .host = "host-" + name,
                    .pid = 4000 + static_cast<int64_t>(name.size()),
                    .version = "1.2.3"};
}

HeartbeatRequest StoreConformance::Request(const MemberInfo& self, LeaseIntent intent,
                                           uint64_t token) const {
  HeartbeatRequest request;
  request.lease = LeaseKey{.group = group_, .name = kActiveLease};
  request.self = self;
  request.role = intent == LeaseIntent::kRenew ? MemberRole::kActive : MemberRole::kPassive;
  request.member_ttl = ttl_;
  request.intent = intent;
  request.lease_ttl = ttl_;
  request.token = token;
  return request;
}

HeartbeatReply StoreConformance::Beat(Store& store, const MemberInfo& self, LeaseIntent intent,
                                      uint64_t token) {
  Result<HeartbeatReply> reply = store.Heartbeat(Request(self, intent, token));
  EXPECT_TRUE(IsOk(reply));
  if (reply) (void)N(reply->lease.token);
  return reply ? *reply : HeartbeatReply{};
}

int64_t StoreConformance::N(uint64_t token, const std::string& lease) {
  if (traits_.dense_tokens || token == 0) return static_cast<int64_t>(token);
  std::vector<uint64_t>& seen = tokens_[lease];
  for (size_t i = 0; i < seen.size(); ++i) {
    if (seen[i] == token) return static_cast<int64_t>(i + 1);
  }
  if (!seen.empty() && token < seen.back()) return -1;
  seen.push_back(token);
  return static_cast<int64_t>(seen.size());
}

uint64_t StoreConformance::T(int64_t n, const std::string& lease) const {
  if (traits_.dense_tokens) return static_cast<uint64_t>(n);
  auto it = tokens_.find(lease);
  if (it == tokens_.end() || n < 1 || static_cast<size_t>(n) > it->second.size()) {
    ADD_FAILURE() << "no token of ordinal " << n << " seen for lease \"" << lease << "\"";
    return 0;
  }
  return it->second[n - 1];
}

namespace {

// The lease: acquisition, renewal, tokens, expiry and release.

TEST_P(StoreConformance, MigrateIsIdempotent) {
  auto store = OpenStore();
  Result<SchemaInfo> first = store->Migrate();
  ASSERT_TRUE(IsOk(first));
  EXPECT_EQ(first->current, first->supported);
  Result<SchemaInfo> second = store->Migrate();
  ASSERT_TRUE(IsOk(second));
  EXPECT_EQ(second->found, second->current);
  EXPECT_EQ(second->current, second->supported);
  EXPECT_FALSE(store->Describe().empty());
}

TEST_P(StoreConformance, AcquiresAFreeLeaseWithTokenOne) {
  auto store = OpenStore();
  MemberInfo a = Instance("a");
  ASSERT_TRUE(IsOk(store->Register(group_, a, ttl_)));
  HeartbeatReply reply = Beat(*store, a, LeaseIntent::kAcquire);
  EXPECT_TRUE(reply.acquired);
  EXPECT_TRUE(reply.held);
  EXPECT_EQ(reply.lease.holder, a.holder);
  EXPECT_EQ(N(reply.lease.token), 1);
  if (traits_.counts_renewals) {
    EXPECT_EQ(reply.lease.renewals, 0u);
  }
  EXPECT_TRUE(About(reply.lease.remaining, ttl_));
  EXPECT_FALSE(reply.lease.free());
}

TEST_P(StoreConformance, ObserveOnlyReports) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("b");
  HeartbeatReply fresh = Beat(*store_b, b, LeaseIntent::kObserve);
  EXPECT_FALSE(fresh.held);
  EXPECT_FALSE(fresh.acquired);
  EXPECT_TRUE(fresh.lease.free());
  EXPECT_EQ(N(fresh.lease.token), 0);
  EXPECT_LE(fresh.lease.remaining, Duration::zero());

  ASSERT_TRUE(Beat(*store_a, a, LeaseIntent::kAcquire).acquired);
  HeartbeatReply seen_by_b = Beat(*store_b, b, LeaseIntent::kObserve);
  EXPECT_FALSE(seen_by_b.held);
  EXPECT_EQ(seen_by_b.lease.holder, a.holder);
  HeartbeatReply seen_by_a = Beat(*store_a, a, LeaseIntent::kObserve);
  EXPECT_TRUE(seen_by_a.held);
  EXPECT_FALSE(seen_by_a.acquired);
  EXPECT_EQ(N(seen_by_a.lease.token), 1);
  if (traits_.counts_renewals) {
    EXPECT_EQ(seen_by_a.lease.renewals, 0u);
  }
}

TEST_P(StoreConformance, SecondHolderIsRefusedWhileHeld) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("b");
  ASSERT_TRUE(Beat(*store_a, a, LeaseIntent::kAcquire).acquired);
  Advance(Seconds(3));
  HeartbeatReply reply = Beat(*store_b, b, LeaseIntent::kAcquire);
  EXPECT_FALSE(reply.acquired);
  EXPECT_FALSE(reply.held);
  EXPECT_EQ(reply.lease.holder, a.holder);
  EXPECT_EQ(N(reply.lease.token), 1);
  EXPECT_TRUE(About(reply.lease.remaining, ttl_ - Seconds(3)));
  // b's renewal of a token it never had is refused too.
  EXPECT_FALSE(Beat(*store_b, b, LeaseIntent::kRenew, T(1)).held);
}

TEST_P(StoreConformance, RenewKeepsTokenCountsRenewalsAndExtendsExpiry) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("b");
  ASSERT_TRUE(Beat(*store_a, a, LeaseIntent::kAcquire).acquired);
  for (uint64_t i = 1; i <= 3; ++i) {
    Advance(Seconds(4));
    HeartbeatReply renewed = Beat(*store_a, a, LeaseIntent::kRenew, T(1));
    EXPECT_TRUE(renewed.held);
    EXPECT_FALSE(renewed.acquired);
    EXPECT_EQ(N(renewed.lease.token), 1);
    if (traits_.counts_renewals) {
      EXPECT_EQ(renewed.lease.renewals, i);
    }
    EXPECT_TRUE(About(renewed.lease.remaining, ttl_));
  }
  // 12 s after the acquisition, but only 9 s after the last renewal: still a's.
  Advance(Seconds(9));
  HeartbeatReply refused = Beat(*store_b, b, LeaseIntent::kAcquire);
  EXPECT_FALSE(refused.acquired);
  EXPECT_EQ(refused.lease.holder, a.holder);
  if (traits_.counts_renewals) {
    EXPECT_EQ(refused.lease.renewals, 3u);
  }
  EXPECT_TRUE(About(refused.lease.remaining, Seconds(1)));
}

TEST_P(StoreConformance, TokenGrowsAtEveryAcquisitionAndNeverOnRenewal) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("b");
  EXPECT_EQ(N(Beat(*store_a, a, LeaseIntent::kAcquire).lease.token), 1);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(N(Beat(*store_a, a, LeaseIntent::kRenew, T(1)).lease.token), 1);

  // After a release: the token is kept, and the next holder's is larger.
  Result<bool> released = store_a->Release(Key(group_), a.holder, T(1));
  ASSERT_TRUE(IsOk(released));
  EXPECT_TRUE(*released);
  HeartbeatReply after_release = Beat(*store_b, b, LeaseIntent::kObserve);
  EXPECT_TRUE(after_release.lease.free());
  EXPECT_TRUE(after_release.lease.holder.empty());
  if (traits_.counts_renewals) {
    EXPECT_EQ(N(after_release.lease.token), 1);
  }
  EXPECT_EQ(N(Beat(*store_b, b, LeaseIntent::kAcquire).lease.token), 2);

  // After an expiry.
  Watch(*store_a, a);
  Advance(ttl_ + time_.expiry_lag);
  HeartbeatReply taken = Beat(*store_a, a, LeaseIntent::kAcquire);
  EXPECT_TRUE(taken.acquired);
  EXPECT_EQ(N(taken.lease.token), 3);

  // A new acquisition by the same holder starts a new interval with a new token.
  HeartbeatReply again = Beat(*store_a, a, LeaseIntent::kAcquire);
  EXPECT_TRUE(again.acquired);
  EXPECT_EQ(N(again.lease.token), 4);
  if (traits_.counts_renewals) {
    EXPECT_EQ(again.lease.renewals, 0u);
  }
  EXPECT_EQ(N(Beat(*store_a, a, LeaseIntent::kRenew, T(4)).lease.token), 4);
}

TEST_P(StoreConformance, StaleHolderCannotRenewOrRelease) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("b");
  ASSERT_TRUE(Beat(*store_a, a, LeaseIntent::kAcquire).acquired);
  ASSERT_EQ(N(Beat(*store_a, a, LeaseIntent::kAcquire).lease.token), 2);
  // An old token of the same holder.
  EXPECT_FALSE(Beat(*store_a, a, LeaseIntent::kRenew, T(1)).held);
  Result<bool> old_release = store_a->Release(Key(group_), a.holder, T(1));
  ASSERT_TRUE(IsOk(old_release));
  EXPECT_FALSE(*old_release);
  EXPECT_EQ(Beat(*store_b, b, LeaseIntent::kObserve).lease.holder, a.holder);

  // After another holder took over.
  Advance(ttl_ + time_.expiry_lag);
  ASSERT_EQ(N(Beat(*store_b, b, LeaseIntent::kAcquire).lease.token), 3);
  HeartbeatReply stale = Beat(*store_a, a, LeaseIntent::kRenew, T(2));
  EXPECT_FALSE(stale.held);
  EXPECT_EQ(stale.lease.holder, b.holder);
  EXPECT_EQ(N(stale.lease.token), 3);
  Result<bool> stale_release = store_a->Release(Key(group_), a.holder, T(2));
  ASSERT_TRUE(IsOk(stale_release));
  EXPECT_FALSE(*stale_release);
  // b's own token 3 with a's identity is not a's either.
  Result<bool> wrong_holder = store_a->Release(Key(group_), a.holder, T(3));
  ASSERT_TRUE(IsOk(wrong_holder));
  EXPECT_FALSE(*wrong_holder);
  EXPECT_TRUE(Beat(*store_b, b, LeaseIntent::kRenew, T(3)).held);
}

// Renewal is a compare-and-set on holder and token: while nobody else has taken the lease,
// nobody can have worked under a newer token, so its holder may renew it even after the
// store's clock says it expired (a step of that clock must not end a live lease). Whether
// the holder may still work is decided by its own deadline, not here.
TEST_P(StoreConformance, HolderRenewsAnExpiredLeaseThatNobodyTook) {
  if (!traits_.renews_after_expiry) {
    GTEST_SKIP() << "this store deletes an expired lease: its holder cannot renew it";
  }
  auto store = OpenStore();
  MemberInfo a = Instance("a");
  ASSERT_TRUE(Beat(*store, a, LeaseIntent::kAcquire).acquired);
  Advance(ttl_ + time_.expiry_lag);
  HeartbeatReply late = Beat(*store, a, LeaseIntent::kRenew, T(1));
  EXPECT_TRUE(late.held);
  EXPECT_EQ(late.lease.holder, a.holder);
  EXPECT_EQ(N(late.lease.token), 1);
  if (traits_.counts_renewals) {
    EXPECT_EQ(late.lease.renewals, 1u);
  }
  EXPECT_TRUE(About(late.lease.remaining, ttl_));
}

TEST_P(StoreConformance, ExpiredLeaseIsTakenOnlyOnceTheTtlHasPassed) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("b");
  ASSERT_TRUE(Beat(*store_a, a, LeaseIntent::kAcquire).acquired);
  Watch(*store_b, b);
  Advance(ttl_ - Tick());
  HeartbeatReply early = Beat(*store_b, b, LeaseIntent::kAcquire);
  EXPECT_FALSE(early.acquired);
  EXPECT_EQ(early.lease.holder, a.holder);
  EXPECT_TRUE(About(early.lease.remaining, Tick()));
  Advance(Tick() + time_.expiry_lag);
  HeartbeatReply on_time = Beat(*store_b, b, LeaseIntent::kAcquire);
  EXPECT_TRUE(on_time.acquired);
  EXPECT_EQ(on_time.lease.holder, b.holder);
  EXPECT_EQ(N(on_time.lease.token), 2);
}

TEST_P(StoreConformance, ReleasingALeaseNotHeldReturnsFalse) {
  auto store = OpenStore();
  Result<bool> never_taken = store->Release(Key(group_), "nobody#1", 1);
  ASSERT_TRUE(IsOk(never_taken));
  EXPECT_FALSE(*never_taken);
  MemberInfo a = Instance("a");
  ASSERT_TRUE(Beat(*store, a, LeaseIntent::kAcquire).acquired);
  ASSERT_TRUE(IsOk(store->Release(Key(group_), a.holder, T(1))));
  Result<bool> twice = store->Release(Key(group_), a.holder, T(1));
  ASSERT_TRUE(IsOk(twice));
  EXPECT_FALSE(*twice);
}

}  // namespace
}  // namespace baton::conformance
