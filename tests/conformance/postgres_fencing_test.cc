// What only the PostgreSQL store promises about taking over: the fencing function and its
// lock (SPEC 2.8), and the contender's own watch of an expired lease (SPEC 2.5).

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "baton/clock.h"
#include "baton/postgres_store.h"
#include "postgres_test_env.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kFencingError = "BT001";
// A call that waited on a lock would take at least the statement timeout (5 s).
constexpr Duration kPrompt = seconds(2);

class PostgresFencingTest : public PostgresTest {
 protected:
  // One heartbeat that must succeed, and how long it took.
  HeartbeatReply Beat(Store& store, const HeartbeatRequest& request, Duration* took = nullptr) {
    const TimePoint start = BootClock::now();
    Result<HeartbeatReply> reply = store.Heartbeat(request);
    if (took != nullptr) *took = BootClock::now() - start;
    EXPECT_TRUE(IsOk(reply));
    return reply ? *reply : HeartbeatReply{};
  }

  std::string CheckToken(const std::string& group, uint64_t token) const {
    return "SELECT " + Qualified("check_token") + "('" + group + "', " + std::to_string(token) +
           ")";
  }

  // Two stores, each on its own clock; a holds the lease with token 1.
  void OpenBothWithAHolding() {
    store_a_ = Open(&clock_a_);
    store_b_ = Open(&clock_b_);
    ASSERT_NE(store_a_, nullptr);
    ASSERT_NE(store_b_, nullptr);
    ASSERT_TRUE(Beat(*store_a_, Request(group_, a_, LeaseIntent::kAcquire)).acquired);
  }

  const std::string group_ = "fenced";
  const MemberInfo a_ = Instance("a");
  const MemberInfo b_ = Instance("b");
  FakeClock clock_a_;
  FakeClock clock_b_;
  std::unique_ptr<Store> store_a_;
  std::unique_ptr<Store> store_b_;
};

TEST_F(PostgresFencingTest, CheckTokenAcceptsOnlyTheLiveToken) {
  auto store = Open(&clock_a_);
  ASSERT_NE(store, nullptr);
  PgSession user(url_);
  PgSession::Outcome never = user.Exec(CheckToken(group_, 1));
  EXPECT_EQ(never.sqlstate, kFencingError) << never.message;
  EXPECT_NE(never.message.find("never taken"), std::string::npos) << never.message;

  ASSERT_TRUE(Beat(*store, Request(group_, a_, LeaseIntent::kAcquire)).acquired);
  EXPECT_TRUE(user.Exec(CheckToken(group_, 1)).ok);
  EXPECT_TRUE(
      user.Exec("SELECT " + Qualified("check_token") + "('" + group_ + "', 'active', 1)").ok);
  EXPECT_EQ(user.Exec(CheckToken(group_, 2)).sqlstate, kFencingError);
  EXPECT_EQ(user.Exec(CheckToken("another group", 1)).sqlstate, kFencingError);

  // Released: the token is kept in the row but is no longer live.
  ASSERT_TRUE(IsOk(store->Release(LeaseKey{.group = group_}, a_.holder, 1)));
  PgSession::Outcome released = user.Exec(CheckToken(group_, 1));
  EXPECT_EQ(released.sqlstate, kFencingError);
  EXPECT_NE(released.message.find("released"), std::string::npos) << released.message;

  // A new interval: only the new token passes.
  ASSERT_EQ(Beat(*store, Request(group_, a_, LeaseIntent::kAcquire)).lease.token, 2u);
  EXPECT_EQ(user.Exec(CheckToken(group_, 1)).sqlstate, kFencingError);
  EXPECT_TRUE(user.Exec(CheckToken(group_, 2)).ok);

  // Expired by the database's clock.
  ExpireByTheDatabaseClock(group_);
  PgSession::Outcome expired = user.Exec(CheckToken(group_, 2));
  EXPECT_EQ(expired.sqlstate, kFencingError);
  EXPECT_NE(expired.message.find("expired"), std::string::npos) << expired.message;
}

