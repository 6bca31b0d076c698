// What only the SQLite queue promises: the upgrade from schema version 1, bounded write
// transactions, the claim fence for the user's own writes, and rows of an earlier boot.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "baton/sqlite_store.h"
#include "schema.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

// A plain connection to the file, as the user's program (or an older baton) would have.
class RawDb final {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // "" on success, else the error message.
  std::string Exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    std::string text = rc == SQLITE_OK ? "" : (error != nullptr ? error : "error");
    sqlite3_free(error);
    return text;
  }
  std::string Text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteQueueTest : public ::testing::Test {
 protected:
  SqliteStoreOptions Options() const {
    SqliteStoreOptions options;
    options.path = path_;
    options.clock = const_cast<FakeClock*>(&clock_);
    return options;
  }
  std::unique_ptr<Queue> OpenQueue() {
    Result<std::unique_ptr<Queue>> queue = OpenSqliteQueue(Options());
    EXPECT_TRUE(IsOk(queue));
    return queue ? std::move(*queue) : nullptr;
  }
  ClaimedItem ClaimOne(Queue& queue) {
    Result<ClaimReply> reply =
        queue.Claim(ClaimRequest{.queue = key_, .worker = "w", .visibility = seconds(10)});
    EXPECT_TRUE(IsOk(reply));
    EXPECT_TRUE(reply && reply->items.size() == 1);
    return reply && !reply->items.empty() ? reply->items[0] : ClaimedItem{};
  }

  using seconds = std::chrono::seconds;
  TempDir dir_;
  const std::string path_ = dir_.File("baton.db");
  FakeClock clock_;
  const QueueKey key_{.group = "g", .queue = "q"};
};

// SPEC 5: the current version is made from version 1 in place, keeping the leases, and a version 1
// program (its heartbeat statements, its schema check) keeps working on it.
TEST_F(SqliteQueueTest, UpgradesAVersion1FileWhileALeaseIsHeld) {
  {
    RawDb old(path_);
    ASSERT_EQ(old.Exec(sqlite_detail::SchemaV1Sql()), "");
    ASSERT_EQ(old.Exec("INSERT INTO baton_meta VALUES ('schema_version', 1), ('usable_from', 1)"),
              "");
  }
  RawDb v1(path_);  // A version 1 program's acquisition and renewal, as it runs them.
  ASSERT_EQ(v1.Exec("INSERT INTO baton_leases VALUES ('g', 'active', 'old#1', 7, 0, 1, "
                    "9223372036854775807, 'boot')"),
            "");

  Result<std::unique_ptr<Store>> store = OpenSqliteStore(Options());  // create_schema: upgrades.
  ASSERT_TRUE(IsOk(store));
  EXPECT_EQ(v1.Text("SELECT value FROM baton_meta WHERE key = 'schema_version'"),
            std::to_string(sqlite_detail::kSchemaVersion));
  EXPECT_EQ(v1.Text("SELECT value FROM baton_meta WHERE key = 'usable_from'"), "1");
  EXPECT_TRUE(
      (SchemaVersion{.version = sqlite_detail::kSchemaVersion, .usable_from = 1}.UsableBy(1)));
  EXPECT_EQ(v1.Text("SELECT holder || ':' || token FROM baton_leases"), "old#1:7") << "data kept";
  EXPECT_EQ(v1.Exec("UPDATE baton_leases SET renewals = renewals + 1 WHERE group_name = 'g' "
                    "AND name = 'active' AND holder = 'old#1' AND token = 7"),
            "");
  EXPECT_EQ(v1.Exec("BEGIN IMMEDIATE; INSERT INTO baton_fence (group_name, token) VALUES "
                    "('g', 7); COMMIT;"),
            "")
      << "the version 1 fence still works";

  std::unique_ptr<Queue> queue = OpenQueue();
  ASSERT_NE(queue, nullptr);
  ASSERT_TRUE(IsOk(queue->Offer(OfferRequest{.queue = key_, .items = {OfferItem{.tenant = "t"}}})));
  EXPECT_EQ(ClaimOne(*queue).tenant, "t");
  Result<SchemaInfo> again = (*store)->Migrate();
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ(again->found, sqlite_detail::kSchemaVersion);
}

