// Fenced data on SQLite: the user's own transaction on the database file checks the token
// (README "Fenced data"). A stale token raises; a current one lets the writes commit.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "baton/sqlite_store.h"

namespace baton {
namespace {

using namespace std::chrono_literals;

class SqliteFencingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("baton-fence-" + std::to_string(getpid()) + ".db"))
                .string();
    Cleanup();
    SqliteStoreOptions options;
    options.path = path_;
    options.clock = &clock_;
    store_ = std::move(OpenSqliteStore(options)).value();
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db_), SQLITE_OK);
    ASSERT_EQ(Exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, written_by INTEGER)"), "");
  }
  void TearDown() override {
    sqlite3_close(db_);
    store_.reset();
    Cleanup();
  }
  void Cleanup() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }

  // Runs SQL on the user's own connection; returns the error text, "" on success.
  std::string Exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    std::string text = rc == SQLITE_OK ? "" : (error != nullptr ? error : "error");
    sqlite3_free(error);
    return text;
  }

  uint64_t Acquire(const std::string& holder) {
    HeartbeatRequest request;
    request.lease = {"billing", kActiveLease};
    request.self = {holder, holder + "/n", "host", 1, "test"};
    request.intent = LeaseIntent::kAcquire;
    request.lease_ttl = 10s;
    auto reply = store_->Heartbeat(request);
    EXPECT_TRUE(reply.ok() && reply->acquired);
    return reply->lease.token;
  }

  // The active work's write, fenced by `token`.
  std::string FencedWrite(uint64_t token, int id) {
    return Exec("BEGIN IMMEDIATE; INSERT INTO baton_fence (group_name, token) VALUES ('billing', " +
                std::to_string(token) + "); INSERT INTO invoices VALUES (" + std::to_string(id) +
                ", " + std::to_string(token) + "); COMMIT;");
  }

  FakeClock clock_;
  std::string path_;
  std::unique_ptr<Store> store_;
  sqlite3* db_ = nullptr;
};

TEST_F(SqliteFencingTest, CurrentTokenWritesAndStaleTokenRaises) {
  const uint64_t first = Acquire("a");
  EXPECT_EQ(FencedWrite(first, 1), "");

  clock_.Advance(11s);  // a's lease expired; b takes over with a larger token.
  const uint64_t second = Acquire("b");
  ASSERT_GT(second, first);

  EXPECT_EQ(FencedWrite(first, 2), "baton: stale fencing token");
  Exec("ROLLBACK");
  EXPECT_EQ(FencedWrite(second, 3), "");
  EXPECT_EQ(Exec("SELECT 1 FROM baton_fence"), "");  // Nothing is ever stored there.

  sqlite3_stmt* count = nullptr;
  sqlite3_prepare_v2(db_, "SELECT group_concat(id) FROM invoices", -1, &count, nullptr);
  ASSERT_EQ(sqlite3_step(count), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(count, 0)), "1,3");
  sqlite3_finalize(count);
}

TEST_F(SqliteFencingTest, ReleasedLeaseFencesItsLastToken) {
  const uint64_t token = Acquire("a");
  auto released = store_->Release({"billing", kActiveLease}, "a/n", token);
  ASSERT_TRUE(released.ok() && *released);
  EXPECT_EQ(FencedWrite(token, 1), "baton: stale fencing token");
  Exec("ROLLBACK");
}

}  // namespace
}  // namespace baton
