#include "schema.h"

namespace baton::sqlite_detail {
namespace {

// Version 1. Times are CLOCK_BOOTTIME nanoseconds, meaningful only with the row's boot id: a
// row written in another boot counts as expired. Lease rows are never deleted, so a lease's
// token only grows over its whole life.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS baton_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS baton_members (
  group_name   TEXT NOT NULL,
  id           TEXT NOT NULL,
  holder       TEXT NOT NULL,
  host         TEXT NOT NULL,
  pid          INTEGER NOT NULL,
  version      TEXT NOT NULL,
  role         TEXT NOT NULL,
  started_ms   INTEGER NOT NULL,  -- wall clock, for people only
  heartbeat_ns INTEGER NOT NULL,
  expiry_ns    INTEGER NOT NULL,
  boot_id      TEXT NOT NULL,
  PRIMARY KEY (group_name, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS baton_leases (
  group_name  TEXT NOT NULL,
  name        TEXT NOT NULL,
  holder      TEXT NOT NULL,     -- '' when free
  token       INTEGER NOT NULL,  -- kept on release
  renewals    INTEGER NOT NULL,
  acquired_ns INTEGER NOT NULL,
  expiry_ns   INTEGER NOT NULL,
  boot_id     TEXT NOT NULL,
  PRIMARY KEY (group_name, name)
) WITHOUT ROWID;
-- Fencing (README "Fenced data"): inside its own BEGIN IMMEDIATE transaction on this file,
-- the active work inserts (group, token) here before it writes. The trigger aborts the
-- statement when the token is not the lease's current one, so a stale holder gets an error
-- it cannot overlook; nothing is ever stored. The write lock the transaction holds keeps
-- any takeover out until it commits.
CREATE TABLE IF NOT EXISTS baton_fence (
  group_name TEXT NOT NULL,
  token      INTEGER NOT NULL,
  name       TEXT NOT NULL DEFAULT 'active'
);
CREATE TRIGGER IF NOT EXISTS baton_fence_check BEFORE INSERT ON baton_fence
BEGIN
  SELECT RAISE(ABORT, 'baton: stale fencing token')
  WHERE NOT EXISTS (SELECT 1 FROM baton_leases l
                    WHERE l.group_name = NEW.group_name AND l.name = NEW.name
                      AND l.token = NEW.token AND l.holder <> '');
  SELECT RAISE(IGNORE);
END;
)sql";

constexpr const char* kHasMetaTable =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'baton_meta'";
// usable_from falls back to the version itself: a schema written before the key existed.
constexpr const char* kSelectVersion =
    "SELECT value, coalesce((SELECT value FROM baton_meta WHERE key = 'usable_from'), value) "
    "FROM baton_meta WHERE key = 'schema_version'";
constexpr const char* kWriteVersion =
    "INSERT INTO baton_meta (key, value) VALUES ('schema_version', ?1), ('usable_from', ?2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";

}  // namespace

Result<SchemaVersion> ReadSchemaVersion(Connection& connection) {
  Result<Statement> has_meta = connection.Prepare(kHasMetaTable, "reading the schema version");
  if (!has_meta) return has_meta.error();
  Result<bool> row = has_meta->Step();
  if (!row) return row.error();
  if (!*row || has_meta->Int(0) == 0) return SchemaVersion{};

  Result<Statement> version = connection.Prepare(kSelectVersion, "reading the schema version");
  if (!version) return version.error();
  row = version->Step();
  if (!row) return row.error();
  if (!*row) return SchemaVersion{};
  return SchemaVersion{.version = static_cast<int>(version->Int(0)),
                       .usable_from = static_cast<int>(version->Int(1))};
}

Result<void> CheckSchemaVersion(const std::string& describe, SchemaVersion found) {
  if (found.UsableBy(kSchemaVersion)) return Ok();
  if (found.version > kSchemaVersion) {
    return Error(ErrorCode::kSchemaMismatch,
                 describe + " has schema version " + std::to_string(found.version) +
                     " (usable from version " + std::to_string(found.usable_from) +
                     "), this baton supports up to " + std::to_string(kSchemaVersion) +
                     ": upgrade baton");
  }
  if (found.version == 0) {
    return Error(ErrorCode::kSchemaMismatch,
                 describe + " has no baton schema yet (this baton needs version " +
                     std::to_string(kSchemaVersion) + "): run `baton migrate --store " + describe +
                     "` first");
  }
  return Error(ErrorCode::kSchemaMismatch,
               describe + " has schema version " + std::to_string(found.version) +
                   ", this baton needs " + std::to_string(kSchemaVersion) +
                   ": run `baton migrate --store " + describe + "`");
}

Result<SchemaInfo> MigrateSchema(Connection& connection) {
  Transaction tx(connection, Transaction::Kind::kWrite, "migrating the schema");
  if (auto r = tx.Begin(); !r) return r.error();
  Result<SchemaVersion> found = ReadSchemaVersion(connection);
  if (!found) return found.error();
  SchemaInfo info{.found = found->version, .current = found->version, .supported = kSchemaVersion};
  if (found->version > kSchemaVersion) {
    // Never downgraded: a newer schema is either usable as it is, or refused.
    if (auto r = CheckSchemaVersion(connection.describe(), *found); !r) return r.error();
    return info;
  }
  if (found->version == kSchemaVersion) return info;  // Nothing to do; the rollback is harmless.

  // Each step upgrades from the version before it; version 1 is the first.
  if (found->version < 1) {
    if (auto r = connection.Exec(kSchemaV1, "creating schema version 1"); !r) return r.error();
  }
  Result<Statement> write = connection.Prepare(kWriteVersion, "writing the schema version");
  if (!write) return write.error();
  if (auto r = write->Bind(int64_t{kSchemaVersion}).Bind(int64_t{kUsableFrom}).Run(); !r) {
    return r.error();
  }
  if (auto r = tx.Commit(); !r) return r.error();
  info.current = kSchemaVersion;
  return info;
}

}  // namespace baton::sqlite_detail
