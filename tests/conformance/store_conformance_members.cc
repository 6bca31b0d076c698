// Store conformance: member rows, reaping, ids in use, snapshots and names.

#include <chrono>
#include <string>
#include <vector>

#include "store_conformance.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

using std::chrono::seconds;

TEST_P(StoreConformance, KilledMemberIsReapedAfterItsTtlAndTheLeaseIsLeftAlone) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("b");
  ASSERT_TRUE(IsOk(store_a->Register(group_, a, ttl_)));
  ASSERT_TRUE(IsOk(store_b->Register(group_, b, ttl_)));
  HeartbeatRequest acquire = Request(a, LeaseIntent::kAcquire);
  acquire.lease_ttl = Seconds(30);  // Outlives the member row.
  Result<HeartbeatReply> acquired = store_a->Heartbeat(acquire);
  ASSERT_TRUE(IsOk(acquired));
  ASSERT_TRUE(acquired->acquired);
  if (!traits_.reports_reaped) {
    // The store expires a's member key itself, and with it the lease a held on the same
    // instance lease (etcd): both are gone after the member ttl, and nothing else is.
    Advance(ttl_ - Tick());
    EXPECT_EQ(Beat(*store_b, b, LeaseIntent::kObserve).lease.holder, a.holder);
    Advance(2 * Tick());
    EXPECT_TRUE(Beat(*store_b, b, LeaseIntent::kObserve).lease.free());
    Result<GroupSnapshot> gone = store_b->Snapshot(group_);
    ASSERT_TRUE(IsOk(gone));
    ASSERT_EQ(gone->members.size(), 1u);
    EXPECT_EQ(gone->members[0].info.id, b.id);
    return;
  }
  // a is killed: no more heartbeats. b keeps beating. While a's lease lives, a is its
  // holder, and only a holder reaps: b leaves the expired row alone.
  Advance(ttl_ - Tick());
  EXPECT_TRUE(Beat(*store_b, b, LeaseIntent::kObserve).reaped.empty());
  Advance(2 * Tick());
  EXPECT_TRUE(Beat(*store_b, b, LeaseIntent::kObserve).reaped.empty());
  // Once the lease has expired nobody live holds it, and every heartbeat reaps.
  Advance(acquire.lease_ttl - ttl_);
  HeartbeatReply reaping = Beat(*store_b, b, LeaseIntent::kObserve);
  EXPECT_EQ(reaping.reaped, std::vector<std::string>{a.id});
  EXPECT_EQ(reaping.lease.holder, a.holder);  // Expired, and left alone.
  EXPECT_EQ(N(reaping.lease.token), 1);
  EXPECT_TRUE(Beat(*store_b, b, LeaseIntent::kObserve).reaped.empty());  // Reaped once.

  Result<GroupSnapshot> snapshot = store_b->Snapshot(group_);
  ASSERT_TRUE(IsOk(snapshot));
  ASSERT_EQ(snapshot->members.size(), 1u);
  EXPECT_EQ(snapshot->members[0].info.id, b.id);
  EXPECT_EQ(snapshot->lease.holder, a.holder);
}

