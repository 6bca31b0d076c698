#pragma once

#include <string>

#include "baton/result.h"
#include "baton/store.h"
#include "connection.h"

// The SQLite store's tables and their versions. Free functions on a Connection the caller
// serializes.
namespace baton::sqlite_detail {

// Newest schema version this program knows. Version 1: baton_meta, baton_members,
// baton_leases, baton_fence. Version 2 adds the work queues beside them (baton_queue_*,
// baton_claim_fence) and changes nothing a version 1 program uses, so it stays usable from
// version 1. Version 3 adds baton_queue_rounds (the last scheduler round of each queue) and is
// usable from version 1 likewise. Version 4 adds baton_handovers and the members' priority
// (step-down, --priority), usable from version 1 likewise (an older program ignores a
// handover). Version 5 adds baton_takeovers, each lease's takeover log, and
// baton_queue_minutes, each queue's finished items per minute, both written by triggers (so by
// programs of every version), usable from version 1 likewise. Every version must stay
// usable by the previous release (rolling upgrades).
inline constexpr int kSchemaVersion = 5;
// The oldest schema version whose programs can use kSchemaVersion; written beside it.
inline constexpr int kUsableFrom = 1;

// The SQL of each version step (version 1 from nothing, version N from version N − 1), for
// MigrateSchema and for tests that build an older file.
const char* SchemaV1Sql();
const char* SchemaV2Sql();
const char* SchemaV3Sql();
const char* SchemaV4Sql();
const char* SchemaV5Sql();

// The schema version in the file and the oldest version that may use it ({0, 0}
// when it has no baton schema yet). A schema written before `usable_from` existed is usable from
// its own version only.
Result<SchemaVersion> ReadSchemaVersion(Connection& connection);

// Creates or upgrades the schema in one BEGIN IMMEDIATE transaction, which also serializes
// concurrent migrations by other processes. A newer schema usable by this program is left
// alone; kSchemaMismatch for one that is not.
Result<SchemaInfo> MigrateSchema(Connection& connection);

// Whether a file with schema `found` can be used as is; kSchemaMismatch naming both versions
// and what to do when not. `found.version == 0` is an empty file.
Result<void> CheckSchemaVersion(const std::string& describe, SchemaVersion found);

}  // namespace baton::sqlite_detail
