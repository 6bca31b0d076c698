#include "schema.h"

#include <iterator>
#include <string_view>

#include "conninfo.h"
#include "schema_v1_sql.h"
#include "schema_v2_sql.h"
#include "schema_v3_sql.h"
#include "schema_v4_sql.h"
#include "schema_v5_sql.h"
#include "schema_v6_sql.h"
#include "schema_v7_sql.h"
#include "schema_v8_sql.h"

namespace baton::postgres_detail {
namespace {

// Any fixed number: the first half of the advisory lock key, the schema's hash the second.
constexpr const char* kLockKeyClass = "2003724";

// The version script with the schema's name filled in, quoted and as a literal.
std::string Expand(std::string_view script, const std::string& schema) {
  const std::string quoted = QuoteIdentifier(schema);
  const std::string literal = "'" + schema + "'";  // Checked: no quotes inside.
  std::string out;
  out.reserve(script.size() + 1024);
  size_t at = 0;
  for (;;) {
    const size_t open = script.find("{{", at);
    if (open == std::string_view::npos) break;
    const size_t close = script.find("}}", open);
    out.append(script.substr(at, open - at));
    const std::string_view name = script.substr(open + 2, close - open - 2);
    out += name == "schema" ? quoted : literal;
    at = close + 2;
  }
  out.append(script.substr(at));
  return out;
}

// Rolls back an open migration transaction unless it was committed.
class MigrationTransaction final {
 public:
  explicit MigrationTransaction(Connection& connection) : connection_(connection) {}
  ~MigrationTransaction() {
    if (open_ && !connection_.lost()) {
      (void)connection_.Run("ROLLBACK", Effect::kRead, "rolling back the migration");
    }
  }
  MigrationTransaction(const MigrationTransaction&) = delete;
  MigrationTransaction& operator=(const MigrationTransaction&) = delete;

  Result<void> Begin() {
    if (auto r = connection_.Run("BEGIN", Effect::kRead, "migrating the schema"); !r) {
      return r.error();
    }
    open_ = true;
    return Ok();
  }
  Result<void> Commit() {
    auto r = connection_.Run("COMMIT", Effect::kWrite, "committing the migration");
    open_ = false;
    if (!r) return r.error();
    return Ok();
  }

