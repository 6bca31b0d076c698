// Store conformance: what `baton web` reads of a store's past (Groups, Takeovers).

#include <algorithm>
#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "store_conformance.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

// The log as (ordinal of the token, holder, cause), newest first.
struct Entry {
  int64_t n;
  std::string holder;
  TakeoverCause cause;
  bool operator==(const Entry&) const = default;
};

void PrintTo(const Entry& e, std::ostream* out) {
  *out << "{" << e.n << ", " << e.holder << ", " << ToString(e.cause) << "}";
}

TEST_P(StoreConformance, GroupsListsEveryGroupWithAMemberOrALease) {
  auto store = OpenStore();
  const MemberInfo a = Instance("a");
  ASSERT_TRUE(IsOk(store->Register(group_ + "-members", a, ttl_)));
  Beat(*store, a, LeaseIntent::kAcquire);  // A lease in group_-members, and then:
  HeartbeatRequest elsewhere = Request(a, LeaseIntent::kAcquire);
  elsewhere.lease.group = group_ + "-<lease>/only";
  ASSERT_TRUE(IsOk(store->Heartbeat(elsewhere)));
  Result<std::vector<std::string>> groups = store->Groups();
  ASSERT_TRUE(IsOk(groups));
  const auto has = [&](const std::string& group) {
    return std::find(groups->begin(), groups->end(), group) != groups->end();
  };
  EXPECT_TRUE(has(group_ + "-members"));
  EXPECT_TRUE(has(group_ + "-<lease>/only")) << "a name that needs escaping, listed as given";
  EXPECT_TRUE(std::is_sorted(groups->begin(), groups->end()));
  EXPECT_EQ(std::adjacent_find(groups->begin(), groups->end()), groups->end()) << "no repeats";
}

// Every acquisition is logged with why the lease was free: never held, released, released on
// request, expired, or taken anew by the same holder. (etcd writes each entry at the new
// holder's next renewal, so the holders here renew once after each acquisition.)
TEST_P(StoreConformance, TheTakeoverLogSaysWhoTookTheLeaseWithWhichTokenAndWhy) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  const MemberInfo a = Instance("a");
  const MemberInfo b = Instance("b");
  ASSERT_TRUE(IsOk(store_a->Register(group_, a, ttl_)));
  ASSERT_TRUE(IsOk(store_b->Register(group_, b, ttl_)));
  const auto take = [&](Store& store, const MemberInfo& who) {
    HeartbeatReply taken = Beat(store, who, LeaseIntent::kAcquire);
    EXPECT_TRUE(taken.acquired) << who.id;
    EXPECT_TRUE(Beat(store, who, LeaseIntent::kRenew, taken.lease.token).held) << who.id;
    return taken.lease.token;
  };
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(5);

  const uint64_t first = take(*store_a, a);  // Never held.
  ASSERT_TRUE(IsOk(store_a->Release(Key(group_), a.holder, first)));
  const uint64_t released = take(*store_b, b);  // a released it.
  HandoverRequest step_down;
  step_down.lease = Key(group_);
  ASSERT_TRUE(IsOk(store_a->RequestHandover(step_down)));
  ASSERT_TRUE(IsOk(store_b->Release(Key(group_), b.holder, released)));
  const uint64_t handed = take(*store_a, a);  // b released it on request.
  Watch(*store_b, b);
  Advance(ttl_ + time_.expiry_lag);  // a stops renewing (b's heartbeat writes its row again).
  const uint64_t expired = take(*store_b, b);
  const uint64_t again = take(*store_b, b);  // b's interval ended here first.

  Result<std::vector<Takeover>> log = store_a->Takeovers(Key(group_), 10);
  ASSERT_TRUE(IsOk(log));
  std::vector<Entry> entries;
  for (const Takeover& t : *log) {
    entries.push_back({N(t.token), t.holder, t.cause});
    EXPECT_GE(t.at, before);
    EXPECT_LE(t.at, std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  EXPECT_EQ(entries, (std::vector<Entry>{{N(again), b.holder, TakeoverCause::kReacquired},
                                         {N(expired), b.holder, TakeoverCause::kExpired},
                                         {N(handed), a.holder, TakeoverCause::kHandover},
                                         {N(released), b.holder, TakeoverCause::kReleased},
                                         {N(first), a.holder, TakeoverCause::kFirst}}));

  Result<std::vector<Takeover>> newest = store_b->Takeovers(Key(group_), 2);
  ASSERT_TRUE(IsOk(newest));
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].token, again);
  EXPECT_EQ((*newest)[1].token, expired);
  Result<std::vector<Takeover>> elsewhere = store_b->Takeovers(Key(group_ + "-other"), 10);
  ASSERT_TRUE(IsOk(elsewhere));
  EXPECT_TRUE(elsewhere->empty());
}

// The log keeps the newest kTakeoversKept entries of each lease.
TEST_P(StoreConformance, TheTakeoverLogKeepsTheNewestEntries) {
  auto store = OpenStore();
  const MemberInfo a = Instance("a");
  uint64_t last = 0;
  for (int i = 0; i < kTakeoversKept + 5; ++i) {
    HeartbeatReply taken = Beat(*store, a, LeaseIntent::kAcquire);
    ASSERT_TRUE(taken.acquired);
    ASSERT_TRUE(Beat(*store, a, LeaseIntent::kRenew, taken.lease.token).held);
    last = taken.lease.token;
  }
  Result<std::vector<Takeover>> log = store->Takeovers(Key(group_), kTakeoversKept + 10);
  ASSERT_TRUE(IsOk(log));
  ASSERT_EQ(log->size(), static_cast<size_t>(kTakeoversKept));
  EXPECT_EQ(log->front().token, last);
  EXPECT_EQ(N(log->back().token), N(last) - kTakeoversKept + 1);
}

}  // namespace
}  // namespace baton::conformance
