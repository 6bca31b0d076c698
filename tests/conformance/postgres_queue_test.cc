// What only the PostgreSQL queue promises: the upgrade from schema version 1 under a running
// version 1 program, the check_claim fence and its lock (SPEC 3.2), and the claimer's own
// watch of an expired claim (SPEC 3.3: a step of the database's clock does not free it).

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "baton/clock.h"
#include "baton/postgres_store.h"
#include "postgres_test_env.h"
#include "schema.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

using std::chrono::seconds;

constexpr const char* kClaimFencingError = "BT003";
constexpr Duration kPrompt = seconds(2);  // A call that waited on a lock takes 5 s.

class PostgresQueueTest : public PostgresTest {
 protected:
  std::unique_ptr<Queue> OpenQueue(Clock* clock) {
    Result<std::unique_ptr<Queue>> queue = OpenPostgresQueue(Options(clock));
    EXPECT_TRUE(IsOk(queue));
    return queue ? std::move(*queue) : nullptr;
  }
  ClaimReply Claim(Queue& queue, Duration visibility = seconds(10)) {
    Result<ClaimReply> reply =
        queue.Claim(ClaimRequest{.queue = key_, .worker = "w", .visibility = visibility});
    EXPECT_TRUE(IsOk(reply));
    return reply ? *reply : ClaimReply{};
  }
  void Offer(Queue& queue, const std::string& tenant) {
    ASSERT_TRUE(
        IsOk(queue.Offer(OfferRequest{.queue = key_, .items = {OfferItem{.tenant = tenant}}})));
  }
  std::string CheckClaim(const ClaimedItem& item, uint64_t token) const {
    return "SELECT " + Qualified("check_claim") + "('g', 'q', " + std::to_string(item.id) + ", " +
           std::to_string(token) + ")";
  }
  // Moves the claim's expiry into the past, as a forward step of the database's clock would.
  void ExpireClaimsByTheDatabaseClock() {
    PgSession admin(url_);
    admin.Must("UPDATE " + Qualified("queue_items") +
               " SET claim_expires_at = clock_timestamp() - interval '1 second' "
               "WHERE claim_expires_at IS NOT NULL");
  }

  const QueueKey key_{.group = "g", .queue = "q"};
  FakeClock clock_a_;
  FakeClock clock_b_;
};

std::string HeartbeatCall(const std::string& function, const std::string& intent, int token) {
  return "SELECT r_held, r_token FROM " + function +
         "('g', 'active', 'old', 'old#1', 'h', 1, 'v1', 'active', 10000000, '" + intent +
         "', 10000000, " + std::to_string(token) + ", NULL, NULL, NULL, NULL)";
}

// SPEC 5: the current version is made from version 1 in one transaction, keeping the data, and a
// version 1 program (its heartbeat function, its check_token) keeps working on it.
TEST_F(PostgresQueueTest, UpgradesAVersion1SchemaWhileALeaseIsHeld) {
  PgSession old(url_);
  old.Must("BEGIN; CREATE SCHEMA \"" + schema_ + "\"; CREATE TABLE " + Qualified("meta") +
           " (key text PRIMARY KEY, value integer NOT NULL); " +
           postgres_detail::SchemaStepSql(1, schema_) + "; INSERT INTO " + Qualified("meta") +
           " VALUES ('schema_version', 1), ('usable_from', 1); COMMIT");
  const std::string heartbeat = Qualified("heartbeat");
  PgSession::Outcome acquired = old.Exec(HeartbeatCall(heartbeat, "acquire", 0));
  ASSERT_TRUE(acquired.ok) << acquired.message;

  std::unique_ptr<Queue> queue = OpenQueue(&clock_a_);  // create_schema: upgrades.
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(old.Must("SELECT value FROM " + Qualified("meta") + " WHERE key = 'schema_version'"),
            std::to_string(postgres_detail::kSchemaVersion));
  EXPECT_EQ(old.Must("SELECT value FROM " + Qualified("meta") + " WHERE key = 'usable_from'"), "1");
  EXPECT_TRUE(
      (SchemaVersion{.version = postgres_detail::kSchemaVersion, .usable_from = 1}.UsableBy(1)));
  EXPECT_EQ(old.Must("SELECT holder || ':' || token FROM " + Qualified("leases")), "old#1:1");
  EXPECT_EQ(old.Must(HeartbeatCall(heartbeat, "renew", 1)), "t") << "the version 1 renewal";
  EXPECT_TRUE(old.Exec("SELECT " + Qualified("check_token") + "('g', 1)").ok);

  Offer(*queue, "t");
  ClaimReply reply = Claim(*queue);
  ASSERT_EQ(reply.items.size(), 1u);
  std::unique_ptr<Store> store = Open(&clock_a_);
  ASSERT_NE(store, nullptr);
  Result<SchemaInfo> again = store->Migrate();
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ(again->found, postgres_detail::kSchemaVersion);
}

