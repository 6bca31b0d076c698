// --tenants-sql: the scheduler's tenant source on PostgreSQL. The user's query runs in a READ
// ONLY transaction, on a connection of its own so a slow query never holds up the queue's
// connection, with the server's statement_timeout and the client's own bound of the same
// length (Connection), so a round cannot hang on it.

#include "baton/postgres_store.h"
#include "connection.h"
#include "conninfo.h"

namespace baton {
namespace postgres_detail {
namespace {

class TenantQuery final : public TenantSource {
 public:
  TenantQuery(ConnectionSettings settings, Clock& clock, std::string sql)
      : settings_(std::move(settings)),
        clock_(clock),
        query_{.name = "baton_tenants_sql",
               .sql = std::move(sql),
               .effect = Effect::kRead,
               .what = "the tenant query"} {}

  Result<std::vector<std::string>> List(std::stop_token /*stop*/) override {
    if (connection_ != nullptr && connection_->lost()) connection_.reset();
    if (connection_ == nullptr) {
      Result<std::unique_ptr<Connection>> opened = Connection::Open(settings_, clock_);
      if (!opened) return opened.error();
      connection_ = std::move(*opened);
    }
    // A query runs in the transaction first, so the user's statement cannot switch it to
    // READ WRITE (PostgreSQL allows that only before the first query).
    if (auto r = connection_->Run("BEGIN TRANSACTION READ ONLY; SELECT 1", Effect::kRead,
                                  "the tenant query: starting a read-only transaction");
        !r) {
      return r.error();
    }
    Result<Rows> rows = connection_->Exec(query_, {});
    if (!connection_->lost()) {
      (void)connection_->Run("ROLLBACK", Effect::kRead, "the tenant query: ending the transaction");
    }
    if (!rows) return rows.error();
    if (rows->columns() != 1) {
      return Error(ErrorCode::kInvalidArgument,
                   "the tenant query must return one column (the tenant id), and it returned " +
                       std::to_string(rows->columns()));
    }
    std::vector<std::string> ids;
    ids.reserve(static_cast<size_t>(rows->size()));
    for (int i = 0; i < rows->size(); ++i) ids.push_back(rows->Text(i, 0));
    return ids;
  }

  std::string Describe() const override { return "the tenant query on " + settings_.describe; }

 private:
  const ConnectionSettings settings_;
  Clock& clock_;
  const Statement query_;
  std::unique_ptr<Connection> connection_;  // Used by List() only: one thread.
};

}  // namespace
}  // namespace postgres_detail

Result<std::unique_ptr<TenantSource>> OpenPostgresTenantQuery(const PostgresStoreOptions& options,
                                                              std::string sql, Duration timeout) {
  using namespace postgres_detail;
  if (auto r = CheckConnectionString(options.url); !r) return r.error();
  if (sql.empty()) return Error(ErrorCode::kInvalidArgument, "the tenant query is empty");
  if (timeout <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, "the tenant query's time-out must be positive");
  }
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  return std::unique_ptr<TenantSource>(
      std::make_unique<TenantQuery>(ConnectionSettings{.url = options.url,
                                                       .describe = RedactPassword(options.url),
                                                       .statement_timeout = timeout,
                                                       .connect_timeout = options.connect_timeout},
                                    clock, std::move(sql)));
}

}  // namespace baton
