#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "baton/result.h"

namespace baton::sqlite_detail {

// What a caller should do after SQLite returned `rc`: busy or locked means another process
// holds the write lock (retry), corruption is reported as internal, I/O trouble as unavailable.
ErrorCode CodeFor(int rc);

class Connection;

// One use of a cached prepared statement: bind parameters in order (?1, ?2, ...), step, read
// columns. Resets the statement when destroyed so the cache can hand it out again.
// Same thread safety as the Connection it came from.
class Statement final {
 public:
  Statement(Connection& connection, sqlite3_stmt* stmt, std::string_view what);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  // Binds the next parameter.
  Statement& Bind(int64_t value);
  Statement& Bind(std::string_view value);
  Statement& BindBlob(std::string_view bytes);
  Statement& BindNull();
  // nullopt binds NULL.
  Statement& Bind(const std::optional<int64_t>& value) { return value ? Bind(*value) : BindNull(); }

  // Steps once: true when a row is ready to read, false when the statement is done.
  Result<bool> Step();
  // Steps until done (discarding rows); returns the number of rows changed.
  Result<int> Run();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;
  bool IsNull(int column) const;

 private:
  Connection* connection_;
  sqlite3_stmt* stmt_;
  std::string_view what_;  // For error messages: what this statement does.
  int next_index_ = 1;
  int bind_rc_ = SQLITE_OK;
};

// One SQLite connection and its prepared statements. Not thread-safe: the owner serializes
// every call (SqliteStore holds a mutex; the release watcher owns a connection of its own).
class Connection final {
 public:
  // Opens an existing database file (OpenSqliteStore creates it with mode 0600 first), with
  // a busy timeout and synchronous=FULL so a committed lease write is on disk before it counts.
  // `describe` ("sqlite:<path>") prefixes every error message.
  //
  // SQLite has one write lock for the whole file and no queue for it: waiting writers retry.
  // kLease connections retry four times as often as kQueue ones, so a heartbeat gets the lock
  // at the first gap in a run of queue transactions.
  enum class Priority { kLease, kQueue };
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, std::string describe,
                                                  Priority priority = Priority::kLease);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A statement for `sql`, prepared once per connection and reused. `what` names the
  // operation in error messages ("heartbeat"), and must be a literal.
  Result<Statement> Prepare(std::string_view sql, std::string_view what);
  // Runs SQL that takes no parameters and whose rows are not needed (BEGIN, pragmas, DDL).
  Result<void> Exec(const char* sql, std::string_view what);

  // An error for a failed call with result code `rc`, naming the database and `what`.
  Error ErrorFrom(int rc, std::string_view what) const;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int Changes() const { return sqlite3_changes(db_); }
  // True inside an open transaction.
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  const std::string& describe() const { return describe_; }

 private:
  friend class Transaction;  // Commits with the raw result code to tell busy from unknown.

  Connection(sqlite3* db, std::string describe) : db_(db), describe_(std::move(describe)) {}

  sqlite3* db_;
  std::string describe_;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;
};

// A transaction that rolls back unless committed. A write transaction starts with
// BEGIN IMMEDIATE: it takes the database's single write lock at once (waiting up to the busy
// timeout), so what it reads is what its writes apply to — there is no read-then-write race
// with another process. Used on one thread, like its Connection.
class Transaction final {
 public:
  enum class Kind { kRead, kWrite };

  Transaction(Connection& connection, Kind kind, std::string_view what)
      : connection_(connection), kind_(kind), what_(what) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Result<void> Begin();
  // Fails with kUnavailable when the transaction was rolled back (nothing changed) and with
  // kOutcomeUnknown when SQLite could not tell whether the commit reached the disk.
  Result<void> Commit();

 private:
  Connection& connection_;
  Kind kind_;
  std::string_view what_;
  bool open_ = false;
};

}  // namespace baton::sqlite_detail