// SPEC 5: version 3 (the scheduler's round times) is made from version 2 in one transaction,
// keeping the items, and stays usable by a version 2 program.
TEST_F(PostgresQueueTest, UpgradesAVersion2SchemaKeepingItsItems) {
  {
    std::unique_ptr<Queue> queue = OpenQueue(&clock_a_);
    ASSERT_NE(queue, nullptr);
    Offer(*queue, "kept");
  }
  PgSession admin(url_);
  // What a version 2 program left: version 3 only adds queue_rounds and start_round.
  admin.Must("BEGIN; DROP FUNCTION " + Qualified("start_round") + "; DROP TABLE " +
             Qualified("queue_rounds") + "; UPDATE " + Qualified("meta") +
             " SET value = 2 WHERE key = 'schema_version'; COMMIT");
  std::unique_ptr<Queue> queue = OpenQueue(&clock_a_);  // create_schema: upgrades.
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(admin.Must("SELECT value FROM " + Qualified("meta") + " WHERE key = 'schema_version'"),
            std::to_string(postgres_detail::kSchemaVersion));
  EXPECT_EQ(admin.Must("SELECT value FROM " + Qualified("meta") + " WHERE key = 'usable_from'"),
            "1");
  EXPECT_TRUE(
      (SchemaVersion{.version = postgres_detail::kSchemaVersion, .usable_from = 1}.UsableBy(2)));
  ClaimReply reply = Claim(*queue);
  ASSERT_EQ(reply.items.size(), 1u);
  EXPECT_EQ(reply.items[0].tenant, "kept") << "the version 2 item survived";
  std::unique_ptr<Store> store = Open(&clock_a_);
  ASSERT_NE(store, nullptr);
  HeartbeatRequest take;
  take.lease = {key_.group, "queue:" + key_.queue};
  take.self = {"s", "s#1", "h", 1, "v3"};
  take.intent = LeaseIntent::kAcquire;
  Result<HeartbeatReply> held = store->Heartbeat(take);
  ASSERT_TRUE(IsOk(held));
  Result<RoundReply> round = queue->StartRound(RoundRequest{
      .queue = key_, .fence = {take.lease.name, held->lease.token}, .every = seconds(10)});
  ASSERT_TRUE(IsOk(round));
  EXPECT_TRUE(round->started);
  Result<RoundReply> again = queue->StartRound(RoundRequest{
      .queue = key_, .fence = {take.lease.name, held->lease.token}, .every = seconds(10)});
  ASSERT_TRUE(IsOk(again));
  EXPECT_FALSE(again->started) << "not due again within every, by the database's clock";
  EXPECT_GT(again->wait, seconds(9));
  EXPECT_EQ(admin.Must("SELECT rounds FROM " + Qualified("queue_rounds")), "1");
}

// SPEC 5: version 4 keeps version 3's claim() (ten arguments, no acknowledgements) for the
// programs that call it, listing the running claims as it always did.
TEST_F(PostgresQueueTest, AVersion3ProgramsClaimStillClaimsAndListsRunningClaims) {
  std::unique_ptr<Queue> queue = OpenQueue(&clock_a_);
  ASSERT_NE(queue, nullptr);
  Offer(*queue, "t");
  Offer(*queue, "u");
  PgSession old(url_);
  const std::string call = "SELECT string_agg(r_kind, ',' ORDER BY r_kind) FROM " +
                           Qualified("claim") +
                           "('g', 'q', 'old', 1, 10000000, 5, '{}', '{}', '{}', '{}')";
  EXPECT_EQ(old.Must(call), "item,running");
  EXPECT_EQ(old.Must(call), "item,running,running");
  EXPECT_EQ(old.Must(call), "running,running") << "both tenants busy: nothing claimable";
}

