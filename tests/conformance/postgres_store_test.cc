// What only the PostgreSQL store promises about its schema, its URL and its names: versions,
// passwords that never show, schema names checked before they reach SQL.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "baton/postgres_store.h"
#include "postgres_test_env.h"
#include "schema.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

class PostgresSchemaTest : public PostgresTest {
 protected:
  FakeClock clock_;
};

TEST_F(PostgresSchemaTest, NewerSchemaIsRefusedNamingBothVersions) {
  ASSERT_NE(Open(&clock_), nullptr);  // Creates version 1.
  PgSession admin(url_);
  // A newer baton's schema that it did not keep usable by this one.
  const std::string newer_version = std::to_string(PostgresSchemaVersion() + 1);
  admin.Must("UPDATE " + Qualified("meta") + " SET value = " + newer_version +
             " WHERE key IN ('schema_version', 'usable_from')");
  Result<std::unique_ptr<Store>> newer = OpenPostgresStore(Options(&clock_));
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.error().code(), ErrorCode::kSchemaMismatch);
  const std::string& message = newer.error().message();
  EXPECT_NE(message.find("version " + newer_version), std::string::npos) << message;
  EXPECT_NE(message.find("version " + std::to_string(PostgresSchemaVersion())), std::string::npos)
      << message;
  EXPECT_NE(message.find("upgrade baton"), std::string::npos) << message;
}

// SPEC 5: a newer release's schema that says it stays usable by this one is used as it is,
// and this release's migrate does not move it back.
TEST_F(PostgresSchemaTest, NewerSchemaThatStaysUsableIsUsedAndLeftAlone) {
  ASSERT_NE(Open(&clock_), nullptr);  // Creates version 1, usable from version 1.
  PgSession admin(url_);
  const int newer = PostgresSchemaVersion() + 1;
  admin.Must("UPDATE " + Qualified("meta") + " SET value = " + std::to_string(newer) +
             " WHERE key = 'schema_version'");
  for (bool create_schema : {true, false}) {
    PostgresStoreOptions options = Options(&clock_);
    options.create_schema = create_schema;
    Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
    ASSERT_TRUE(IsOk(store));
    Result<HeartbeatReply> beat =
        (*store)->Heartbeat(Request("newer", Instance("a"), LeaseIntent::kAcquire));
    ASSERT_TRUE(IsOk(beat));
    EXPECT_TRUE(beat->held);
    Result<SchemaInfo> info = (*store)->Migrate();
    ASSERT_TRUE(IsOk(info));
    EXPECT_EQ(info->found, newer);
    EXPECT_EQ(info->current, newer);
  }
  EXPECT_EQ(admin.Must("SELECT value FROM " + Qualified("meta") + " WHERE key = 'schema_version'"),
            std::to_string(newer));
}

TEST_F(PostgresSchemaTest, MissingSchemaIsCreatedOnlyWhenAllowed) {
  PostgresStoreOptions options = Options(&clock_);
  options.create_schema = false;
  Result<std::unique_ptr<Store>> refused = OpenPostgresStore(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kSchemaMismatch);
  EXPECT_NE(refused.error().message().find("baton migrate"), std::string::npos)
      << refused.error().message();

  // `baton migrate`: what a store with create_schema off does when asked explicitly.
  options.create_schema = true;
  Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
  ASSERT_TRUE(IsOk(store));
  Result<SchemaInfo> again = (*store)->Migrate();
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ(again->found, PostgresSchemaVersion());
  options.create_schema = false;
  EXPECT_TRUE(IsOk(OpenPostgresStore(options)));
}

TEST_F(PostgresSchemaTest, MigrateReportsTheVersionsItFoundAndMade) {
  PgSession admin(url_);
  admin.Must("CREATE SCHEMA \"" + schema_ + "\"");  // Made by an administrator beforehand.
  auto store = Open(&clock_);
  ASSERT_NE(store, nullptr);
  Result<SchemaInfo> unchanged = store->Migrate();
  ASSERT_TRUE(IsOk(unchanged));
  EXPECT_EQ(unchanged->found, PostgresSchemaVersion());
  EXPECT_EQ(unchanged->current, PostgresSchemaVersion());

  admin.Must("DROP SCHEMA \"" + schema_ + "\" CASCADE");
  Result<HeartbeatReply> lost =
      store->Heartbeat(Request("g", Instance("a"), LeaseIntent::kObserve));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code(), ErrorCode::kSchemaMismatch) << lost.error().message();
  Result<SchemaInfo> created = store->Migrate();
  ASSERT_TRUE(IsOk(created));
  EXPECT_EQ(created->found, 0);
  EXPECT_EQ(created->current, PostgresSchemaVersion());
  EXPECT_EQ(created->supported, PostgresSchemaVersion());
  EXPECT_TRUE(IsOk(store->Heartbeat(Request("g", Instance("a"), LeaseIntent::kObserve))));
}

