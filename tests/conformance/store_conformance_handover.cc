// Store conformance: handovers (RequestHandover, for `baton step-down` and --priority).

#include <string>

#include "store_conformance.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

HandoverRequest Asking(const std::string& group, const std::string& to = "",
                       std::optional<int64_t> below = std::nullopt) {
  HandoverRequest request;
  request.lease = LeaseKey{.group = group, .name = kActiveLease};
  request.to = to;
  request.holder_priority_below = below;
  return request;
}

HandoverOutcome OutcomeOf(Store& store, const HandoverRequest& request) {
  Result<HandoverReply> reply = store.RequestHandover(request);
  EXPECT_TRUE(IsOk(reply));
  return reply ? reply->outcome : HandoverOutcome::kNoHolder;
}

TEST_P(StoreConformance, HandoverNeedsAHolderAndAnotherLiveMember) {
  auto store = OpenStore();
  const MemberInfo a = Instance("a");
  const MemberInfo b = Instance("b");
  EXPECT_EQ(OutcomeOf(*store, Asking(group_)), HandoverOutcome::kNoHolder);  // Never taken.
  ASSERT_TRUE(IsOk(store->Register(group_, a, ttl_)));
  const uint64_t token = Beat(*store, a, LeaseIntent::kAcquire).lease.token;
  ASSERT_EQ(N(token), 1);
  EXPECT_EQ(OutcomeOf(*store, Asking(group_)), HandoverOutcome::kNoOtherMember);
  ASSERT_TRUE(IsOk(store->Register(group_, b, ttl_)));
  EXPECT_EQ(OutcomeOf(*store, Asking(group_, "nobody")), HandoverOutcome::kUnknownTarget);
  EXPECT_EQ(OutcomeOf(*store, Asking(group_, a.id)),
            HandoverOutcome::kUnknownTarget);  // The holder itself.
  Result<HandoverReply> asked = store->RequestHandover(Asking(group_, b.id));
  ASSERT_TRUE(IsOk(asked));
  EXPECT_EQ(asked->outcome, HandoverOutcome::kRequested);
  EXPECT_EQ(asked->lease.holder, a.holder);
  EXPECT_EQ(asked->lease.token, token);
  ASSERT_TRUE(IsOk(store->Release(Key(group_), a.holder, token)));
  EXPECT_EQ(OutcomeOf(*store, Asking(group_)), HandoverOutcome::kNoHolder);  // Released.
}

TEST_P(StoreConformance, HandoverAnExpiredMemberIsNoTarget) {
  auto store = OpenStore();
  const MemberInfo a = Instance("a");
  const MemberInfo b = Instance("b");
  ASSERT_TRUE(IsOk(store->Register(group_, b, ttl_)));
  Advance(ttl_ + time_.expiry_lag);  // b stops beating and expires.
  ASSERT_TRUE(IsOk(store->Register(group_, a, ttl_)));
  ASSERT_TRUE(Beat(*store, a, LeaseIntent::kAcquire).acquired);
  EXPECT_EQ(OutcomeOf(*store, Asking(group_, b.id)), HandoverOutcome::kUnknownTarget);
  EXPECT_EQ(OutcomeOf(*store, Asking(group_)), HandoverOutcome::kNoOtherMember);
}

TEST_P(StoreConformance, HandoverTheHoldersRenewalsCarryTheRequestUntilANewIntervalSpendsIt) {
  auto store = OpenStore();
  const MemberInfo a = Instance("a");
  const MemberInfo b = Instance("b");
  ASSERT_TRUE(IsOk(store->Register(group_, a, ttl_)));
  ASSERT_TRUE(IsOk(store->Register(group_, b, ttl_)));
  const uint64_t token = Beat(*store, a, LeaseIntent::kAcquire).lease.token;
  ASSERT_EQ(N(token), 1);
  EXPECT_FALSE(Beat(*store, a, LeaseIntent::kRenew, token).handover) << "asked by nobody";
  ASSERT_EQ(OutcomeOf(*store, Asking(group_)), HandoverOutcome::kRequested);
  for (int i = 0; i < 2; ++i) {
    HeartbeatReply renewed = Beat(*store, a, LeaseIntent::kRenew, token);
    EXPECT_TRUE(renewed.held);
    ASSERT_TRUE(renewed.handover.has_value());
    EXPECT_EQ(*renewed.handover, "") << "to any other member";
  }
  // Only the holder hears of it.
  EXPECT_FALSE(Beat(*store, b, LeaseIntent::kObserve).handover);
  ASSERT_TRUE(IsOk(store->Release(Key(group_), a.holder, token)));
  HeartbeatReply taken = Beat(*store, b, LeaseIntent::kAcquire);
  EXPECT_TRUE(taken.acquired);
  const uint64_t next = taken.lease.token;
  EXPECT_EQ(N(next), N(token) + 1);
  EXPECT_FALSE(Beat(*store, b, LeaseIntent::kRenew, next).handover) << "the request was spent";
}

