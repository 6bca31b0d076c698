#include "postgres_test_env.h"

#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <memory>

namespace baton::conformance {
namespace {

struct SharedState {
  std::unique_ptr<test_support::PgCluster> cluster;
  std::string why;
  bool skip = false;
};

SharedState& State() {
  static SharedState state;
  return state;
}

class PostgresEnvironment final : public ::testing::Environment {
 public:
  void SetUp() override {
    SharedState& state = State();
    const char* skip = std::getenv("BATON_SKIP_POSTGRES");
    if (skip != nullptr && std::string(skip) == "1") {
      state.skip = true;
      state.why = "PostgreSQL tests skipped: BATON_SKIP_POSTGRES=1 is set";
      return;
    }
    try {
      state.cluster = test_support::PgCluster::Start();
      state.cluster->Query(std::string("CREATE DATABASE ") + kSharedDatabase);
      state.cluster->Query("CREATE EXTENSION pg_stat_statements", kSharedDatabase);
    } catch (const std::exception& e) {
      state.cluster.reset();
      state.why = std::string(
                      "could not start a PostgreSQL test cluster (set "
                      "BATON_SKIP_POSTGRES=1 to skip these tests): ") +
                  e.what();
    }
  }
  void TearDown() override { State().cluster.reset(); }
};

// Registered when the binary starts: this file is linked as an object file, never dropped.
[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

}  // namespace

test_support::PgCluster* SharedPgCluster(std::string* why, bool* skip) {
  SharedState& state = State();
  *why = state.why;
  *skip = state.skip;
  if (state.cluster == nullptr && why->empty()) *why = "the PostgreSQL test cluster is not up";
  return state.cluster.get();
}

std::string FreshSchemaName() {
  static std::atomic<int> next{0};
  return "t" + std::to_string(++next);
}

struct PgSession::Conn {
  PGconn* pg = nullptr;
};

PgSession::PgSession(const std::string& url) : conn_(new Conn{PQconnectdb(url.c_str())}) {
  if (PQstatus(conn_->pg) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect: " << PQerrorMessage(conn_->pg);
  }
  PQsetNoticeProcessor(
      conn_->pg, [](void*, const char*) {}, nullptr);  // Quiet test output.
}

PgSession::~PgSession() {
  PQfinish(conn_->pg);
  delete conn_;
}

PgSession::Outcome PgSession::Exec(const std::string& sql) {
  PGresult* result = PQexec(conn_->pg, sql.c_str());
  Outcome outcome;
  const ExecStatusType status = PQresultStatus(result);
  if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
    outcome.ok = true;
    if (status == PGRES_TUPLES_OK && PQntuples(result) > 0 && PQnfields(result) > 0) {
      outcome.message = PQgetvalue(result, 0, 0);
    }
  } else {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    outcome.sqlstate = state != nullptr ? state : "";
    outcome.message = PQresultErrorMessage(result);
  }
  PQclear(result);
  return outcome;
}

std::string PgSession::Must(const std::string& sql) {
  Outcome outcome = Exec(sql);
  EXPECT_TRUE(outcome.ok) << sql << ": " << outcome.message;
  return outcome.message;
}

int PgSession::backend_pid() const { return PQbackendPID(conn_->pg); }

void PostgresTest::SetUp() {
  BATON_REQUIRE_PG_CLUSTER(cluster_);
  url_ = cluster_->Url(kSharedDatabase);
}

PostgresStoreOptions PostgresTest::Options(Clock* clock) const {
  PostgresStoreOptions options;
  options.url = url_;
  options.schema = schema_;
  options.clock = clock;
  return options;
}

std::unique_ptr<Store> PostgresTest::Open(Clock* clock) {
  Result<std::unique_ptr<Store>> store = OpenPostgresStore(Options(clock));
  if (!store) {
    ADD_FAILURE() << "OpenPostgresStore: " << store.error().message();
    return nullptr;
  }
  return std::move(*store);
}

std::string PostgresTest::Qualified(const std::string& name) const {
  return "\"" + schema_ + "\"." + name;
}

void PostgresTest::ExpireByTheDatabaseClock(const std::string& group) {
  PgSession admin(url_);
  admin.Must("UPDATE " + Qualified("leases") +
             " SET expires_at = clock_timestamp() - interval '1 second' WHERE group_name = '" +
             group + "'");
}

MemberInfo PostgresTest::Instance(const std::string& name) {
  return MemberInfo{
      .id = name, .holder = name + "#1", .host = "host-" + name, .pid = 1, .version = "test"};
}

HeartbeatRequest PostgresTest::Request(const std::string& group, const MemberInfo& self,
                                       LeaseIntent intent, uint64_t token, Duration ttl) {
  HeartbeatRequest request;
  request.lease = LeaseKey{.group = group, .name = kActiveLease};
  request.self = self;
  request.role = intent == LeaseIntent::kRenew ? MemberRole::kActive : MemberRole::kPassive;
  request.member_ttl = ttl;
  request.intent = intent;
  request.lease_ttl = ttl;
  request.token = token;
  return request;
}

}  // namespace baton::conformance