// The user's transaction holds check_token's lock. The holder keeps renewing; a contender
// that may take the expired lease does not wait for the lock and does not get the lease;
// once the transaction ends it does.
TEST_F(PostgresFencingTest, FencedTransactionHoldsOffATakeoverButNotRenewals) {
  ASSERT_NO_FATAL_FAILURE(OpenBothWithAHolding());

  PgSession user(url_);
  user.Must("BEGIN");
  user.Must(CheckToken(group_, 1));

  Duration took{0};
  HeartbeatReply renewed = Beat(*store_a_, Request(group_, a_, LeaseIntent::kRenew, 1), &took);
  EXPECT_TRUE(renewed.held);
  EXPECT_EQ(renewed.lease.renewals, 1u);
  EXPECT_LT(took, kPrompt) << "the renewal waited for the fencing lock";

  // b watches the lease for a whole ttl on its own clock while the database's clock says it
  // expired: b may take it over, but for the user's transaction.
  Beat(*store_b_, Request(group_, b_, LeaseIntent::kObserve));
  clock_b_.Advance(seconds(10));
  ExpireByTheDatabaseClock(group_);
  HeartbeatReply refused = Beat(*store_b_, Request(group_, b_, LeaseIntent::kAcquire), &took);
  EXPECT_FALSE(refused.acquired);
  EXPECT_EQ(refused.lease.holder, a_.holder);
  EXPECT_EQ(refused.lease.token, 1u);
  EXPECT_LT(took, kPrompt) << "the takeover attempt waited for the fencing lock";

  user.Must("COMMIT");
  HeartbeatReply taken = Beat(*store_b_, Request(group_, b_, LeaseIntent::kAcquire));
  EXPECT_TRUE(taken.acquired);
  EXPECT_EQ(taken.lease.token, 2u);
  // The deposed holder's next transaction is refused.
  user.Must("BEGIN");
  EXPECT_EQ(user.Exec(CheckToken(group_, 1)).sqlstate, kFencingError);
  user.Must("ROLLBACK");
}

// The same lock semantics, seen from plain SQL: while check_token's lock is held, a write that
// changes the token (a takeover) waits, and one that extends the expiry (a renewal) does not.
TEST_F(PostgresFencingTest, TheLockConflictsOnlyWithTokenChanges) {
  auto store = Open(&clock_a_);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Beat(*store, Request(group_, a_, LeaseIntent::kAcquire)).acquired);
  PgSession user(url_);
  user.Must("BEGIN");
  user.Must(CheckToken(group_, 1));

  PgSession other(url_);
  other.Must("SET lock_timeout = '200ms'");
  const std::string where = " WHERE group_name = '" + group_ + "'";
  EXPECT_TRUE(other
                  .Exec("UPDATE " + Qualified("leases") +
                        " SET expires_at = expires_at + interval '1 second', "
                        "renewals = renewals + 1" +
                        where)
                  .ok);
  PgSession::Outcome takeover =
      other.Exec("UPDATE " + Qualified("leases") + " SET token = token + 1, holder = 'x'" + where);
  EXPECT_EQ(takeover.sqlstate, "55P03") << takeover.message;  // lock_not_available
  user.Must("COMMIT");
  EXPECT_TRUE(
      other.Exec("UPDATE " + Qualified("leases") + " SET token = token + 1, holder = 'x'" + where)
          .ok);
}

// SPEC 2.5: a step of the database host's clock makes a live lease look expired; a contender
// that has not itself watched it unchanged for the ttl does not take it.
TEST_F(PostgresFencingTest, ExpiredByTheDatabaseClockIsTakenOnlyAfterTheContendersOwnWatch) {
  ASSERT_NO_FATAL_FAILURE(OpenBothWithAHolding());
  ExpireByTheDatabaseClock(group_);

  // b's first sighting: expired by the database, but b has watched for no time at all.
  HeartbeatReply first = Beat(*store_b_, Request(group_, b_, LeaseIntent::kAcquire));
  EXPECT_FALSE(first.acquired);
  EXPECT_EQ(first.lease.holder, a_.holder);
  // Reported as the time b must still watch, so that b comes back then.
  EXPECT_EQ(first.lease.remaining, seconds(10));

  clock_b_.Advance(seconds(10) - milliseconds(1));
  HeartbeatReply early = Beat(*store_b_, Request(group_, b_, LeaseIntent::kAcquire));
  EXPECT_FALSE(early.acquired);
  EXPECT_EQ(early.lease.remaining, milliseconds(1));

  clock_b_.Advance(milliseconds(1));
  HeartbeatReply taken = Beat(*store_b_, Request(group_, b_, LeaseIntent::kAcquire));
  EXPECT_TRUE(taken.acquired);
  EXPECT_EQ(taken.lease.holder, b_.holder);
  EXPECT_EQ(taken.lease.token, 2u);
}