// A group of many instances must not pay for a search of its expired rows at every one of
// their heartbeats: the live holder reaps, and the passives leave it to it.
TEST_P(StoreConformance, TheLiveHolderReapsAndThePassivesLeaveItToIt) {
  if (!traits_.reports_reaped) GTEST_SKIP() << "the store expires member rows itself";
  auto store = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("b");
  MemberInfo c = Instance("c");
  HeartbeatRequest acquire = Request(a, LeaseIntent::kAcquire);
  acquire.lease_ttl = 3 * ttl_;  // a need not renew while the others' rows age.
  Result<HeartbeatReply> acquired = store->Heartbeat(acquire);
  ASSERT_TRUE(IsOk(acquired));
  ASSERT_TRUE(acquired->acquired);
  const uint64_t token = acquired->lease.token;
  ASSERT_TRUE(IsOk(store->Register(group_, b, ttl_)));
  ASSERT_TRUE(IsOk(store->Register(group_, c, ttl_)));
  Advance(ttl_ - Tick());
  EXPECT_TRUE(Beat(*store, a, LeaseIntent::kRenew, token).reaped.empty());
  EXPECT_TRUE(Beat(*store, b, LeaseIntent::kAcquire).reaped.empty());
  Advance(2 * Tick() + time_.expiry_lag);  // c is dead: its row has expired.
  const HeartbeatReply passive = Beat(*store, b, LeaseIntent::kAcquire);
  EXPECT_FALSE(passive.acquired);
  EXPECT_TRUE(passive.reaped.empty()) << "a passive searched for expired rows";
  EXPECT_TRUE(Beat(*store, b, LeaseIntent::kObserve).reaped.empty());
  const HeartbeatReply holder = Beat(*store, a, LeaseIntent::kRenew, token);
  EXPECT_TRUE(holder.held);
  EXPECT_EQ(holder.reaped, std::vector<std::string>{c.id});
}

TEST_P(StoreConformance, ReapedMemberIsReinsertedByItsNextHeartbeat) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("b");
  ASSERT_TRUE(IsOk(store_a->Register(group_, a, ttl_)));
  Advance(ttl_ + Tick() + time_.expiry_lag);  // a is paused for a whole ttl.
  if (traits_.reports_reaped) {
    ASSERT_EQ(Beat(*store_b, b, LeaseIntent::kObserve).reaped, std::vector<std::string>{a.id});
  } else {
    Beat(*store_b, b, LeaseIntent::kObserve);
    Result<GroupSnapshot> without_a = store_b->Snapshot(group_);
    ASSERT_TRUE(IsOk(without_a));
    ASSERT_EQ(without_a->members.size(), 1u);
  }
  HeartbeatReply back = Beat(*store_a, a, LeaseIntent::kObserve);
  EXPECT_TRUE(back.reaped.empty());

  Result<GroupSnapshot> snapshot = store_b->Snapshot(group_);
  ASSERT_TRUE(IsOk(snapshot));
  ASSERT_EQ(snapshot->members.size(), 2u);
  EXPECT_EQ(snapshot->members[0].info.id, a.id);
  EXPECT_EQ(snapshot->members[0].info.holder, a.holder);
  EXPECT_EQ(snapshot->members[0].info.host, a.host);
  EXPECT_TRUE(About(snapshot->members[0].expires_in, ttl_));
}

TEST_P(StoreConformance, SameIdWithAnotherLiveHolderConflicts) {
  auto store_1 = OpenStore();
  auto store_2 = OpenStore();
  MemberInfo first = Instance("same", "first");
  MemberInfo second = Instance("same", "second");
  ASSERT_TRUE(IsOk(store_1->Register(group_, first, ttl_)));
  ASSERT_TRUE(IsOk(store_1->Register(group_, first, ttl_)));  // Its own row: fine.

  Result<void> refused = store_2->Register(group_, second, ttl_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);
  EXPECT_NE(refused.error().message().find("\"same\""), std::string::npos)
      << refused.error().message();
  EXPECT_NE(refused.error().message().find(group_), std::string::npos);
  Result<HeartbeatReply> beat = store_2->Heartbeat(Request(second, LeaseIntent::kAcquire));
  ASSERT_FALSE(beat.ok());
  EXPECT_EQ(beat.error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(Beat(*store_1, first, LeaseIntent::kObserve).lease.free());  // Nothing taken.

  // Once the first row expired, the id is free for the second holder, and the first holder
  // is the one refused.
  Advance(ttl_ + time_.expiry_lag);
  ASSERT_TRUE(IsOk(store_2->Register(group_, second, ttl_)));
  Result<HeartbeatReply> late = store_1->Heartbeat(Request(first, LeaseIntent::kObserve));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code(), ErrorCode::kConflict);
}