TEST_F(PostgresQueueTest, CheckClaimAcceptsOnlyTheLiveClaimAndHoldsOffATakeBack) {
  std::unique_ptr<Queue> a = OpenQueue(&clock_a_);
  std::unique_ptr<Queue> b = OpenQueue(&clock_b_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Offer(*a, "t");
  const ClaimReply claimed = Claim(*a);
  ASSERT_EQ(claimed.items.size(), 1u);
  const ClaimedItem item = claimed.items[0];
  PgSession user(url_);
  EXPECT_TRUE(user.Exec(CheckClaim(item, item.claim_token)).ok);
  PgSession::Outcome wrong = user.Exec(CheckClaim(item, item.claim_token + 1));
  EXPECT_EQ(wrong.sqlstate, kClaimFencingError) << wrong.message;

  // The user's transaction holds the claim. b has watched it for a whole visibility and the
  // database says it expired: b may take it back, but for the user's transaction.
  EXPECT_TRUE(Claim(*b).items.empty());
  clock_b_.Advance(seconds(11));
  ExpireClaimsByTheDatabaseClock();
  user.Must("BEGIN");
  user.Must(CheckClaim(item, item.claim_token));
  TimePoint start = BootClock::now();
  Result<ClaimOutcome> extended = a->Extend(key_, {item.id, item.claim_token}, seconds(10));
  ASSERT_TRUE(IsOk(extended));
  EXPECT_EQ(*extended, ClaimOutcome::kOk);
  EXPECT_LT(BootClock::now() - start, kPrompt) << "the extension waited for the fence";
  ExpireClaimsByTheDatabaseClock();
  clock_b_.Advance(seconds(11));
  EXPECT_TRUE(Claim(*b).items.empty());  // Sees the extension: watches again.
  clock_b_.Advance(seconds(11));
  start = BootClock::now();
  EXPECT_TRUE(Claim(*b).items.empty()) << "taken back under the user's transaction";
  EXPECT_LT(BootClock::now() - start, kPrompt) << "the claim waited for the fence";
  user.Must("COMMIT");

  const ClaimReply taken = Claim(*b);
  ASSERT_EQ(taken.items.size(), 1u) << "the fence's lock outlived its transaction";
  EXPECT_EQ(taken.items[0].id, item.id);
  PgSession::Outcome stale = user.Exec(CheckClaim(item, item.claim_token));
  EXPECT_EQ(stale.sqlstate, kClaimFencingError);
  EXPECT_NE(stale.message.find("claimed again"), std::string::npos) << stale.message;
  EXPECT_TRUE(user.Exec(CheckClaim(item, taken.items[0].claim_token)).ok);
}

// The queue's statements run inside PL/pgSQL functions, whose plans are kept for the session
// (generic plans, made without the call's values). Each statement must still reach the rows
// it needs through an index: a scan of the whole table per offer made a round of 10,000
// unique offers take 30 s with 20,000 items queued.
TEST_F(PostgresQueueTest, OffersAndClaimsOnAFullQueueScanNoWholeTable) {
  const auto counter = [this](const std::string& column) {
    PgSession admin(url_);
    return std::stoll(admin.Must("SELECT coalesce(sum(" + column +
                                 "), 0) FROM pg_stat_user_tables WHERE schemaname = '" + schema_ +
                                 "' AND relname = 'queue_items'"));
  };
  {
    std::unique_ptr<Queue> filler = OpenQueue(&clock_a_);
    ASSERT_NE(filler, nullptr);
    OfferRequest fill{.queue = key_};
    for (int i = 0; i < 3000; ++i) {
      fill.items.push_back(
          OfferItem{.tenant = "busy-" + std::to_string(i % 300), .ttl = std::chrono::hours(1)});
    }
    ASSERT_TRUE(IsOk(filler->Offer(fill)));
  }
  // As autovacuum would have by now: with statistics, one question about three states
  // looked cheaper as a scan of the table.
  PgSession(url_).Must("ANALYZE " + Qualified("queue_items") + ", " + Qualified("queue_tenants"));
  const long long seq_before = counter("seq_scan");
  const long long idx_before = counter("idx_scan");
  {
    std::unique_ptr<Queue> queue = OpenQueue(&clock_a_);
    ASSERT_NE(queue, nullptr);
    for (int round = 0; round < 2; ++round) {  // The second round finds every tenant busy.
      OfferRequest unique{.queue = key_, .unique = true};
      for (int i = 0; i < 300; ++i) {
        unique.items.push_back(OfferItem{.tenant = "new-" + std::to_string(i)});
      }
      ASSERT_TRUE(IsOk(queue->Offer(unique)));
    }
    for (int i = 0; i < 20; ++i) {
      Result<ClaimReply> reply = queue->Claim(
          ClaimRequest{.queue = key_, .worker = "w", .max_items = 4, .visibility = seconds(10)});
      ASSERT_TRUE(IsOk(reply));
      ASSERT_EQ(reply->items.size(), 4u);
    }
  }  // The session ends, which sends its statistics.
  long long idx_after = idx_before;
  for (int i = 0; i < 50 && idx_after == idx_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    idx_after = counter("idx_scan");
  }
  ASSERT_GT(idx_after, idx_before) << "the statistics never arrived: the check would see nothing";
  EXPECT_EQ(counter("seq_scan"), seq_before) << "a statement scanned all of queue_items";
}

// A queue the planner's statistics have never seen (they were gathered on another queue) is
// claimed through lookups by tenant: before schema version 4, a claim found one tenant's item
// by reading the queue's pending items in ready order and updated a tenant's row after
// reading every tenant of the queue, some hundred index entries per item here.
TEST_F(PostgresQueueTest, ClaimsOfAQueueNoStatisticsKnowReadFewIndexEntriesPerItem) {
  const auto offer = [this](Queue& queue, const QueueKey& key) {
    OfferRequest fill{.queue = key};
    for (int i = 0; i < 3000; ++i) {
      fill.items.push_back(OfferItem{.tenant = "t-" + std::to_string(i % 300)});
    }
    ASSERT_TRUE(IsOk(queue.Offer(fill)));
  };
  const auto entries_read = [this](const std::string& table) {
    PgSession admin(url_);
    return std::stoll(
        admin.Must("SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes "
                   "WHERE schemaname = '" +
                   schema_ + "' AND relname = '" + table + "'"));
  };
  const QueueKey unseen{.group = "g", .queue = "unseen"};
  {
    std::unique_ptr<Queue> queue = OpenQueue(&clock_a_);
    ASSERT_NE(queue, nullptr);
    offer(*queue, key_);
    PgSession(url_).Must("ANALYZE " + Qualified("queue_items") + ", " + Qualified("queue_tenants"));
    offer(*queue, unseen);
  }
  const long long items_before = entries_read("queue_items");
  const long long tenants_before = entries_read("queue_tenants");
  constexpr int kItems = 200;
  {
    std::unique_ptr<Queue> queue = OpenQueue(&clock_a_);
    ASSERT_NE(queue, nullptr);
    std::vector<ClaimRef> done;
    int claimed = 0;
    while (claimed < kItems) {
      ClaimRequest request{
          .queue = unseen, .worker = "w", .max_items = 4, .visibility = seconds(10)};
      request.acknowledge = done;
      Result<ClaimReply> reply = queue->Claim(request);
      ASSERT_TRUE(IsOk(reply));
      ASSERT_FALSE(reply->items.empty());
      done.clear();
      for (const ClaimedItem& item : reply->items) done.push_back({item.id, item.claim_token});
      claimed += static_cast<int>(reply->items.size());
    }
  }  // The session ends, which sends its statistics.
  long long items_after = items_before;
  for (int i = 0; i < 50 && items_after == items_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    items_after = entries_read("queue_items");
  }
  ASSERT_GT(items_after, items_before)
      << "the statistics never arrived: the check would see nothing";
  EXPECT_LT(items_after - items_before, 20 * kItems) << "queue_items index entries read";
  EXPECT_LT(entries_read("queue_tenants") - tenants_before, 20 * kItems)
      << "queue_tenants index entries read";
}

// SPEC 3.3: a forward step of the database's clock makes a live claim look expired; another
// handle takes it back only after watching it unchanged for the visibility on its own clock.
TEST_F(PostgresQueueTest, AClaimExpiredByTheDatabaseClockIsTakenBackOnlyAfterAWatch) {
  std::unique_ptr<Queue> a = OpenQueue(&clock_a_);
  std::unique_ptr<Queue> b = OpenQueue(&clock_b_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Offer(*a, "t");
  ASSERT_EQ(Claim(*a).items.size(), 1u);
  ExpireClaimsByTheDatabaseClock();  // The step: by the database's clock the claim is over.

  ClaimReply first = Claim(*b);
  EXPECT_TRUE(first.items.empty()) << "taken back without a watch: the tenant runs twice";
  ASSERT_TRUE(first.next_try.has_value());
  EXPECT_GE(*first.next_try, seconds(9)) << "the watch's remaining time is reported";
  clock_b_.Advance(seconds(9));
  EXPECT_TRUE(Claim(*b).items.empty()) << "taken back before a whole visibility was watched";
  clock_b_.Advance(seconds(2));
  const ClaimReply taken = Claim(*b);
  ASSERT_EQ(taken.items.size(), 1u) << "a claim the worker stopped extending stays stuck";
  EXPECT_EQ(taken.items[0].attempt, 2);
}

}  // namespace
}  // namespace baton::conformance