TEST_F(PostgresFencingTest, ARenewalStartsTheWatchAgain) {
  ASSERT_NO_FATAL_FAILURE(OpenBothWithAHolding());
  Beat(*store_b_, Request(group_, b_, LeaseIntent::kObserve));
  clock_b_.Advance(seconds(6));
  ASSERT_TRUE(Beat(*store_a_, Request(group_, a_, LeaseIntent::kRenew, 1)).held);
  // b sees the renewal; its watch of (a, 1, 1) starts now.
  Beat(*store_b_, Request(group_, b_, LeaseIntent::kObserve));
  clock_b_.Advance(seconds(6));
  ExpireByTheDatabaseClock(group_);
  EXPECT_FALSE(Beat(*store_b_, Request(group_, b_, LeaseIntent::kAcquire)).acquired);
  clock_b_.Advance(seconds(4));
  EXPECT_TRUE(Beat(*store_b_, Request(group_, b_, LeaseIntent::kAcquire)).acquired);
}

// A contender that listens (WatchReleases, as every elector does) hears of each renewal when
// it commits, so its watch of the live holder starts then, not at its own next heartbeat.
TEST_F(PostgresFencingTest, TheWatchStartsWhenARenewalIsAnnounced) {
  ASSERT_NO_FATAL_FAILURE(OpenBothWithAHolding());
  auto listening = store_b_->WatchReleases(LeaseKey{.group = group_}, [] {});
  std::this_thread::sleep_for(milliseconds(300));  // Until it LISTENs.
  ASSERT_TRUE(Beat(*store_a_, Request(group_, a_, LeaseIntent::kRenew, 1)).held);
  std::this_thread::sleep_for(milliseconds(300));  // Until the renewal's NOTIFY arrives.
  clock_b_.Advance(seconds(10));
  ExpireByTheDatabaseClock(group_);
  // b's first heartbeat since the renewal: it has watched (a, 1, 1) for the ttl already.
  HeartbeatReply taken = Beat(*store_b_, Request(group_, b_, LeaseIntent::kAcquire));
  EXPECT_TRUE(taken.acquired);
  EXPECT_EQ(taken.lease.token, 2u);
}

// The watch is only half the rule: the database must find the lease expired too.
TEST_F(PostgresFencingTest, ALongWatchDoesNotTakeALeaseTheDatabaseSaysIsLive) {
  ASSERT_NO_FATAL_FAILURE(OpenBothWithAHolding());
  Beat(*store_b_, Request(group_, b_, LeaseIntent::kObserve));
  clock_b_.Advance(hours(1));
  HeartbeatReply refused = Beat(*store_b_, Request(group_, b_, LeaseIntent::kAcquire));
  EXPECT_FALSE(refused.acquired);
  EXPECT_GT(refused.lease.remaining, seconds(9));
}

TEST_F(PostgresFencingTest, AReleasedLeaseIsTakenAtOnceWithoutAWatch) {
  ASSERT_NO_FATAL_FAILURE(OpenBothWithAHolding());
  Result<bool> released = store_a_->Release(LeaseKey{.group = group_}, a_.holder, 1);
  ASSERT_TRUE(IsOk(released));
  ASSERT_TRUE(*released);
  HeartbeatReply taken = Beat(*store_b_, Request(group_, b_, LeaseIntent::kAcquire));
  EXPECT_TRUE(taken.acquired);
  EXPECT_EQ(taken.lease.token, 2u);
}

}  // namespace
}  // namespace baton::conformance
