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

// Version 2: the work queues (SPEC 3). Item times are CLOCK_BOOTTIME nanoseconds of the boot
// in the row's boot_id; a claim (or delay) written in another boot counts as expired (ready).
// Tenants' times for people (last success, failure) are wall-clock milliseconds.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE baton_queues (
  group_name TEXT NOT NULL,
  queue      TEXT NOT NULL,
  paused     INTEGER NOT NULL DEFAULT 0,
  offers     INTEGER NOT NULL DEFAULT 0,  -- offer transactions so far: what WatchOffers polls
  PRIMARY KEY (group_name, queue)
) WITHOUT ROWID;
-- One row per tenant a queue has seen. last_served is the claim token of the tenant's latest
-- claim (0: never claimed): a claim serves the smallest first, then the oldest row, which
-- makes claims round-robin across tenants (SPEC 3.5). Totals live here rather than in one
-- row per queue, so finishing items of different tenants never write the same row.
CREATE TABLE baton_queue_tenants (
  seq             INTEGER PRIMARY KEY,
  group_name      TEXT NOT NULL,
  queue           TEXT NOT NULL,
  tenant          TEXT NOT NULL,
  last_served     INTEGER NOT NULL DEFAULT 0,
  done            INTEGER NOT NULL DEFAULT 0,
  failed          INTEGER NOT NULL DEFAULT 0,
  dead            INTEGER NOT NULL DEFAULT 0,
  expired         INTEGER NOT NULL DEFAULT 0,
  last_success_ms INTEGER,
  last_failure_ms INTEGER,
  last_error      TEXT NOT NULL DEFAULT '',
  UNIQUE (group_name, queue, tenant)
);
CREATE INDEX baton_queue_tenants_served ON baton_queue_tenants (group_name, queue, last_served, seq);
-- The last claim token handed out: tokens come from here, one more at every claim.
CREATE TABLE baton_queue_tokens (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  last INTEGER NOT NULL
);
INSERT INTO baton_queue_tokens (id, last) VALUES (1, 0);
-- AUTOINCREMENT: an id is never reused, even after its item is gone.
CREATE TABLE baton_queue_items (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  group_name      TEXT NOT NULL,
  queue           TEXT NOT NULL,
  tenant          TEXT NOT NULL,
  payload         BLOB NOT NULL,
  priority        INTEGER NOT NULL,
  state           TEXT NOT NULL,      -- pending | running | cancelled | dead
  is_unique       INTEGER NOT NULL,   -- offered with unique
  offered_ms      INTEGER NOT NULL,   -- wall clock, for people only
  offered_ns      INTEGER NOT NULL,
  ready_ns        INTEGER NOT NULL,   -- pending: claimable from then (delay, retry)
  expires_ns      INTEGER,            -- the time-to-live while never claimed; NULL once claimed
  claim_token     INTEGER UNIQUE,     -- running, cancelled: the live claim
  claimed_by      TEXT NOT NULL DEFAULT '',
  claim_expiry_ns INTEGER,
  extensions      INTEGER NOT NULL DEFAULT 0,
  attempts        INTEGER NOT NULL DEFAULT 0,
  releases        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',
  exit_code       INTEGER,
  boot_id         TEXT NOT NULL       -- the boot the _ns times belong to
);
-- At most one claimed item per tenant (SPEC 3.3), whatever the claiming code does.
CREATE UNIQUE INDEX baton_queue_items_one_running ON baton_queue_items (group_name, queue, tenant)
  WHERE state IN ('running', 'cancelled');
-- At most one live unique item per tenant (SPEC 3.1).
CREATE UNIQUE INDEX baton_queue_items_one_unique ON baton_queue_items (group_name, queue, tenant)
  WHERE is_unique = 1 AND state IN ('pending', 'running', 'cancelled');
CREATE INDEX baton_queue_items_ready ON baton_queue_items
  (group_name, queue, tenant, state, priority DESC, ready_ns, id);
