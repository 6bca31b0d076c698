#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "baton/clock.h"
#include "baton/postgres_store.h"
#include "baton/result.h"

namespace baton::postgres_detail {

// What a call does, which decides what a call lost midway means: nothing changed
// (kUnavailable) for a read, an unknown outcome (kOutcomeUnknown) for a write.
enum class Effect { kRead, kWrite };

// What a caller should do after the server answered with SQLSTATE `state`: connection
// trouble, shutdowns, too many connections, serialization failures and deadlocks are worth a
// retry (kUnavailable: the failed statement changed nothing); a missing table or function
// means the schema is gone (kSchemaMismatch); bad data is the caller's (kInvalidArgument);
// anything else is a bug (kInternal).
ErrorCode CodeForSqlState(std::string_view state);

// A statement parameter in text form; nullopt is SQL NULL.
using Param = std::optional<std::string>;
Param TextParam(std::string_view value);
Param IntParam(int64_t value);

// One statement baton runs: prepared once per connection under `name`.
struct Statement {
  std::string name;
  std::string sql;
  Effect effect = Effect::kRead;
  std::string what;  // For messages: "heartbeat", "releasing the lease".
};

// What the server said when it refused a statement.
struct ServerError {
  std::string sqlstate;
  std::string message;
  std::string detail;
};

// The rows of one successful statement, in text form. Move-only; owns its PGresult.
class Rows final {
 public:
  Rows() = default;
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}

  int size() const { return result_ ? PQntuples(result_.get()) : 0; }
  int columns() const { return result_ ? PQnfields(result_.get()) : 0; }
  bool IsNull(int row, int column) const;
  std::string Text(int row, int column) const;
  int64_t Int(int row, int column) const;  // 0 for NULL.
  bool Bool(int row, int column) const;    // false for NULL.
  // Rows an INSERT, UPDATE or DELETE without RETURNING changed.
  int64_t affected() const;

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_{nullptr, &PQclear};
};

// How to reach the database and how long anything may take.
struct ConnectionSettings {
  std::string url;       // Never printed.
  std::string describe;  // The URL without its password; prefixes every message.
  Duration statement_timeout{0};
  Duration connect_timeout{0};
};

// The settings of a store's or a queue's connection: `options` checked (the URL, the schema
// name, the timeouts; kInvalidArgument naming the redacted URL), `describe` naming the
// schema when it is not the default.
Result<ConnectionSettings> CheckedSettings(const PostgresStoreOptions& options);

// Wakes whoever polls the eventfd `fd` (a notification thread); nothing when `fd` < 0.
void SignalEventFd(int fd);

// One libpq connection in non-blocking mode. Every wait (connecting, sending, reading) is a
// poll() on its socket bounded by a deadline, so a dead network cannot hang a call: when the
// deadline passes the connection is dropped and the call fails (kOutcomeUnknown for a write,
// kUnavailable otherwise). A connection that failed that way is lost() for good; the owner
// opens a new one on its next call.
//
// Sessions run with synchronous_commit=on, application_name=baton (unless the URL names
// another), a server-side statement_timeout, and TCP keepalives and tcp_user_timeout.
//
// Not thread-safe: the owner serializes every call.
class Connection final {
 public:
  // Connects within settings.connect_timeout on `clock` (and on real time, whatever `clock`
  // is). kInvalidArgument when the server refused the credentials or the database does not
  // exist, kUnavailable when it could not be reached.
  static Result<std::unique_ptr<Connection>> Open(const ConnectionSettings& settings, Clock& clock);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `statement` (preparing it on first use) with `params` and returns its rows. When the
  // server refused it and `refused` is given, fills it in as well.
  Result<Rows> Exec(const Statement& statement, const std::vector<Param>& params,
                    ServerError* refused = nullptr);
  // Runs SQL without parameters in the simple query protocol: several statements may be
  // separated by ';' (DDL, BEGIN, LISTEN). Returns the rows of the last one.
  Result<Rows> Run(std::string_view sql, Effect effect, std::string_view what);

  // Waits until the server sends something (a notification) or `deadline` passes on the real
  // clock, or `wake_fd` becomes readable; then reads what arrived. false when the connection
  // was lost.
  bool AwaitInput(TimePoint deadline, int wake_fd);
  // Reads whatever the server has sent, without waiting. false when the connection was lost.
  bool ConsumeInput();
  // The next notification that arrived, if any: those a statement's reply brought along
  // first, then any read since.
  struct Notification {
    std::string channel;
    std::string payload;
  };
  std::optional<Notification> NextNotification();
  // An eventfd written to whenever a statement's reply brought notifications along, so that
  // whoever waits for them on another thread knows to look (-1: nobody).
  void SetNotificationWake(int fd) { notification_wake_ = fd; }
  // The socket, for a poll() by the thread that waits for notifications; -1 when lost.
  int socket() const;

  bool lost() const;
  // What libpq last said went wrong, on one line.
  std::string error_message() const;
  const std::string& describe() const { return settings_.describe; }

 private:
  Connection(PGconn* conn, ConnectionSettings settings, Clock& clock);

  // Sends what libpq buffered and collects the results of the statement in flight.
  Result<Rows> Finish(Effect effect, std::string_view what, ServerError* refused);
  // Waits for the socket to be ready for `events` until the call's deadline.
  bool Wait(short events, TimePoint deadline, TimePoint real_deadline);
  Error Lost(Effect effect, std::string_view what, const std::string& why);
  Error Refused(std::string_view what, const PGresult* result, ServerError* refused) const;
  Result<void> Prepare(const Statement& statement);
  // Moves what libpq has parsed into `notifications_`, and writes `notification_wake_` if
  // anything came.
  void CollectNotifications();

  PGconn* conn_;
  const ConnectionSettings settings_;
  Clock& clock_;
  const Duration call_timeout_;
  std::set<std::string, std::less<>> prepared_;
  bool lost_ = false;
  std::deque<Notification> notifications_;
  int notification_wake_ = -1;
};

}  // namespace baton::postgres_detail
