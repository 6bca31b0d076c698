#pragma once

// The one throwaway PostgreSQL cluster that a PostgreSQL test binary shares: started by a
// GoogleTest environment before the first test and stopped after the last. Each test works in
// a schema (or database) of its own.
//
// Tests skip, with the reason shown, only when BATON_SKIP_POSTGRES=1 is set; a cluster that
// fails to start otherwise fails every test that needs it.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "baton/clock.h"
#include "baton/postgres_store.h"
#include "baton/store.h"
#include "support/pg_cluster.h"

namespace baton::conformance {

// The shared cluster, or nullptr with `*why` set (a skip when `*skip`, a failure otherwise).
test_support::PgCluster* SharedPgCluster(std::string* why, bool* skip);

// The database that tests share, each in schemas of its own.
inline constexpr const char* kSharedDatabase = "baton_tests";

// A schema name no other test of this run uses.
std::string FreshSchemaName();

// A plain libpq session a test drives by hand, as the user's own application would: its own
// transactions, check_token calls, direct writes that simulate what a test cannot cause
// (a step of the database's clock). One thread.
class PgSession final {
 public:
  explicit PgSession(const std::string& url);
  ~PgSession();
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;

  struct Outcome {
    bool ok = false;
    std::string sqlstate;  // On error.
    std::string message;   // The error message, or the first column of the first row.
  };
  // Runs `sql` (simple query protocol) and waits for it.
  Outcome Exec(const std::string& sql);
  // Like Exec, but fails the test unless it succeeds; returns the first column of the first row.
  std::string Must(const std::string& sql);
  int backend_pid() const;

 private:
  struct Conn;
  Conn* conn_;
};

// A fixture for the PostgreSQL store's own tests: the shared cluster, a fresh schema, and
// stores opened on it with a clock of the test's choosing.
class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override;
  // A new store handle on the test's schema, with its own connection. Fails the test (and
  // returns nullptr) if it cannot be opened.
  std::unique_ptr<Store> Open(Clock* clock);
  PostgresStoreOptions Options(Clock* clock) const;
  // A quoted table (or function) name in the test's schema: "t12".leases.
  std::string Qualified(const std::string& name) const;
  // Sets the lease's expiry into the past, as a forward step of the database host's clock
  // would make it look.
  void ExpireByTheDatabaseClock(const std::string& group);

  static MemberInfo Instance(const std::string& name);
  static HeartbeatRequest Request(const std::string& group, const MemberInfo& self,
                                  LeaseIntent intent, uint64_t token = 0,
                                  Duration ttl = std::chrono::seconds(10));

  test_support::PgCluster* cluster_ = nullptr;
  std::string url_;
  const std::string schema_ = FreshSchemaName();
};

}  // namespace baton::conformance

// For a fixture's SetUp(): skips or fails the test unless the shared cluster is up, and
// otherwise leaves it in `var`.
#define BATON_REQUIRE_PG_CLUSTER(var)                                           \
  do {                                                                          \
    std::string baton_pg_why;                                                   \
    bool baton_pg_skip = false;                                                 \
    var = ::baton::conformance::SharedPgCluster(&baton_pg_why, &baton_pg_skip); \
    if (var == nullptr && baton_pg_skip) GTEST_SKIP() << baton_pg_why;          \
    if (var == nullptr) FAIL() << baton_pg_why;                                 \
  } while (false)