CREATE INDEX baton_queue_items_state ON baton_queue_items (group_name, queue, state, id);
CREATE INDEX baton_queue_items_boot ON baton_queue_items (boot_id);
-- Every claim drops never-claimed items past their ttl and asks when a claim next expires:
-- without these, both walk every pending or running item of the queue.
CREATE INDEX baton_queue_items_expiring ON baton_queue_items (group_name, queue, expires_ns)
  WHERE expires_ns IS NOT NULL AND state = 'pending';
CREATE INDEX baton_queue_items_claim_expiry ON baton_queue_items
  (group_name, queue, claim_expiry_ns) WHERE state IN ('running', 'cancelled');
-- Fencing by the claim (SPEC 3.2): inside the user's own BEGIN IMMEDIATE transaction, insert
-- (group, queue, item, claim_token) here before writing. The trigger aborts the statement
-- unless that token is the item's live claim; nothing is ever stored. The write lock the
-- transaction holds keeps any re-claim out until it commits.
CREATE TABLE baton_claim_fence (
  group_name  TEXT NOT NULL,
  queue       TEXT NOT NULL,
  item        INTEGER NOT NULL,
  claim_token INTEGER NOT NULL
);
CREATE TRIGGER baton_claim_fence_check BEFORE INSERT ON baton_claim_fence
BEGIN
  SELECT RAISE(ABORT, 'baton: stale claim token')
  WHERE NOT EXISTS (SELECT 1 FROM baton_queue_items i
                    WHERE i.id = NEW.item AND i.group_name = NEW.group_name
                      AND i.queue = NEW.queue AND i.claim_token = NEW.claim_token
                      AND i.state = 'running');
  SELECT RAISE(IGNORE);
END;
)sql";

// Version 3: the time of each queue's last scheduler round (SPEC 3.1), so a new holder of the
// scheduler lease does not run a round again within --every of the last one. CLOCK_BOOTTIME
// nanoseconds of the boot in boot_id (a round of another boot counts as none); token is the
// scheduler lease's token that recorded it, for people and tests.
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE baton_queue_rounds (
  group_name TEXT NOT NULL,
  queue      TEXT NOT NULL,
  last_ns    INTEGER NOT NULL,
  boot_id    TEXT NOT NULL,
  last_ms    INTEGER NOT NULL,  -- wall clock, for people only
  token      INTEGER NOT NULL,
  rounds     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (group_name, queue)
) WITHOUT ROWID;
)sql";

// Version 4: handovers (`baton step-down`, `--priority`). baton_handovers holds, per lease, the
// one request that its holder with `token` hand it over; to_id, when not empty, alone may
// acquire the released lease until reserved_ns (CLOCK_BOOTTIME of boot_id). A request for an
// older token is spent. A member's priority is kept in its row. Programs of versions 1 to 3
// never read either and write member rows with an explicit column list, so the priority
// simply defaults for them.
constexpr const char* kSchemaV4 = R"sql(
ALTER TABLE baton_members ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE TABLE baton_handovers (
  group_name  TEXT NOT NULL,
  name        TEXT NOT NULL,
  token       INTEGER NOT NULL,
  to_id       TEXT NOT NULL,
  reserved_ns INTEGER NOT NULL,
  boot_id     TEXT NOT NULL,
  PRIMARY KEY (group_name, name)
) WITHOUT ROWID;
)sql";

