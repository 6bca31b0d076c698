#include "baton/postgres_store.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <utility>

#include "conninfo.h"
#include "postgres_store_impl.h"
#include "schema.h"

namespace baton {
namespace postgres_detail {
namespace {

// SQL for the microseconds in an interval (or since the epoch, for a timestamptz).
std::string MicrosOf(const std::string& expr) {
  return "floor(extract(epoch FROM " + expr + ") * 1000000)::bigint";
}

// One statement, so the lease and the members come from one snapshot, judged at one time.
// Columns: kind, id, holder, host, pid, version, role, started (ms since the epoch),
// since the last heartbeat (us), time left (us), token, renewals, priority.
std::string SnapshotSql(const std::string& s) {
  return "WITH c AS (SELECT clock_timestamp() AS now) "
         "SELECT 'lease' AS kind, NULL::text AS id, holder, NULL::text, NULL::bigint, "
         "NULL::text, NULL::text, NULL::bigint, NULL::bigint, " +
         MicrosOf("expires_at - c.now") + ", token, renewals, NULL::bigint FROM " + s +
         ".leases, c WHERE group_name = $1::text AND name = $2::text "
         "UNION ALL "
         "SELECT 'member', id, holder, host, pid, version, role, " +
         MicrosOf("started_at") + " / 1000, " + MicrosOf("c.now - heartbeat_at") + ", " +
         MicrosOf("expires_at - c.now") + ", NULL, NULL, priority FROM " + s +
         ".members, c WHERE group_name = $1::text ORDER BY kind, id";
}

MemberRole RoleFromName(const std::string& name) {
  return name == "active" ? MemberRole::kActive : MemberRole::kPassive;
}

}  // namespace

Statements::Statements(const std::string& schema) {
  const std::string s = QuoteIdentifier(schema);
  heartbeat = {.name = "baton_heartbeat",
               .sql = "SELECT * FROM " + s +
                      ".heartbeat($1::text, $2::text, $3::text, $4::text, $5::text, "
                      "$6::bigint, $7::text, $8::text, $9::bigint, $10::text, $11::bigint, "
                      "$12::bigint, $13::text, $14::bigint, $15::bigint, $16::bigint, "
                      "$17::bigint)",
               .effect = Effect::kWrite,
               .what = "heartbeat"};
  put_member = {.name = "baton_put_member",
                .sql = "SELECT " + s +
                       ".put_member($1::text, $2::text, $3::text, $4::text, $5::bigint, "
                       "$6::text, 'passive', $7::bigint, clock_timestamp(), $8::bigint)",
                .effect = Effect::kWrite,
                .what = "registering the member row"};
  request_handover = {
      .name = "baton_request_handover",
      .sql = "SELECT * FROM " + s + ".request_handover($1::text, $2::text, $3::text, $4::bigint)",
      .effect = Effect::kWrite,
      .what = "requesting a handover"};
  release = {.name = "baton_release",
             .sql = "SELECT " + s + ".release($1::text, $2::text, $3::text, $4::bigint)",
             .effect = Effect::kWrite,
             .what = "releasing the lease"};
  unregister = {.name = "baton_unregister",
                .sql = "SELECT " + s + ".unregister($1::text, $2::text, $3::text)",
                .effect = Effect::kWrite,
                .what = "deleting the member row"};
  snapshot = {.name = "baton_snapshot",
              .sql = SnapshotSql(s),
              .effect = Effect::kRead,
              .what = "reading a snapshot"};
  read_lease = {.name = "baton_read_lease",
                .sql = "SELECT holder, token, renewals FROM " + s +
                       ".leases WHERE group_name = $1::text AND name = $2::text",
                .effect = Effect::kRead,
                .what = "reading the lease"};
  groups = {.name = "baton_groups",
            .sql = "SELECT group_name FROM " + s + ".members UNION SELECT group_name FROM " + s +
                   ".leases ORDER BY 1",
            .effect = Effect::kRead,
            .what = "listing the groups"};
  takeovers = {.name = "baton_takeovers",
               .sql = "SELECT token, holder, cause, " + MicrosOf("taken_at") + " FROM " + s +
                      ".takeovers WHERE group_name = $1::text AND name = $2::text "
                      "ORDER BY token DESC LIMIT $3::bigint",
               .effect = Effect::kRead,
               .what = "reading the takeover log"};
  channel = {.name = "baton_channel",
             .sql = "SELECT " + s + ".channel($1::text)",
             .effect = Effect::kRead,
             .what = "finding the group's channel"};
}

Error IdInUse(const std::string& group, const std::string& id, const ServerError& refused) {
  std::string who = "a live process";
  const nlohmann::json other = nlohmann::json::parse(refused.detail, nullptr, false);
  if (other.is_object() && other.value("pid", nlohmann::json()).is_number() &&
      other.value("host", nlohmann::json()).is_string()) {
    who += " (pid " + std::to_string(other["pid"].get<int64_t>()) + " on host " +
           other["host"].get<std::string>() + ")";
  }
  return Error(ErrorCode::kConflict, "instance id \"" + id + "\" is already in use in group \"" +
                                         group + "\" by " + who +
                                         "; choose another instance id or stop that process");
}

int64_t Micros(Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

const char* RoleName(MemberRole role) { return role == MemberRole::kActive ? "active" : "passive"; }

PostgresStore::PostgresStore(const PostgresStoreOptions& options, Clock& clock,
                             ConnectionSettings settings)
    : schema_(options.schema),
      create_schema_(options.create_schema),
      clock_(clock),
      settings_(std::move(settings)),
      statements_(options.schema),
      listener_(shared_, settings_, statements_.read_lease, statements_.channel, clock_, watch_) {}

Result<Connection*> PostgresStore::Connected() {
  if (shared_.connection != nullptr && shared_.connection->lost()) shared_.connection.reset();
  if (shared_.connection == nullptr) {
    Result<std::unique_ptr<Connection>> opened = Connection::Open(settings_, clock_);
    if (!opened) return opened.error();
    shared_.Install(std::move(*opened));
  }
  return shared_.connection.get();
}

Result<Connection*> PostgresStore::Ready() {
  Result<Connection*> connection = Connected();
  if (!connection || schema_checked_) return connection;
  if (auto r = MigrateOrCheckSchema(**connection, schema_, create_schema_); !r) return r.error();
  schema_checked_ = true;
  return connection;
}

Result<void> PostgresStore::Start() {
  std::lock_guard lock(shared_.mu);
  Result<Connection*> ready = Ready();
  // Unreachable now is not a reason to fail: every call connects again, and the caller
  // retries with backoff. Anything else (a refused password, a wrong schema) is.
  if (!ready && !ready.error().retryable()) return ready.error();
  return Ok();
}

Result<SchemaInfo> PostgresStore::Migrate() {
  std::lock_guard lock(shared_.mu);
  Result<Connection*> connection = Connected();
  if (!connection) return connection.error();
  Result<SchemaInfo> migrated = MigrateSchema(**connection, schema_);
  if (migrated) schema_checked_ = true;
  return migrated;
}

Result<void> PostgresStore::Register(const std::string& group, const MemberInfo& self,
                                     Duration ttl) {
  if (auto r = CheckMemberIdentity(group, self); !r) return r;
  std::lock_guard lock(shared_.mu);
  Result<Connection*> connection = Ready();
  if (!connection) return connection.error();
  ServerError refused;
  Result<Rows> rows = (*connection)
                          ->Exec(statements_.put_member,
                                 {TextParam(group), TextParam(self.id), TextParam(self.holder),
                                  TextParam(self.host), IntParam(self.pid), TextParam(self.version),
                                  IntParam(Micros(ttl)), IntParam(self.priority)},
                                 &refused);
  if (!rows && rows.error().code() == ErrorCode::kConflict) {
    return IdInUse(group, self.id, refused);
  }
  if (!rows) return rows.error();
  return Ok();
}

Result<bool> PostgresStore::Release(const LeaseKey& lease, const std::string& holder,
                                    uint64_t token) {
  std::lock_guard lock(shared_.mu);
  Result<Connection*> connection = Ready();
  if (!connection) return connection.error();
  Result<Rows> rows =
      (*connection)
          ->Exec(statements_.release, {TextParam(lease.group), TextParam(lease.name),
                                       TextParam(holder), IntParam(static_cast<int64_t>(token))});
  if (!rows) return rows.error();
  return rows->size() == 1 && rows->Bool(0, 0);
}

Result<void> PostgresStore::Unregister(const std::string& group, const MemberInfo& self) {
  std::lock_guard lock(shared_.mu);
  Result<Connection*> connection = Ready();
  if (!connection) return connection.error();
  Result<Rows> rows = (*connection)
                          ->Exec(statements_.unregister,
                                 {TextParam(group), TextParam(self.id), TextParam(self.holder)});
  if (!rows) return rows.error();
  return Ok();
}

Result<GroupSnapshot> PostgresStore::Snapshot(const std::string& group,
                                              const std::string& lease_name) {
  std::lock_guard lock(shared_.mu);
  Result<Connection*> connection = Ready();
  if (!connection) return connection.error();
  Result<Rows> rows =
      (*connection)->Exec(statements_.snapshot, {TextParam(group), TextParam(lease_name)});
  if (!rows) return rows.error();
  using std::chrono::microseconds;
  GroupSnapshot snapshot;
  for (int i = 0; i < rows->size(); ++i) {
    if (rows->Text(i, 0) == "lease") {
      snapshot.lease.token = static_cast<uint64_t>(rows->Int(i, 10));
      snapshot.lease.holder = rows->Text(i, 2);
      if (snapshot.lease.holder.empty()) continue;  // Released: free, token kept.
      snapshot.lease.renewals = static_cast<uint64_t>(rows->Int(i, 11));
      snapshot.lease.remaining = microseconds(rows->Int(i, 9));
      continue;
    }
    Member member;
    member.info = MemberInfo{.id = rows->Text(i, 1),
                             .holder = rows->Text(i, 2),
                             .host = rows->Text(i, 3),
                             .pid = rows->Int(i, 4),
                             .version = rows->Text(i, 5),
                             .priority = rows->Int(i, 12)};
    member.role = RoleFromName(rows->Text(i, 6));
    member.started = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::milliseconds(rows->Int(i, 7))));
    member.since_heartbeat = microseconds(rows->Int(i, 8));
    member.expires_in = microseconds(rows->Int(i, 9));
    snapshot.members.push_back(std::move(member));
  }
  return snapshot;
}

std::unique_ptr<Subscription> PostgresStore::WatchReleases(const LeaseKey& lease,
                                                           std::function<void()> on_release) {
  return listener_.Watch(lease, std::move(on_release));
}

}  // namespace postgres_detail

int PostgresSchemaVersion() { return postgres_detail::kSchemaVersion; }

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresStoreOptions& options) {
  using namespace postgres_detail;
  Result<ConnectionSettings> settings = CheckedSettings(options);
  if (!settings) return settings.error();
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  auto store = std::make_unique<PostgresStore>(options, clock, std::move(settings).value());
  if (auto r = store->Start(); !r) return r.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace baton
