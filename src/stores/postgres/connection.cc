#include "connection.h"

#include "conninfo.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace baton::postgres_detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A call gives up on the client side this long after the server-side statement_timeout
// would have ended it (a quarter of that timeout when it is shorter), so an answering
// server always gets to say why first.
constexpr Duration kClientSlack = seconds(1);
// The longest single poll(): waits are cut into slices so that a deadline on a FakeClock
// that a test moves is noticed too.
constexpr Duration kPollSlice = milliseconds(50);

bool StartsWith(std::string_view s, std::string_view prefix) { return s.starts_with(prefix); }

int64_t WholeSecondsUp(Duration d) {
  return std::max<int64_t>(1, std::chrono::ceil<seconds>(d).count());
}

// libpq's message on one line: "connection ... failed: refused\n\tIs the server running..."
std::string Trimmed(const char* text) {
  std::string s;
  for (const char* p = text != nullptr ? text : ""; *p != '\0'; ++p) {
    if (*p == '\n') {
      while (p[1] == '\t' || p[1] == ' ') ++p;
      if (p[1] != '\0') s += ' ';
    } else {
      s += *p;
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// Why a connection attempt failed, decided from libpq's words (a failed connection has no
// SQLSTATE): refused credentials, an unknown role or database and a pg_hba.conf refusal are
// configuration to fix; anything else may pass (the server is down, starting, unreachable).
ErrorCode CodeForConnectFailure(PGconn* conn, const std::string& message) {
  if (conn != nullptr && PQconnectionNeedsPassword(conn)) return ErrorCode::kInvalidArgument;
  for (const char* fatal : {"authentication failed", "does not exist", "no pg_hba.conf entry",
                            "permission denied", "password", "certificate"}) {
    if (message.find(fatal) != std::string::npos) return ErrorCode::kInvalidArgument;
  }
  return ErrorCode::kUnavailable;
}

}  // namespace

ErrorCode CodeForSqlState(std::string_view state) {
  if (StartsWith(state, "08") || StartsWith(state, "53") || StartsWith(state, "57P") ||
      StartsWith(state, "58") || state == "57014" || state == "40001" || state == "40P01" ||
      state == "55P03" || state == "55006" || state == "25006") {
    return ErrorCode::kUnavailable;
  }
  if (state == "42P01" || state == "3F000" || state == "42883") return ErrorCode::kSchemaMismatch;
  if (state == "BT002") return ErrorCode::kConflict;
  if (StartsWith(state, "22") || StartsWith(state, "28") || state == "42501") {
    return ErrorCode::kInvalidArgument;
  }
  return ErrorCode::kInternal;
}

Param TextParam(std::string_view value) { return std::string(value); }
Param IntParam(int64_t value) { return std::to_string(value); }

bool Rows::IsNull(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}

std::string Rows::Text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

int64_t Rows::Int(int row, int column) const {
  if (IsNull(row, column)) return 0;
  return std::strtoll(PQgetvalue(result_.get(), row, column), nullptr, 10);
}

bool Rows::Bool(int row, int column) const {
  return !IsNull(row, column) && PQgetvalue(result_.get(), row, column)[0] == 't';
}

int64_t Rows::affected() const {
  if (!result_) return 0;
  return std::strtoll(PQcmdTuples(result_.get()), nullptr, 10);
}

Connection::Connection(PGconn* conn, ConnectionSettings settings, Clock& clock)
    : conn_(conn),
      settings_(std::move(settings)),
      clock_(clock),
      call_timeout_(settings_.statement_timeout +
                    std::min<Duration>(kClientSlack, settings_.statement_timeout / 4)) {}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Result<std::unique_ptr<Connection>> Connection::Open(const ConnectionSettings& settings,
                                                     Clock& clock) {
  const std::string timeout_s =
      std::to_string(std::max<int64_t>(2, WholeSecondsUp(settings.connect_timeout)));
  const std::string idle_s = std::to_string(WholeSecondsUp(settings.connect_timeout / 2));
  const std::string user_timeout_ms =
      std::to_string(std::chrono::duration_cast<milliseconds>(settings.connect_timeout).count());
  // Baton's defaults first; the URL comes last, so what it says explicitly wins.
  const std::array<const char*, 9> keywords = {"fallback_application_name",
                                               "connect_timeout",
                                               "keepalives",
                                               "keepalives_idle",
                                               "keepalives_interval",
                                               "keepalives_count",
                                               "tcp_user_timeout",
                                               "dbname",
                                               nullptr};
  const std::array<const char*, 9> values = {"baton",
                                             timeout_s.c_str(),
                                             "1",
                                             idle_s.c_str(),
                                             "1",
                                             "3",
                                             user_timeout_ms.c_str(),
                                             settings.url.c_str(),
                                             nullptr};
  PGconn* conn = PQconnectStartParams(keywords.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) {
    return Error(ErrorCode::kUnavailable, settings.describe + ": out of memory while connecting");
  }
  const TimePoint deadline = clock.Now() + settings.connect_timeout;
  const TimePoint real_deadline = BootClock::now() + settings.connect_timeout;
  auto connection = std::unique_ptr<Connection>(new Connection(conn, settings, clock));
  // libpq prints notices and unsolicited server messages to stderr by default; baton reports
  // what matters through its errors instead.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  PostgresPollingStatusType status =
      PQstatus(conn) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED) {
    const short events = status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!connection->Wait(events, deadline, real_deadline)) {
      return Error(ErrorCode::kUnavailable,
                   settings.describe + ": could not connect within " +
                       std::to_string(WholeSecondsUp(settings.connect_timeout)) +
                       " s; is the server up and reachable?");
    }
    status = PQconnectPoll(conn);
  }
  if (status == PGRES_POLLING_FAILED) {
    const std::string why = Trimmed(PQerrorMessage(conn));
    const ErrorCode code = CodeForConnectFailure(conn, why);
    std::string message = settings.describe + ": could not connect: " + why;
    if (PQconnectionNeedsPassword(conn)) {
      message += " (the server wants a password: give it in PGPASSFILE, PGPASSWORD or the URL)";
    }
    return Error(code, std::move(message));
  }
  if (PQsetnonblocking(conn, 1) != 0) {
    return Error(ErrorCode::kUnavailable, settings.describe + ": " + Trimmed(PQerrorMessage(conn)));
  }
  // Set after connecting rather than in the URL's `options`, so a URL that sets its own
  // options cannot turn durable commits off.
  const std::string setup =
      "SET synchronous_commit = on; SET client_min_messages = warning; "
      "SET statement_timeout = " +
      std::to_string(std::chrono::duration_cast<milliseconds>(settings.statement_timeout).count());
  if (auto r = connection->Run(setup, Effect::kRead, "setting up the session"); !r) {
    return r.error();
  }
  return connection;
}