// SPEC 5: a version 4 program calls the sixteen-argument heartbeat(), which version 5 keeps as
// a wrapper of its own: it still acquires and renews, and it too leaves a lease reserved by a
// step-down to the member named.
TEST_F(PostgresSchemaTest, AVersion4ProgramsHeartbeatStillWorksAndHonoursAReservation) {
  auto store = Open(&clock_);
  ASSERT_NE(store, nullptr);
  PgSession admin(url_);
  const auto old_heartbeat = [&](const std::string& id, const std::string& intent,
                                 const std::string& token) {
    return admin.Must("SELECT r_held::text || ':' || r_token FROM " + Qualified("heartbeat") +
                      "('g', 'active', '" + id + "', '" + id +
                      "#1', 'h', 1, '0.0.4', 'passive', "
                      "10000000, '" +
                      intent + "', 10000000, " + token + ", NULL, NULL, NULL, NULL)");
  };
  EXPECT_EQ(old_heartbeat("old", "acquire", "0"), "true:1");
  EXPECT_EQ(old_heartbeat("old", "renew", "1"), "true:1");
  MemberInfo b = Instance("b");
  MemberInfo c = Instance("c");
  ASSERT_TRUE(IsOk(store->Register("g", b, std::chrono::seconds(10))));
  ASSERT_TRUE(IsOk(store->Register("g", c, std::chrono::seconds(10))));
  HandoverRequest request;
  request.lease = LeaseKey{.group = "g", .name = kActiveLease};
  request.to = c.id;
  Result<HandoverReply> asked = store->RequestHandover(request);
  ASSERT_TRUE(IsOk(asked));
  EXPECT_EQ(asked->outcome, HandoverOutcome::kRequested);
  ASSERT_TRUE(IsOk(store->Release(request.lease, "old#1", 1)));
  EXPECT_EQ(old_heartbeat("other", "acquire", "0"), "false:1") << "took a lease reserved for c";
  Result<HeartbeatReply> named = store->Heartbeat(Request("g", c, LeaseIntent::kAcquire));
  ASSERT_TRUE(IsOk(named));
  EXPECT_TRUE(named->acquired);
  EXPECT_EQ(named->lease.token, 2u);
}