TEST_P(StoreConformance, HandoverANamedMemberAloneTakesTheReleasedLeaseUntilItsReservationEnds) {
  auto store = OpenStore();
  const MemberInfo a = Instance("a");
  const MemberInfo b = Instance("b");
  const MemberInfo c = Instance("c");
  for (const MemberInfo& m : {a, b, c}) ASSERT_TRUE(IsOk(store->Register(group_, m, ttl_)));
  const uint64_t token = Beat(*store, a, LeaseIntent::kAcquire).lease.token;
  ASSERT_EQ(N(token), 1);
  ASSERT_EQ(OutcomeOf(*store, Asking(group_, c.id)), HandoverOutcome::kRequested);
  HeartbeatReply renewed = Beat(*store, a, LeaseIntent::kRenew, token);
  ASSERT_TRUE(renewed.handover.has_value());
  EXPECT_EQ(*renewed.handover, c.id);
  ASSERT_TRUE(IsOk(store->Release(Key(group_), a.holder, token)));

  HeartbeatReply other = Beat(*store, b, LeaseIntent::kAcquire);
  EXPECT_FALSE(other.acquired) << "b took a lease reserved for c";
  EXPECT_FALSE(other.held);
  EXPECT_FALSE(Beat(*store, a, LeaseIntent::kAcquire).acquired) << "the old holder took it back";
  HeartbeatReply named = Beat(*store, c, LeaseIntent::kAcquire);
  EXPECT_TRUE(named.acquired);
  EXPECT_EQ(N(named.lease.token), N(token) + 1);
}

TEST_P(StoreConformance, HandoverAReservationNobodyUsedLapsesAndThenAnyoneMayTakeTheLease) {
  auto store = OpenStore();
  const MemberInfo a = Instance("a");
  const MemberInfo b = Instance("b");
  const MemberInfo c = Instance("c");
  for (const MemberInfo& m : {a, b, c}) ASSERT_TRUE(IsOk(store->Register(group_, m, ttl_)));
  const uint64_t token = Beat(*store, a, LeaseIntent::kAcquire).lease.token;
  ASSERT_EQ(N(token), 1);
  ASSERT_EQ(OutcomeOf(*store, Asking(group_, c.id)), HandoverOutcome::kRequested);
  ASSERT_TRUE(IsOk(store->Release(Key(group_), a.holder, token)));
  // c died before it could take the lease: reserved for twice the remaining time (two ttl
  // here; on etcd, whose remaining times count whole seconds, as little as two ttl less 2 s),
  // after which anyone may take it. The first look comes well inside the reservation.
  Advance(ttl_ / 2);
  EXPECT_FALSE(Beat(*store, b, LeaseIntent::kAcquire).acquired);
  Advance(3 * ttl_ / 2 + Tick() + time_.expiry_lag);
  HeartbeatReply taken = Beat(*store, b, LeaseIntent::kAcquire);
  EXPECT_TRUE(taken.acquired);
  EXPECT_EQ(N(taken.lease.token), N(token) + 1);
}

TEST_P(StoreConformance, HandoverAPriorityConditionAsksOnlyAHolderOfLowerPriority) {
  auto store = OpenStore();
  MemberInfo a = Instance("a");
  a.priority = 3;
  MemberInfo b = Instance("b");
  b.priority = 5;
  ASSERT_TRUE(IsOk(store->Register(group_, a, ttl_)));
  ASSERT_TRUE(IsOk(store->Register(group_, b, ttl_)));
  const uint64_t token = Beat(*store, a, LeaseIntent::kAcquire).lease.token;
  ASSERT_EQ(N(token), 1);
  EXPECT_EQ(OutcomeOf(*store, Asking(group_, b.id, 3)), HandoverOutcome::kNotLower)
      << "3 is not below 3";
  EXPECT_FALSE(Beat(*store, a, LeaseIntent::kRenew, token).handover);
  EXPECT_EQ(OutcomeOf(*store, Asking(group_, b.id, 5)), HandoverOutcome::kRequested);
  EXPECT_TRUE(Beat(*store, a, LeaseIntent::kRenew, token).handover);

  Result<GroupSnapshot> snapshot = store->Snapshot(group_);
  ASSERT_TRUE(IsOk(snapshot));
  ASSERT_EQ(snapshot->members.size(), 2u);
  EXPECT_EQ(snapshot->members[0].info.priority, 3);
  EXPECT_EQ(snapshot->members[1].info.priority, 5);
}

TEST_P(StoreConformance, HandoverAReinsertedMemberRowKeepsItsPriority) {
  auto store = OpenStore();
  MemberInfo a = Instance("a");
  a.priority = 7;
  const MemberInfo b = Instance("b");
  ASSERT_TRUE(IsOk(store->Register(group_, a, ttl_)));
  Advance(ttl_ + Tick() + time_.expiry_lag);  // a is paused a whole ttl and reaped.
  const HeartbeatReply reaping = Beat(*store, b, LeaseIntent::kObserve);
  if (traits_.reports_reaped) {
    ASSERT_EQ(reaping.reaped, std::vector<std::string>{a.id});
  }
  Beat(*store, a, LeaseIntent::kObserve);
  Result<GroupSnapshot> snapshot = store->Snapshot(group_);
  ASSERT_TRUE(IsOk(snapshot));
  ASSERT_FALSE(snapshot->members.empty());
  EXPECT_EQ(snapshot->members[0].info.id, a.id);
  EXPECT_EQ(snapshot->members[0].info.priority, 7);
}

}  // namespace
}  // namespace baton::conformance