bool Connection::lost() const {
  return lost_ || conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD;
}

bool Connection::Wait(short events, TimePoint deadline, TimePoint real_deadline) {
  for (;;) {
    const TimePoint now = clock_.Now();
    const TimePoint real_now = BootClock::now();
    if (now >= deadline || real_now >= real_deadline) return false;
    const Duration left = std::min({deadline - now, real_deadline - real_now, kPollSlice});
    pollfd fd{.fd = PQsocket(conn_), .events = events, .revents = 0};
    if (fd.fd < 0) return false;
    const int timeout_ms = static_cast<int>(std::chrono::ceil<milliseconds>(left).count());
    const int ready = poll(&fd, 1, timeout_ms);
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

Error Connection::Lost(Effect effect, std::string_view what, const std::string& why) {
  lost_ = true;
  if (conn_ != nullptr) {
    // Dropping the connection is the cancel: a server that is still there rolls back once it
    // notices, and statement_timeout bounds it meanwhile. PQcancel would open a new
    // connection, which could hang on the same dead network.
    PQfinish(conn_);
    conn_ = nullptr;
  }
  if (effect == Effect::kWrite) {
    return Error(ErrorCode::kOutcomeUnknown, settings_.describe + ": " + std::string(what) + ": " +
                                                 why + "; it may or may not have taken effect");
  }
  return Error(ErrorCode::kUnavailable, settings_.describe + ": " + std::string(what) + ": " + why);
}

Error Connection::Refused(std::string_view what, const PGresult* result,
                          ServerError* refused) const {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL);
  ServerError error{.sqlstate = state != nullptr ? state : "",
                    .message = primary != nullptr ? primary : Trimmed(PQresultErrorMessage(result)),
                    .detail = detail != nullptr ? detail : ""};
  const ErrorCode code = CodeForSqlState(error.sqlstate);
  std::string message = settings_.describe + ": " + std::string(what) +
                        " failed: " + error.message + " (SQLSTATE " + error.sqlstate + ")";
  if (code == ErrorCode::kSchemaMismatch) {
    message += "; the baton schema is missing or damaged: run `baton migrate` on this store";
  }
  if (refused != nullptr) *refused = std::move(error);
  return Error(code, std::move(message));
}

Result<Rows> Connection::Finish(Effect effect, std::string_view what, ServerError* refused) {
  const TimePoint deadline = clock_.Now() + call_timeout_;
  const TimePoint real_deadline = BootClock::now() + call_timeout_;
  const std::string timed_out = "no answer within " +
                                std::to_string(WholeSecondsUp(call_timeout_)) +
                                " s; the connection was dropped";
  for (;;) {
    const int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) return Lost(effect, what, Trimmed(PQerrorMessage(conn_)));
    if (!Wait(POLLIN | POLLOUT, deadline, real_deadline)) return Lost(effect, what, timed_out);
    if (PQconsumeInput(conn_) == 0) return Lost(effect, what, Trimmed(PQerrorMessage(conn_)));
  }
  Rows rows;
  std::optional<Error> error;
  bool reconnect = false;
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      if (!Wait(POLLIN, deadline, real_deadline)) return Lost(effect, what, timed_out);
      if (PQconsumeInput(conn_) == 0) return Lost(effect, what, Trimmed(PQerrorMessage(conn_)));
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) break;
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_FATAL_ERROR) {
      if (PQstatus(conn_) == CONNECTION_BAD) {
        const std::string why = Trimmed(PQresultErrorMessage(result));
        PQclear(result);
        return Lost(effect, what, why);
      }
      if (!error) error = Refused(what, result, refused);
      const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
      // A read-only server (a standby, or a primary being demoted) or a shutdown: a new
      // connection may reach the right server.
      reconnect = state != nullptr &&
                  (std::strcmp(state, "25006") == 0 || std::strncmp(state, "57P", 3) == 0);
      PQclear(result);
    } else if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      rows = Rows(result);
    } else {
      PQclear(result);
    }
  }
  if (PQstatus(conn_) == CONNECTION_BAD) return Lost(effect, what, "the connection was lost");
  CollectNotifications();
  if (reconnect) lost_ = true;
  if (error) return *error;
  return rows;
}

