// Fenced writes on PostgreSQL: the active instance appends rows to a table of its own, each
// in a transaction that first calls baton.check_token(). If this instance has lost the
// lease (say it was paused and another took over), the check raises SQLSTATE BT001 and the
// row is never committed, even if the process did not notice in time.
//
//   build/default/examples/baton-example-fenced-writes "postgresql://app@db/app"
#include <baton/postgres_store.h>
#include <baton/service_host.h>
#include <libpq-fe.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

namespace {

constexpr const char* kGroup = "fenced-example";

using PgConn = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

// Runs one statement with text parameters; returns the error message, "" on success.
std::string Exec(PGconn* conn, const char* sql, std::initializer_list<std::string> params = {}) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  PgResult result(PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(),
                               nullptr, nullptr, 0),
                  &PQclear);
  const ExecStatusType status = PQresultStatus(result.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return "";
  return PQresultErrorMessage(result.get());
}

// One fenced write: the token check and the insert commit together or not at all.
std::string WriteRow(PGconn* conn, uint64_t token, const std::string& instance) {
  if (auto e = Exec(conn, "BEGIN"); !e.empty()) return e;
  std::string error =
      Exec(conn, "SELECT baton.check_token($1, $2)", {kGroup, std::to_string(token)});
  if (error.empty()) {
    error = Exec(conn, "INSERT INTO fenced_example (token, instance) VALUES ($1, $2)",
                 {std::to_string(token), instance});
  }
  Exec(conn, error.empty() ? "COMMIT" : "ROLLBACK");
  return error;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s POSTGRESQL_URL\n", argv[0]);
    return 2;
  }
  baton::PostgresStoreOptions options;
  options.url = argv[1];
  auto store = baton::OpenPostgresStore(options);
  if (!store) {
    std::fprintf(stderr, "example: %s\n", store.error().message().c_str());
    return 2;
  }
  PgConn conn(PQconnectdb(argv[1]), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::fprintf(stderr, "example: cannot connect: %s", PQerrorMessage(conn.get()));
    return 1;
  }
  if (auto e = Exec(conn.get(),
                    "CREATE TABLE IF NOT EXISTS fenced_example (token bigint NOT NULL, "
                    "instance text NOT NULL, written_at timestamptz NOT NULL DEFAULT now())");
      !e.empty()) {
    std::fprintf(stderr, "example: %s", e.c_str());
    return 1;
  }

  baton::ServiceHost host(**store);
  host.StopOnSignals();  // Before any thread starts.
  baton::HostedService service;
  service.group = kGroup;
  service.timing.ttl = std::chrono::seconds(3);
  service.active = [&conn](baton::ActiveContext& ctx) {
    while (!ctx.stop_token().stop_requested()) {
      const std::string error = WriteRow(conn.get(), ctx.token(), ctx.instance_id());
      if (error.empty()) {
        std::printf("wrote a row with token %llu\n", static_cast<unsigned long long>(ctx.token()));
      } else {
        std::printf("write refused (token %llu): %s", static_cast<unsigned long long>(ctx.token()),
                    error.c_str());
      }
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  };
  if (auto added = host.Add(service); !added) {
    std::fprintf(stderr, "example: %s\n", added.error().message().c_str());
    return 2;
  }
  if (auto ran = host.Run(); !ran) {
    std::fprintf(stderr, "example: %s\n", ran.error().message().c_str());
    return 1;
  }
  return 0;
}