// Version 5, for `baton web`: each lease's takeover log (the last kTakeoversKept acquisitions:
// who, with which token, when, and why the lease was free). Triggers on baton_leases
// write it in the acquisition's own transaction, so every program that acquires logs it, whatever
// its version, and none of their statements change. A renewal does not set the token and fires
// nothing. The cause is told from the row before: free (released; on request when a
// handover of that interval was asked for), the same holder, or another whose lease expired.
// taken_ms is the wall clock, for people only. And each queue's finished items per minute (the
// last kMinutesKept), counted by a trigger on the tenants' totals, whose rows every finish
// already writes: SQLite has one writer at a time, so one row per queue and minute costs no
// worker a wait.
constexpr const char* kSchemaV5 = R"sql(
CREATE TABLE baton_takeovers (
  group_name TEXT NOT NULL,
  name       TEXT NOT NULL,
  token      INTEGER NOT NULL,
  holder     TEXT NOT NULL,
  cause      TEXT NOT NULL,
  taken_ms   INTEGER NOT NULL,
  PRIMARY KEY (group_name, name, token)
) WITHOUT ROWID;
CREATE TRIGGER baton_takeovers_first AFTER INSERT ON baton_leases WHEN NEW.holder <> ''
BEGIN
  INSERT OR REPLACE INTO baton_takeovers VALUES (
      NEW.group_name, NEW.name, NEW.token, NEW.holder, 'first',
      CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER baton_takeovers_next AFTER UPDATE OF token ON baton_leases
WHEN NEW.token <> OLD.token AND NEW.holder <> ''
BEGIN
  INSERT OR REPLACE INTO baton_takeovers VALUES (
      NEW.group_name, NEW.name, NEW.token, NEW.holder,
      CASE
        WHEN OLD.holder = '' AND EXISTS (
            SELECT 1 FROM baton_handovers h
             WHERE h.group_name = NEW.group_name AND h.name = NEW.name
               AND h.token = OLD.token) THEN 'handover'
        WHEN OLD.holder = '' THEN 'released'
        WHEN OLD.holder = NEW.holder THEN 'reacquired'
        ELSE 'expired'
      END,
      CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
  DELETE FROM baton_takeovers
   WHERE group_name = NEW.group_name AND name = NEW.name AND token <= NEW.token - 100;
END;
CREATE TABLE baton_queue_minutes (
  group_name TEXT NOT NULL,
  queue      TEXT NOT NULL,
  minute_ms  INTEGER NOT NULL,  -- wall clock, the minute's start
  done       INTEGER NOT NULL,
  failed     INTEGER NOT NULL,
  dead       INTEGER NOT NULL,
  PRIMARY KEY (group_name, queue, minute_ms)
) WITHOUT ROWID;
CREATE TRIGGER baton_queue_minutes_count AFTER UPDATE OF done, failed, dead ON baton_queue_tenants
WHEN NEW.done <> OLD.done OR NEW.failed <> OLD.failed OR NEW.dead <> OLD.dead
BEGIN
  INSERT INTO baton_queue_minutes VALUES (
      NEW.group_name, NEW.queue, CAST(strftime('%s', 'now') AS INTEGER) / 60 * 60000,
      NEW.done - OLD.done, NEW.failed - OLD.failed, NEW.dead - OLD.dead)
  ON CONFLICT (group_name, queue, minute_ms) DO UPDATE SET
      done = done + excluded.done, failed = failed + excluded.failed, dead = dead + excluded.dead;
  DELETE FROM baton_queue_minutes
   WHERE group_name = NEW.group_name AND queue = NEW.queue
     AND minute_ms < CAST(strftime('%s', 'now') AS INTEGER) / 60 * 60000 - 59 * 60000;
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

const char* SchemaV1Sql() { return kSchemaV1; }
const char* SchemaV2Sql() { return kSchemaV2; }
const char* SchemaV3Sql() { return kSchemaV3; }
const char* SchemaV4Sql() { return kSchemaV4; }
const char* SchemaV5Sql() { return kSchemaV5; }

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
  return baton::CheckSchemaVersion(describe, found, kSchemaVersion);
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
  if (found->version < 2) {
    if (auto r = connection.Exec(kSchemaV2, "upgrading to schema version 2"); !r) {
      return r.error();
    }
  }
  if (found->version < 3) {
    if (auto r = connection.Exec(kSchemaV3, "upgrading to schema version 3"); !r) {
      return r.error();
    }
  }
  if (found->version < 4) {
    if (auto r = connection.Exec(kSchemaV4, "upgrading to schema version 4"); !r) {
      return r.error();
    }
  }
  if (found->version < 5) {
    if (auto r = connection.Exec(kSchemaV5, "upgrading to schema version 5"); !r) {
      return r.error();
    }
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
