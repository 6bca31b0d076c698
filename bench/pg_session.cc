#include "pg_session.h"

#include <libpq-fe.h>

namespace baton::bench {

void PgSession::Closer::operator()(pg_conn* conn) const { PQfinish(conn); }

PgSession::~PgSession() = default;

std::optional<PgSession> PgSession::Connect(const std::string& url, std::string& error) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
    PQfinish(conn);
    return std::nullopt;
  }
  return PgSession(conn);
}

std::optional<PgRows> PgSession::Query(const std::string& sql,
                                       const std::vector<std::string>& params, std::string& error) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  std::unique_ptr<PGresult, decltype(&PQclear)> result(
      PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                   values.data(), nullptr, nullptr, 0),
      &PQclear);
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    error = PQresultErrorMessage(result.get());
    return std::nullopt;
  }
  PgRows rows;
  for (int r = 0; r < PQntuples(result.get()); ++r) {
    auto& row = rows.emplace_back();
    for (int c = 0; c < PQnfields(result.get()); ++c)
      row.emplace_back(PQgetvalue(result.get(), r, c));
  }
  return rows;
}

}  // namespace baton::bench