 private:
  Connection& connection_;
  bool open_ = false;
};

}  // namespace

std::string SchemaStepSql(int version, const std::string& schema) {
  static constexpr const char* kSteps[] = {kSchemaV1Sql, kSchemaV2Sql, kSchemaV3Sql, kSchemaV4Sql,
                                           kSchemaV5Sql, kSchemaV6Sql, kSchemaV7Sql, kSchemaV8Sql};
  static_assert(std::size(kSteps) == kSchemaVersion);
  return Expand(kSteps[version - 1], schema);
}

Result<SchemaVersion> ReadSchemaVersion(Connection& connection, const std::string& schema) {
  const Statement has_meta{.name = "baton_has_meta",
                           .sql = "SELECT to_regclass($1::text) IS NOT NULL",
                           .effect = Effect::kRead,
                           .what = "reading the schema version"};
  Result<Rows> exists = connection.Exec(has_meta, {TextParam(QuoteIdentifier(schema) + ".meta")});
  if (!exists) return exists.error();
  if (exists->size() != 1 || !exists->Bool(0, 0)) return SchemaVersion{};
  Result<Rows> rows =
      connection.Run("SELECT (SELECT value FROM " + QuoteIdentifier(schema) +
                         ".meta WHERE key = 'schema_version'), (SELECT value FROM " +
                         QuoteIdentifier(schema) + ".meta WHERE key = 'usable_from')",
                     Effect::kRead, "reading the schema version");
  if (!rows) return rows.error();
  SchemaVersion found;
  if (rows->size() != 1 || rows->IsNull(0, 0)) return found;
  found.version = static_cast<int>(rows->Int(0, 0));
  found.usable_from = rows->IsNull(0, 1) ? found.version : static_cast<int>(rows->Int(0, 1));
  return found;
}

Result<void> CheckSchemaVersion(const std::string& describe, SchemaVersion found) {
  return baton::CheckSchemaVersion(describe, found, kSchemaVersion);
}

Result<void> MigrateOrCheckSchema(Connection& connection, const std::string& schema, bool create) {
  Result<SchemaVersion> found = ReadSchemaVersion(connection, schema);
  if (!found) return found.error();
  if (found->version < kSchemaVersion && create) {
    // MigrateSchema reads the version again under its lock.
    Result<SchemaInfo> migrated = MigrateSchema(connection, schema);
    if (!migrated) return migrated.error();
    return Ok();
  }
  return CheckSchemaVersion(connection.describe(), *found);
}

Result<SchemaInfo> MigrateSchema(Connection& connection, const std::string& schema) {
  const std::string quoted = QuoteIdentifier(schema);
  MigrationTransaction tx(connection);
  if (auto r = tx.Begin(); !r) return r.error();
  const Statement lock{
      .name = "baton_migrate_lock",
      .sql = std::string("SELECT pg_advisory_xact_lock(") + kLockKeyClass + ", hashtext($1::text))",
      .effect = Effect::kRead,
      .what = "waiting for other migrations"};
  if (auto r = connection.Exec(lock, {TextParam(schema)}); !r) return r.error();
  // Created only when missing: CREATE SCHEMA IF NOT EXISTS would need the CREATE right on the
  // database even for a schema an administrator made beforehand.
  const Statement has_schema{.name = "baton_has_schema",
                             .sql = "SELECT count(*) FROM pg_namespace WHERE nspname = $1::text",
                             .effect = Effect::kRead,
                             .what = "looking for the schema"};
  Result<Rows> schemas = connection.Exec(has_schema, {TextParam(schema)});
  if (!schemas) return schemas.error();
  if (schemas->Int(0, 0) == 0) {
    if (auto r = connection.Run("CREATE SCHEMA " + quoted, Effect::kRead, "creating the schema");
        !r) {
      return r.error();
    }
  }
  if (auto r = connection.Run("CREATE TABLE IF NOT EXISTS " + quoted +
                                  ".meta (key text PRIMARY KEY, value integer NOT NULL)",
                              Effect::kRead, "creating the version table");
      !r) {
    return r.error();
  }
  Result<SchemaVersion> found = ReadSchemaVersion(connection, schema);
  if (!found) return found.error();
  SchemaInfo info{.found = found->version, .current = found->version, .supported = kSchemaVersion};
  if (found->version > kSchemaVersion) {
    // Never downgraded: a newer schema is either usable as it is, or refused.
    if (auto r = CheckSchemaVersion(connection.describe(), *found); !r) return r.error();
    return info;
  }
  if (found->version == kSchemaVersion) return info;  // Nothing to do; the rollback is harmless.

  // Each step upgrades from the version before it; version 1 is the first.
  for (int version = found->version + 1; version <= kSchemaVersion; ++version) {
    const std::string what = version == 1
                                 ? "creating schema version 1"
                                 : "upgrading to schema version " + std::to_string(version);
    if (auto r = connection.Run(SchemaStepSql(version, schema), Effect::kRead, what); !r) {
      return r.error();
    }
  }
  if (auto r = connection.Run("INSERT INTO " + quoted + ".meta (key, value) VALUES " +
                                  "('schema_version', " + std::to_string(kSchemaVersion) +
                                  "), ('usable_from', " + std::to_string(kUsableFrom) +
                                  ") ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                              Effect::kRead, "writing the schema version");
      !r) {
    return r.error();
  }
  if (auto r = tx.Commit(); !r) return r.error();
  info.current = kSchemaVersion;
  return info;
}

}  // namespace baton::postgres_detail