Result<void> Connection::Prepare(const Statement& statement) {
  if (prepared_.contains(statement.name)) return Ok();
  if (PQsendPrepare(conn_, statement.name.c_str(), statement.sql.c_str(), 0, nullptr) == 0) {
    return Lost(Effect::kRead, statement.what, Trimmed(PQerrorMessage(conn_)));
  }
  Result<Rows> prepared = Finish(Effect::kRead, statement.what, nullptr);
  if (!prepared) return prepared.error();
  prepared_.insert(statement.name);
  return Ok();
}

Result<Rows> Connection::Exec(const Statement& statement, const std::vector<Param>& params,
                              ServerError* refused) {
  if (lost()) return Lost(Effect::kRead, statement.what, "the connection was lost");
  if (auto r = Prepare(statement); !r) return r.error();
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (PQsendQueryPrepared(conn_, statement.name.c_str(), static_cast<int>(values.size()),
                          values.data(), nullptr, nullptr, 0) == 0) {
    // Not dispatched: nothing reached the server.
    return Lost(Effect::kRead, statement.what, Trimmed(PQerrorMessage(conn_)));
  }
  return Finish(statement.effect, statement.what, refused);
}

Result<Rows> Connection::Run(std::string_view sql, Effect effect, std::string_view what) {
  if (lost()) return Lost(Effect::kRead, what, "the connection was lost");
  const std::string text(sql);
  if (PQsendQuery(conn_, text.c_str()) == 0) {
    return Lost(Effect::kRead, what, Trimmed(PQerrorMessage(conn_)));
  }
  return Finish(effect, what, nullptr);
}