TEST_P(StoreConformance, UnregisterDeletesOnlyItsOwnRow) {
  auto store = OpenStore();
  MemberInfo a = Instance("a");
  ASSERT_TRUE(IsOk(store->Register(group_, a, ttl_)));
  ASSERT_TRUE(IsOk(store->Unregister(group_, Instance("a", "someone-else"))));
  Result<GroupSnapshot> kept = store->Snapshot(group_);
  ASSERT_TRUE(IsOk(kept));
  EXPECT_EQ(kept->members.size(), 1u);

  ASSERT_TRUE(IsOk(store->Unregister(group_, a)));
  Result<GroupSnapshot> gone = store->Snapshot(group_);
  ASSERT_TRUE(IsOk(gone));
  EXPECT_TRUE(gone->members.empty());
  EXPECT_TRUE(IsOk(store->Unregister(group_, a)));  // Already gone: fine.
}

TEST_P(StoreConformance, SnapshotShowsTheLeaseAndEveryMember) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("bb");
  const auto before = std::chrono::system_clock::now() - seconds(1);
  ASSERT_TRUE(IsOk(store_a->Register(group_, a, ttl_)));
  ASSERT_TRUE(IsOk(store_b->Register(group_, b, ttl_)));
  HeartbeatRequest acquire = Request(a, LeaseIntent::kAcquire);
  acquire.role = MemberRole::kActive;
  Result<HeartbeatReply> acquired = store_a->Heartbeat(acquire);
  ASSERT_TRUE(IsOk(acquired));
  (void)N(acquired->lease.token);
  Advance(Seconds(2));
  ASSERT_TRUE(IsOk(store_a->Heartbeat(Request(a, LeaseIntent::kRenew, T(1)))));
  Advance(Seconds(3));

  Result<GroupSnapshot> snapshot = store_b->Snapshot(group_);
  ASSERT_TRUE(IsOk(snapshot));
  EXPECT_EQ(snapshot->lease.holder, a.holder);
  EXPECT_EQ(N(snapshot->lease.token), 1);
  if (traits_.counts_renewals) {
    EXPECT_EQ(snapshot->lease.renewals, 1u);
  }
  EXPECT_TRUE(About(snapshot->lease.remaining, ttl_ - Seconds(3)));
  ASSERT_EQ(snapshot->members.size(), 2u);
  const Member& ma = snapshot->members[0];
  const Member& mb = snapshot->members[1];
  EXPECT_EQ(ma.info.id, a.id);
  EXPECT_EQ(ma.info.holder, a.holder);
  EXPECT_EQ(ma.info.host, a.host);
  EXPECT_EQ(ma.info.pid, a.pid);
  EXPECT_EQ(ma.info.version, a.version);
  EXPECT_EQ(ma.role, MemberRole::kActive);
  EXPECT_TRUE(About(ma.since_heartbeat, Seconds(3)));
  EXPECT_TRUE(About(ma.expires_in, ttl_ - Seconds(3)));
  EXPECT_GE(ma.started, before);
  EXPECT_LE(ma.started, std::chrono::system_clock::now() + seconds(1));
  EXPECT_EQ(mb.info.id, b.id);
  EXPECT_EQ(mb.role, MemberRole::kPassive);
  EXPECT_TRUE(About(mb.since_heartbeat, Seconds(5)));
  EXPECT_TRUE(About(mb.expires_in, ttl_ - Seconds(5)));

  Result<GroupSnapshot> other = store_b->Snapshot("another-group");
  ASSERT_TRUE(IsOk(other));
  EXPECT_TRUE(other->members.empty());
  EXPECT_TRUE(other->lease.free());
  EXPECT_EQ(N(other->lease.token), 0);
}

