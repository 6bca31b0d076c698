#pragma once

// One libpq connection for the benchmark's own queries (pg_stat_statements, the lease row):
// text in, text out, every failure a message. Not baton's store code, which the benchmark
// deliberately does not link.
//
// Thread safety: one thread per PgSession.

#include <memory>
#include <optional>
#include <string>
#include <vector>

struct pg_conn;

namespace baton::bench {

using PgRows = std::vector<std::vector<std::string>>;  // NULL reads as "".

class PgSession final {
 public:
  // Connects to `url`; nullopt with `error` set when it cannot.
  static std::optional<PgSession> Connect(const std::string& url, std::string& error);
  PgSession(PgSession&&) noexcept = default;
  PgSession& operator=(PgSession&&) noexcept = default;
  ~PgSession();

  // Runs `sql` with text parameters $1, $2, ...; the rows, or nullopt with `error` set.
  std::optional<PgRows> Query(const std::string& sql, const std::vector<std::string>& params,
                              std::string& error);

 private:
  struct Closer {
    void operator()(pg_conn* conn) const;
  };
  explicit PgSession(pg_conn* conn) : conn_(conn) {}
  std::unique_ptr<pg_conn, Closer> conn_;
};

}  // namespace baton::bench