bool Connection::AwaitInput(TimePoint deadline, int wake_fd) {
  if (lost()) return false;
  const Duration left = deadline - BootClock::now();
  const int timeout_ms = left <= Duration::zero()
                             ? 0
                             : static_cast<int>(std::chrono::ceil<milliseconds>(left).count());
  std::array<pollfd, 2> fds = {pollfd{.fd = PQsocket(conn_), .events = POLLIN, .revents = 0},
                               pollfd{.fd = wake_fd, .events = POLLIN, .revents = 0}};
  const int ready = poll(fds.data(), wake_fd >= 0 ? 2 : 1, timeout_ms);
  if (ready < 0 && errno != EINTR) return false;
  if (ready > 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
    if (PQconsumeInput(conn_) == 0) {
      lost_ = true;
      return false;
    }
  }
  return !lost();
}

bool Connection::ConsumeInput() {
  if (lost()) return false;
  if (PQconsumeInput(conn_) == 0) {
    lost_ = true;
    return false;
  }
  return true;
}

std::string Connection::error_message() const {
  return conn_ != nullptr ? Trimmed(PQerrorMessage(conn_)) : "the connection was closed";
}

int Connection::socket() const { return lost() ? -1 : PQsocket(conn_); }

void SignalEventFd(int fd) {
  if (fd < 0) return;
  const uint64_t one = 1;
  (void)!write(fd, &one, sizeof(one));
}

void Connection::CollectNotifications() {
  if (conn_ == nullptr) return;
  bool any = false;
  while (PGnotify* notify = PQnotifies(conn_)) {
    notifications_.push_back(Notification{.channel = notify->relname, .payload = notify->extra});
    PQfreemem(notify);
    any = true;
  }
  if (any) SignalEventFd(notification_wake_);
}

std::optional<Connection::Notification> Connection::NextNotification() {
  if (notifications_.empty() && conn_ != nullptr) {
    if (PGnotify* notify = PQnotifies(conn_)) {
      Notification n{.channel = notify->relname, .payload = notify->extra};
      PQfreemem(notify);
      return n;
    }
  }
  if (notifications_.empty()) return std::nullopt;
  Notification n = std::move(notifications_.front());
  notifications_.pop_front();
  return n;
}

Result<ConnectionSettings> CheckedSettings(const PostgresStoreOptions& options) {
  if (auto r = CheckConnectionString(options.url); !r) return r.error();
  std::string describe = RedactPassword(options.url);
  if (auto r = CheckSchemaName(options.schema); !r) {
    return Error(ErrorCode::kInvalidArgument, describe + ": " + r.error().message());
  }
  if (options.statement_timeout <= Duration::zero() ||
      options.connect_timeout <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument,
                 describe + ": the statement and connect timeouts must be positive");
  }
  if (options.schema != "baton") describe += " (schema " + options.schema + ")";
  return ConnectionSettings{.url = options.url,
                            .describe = std::move(describe),
                            .statement_timeout = options.statement_timeout,
                            .connect_timeout = options.connect_timeout};
}

}  // namespace baton::postgres_detail