TEST_P(StoreConformance, GroupsAndLeaseNamesAreIndependent) {
  auto store = OpenStore();
  MemberInfo a = Instance("a");
  MemberInfo b = Instance("b");
  ASSERT_TRUE(Beat(*store, a, LeaseIntent::kAcquire).acquired);
  HeartbeatRequest other_group = Request(b, LeaseIntent::kAcquire);
  other_group.lease.group = "other";
  Result<HeartbeatReply> in_other = store->Heartbeat(other_group);
  ASSERT_TRUE(IsOk(in_other));
  EXPECT_TRUE(in_other->acquired);
  EXPECT_EQ(N(in_other->lease.token, "other"), 1);

  HeartbeatRequest scheduler = Request(b, LeaseIntent::kAcquire);
  scheduler.lease.name = "scheduler:reports";
  Result<HeartbeatReply> scheduled = store->Heartbeat(scheduler);
  ASSERT_TRUE(IsOk(scheduled));
  EXPECT_TRUE(scheduled->acquired);
  EXPECT_EQ(N(scheduled->lease.token, "scheduler"), 1);
  EXPECT_EQ(Beat(*store, a, LeaseIntent::kObserve).lease.holder, a.holder);

  // Reaping in one group leaves the other's members alone.
  Advance(ttl_ + time_.expiry_lag);
  HeartbeatRequest reap_other = Request(Instance("c"), LeaseIntent::kObserve);
  reap_other.lease.group = "other";
  Result<HeartbeatReply> reaped = store->Heartbeat(reap_other);
  ASSERT_TRUE(IsOk(reaped));
  if (traits_.reports_reaped) {
    EXPECT_EQ(reaped->reaped, std::vector<std::string>{b.id});
  }
  Result<GroupSnapshot> mine = store->Snapshot(group_);
  ASSERT_TRUE(IsOk(mine));
  // a and b (b's scheduler heartbeat was in group_), unless the store expires members itself.
  EXPECT_EQ(mine->members.size(), traits_.reports_reaped ? 2u : 0u);
}

TEST_P(StoreConformance, NamesAreDataNotCode) {
  auto store = OpenStore();
  const std::string group = "g'; DROP TABLE baton_leases; --\"";
  MemberInfo odd = Instance("id' OR '1'='1");
  odd.host = "h\"ost\\";
  odd.version = "ünï ✓";
  ASSERT_TRUE(IsOk(store->Register(group, odd, ttl_)));
  HeartbeatRequest acquire = Request(odd, LeaseIntent::kAcquire);
  acquire.lease.group = group;
  Result<HeartbeatReply> reply = store->Heartbeat(acquire);
  ASSERT_TRUE(IsOk(reply));
  EXPECT_TRUE(reply->acquired);
  Result<GroupSnapshot> snapshot = store->Snapshot(group);
  ASSERT_TRUE(IsOk(snapshot));
  ASSERT_EQ(snapshot->members.size(), 1u);
  EXPECT_EQ(snapshot->members[0].info.id, odd.id);
  EXPECT_EQ(snapshot->members[0].info.host, odd.host);
  EXPECT_EQ(snapshot->members[0].info.version, odd.version);
  EXPECT_EQ(snapshot->lease.holder, odd.holder);
  Result<GroupSnapshot> plain = store->Snapshot(group_);
  ASSERT_TRUE(IsOk(plain));
  EXPECT_TRUE(plain->members.empty());
}

TEST_P(StoreConformance, EmptyIdentityIsRefused) {
  auto store = OpenStore();
  MemberInfo nameless = Instance("a");
  nameless.holder.clear();
  Result<HeartbeatReply> reply = store->Heartbeat(Request(nameless, LeaseIntent::kAcquire));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code(), ErrorCode::kInvalidArgument);
  Result<void> no_group = store->Register("", Instance("a"), ttl_);
  ASSERT_FALSE(no_group.ok());
  EXPECT_EQ(no_group.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace baton::conformance