// SPEC 5: version 3 (the scheduler's round times) is made from version 2 in place, keeping
// the items, and stays usable by a version 2 program.
TEST_F(SqliteQueueTest, UpgradesAVersion2FileKeepingItsItems) {
  {
    std::unique_ptr<Queue> queue = OpenQueue();
    ASSERT_NE(queue, nullptr);
    ASSERT_TRUE(
        IsOk(queue->Offer(OfferRequest{.queue = key_, .items = {OfferItem{.tenant = "kept"}}})));
  }
  {
    // What a version 2 program left: version 3 only adds baton_queue_rounds, version 4
    // baton_handovers and the members' priority, version 5 the takeover log and the queues'
    // counts per minute, with their triggers.
    RawDb v2(path_);
    ASSERT_EQ(v2.Exec("DROP TRIGGER baton_takeovers_first; DROP TRIGGER baton_takeovers_next; "
                      "DROP TRIGGER baton_queue_minutes_count; DROP TABLE baton_takeovers; "
                      "DROP TABLE baton_queue_minutes; "
                      "DROP TABLE baton_queue_rounds; DROP TABLE baton_handovers; ALTER TABLE "
                      "baton_members DROP COLUMN priority; UPDATE baton_meta SET value = 2 "
                      "WHERE key = 'schema_version'"),
              "");
  }
  SqliteStoreOptions no_create = Options();
  no_create.create_schema = false;
  Result<std::unique_ptr<Queue>> refused = OpenSqliteQueue(no_create);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("baton migrate"), std::string::npos);

  Result<std::unique_ptr<Store>> store = OpenSqliteStore(no_create);
  ASSERT_FALSE(store.ok()) << "a version 2 file needs migrating for this program";
  store = OpenSqliteStore(Options());
  ASSERT_TRUE(IsOk(store));
  Result<SchemaInfo> again = (*store)->Migrate();
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ(again->found, sqlite_detail::kSchemaVersion) << "opening upgraded it";
  RawDb raw(path_);
  EXPECT_EQ(raw.Text("SELECT value FROM baton_meta WHERE key = 'usable_from'"), "1");
  EXPECT_TRUE(
      (SchemaVersion{.version = sqlite_detail::kSchemaVersion, .usable_from = 1}.UsableBy(2)));
  std::unique_ptr<Queue> queue = OpenQueue();
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(ClaimOne(*queue).tenant, "kept") << "the version 2 item survived";
  // The new table works: a round under the scheduler lease's token.
  HeartbeatRequest take;
  take.lease = {key_.group, "queue:" + key_.queue};
  take.self = {"s", "s#1", "h", 1, "v3"};
  take.intent = LeaseIntent::kAcquire;
  Result<HeartbeatReply> held = (*store)->Heartbeat(take);
  ASSERT_TRUE(IsOk(held));
  Result<RoundReply> round = queue->StartRound(RoundRequest{
      .queue = key_, .fence = {take.lease.name, held->lease.token}, .every = seconds(10)});
  ASSERT_TRUE(IsOk(round));
  EXPECT_TRUE(round->started);
  EXPECT_EQ(raw.Text("SELECT rounds FROM baton_queue_rounds"), "1");
}

TEST_F(SqliteQueueTest, QueueOnAVersion1FileWithoutCreateSchemaAsksForMigrate) {
  {
    RawDb old(path_);
    ASSERT_EQ(old.Exec(sqlite_detail::SchemaV1Sql()), "");
    ASSERT_EQ(old.Exec("INSERT INTO baton_meta VALUES ('schema_version', 1), ('usable_from', 1)"),
              "");
  }
  SqliteStoreOptions options = Options();
  options.create_schema = false;
  Result<std::unique_ptr<Queue>> queue = OpenSqliteQueue(options);
  ASSERT_FALSE(queue.ok());
  EXPECT_EQ(queue.error().code(), ErrorCode::kSchemaMismatch);
  EXPECT_NE(queue.error().message().find("baton migrate"), std::string::npos)
      << queue.error().message();
}