// SPEC 5: version 6 changes who reaps (the lease's holder, or everyone while the lease has no
// live holder), drops members_expiry and folds heartbeat_v1 into heartbeat(), keeping the
// signatures programs call. A version 5 program calls
// the same seventeen-argument heartbeat(); it keeps its lease through the upgrade, and it and
// this program share one group: the passive of either version leaves a dead member to the
// holder, the holder of either version reaps it, and this program takes over from it.
TEST_F(PostgresSchemaTest, AVersion5ProgramAndThisOneShareAGroupAcrossTheUpgradeToVersion6) {
  PgSession admin(url_);
  std::string older = "BEGIN; CREATE SCHEMA \"" + schema_ + "\"; CREATE TABLE " +
                      Qualified("meta") + " (key text PRIMARY KEY, value integer NOT NULL); ";
  for (int version = 1; version <= 5; ++version) {
    older += postgres_detail::SchemaStepSql(version, schema_) + ";\n";
  }
  admin.Must(older + "INSERT INTO " + Qualified("meta") +
             " VALUES ('schema_version', 5), ('usable_from', 1); COMMIT");
  ASSERT_EQ(admin.Must("SELECT to_regclass('" + Qualified("members_expiry") + "') IS NOT NULL"),
            "t");
  // A version 5 program's heartbeat: its member row and its lease live ttl_ms.
  const auto v5_heartbeat = [&](const std::string& id, const std::string& intent, uint64_t token,
                                int ttl_ms) {
    const std::string us = std::to_string(ttl_ms * 1000);
    return admin.Must("SELECT r_held::text || ':' || r_token || ':' || r_reaped FROM " +
                      Qualified("heartbeat") + "('g', 'active', '" + id + "', '" + id +
                      "#1', 'h', 1, '0.0.5', 'passive', " + us + ", '" + intent + "', " + us +
                      ", " + std::to_string(token) + ", NULL, NULL, NULL, NULL, 0)");
  };
  EXPECT_EQ(v5_heartbeat("old", "acquire", 0, 10000), "true:1:[]");
  EXPECT_EQ(v5_heartbeat("dead", "acquire", 0, 300), "false:1:[]");

  auto store = Open(&clock_);  // Upgrades to this version under the running group.
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(admin.Must("SELECT value FROM " + Qualified("meta") + " WHERE key = 'schema_version'"),
            std::to_string(PostgresSchemaVersion()));
  EXPECT_EQ(admin.Must("SELECT value FROM " + Qualified("meta") + " WHERE key = 'usable_from'"),
            "1");
  EXPECT_EQ(admin.Must("SELECT to_regclass('" + Qualified("members_expiry") + "') IS NULL"), "t");
  EXPECT_EQ(admin.Must("SELECT count(*) FROM pg_proc WHERE proname = 'heartbeat_v1' AND "
                       "pronamespace = '\"" +
                       schema_ + "\"'::regnamespace"),
            "0");

  const MemberInfo b = Instance("b");
  ASSERT_TRUE(IsOk(store->Register("g", b, std::chrono::seconds(10))));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // dead's row has expired.
  Result<HeartbeatReply> passive = store->Heartbeat(Request("g", b, LeaseIntent::kAcquire));
  ASSERT_TRUE(IsOk(passive));
  EXPECT_FALSE(passive->acquired);
  EXPECT_TRUE(passive->reaped.empty()) << "this program's passive reaped under a live holder";
  EXPECT_EQ(v5_heartbeat("old", "renew", 1, 300), "true:1:[\"dead\"]")
      << "the version 5 holder reaps";

  // The version 5 holder dies; once its lease has expired and b has watched it unchanged for
  // its ttl, b takes over; with nobody live holding the lease, b reaps the old one's row.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  bool acquired = false;
  std::vector<std::string> reaped;
  for (int i = 0; i < 10 && !acquired; ++i) {
    Result<HeartbeatReply> beat = store->Heartbeat(Request("g", b, LeaseIntent::kAcquire));
    ASSERT_TRUE(IsOk(beat));
    acquired = beat->acquired;
    reaped.insert(reaped.end(), beat->reaped.begin(), beat->reaped.end());
    clock_.Advance(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(acquired);
  EXPECT_EQ(reaped, std::vector<std::string>{"old"});

  // A version 5 passive leaves a dead member to this program's holder too.
  EXPECT_EQ(v5_heartbeat("late", "acquire", 0, 300), "false:2:[]");
  const MemberInfo dying = Instance("dying");
  ASSERT_TRUE(IsOk(store->Register("g", dying, std::chrono::milliseconds(200))));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(v5_heartbeat("late", "acquire", 0, 10000), "false:2:[]");
  Result<HeartbeatReply> holder = store->Heartbeat(Request("g", b, LeaseIntent::kRenew, 2));
  ASSERT_TRUE(IsOk(holder));
  EXPECT_TRUE(holder->held);
  EXPECT_EQ(holder->reaped, std::vector<std::string>{"dying"});
}

// Many instances of a new group starting at once all create the schema: one does, the others
// wait for its lock and find it done.
TEST_F(PostgresSchemaTest, ConcurrentFirstStartsCreateTheSchemaOnce) {
  constexpr int kStarters = 6;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kStarters);
  for (int i = 0; i < kStarters; ++i) {
    threads.emplace_back([&, i] {
      Result<std::unique_ptr<Store>> store = OpenPostgresStore(Options(&clock_));
      if (!store) errors[i] = store.error().message();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& error : errors) EXPECT_EQ(error, "");
  PgSession admin(url_);
  EXPECT_EQ(admin.Must("SELECT value FROM " + Qualified("meta") + " WHERE key = 'schema_version'"),
            std::to_string(PostgresSchemaVersion()));
  EXPECT_EQ(admin.Must("SELECT count(*) FROM " + Qualified("meta")), "2");
}

TEST_F(PostgresSchemaTest, SchemaNameMustBeAPlainIdentifier) {
  for (const std::string& bad :
       std::vector<std::string>{"", "1abc", "a-b", "a\"b", "x; DROP SCHEMA public",
                                std::string(64, 'a'), "sch\xc3\xa9ma"}) {
    PostgresStoreOptions options = Options(&clock_);
    options.schema = bad;
    Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
    ASSERT_FALSE(store.ok()) << bad;
    EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST_F(PostgresSchemaTest, GroupNamesWithQuotesAndSqlAreData) {
  auto store = Open(&clock_);
  ASSERT_NE(store, nullptr);
  const std::string group = "x'); DROP SCHEMA \"" + schema_ + "\" CASCADE; --";
  HeartbeatRequest request = Request(group, Instance("o'brien"), LeaseIntent::kAcquire);
  Result<HeartbeatReply> reply = store->Heartbeat(request);
  ASSERT_TRUE(IsOk(reply));
  EXPECT_TRUE(reply->acquired);
  Result<GroupSnapshot> snapshot = store->Snapshot(group, kActiveLease);
  ASSERT_TRUE(IsOk(snapshot));
  ASSERT_EQ(snapshot->members.size(), 1u);
  EXPECT_EQ(snapshot->members[0].info.id, "o'brien");
  EXPECT_EQ(snapshot->lease.holder, "o'brien#1");
  PgSession admin(url_);
  EXPECT_EQ(admin.Must("SELECT group_name FROM " + Qualified("leases")), group);
}

class PostgresPasswordTest : public PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    database_ = cluster_->CreateDatabase("pw", test_support::PgCluster::kPasswordUser);
  }
  PostgresStoreOptions PasswordOptions(const std::string& password) {
    PostgresStoreOptions options = Options(&clock_);
    options.url = cluster_->PasswordUrl(database_, password);
    return options;
  }

  std::string database_;
  FakeClock clock_;
};

TEST_F(PostgresPasswordTest, PasswordInTheUrlNeverShows) {
  const std::string password = cluster_->password();
  Result<std::unique_ptr<Store>> store = OpenPostgresStore(PasswordOptions(password));
  ASSERT_TRUE(IsOk(store));
  const std::string describe = (*store)->Describe();
  EXPECT_EQ(describe.find(password), std::string::npos) << describe;
  EXPECT_NE(describe.find("baton_pw:***@127.0.0.1"), std::string::npos) << describe;
  ASSERT_TRUE(IsOk((*store)->Heartbeat(Request("g", Instance("a"), LeaseIntent::kAcquire))));

  // Errors from a working connection carry the description, not the URL.
  Result<HeartbeatReply> refused =
      (*store)->Heartbeat(Request("", Instance("a"), LeaseIntent::kAcquire));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message().find(password), std::string::npos);
}

TEST_F(PostgresPasswordTest, WrongPasswordIsAClearErrorWithoutThePassword) {
  const std::string wrong = "Wr0ng-" + cluster_->password().substr(7);
  Result<std::unique_ptr<Store>> store = OpenPostgresStore(PasswordOptions(wrong));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  const std::string& message = store.error().message();
  EXPECT_EQ(message.find(wrong), std::string::npos) << message;
  EXPECT_NE(message.find("password authentication failed"), std::string::npos) << message;
  EXPECT_NE(message.find("baton_pw:***@"), std::string::npos) << message;
}

TEST_F(PostgresPasswordTest, MissingPasswordSaysWhereToPutIt) {
  PostgresStoreOptions options = PasswordOptions("");
  options.url =
      "postgresql://baton_pw@127.0.0.1:" + std::to_string(cluster_->port()) + "/" + database_;
  Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().message().find("PGPASSFILE"), std::string::npos)
      << store.error().message();

  // libpq's own environment works: PGPASSWORD.
  setenv("PGPASSWORD", cluster_->password().c_str(), 1);
  Result<std::unique_ptr<Store>> with_env = OpenPostgresStore(options);
  unsetenv("PGPASSWORD");
  EXPECT_TRUE(IsOk(with_env));
}

TEST_F(PostgresPasswordTest, KeyValueConnectionStringsAreRedactedToo) {
  const std::string password = cluster_->password();
  PostgresStoreOptions options = Options(&clock_);
  options.url = "host=127.0.0.1 port=" + std::to_string(cluster_->port()) +
                " user=baton_pw dbname=" + database_ + " password='" + password + "'";
  Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
  ASSERT_TRUE(IsOk(store));
  EXPECT_EQ((*store)->Describe().find(password), std::string::npos) << (*store)->Describe();
  EXPECT_NE((*store)->Describe().find("password=***"), std::string::npos);

  // A URL libpq cannot parse is refused without quoting it (or its password) back.
  const std::string port = std::to_string(cluster_->port());
  for (const std::string& url : std::vector<std::string>{
           "postgresql://baton_pw:" + password + "@127.0.0.1:" + port + "/db?bogus_option=1",
           "postgresql://baton_pw:%zz" + password + "@127.0.0.1:" + port + "/db",
           "host=127.0.0.1 password='" + password + "' junk"}) {
    options.url = url;
    Result<std::unique_ptr<Store>> bad = OpenPostgresStore(options);
    ASSERT_FALSE(bad.ok()) << url;
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(bad.error().message().find(password), std::string::npos) << bad.error().message();
  }
}

}  // namespace
}  // namespace baton::conformance
