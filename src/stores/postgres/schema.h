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
// heartbeat, put_member, release, unregister and check_token functions. Every version must
// stay usable by the previous release (rolling upgrades).
inline constexpr int kSchemaVersion = 1;

// The schema version in the database; 0 when `schema` has no baton tables yet.
Result<int> ReadSchemaVersion(Connection& connection, const std::string& schema);

// Creates or upgrades the schema in one transaction under a transaction-level advisory lock,
// which serializes concurrent migrations from other hosts. kSchemaMismatch for a newer schema.
Result<SchemaInfo> MigrateSchema(Connection& connection, const std::string& schema);

// Whether a database with schema version `found` can be used as is; kSchemaMismatch naming
// both versions and what to do when not. `found == 0` is a database without the schema.
Result<void> CheckSchemaVersion(const std::string& describe, int found);

}  // namespace baton::postgres_detail