// SPEC 3.9: a 10,000-item offer is many transactions of kMaxRowsPerTransaction rows, so a
// reader sees it grow in whole batches and a heartbeat gets in between them.
TEST_F(SqliteQueueTest, ABigOfferIsSplitIntoBoundedTransactions) {
  std::unique_ptr<Queue> queue = OpenQueue();
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(Options());
  ASSERT_TRUE(IsOk(store));
  OfferRequest big{.queue = key_};
  for (int i = 0; i < 10000; ++i) big.items.push_back(OfferItem{.tenant = "t" + std::to_string(i)});

  std::atomic<bool> offering{true};
  std::set<int> seen;
  std::atomic<int> beats_during{0};
  std::thread reader([&] {
    RawDb raw(path_);
    while (offering.load()) {
      seen.insert(std::stoi("0" + raw.Text("SELECT count(*) FROM baton_queue_items")));
    }
  });
  std::thread heartbeats([&] {
    HeartbeatRequest request;
    request.lease = LeaseKey{.group = "g"};
    request.self = MemberInfo{.id = "a", .holder = "a#1", .host = "h", .pid = 1, .version = "t"};
    request.intent = LeaseIntent::kAcquire;
    while (offering.load()) {
      EXPECT_TRUE(IsOk((*store)->Heartbeat(request)));
      if (offering.load()) ++beats_during;
    }
  });
  Result<OfferReply> reply = queue->Offer(big);
  offering.store(false);
  reader.join();
  heartbeats.join();
  ASSERT_TRUE(IsOk(reply));
  ASSERT_EQ(reply->ids.size(), 10000u);
  int intermediate = 0;
  for (int count : seen) {
    EXPECT_EQ(count % kMaxRowsPerTransaction, 0) << "a reader saw a partial transaction";
    if (count > 0 && count < 10000) ++intermediate;
  }
  EXPECT_GT(intermediate, 0) << "the offer was one transaction";
  EXPECT_GT(beats_during.load(), 0) << "no heartbeat got in while the offer ran";
}

// SPEC 3.2: the user's own transaction is fenced by the claim: a live claim's token lets its
// writes commit; a token whose claim was taken again aborts them.
TEST_F(SqliteQueueTest, ClaimFenceAcceptsOnlyTheLiveClaim) {
  std::unique_ptr<Queue> queue = OpenQueue();
  ASSERT_TRUE(IsOk(queue->Offer(OfferRequest{.queue = key_, .items = {OfferItem{.tenant = "t"}}})));
  const ClaimedItem first = ClaimOne(*queue);
  RawDb user(path_);
  ASSERT_EQ(user.Exec("CREATE TABLE invoices (tenant TEXT, token INTEGER)"), "");
  const auto fenced_write = [&](const ClaimedItem& claim) {
    const std::string error = user.Exec(
        "BEGIN IMMEDIATE; INSERT INTO baton_claim_fence VALUES ('g', 'q', " +
        std::to_string(claim.id) + ", " + std::to_string(claim.claim_token) +
        "); INSERT INTO invoices VALUES ('t', " + std::to_string(claim.claim_token) + "); COMMIT;");
    if (!error.empty()) user.Exec("ROLLBACK");
    return error;
  };
  EXPECT_EQ(fenced_write(first), "");
  clock_.Advance(seconds(11));
  const ClaimedItem second = ClaimOne(*queue);
  ASSERT_EQ(second.id, first.id);
  EXPECT_EQ(fenced_write(first), "baton: stale claim token");
  EXPECT_EQ(fenced_write(second), "");
  EXPECT_EQ(user.Text("SELECT group_concat(token) FROM invoices"),
            std::to_string(first.claim_token) + "," + std::to_string(second.claim_token));
  EXPECT_EQ(user.Text("SELECT count(*) FROM baton_claim_fence"), "0") << "nothing is stored";
  ASSERT_TRUE(IsOk(queue->Cancel(key_, second.id)));
  EXPECT_EQ(fenced_write(second), "baton: stale claim token") << "cancelled: stop writing";
}

// A claim written in an earlier boot expired with that boot, whatever its numbers say.
TEST_F(SqliteQueueTest, AClaimFromAnEarlierBootIsClaimableAgain) {
  {
    std::unique_ptr<Queue> queue = OpenQueue();
    ASSERT_TRUE(
        IsOk(queue->Offer(OfferRequest{.queue = key_, .items = {OfferItem{.tenant = "t"}}})));
    ClaimOne(*queue);
  }
  RawDb(path_).Exec("UPDATE baton_queue_items SET boot_id = 'an earlier boot'");
  std::unique_ptr<Queue> queue = OpenQueue();
  const ClaimedItem again = ClaimOne(*queue);
  EXPECT_EQ(again.attempt, 2);
}

}  // namespace
}  // namespace baton::conformance
