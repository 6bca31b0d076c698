#include "connection.h"

#include <unistd.h>

#include <cstdint>
#include <utility>

namespace baton::sqlite_detail {
namespace {

// How long a writer waits for another process's write transaction before giving up with
// kUnavailable. Write transactions last microseconds; only a paused process holds one longer.
constexpr int kBusyTimeoutMs = 5000;
// How long a writer sleeps between tries for the write lock. SQLite's default handler backs
// off to 100 ms sleeps, so a heartbeat waiting behind a run of queue transactions would keep
// waking while one of them holds the lock; short fixed sleeps let it in at the first gap
// (the queue's bulk writes leave one between their bounded transactions).
constexpr int kLeaseRetryUs = 250;
constexpr int kQueueRetryUs = 1000;

// `interval_us` points at one of the constants above.
int RetryBusy(void* interval_us, int tries) {
  const int interval = *static_cast<const int*>(interval_us);
  if (static_cast<int64_t>(tries) * interval >= int64_t{kBusyTimeoutMs} * 1000) return 0;
  usleep(static_cast<useconds_t>(interval));
  return 1;
}

}  // namespace

ErrorCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_INTERRUPT:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kInternal;
  }
}

Statement::Statement(Connection& connection, sqlite3_stmt* stmt, std::string_view what)
    : connection_(&connection), stmt_(stmt), what_(what) {}

Statement::Statement(Statement&& other) noexcept
    : connection_(other.connection_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      what_(other.what_),
      next_index_(other.next_index_),
      bind_rc_(other.bind_rc_) {}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement& Statement::Bind(int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, next_index_++, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::Bind(std::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so the caller's string may go away.
  int rc = sqlite3_bind_text64(stmt_, next_index_++, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindBlob(std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_, next_index_++, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindNull() {
  int rc = sqlite3_bind_null(stmt_, next_index_++);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) return connection_->ErrorFrom(bind_rc_, what_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return connection_->ErrorFrom(rc, what_);
}

Result<int> Statement::Run() {
  for (;;) {
    Result<bool> row = Step();
    if (!row) return row.error();
    if (!*row) return connection_->Changes();
  }
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string Statement::Blob(int column) const {
  const void* bytes = sqlite3_column_blob(stmt_, column);
  if (bytes == nullptr) return {};
  return std::string(static_cast<const char*>(bytes),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, std::string describe,
                                                     Priority priority) {
  sqlite3* db = nullptr;
  // NOMUTEX: the owner serializes calls, so SQLite's own per-connection mutex is not needed.
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<Connection> connection(new Connection(db, std::move(describe)));
  if (rc != SQLITE_OK) {
    if (db == nullptr) {
      return Error(CodeFor(rc),
                   connection->describe_ + ": opening the database failed: " + sqlite3_errstr(rc));
    }
    return connection->ErrorFrom(rc, "opening the database");
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_handler(
      db, &RetryBusy,
      const_cast<int*>(priority == Priority::kLease ? &kLeaseRetryUs : &kQueueRetryUs));
  // FULL: in WAL mode every commit is fsynced, so a lease write is durable before it counts.
  if (auto r = connection->Exec("PRAGMA synchronous = FULL", "setting synchronous=FULL"); !r) {
    return r.error();
  }
  return connection;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Result<Statement> Connection::Prepare(std::string_view sql, std::string_view what) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return ErrorFrom(rc, what);
    it = statements_.emplace(std::string(sql), stmt).first;
  }
  return Statement(*this, it->second, what);
}

Result<void> Connection::Exec(const char* sql, std::string_view what) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return ErrorFrom(rc, what);
  return Ok();
}

Error Connection::ErrorFrom(int rc, std::string_view what) const {
  std::string message = describe_ + ": " + std::string(what) + " failed: ";
  const char* detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  message += detail;
  int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    message += " (another process held the database's write lock for more than " +
               std::to_string(kBusyTimeoutMs / 1000) + "s; a paused baton process can do that)";
  } else if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
    message += " (the file is damaged or is not a baton database)";
  } else {
    message += " (SQLite code " + std::to_string(rc) + ")";
  }
  return Error(CodeFor(rc), std::move(message));
}

Transaction::~Transaction() {
  if (open_ && connection_.InTransaction()) {
    (void)connection_.Exec("ROLLBACK", "rollback");
  }
}

Result<void> Transaction::Begin() {
  const char* sql = kind_ == Kind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED";
  if (auto r = connection_.Exec(sql, what_); !r) return r;
  open_ = true;
  return Ok();
}

Result<void> Transaction::Commit() {
  int rc = sqlite3_exec(connection_.db_, "COMMIT", nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) {
    open_ = false;
    return Ok();
  }
  Error error = connection_.ErrorFrom(rc, what_);
  if (connection_.InTransaction()) {
    // Still open (a busy commit): roll back, so nothing changed and a retry is safe.
    (void)connection_.Exec("ROLLBACK", "rollback");
    open_ = false;
    return Error(ErrorCode::kUnavailable, error.message());
  }
  open_ = false;
  if (kind_ == Kind::kRead) return error;
  // SQLite ended the transaction itself after an I/O error: the commit may or may not be on
  // disk, and a write that counts only once durable must not be assumed either way.
  return Error(ErrorCode::kOutcomeUnknown,
               error.message() + "; the write may or may not have been committed");
}

}  // namespace baton::sqlite_detail
