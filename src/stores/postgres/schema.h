#pragma once

#include <string>

#include "baton/result.h"
#include "baton/store.h"
#include "connection.h"

// The PostgreSQL store's schema and its versions: tables and functions in a schema of their
// own, with its version in <schema>.meta. Free functions on a Connection the caller
// serializes.
namespace baton::postgres_detail {

// Newest schema version this program knows. Version 1: meta, members, leases and the
// heartbeat, put_member, release, unregister and check_token functions. Version 2 adds the
// work queues (schema_v2.sql) and changes nothing version 1 uses, so it stays usable from
// version 1. Version 3 adds queue_rounds and start_round (schema_v3.sql: the last scheduler
// round of each queue) and replaces claim() and offer() by ones with the same contracts and fewer
// costs, usable from version 1 likewise. Version 4 adds a claim() that acknowledges the
// worker's finished items in the same statement (schema_v4.sql), and makes version 3's claim()
// call it. Version 5 adds handovers (schema_v5.sql: step-down and --priority) and a heartbeat()
// that reports them, with version 1's sixteen-argument heartbeat() now calling it. Version 6
// (schema_v6.sql) drops members_expiry, has only the lease's holder reap (or everyone while
// the lease has no live holder), and folds heartbeat_v1 back into heartbeat(); the signatures
// programs call stay as they were. Version 7 (schema_v7.sql) has a passive's heartbeat read the
// lease once. Version 8
// (schema_v8.sql) adds takeovers, each lease's takeover log, and queue_minutes, each queue's
// finished items per minute, both written by triggers.
// Every version must stay usable by the previous release (rolling upgrades).
inline constexpr int kSchemaVersion = 8;
// The oldest schema version whose programs can use kSchemaVersion; written beside it.
inline constexpr int kUsableFrom = 1;

// The schema version in the database and the oldest version that may use it ({0, 0}
// when `schema` has no baton tables yet). A schema written before `usable_from` existed is usable
// from its own version only.
// The SQL of schema version `version` (1: from nothing, N: from version N − 1) for `schema`, as
// MigrateSchema runs it; for tests that build an older schema.
std::string SchemaStepSql(int version, const std::string& schema);

Result<SchemaVersion> ReadSchemaVersion(Connection& connection, const std::string& schema);

// Creates or upgrades the schema in one transaction under a transaction-level advisory lock,
// which serializes concurrent migrations from other hosts. A newer schema usable by this
// program is left alone; kSchemaMismatch for one that is not.
Result<SchemaInfo> MigrateSchema(Connection& connection, const std::string& schema);

// Whether a database with schema version `found` can be used as is; kSchemaMismatch naming
// both versions and what to do when not. `found.version == 0` is a database without the schema.
Result<void> CheckSchemaVersion(const std::string& describe, SchemaVersion found);

// What every new handle (the store's, each queue connection's) does first: upgrades an older
// schema when `create` (a new database, or one a previous release made: every version stays
// usable by the previous release, so upgrading is safe for the rest of the group), and
// otherwise checks that this program can use what it finds.
Result<void> MigrateOrCheckSchema(Connection& connection, const std::string& schema, bool create);

}  // namespace baton::postgres_detail
