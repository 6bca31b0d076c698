#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "baton/clock.h"
#include "baton/queue.h"
#include "baton/result.h"
#include "baton/scheduler.h"
#include "baton/store.h"

namespace baton {

struct PostgresStoreOptions {
  // A libpq connection URI (postgresql://user@host:5432/db?sslmode=require) or key=value
  // connection string. libpq's own parameters and environment (PGPASSWORD, PGPASSFILE,
  // PGSSLMODE, ...) apply as usual. Prefer PGPASSFILE to a password in the URL.
  std::string url;
  // The PostgreSQL schema that holds baton's tables and functions: letters, digits and '_',
  // not starting with a digit, at most 63 bytes. Several groups share one schema; separate
  // schemas are separate stores.
  std::string schema = "baton";
  // The contender's own clock (see OpenPostgresStore) and every local timeout. Default: the
  // real CLOCK_BOOTTIME clock. Must outlive the store.
  Clock* clock = nullptr;
  // Create or upgrade the schema when it is missing or older (`baton run` on a new database).
  // Off: a missing or older schema is refused until `baton migrate` runs.
  bool create_schema = true;
  // Server-side bound on every statement of baton's sessions (`statement_timeout`). A call
  // also gives up on the client side a quarter of it (at most one second) after it.
  Duration statement_timeout = std::chrono::seconds(5);
  // Bound on establishing a connection (libpq `connect_timeout`, rounded up to whole seconds,
  // and a local bound of the same length). Also used for `tcp_user_timeout` and keepalives,
  // so a dead network is noticed by the kernel within about this long.
  Duration connect_timeout = std::chrono::seconds(5);
};

// Opens the store on a PostgreSQL database shared by any number of hosts.
//
// Every heartbeat is one statement (a function shipped with the schema) in one transaction,
// committed with synchronous_commit=on. Expiry is judged by the database's clock. In
// addition, this store takes over a lease that expired without being released only after
// it has itself watched the same (holder, token, renewal count) stay unchanged for the
// lease's ttl on `options.clock` (SPEC 2.5): a forward step of the database host's wall
// clock cannot free a live lease. A released lease is taken at once. Renewals are announced
// by NOTIFY, so a store that is watching releases (WatchReleases) starts that watch the moment
// the holder last renewed and loses no failover time to it. Until the watch is over, a
// heartbeat reply reports the time it still needs as the lease's `remaining`.
//
// Fencing: `<schema>.check_token(group, token)` (and `check_token(group, lease, token)`),
// called in the user's own transaction on the same database, raises SQLSTATE BT001 unless
// `token` is the lease's live token, and holds a lock that makes a takeover wait for that
// transaction without delaying the holder's renewals. A contender never waits for it: its
// attempt returns at once, not acquired. The function runs with the rights of the role that
// created the schema; grant another role USAGE on the schema and EXECUTE on the function.
//
// Releases, acquisitions and renewals are announced with NOTIFY on a channel per group
// (`<schema>.channel(group)`), so WatchReleases() wakes waiting instances at once. The store
// LISTENs on the connection its calls use: one server backend per store, watching included.
// PgBouncer in transaction mode breaks LISTEN.
//
// If the database cannot be reached now, the store is returned anyway and every call fails
// with kUnavailable until it can (the caller retries); the schema is checked on the first
// connection. Fails with kInvalidArgument for a bad URL, schema name or password,
// kSchemaMismatch for a schema this program cannot use. Messages never contain a password.
Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresStoreOptions& options);

// Opens the work queues (baton/queue.h) on the same database, on a connection of their own
// (never the lease store's: queue traffic never delays a heartbeat). Same options as
// OpenPostgresStore. Every call is one statement (a function of the schema where it
// writes), committed with synchronous_commit=on; a claim locks its tenants FOR UPDATE SKIP
// LOCKED, so it never waits for, or fails on, another claim.
//
// Clock steps (SPEC 3.3): a claim's expiry is judged by the database's clock, and in addition
// this queue takes an expired claim back only after it has itself watched the same (item,
// claim token, extension count) stay unchanged for the claim's visibility on
// `options.clock`: a forward step of the database host's clock cannot let a tenant run
// twice. Every claim reply lists the queue's running claims, so an idle worker's watch
// starts at its first claim; ClaimReply::next_try includes the time the watch still needs.
//
// Fencing by the claim: `<schema>.check_claim(group, queue, item, claim_token)`, called in
// the user's own transaction on the same database, raises SQLSTATE BT003 unless the token
// is the item's live claim, and holds a lock that keeps the claim from being taken back
// until that transaction ends (an acknowledgement or failure of that item waits for it too).
// Offers are announced with one NOTIFY per statement on `<schema>.queue_channel(group,
// queue)`, which WatchOffers LISTENs on.
Result<std::unique_ptr<Queue>> OpenPostgresQueue(const PostgresStoreOptions& options);

// A scheduler's tenant source (baton/scheduler.h) that runs `sql` on a connection of its own
// (opened at the first round, again after a loss) in a READ ONLY transaction with a
// statement timeout of `timeout`, and takes the first column of each row (as text) as a
// tenant id; a NULL is an invalid id. `sql` must be one statement (it is sent with the
// extended protocol, which refuses more) returning exactly one column. An SQL error, a
// time-out or a lost connection fails the round, and the next round tries again. Run it as a
// role that may only read what the query needs: READ ONLY stops writes to tables, not
// functions with side effects outside the database.
Result<std::unique_ptr<TenantSource>> OpenPostgresTenantQuery(const PostgresStoreOptions& options,
                                                              std::string sql, Duration timeout);

// Newest schema version of the PostgreSQL store this program knows.
int PostgresSchemaVersion();

}  // namespace baton
