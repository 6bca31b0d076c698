#pragma once

#include <string>

#include "baton/result.h"
#include "baton/store.h"
#include "connection.h"

// The SQLite store's tables and their versions. Free functions on a Connection the caller
// serializes.
namespace baton::sqlite_detail {

// Newest schema version this program knows. Version 1: baton_meta, baton_members,
// baton_leases. Every version must stay usable by the previous release (rolling upgrades).
inline constexpr int kSchemaVersion = 1;

// The schema version in the file; 0 when it has no baton schema yet.
Result<int> ReadSchemaVersion(Connection& connection);

// Creates or upgrades the schema in one BEGIN IMMEDIATE transaction, which also serializes
// concurrent migrations by other processes. kSchemaMismatch for a newer schema.
Result<SchemaInfo> MigrateSchema(Connection& connection);

// Whether a file with schema `found` can be used as is; kSchemaMismatch naming both versions
// and what to do when not. `found == 0` is an empty file.
Result<void> CheckSchemaVersion(const std::string& describe, int found);

}  // namespace baton::sqlite_detail
