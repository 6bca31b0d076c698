#include "baton/sqlite_store.h"

#include <chrono>
#include <thread>
#include <utility>

#include "filesystem.h"
#include "release_watcher.h"
#include "schema.h"
#include "sqlite_store_impl.h"

namespace baton {
namespace sqlite_detail {
namespace {

constexpr const char* kRelease =
    "UPDATE baton_leases SET holder = '', renewals = 0, expiry_ns = ?5 "
    "WHERE group_name = ?1 AND name = ?2 AND holder = ?3 AND token = ?4";
constexpr const char* kDeleteMember =
    "DELETE FROM baton_members WHERE group_name = ?1 AND id = ?2 AND holder = ?3";

}  // namespace

Result<void> PrepareStoreFile(const SqliteStoreOptions& options) {
  const bool shared = options.path == kDefaultSqlitePath;
  if (shared) {
    if (auto r = PrepareSharedDirectory(options.path); !r) return r;
  }
  return PrepareDatabaseFile(options.path, options.refuse_network_fs, shared ? 0660 : 0600);
}

namespace {

// Switching the mode needs the file to itself, and SQLite answers SQLITE_BUSY at once, without
// its busy handler, while another process has it open: processes started together on a new
// file (a worker and an enqueue) retry here for up to 5 s instead of failing.
Result<void> SwitchToWal(Connection& c) {
  const TimePoint give_up = BootClock::now() + std::chrono::seconds(5);
  while (true) {
    {
      // Scoped: the statement must be reset before the mode can change.
      Result<Statement> mode = c.Prepare("PRAGMA journal_mode", "reading the journal mode");
      if (!mode) return mode.error();
      Result<bool> row = mode->Step();
      if (!row) return row.error();
      if (*row && mode->Text(0) == "wal") return Ok();
    }
    Result<void> switched = c.Exec("PRAGMA journal_mode = WAL", "switching to WAL mode");
    if (switched || !switched.error().retryable() || BootClock::now() >= give_up) {
      return switched;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

// Opens the connection, switches the file to WAL and checks (or creates) the schema.
Result<std::unique_ptr<Connection>> OpenConnection(const SqliteStoreOptions& options,
                                                   const std::string& describe,
                                                   Connection::Priority priority) {
  Result<std::unique_ptr<Connection>> connection =
      Connection::Open(options.path, describe, priority);
  if (!connection) return connection.error();
  Connection& c = **connection;
  // WAL: readers never block the writer and a commit is one append plus one fsync. The mode
  // is stored in the file, so only the first open of a new file switches it.
  if (auto r = SwitchToWal(c); !r) return r.error();
  Result<SchemaVersion> found = ReadSchemaVersion(c);
  if (!found) return found.error();
  if (found->version < kSchemaVersion && options.create_schema) {
    // A new file (`baton run` on first use), or one a previous release created. Every schema
    // version stays usable by the previous release, so upgrading here is safe for the rest of
    // the group; MigrateSchema re-reads the version under the write lock.
    Result<SchemaInfo> migrated = MigrateSchema(c);
    if (!migrated) return migrated.error();
    return connection;
  }
  if (auto r = CheckSchemaVersion(describe, *found); !r) return r.error();
  return connection;
}

SqliteStore::SqliteStore(std::unique_ptr<Connection> connection, const SqliteStoreOptions& options,
                         Clock& clock, std::string boot_id)
    : path_(options.path),
      describe_(connection->describe()),
      release_poll_(options.release_poll),
      clock_(clock),
      boot_id_(std::move(boot_id)),
      connection_(std::move(connection)) {}

StoreTime SqliteStore::Now() const {
  return StoreTime{.now_ns = clock_.Now().time_since_epoch().count(), .boot_id = boot_id_};
}

Result<SchemaInfo> SqliteStore::Migrate() {
  std::lock_guard lock(mu_);
  return MigrateSchema(*connection_);
}

Result<void> SqliteStore::Register(const std::string& group, const MemberInfo& self, Duration ttl) {
  if (auto r = CheckMemberIdentity(group, self); !r) return r;
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "registering the member row");
  if (auto r = tx.Begin(); !r) return r;
  const StoreTime time = Now();
  Result<std::optional<MemberRow>> existing = ReadMember(*connection_, group, self.id);
  if (!existing) return existing.error();
  if (*existing && (*existing)->holder != self.holder && (*existing)->live(time)) {
    return IdInUse(group, self.id, **existing);
  }
  if (auto r = WriteMember(*connection_, group, self, MemberRole::kPassive, ttl, time); !r) {
    return r;
  }
  return tx.Commit();
}

Result<bool> SqliteStore::Release(const LeaseKey& lease, const std::string& holder,
                                  uint64_t token) {
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "releasing the lease");
  if (auto r = tx.Begin(); !r) return r.error();
  int changed = 0;
  {
    Result<Statement> release = connection_->Prepare(kRelease, "releasing the lease");
    if (!release) return release.error();
    Result<int> run = release->Bind(lease.group)
                          .Bind(lease.name)
                          .Bind(holder)
                          .Bind(static_cast<int64_t>(token))
                          .Bind(Now().now_ns)
                          .Run();
    if (!run) return run.error();
    changed = *run;
  }
  if (auto r = tx.Commit(); !r) return r.error();
  return changed > 0;
}

Result<void> SqliteStore::Unregister(const std::string& group, const MemberInfo& self) {
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "deleting the member row");
  if (auto r = tx.Begin(); !r) return r;
  {
    Result<Statement> remove = connection_->Prepare(kDeleteMember, "deleting the member row");
    if (!remove) return remove.error();
    Result<int> run = remove->Bind(group).Bind(self.id).Bind(self.holder).Run();
    if (!run) return run.error();
  }
  return tx.Commit();
}

Result<GroupSnapshot> SqliteStore::Snapshot(const std::string& group,
                                            const std::string& lease_name) {
  std::lock_guard lock(mu_);
  // One read transaction: the lease and the members come from the same commit.
  Transaction tx(*connection_, Transaction::Kind::kRead, "reading a snapshot");
  if (auto r = tx.Begin(); !r) return r.error();
  const StoreTime time = Now();
  GroupSnapshot snapshot;
  Result<std::optional<LeaseRow>> lease =
      ReadLease(*connection_, LeaseKey{.group = group, .name = lease_name});
  if (!lease) return lease.error();
  snapshot.lease = ViewOf(*lease, time);
  Result<std::vector<Member>> members = ReadMembers(*connection_, group, time);
  if (!members) return members.error();
  snapshot.members = std::move(*members);
  if (auto r = tx.Commit(); !r) return r.error();
  return snapshot;
}

std::unique_ptr<Subscription> SqliteStore::WatchReleases(const LeaseKey& lease,
                                                         std::function<void()> on_release) {
  return std::make_unique<ReleaseWatcher>(path_, describe_, clock_, release_poll_, lease,
                                          std::move(on_release));
}

}  // namespace sqlite_detail

int SqliteSchemaVersion() { return sqlite_detail::kSchemaVersion; }

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options) {
  using namespace sqlite_detail;
  const std::string describe = "sqlite:" + options.path;
  if (options.release_poll <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument,
                 describe + ": the release poll interval must be positive");
  }
  Result<std::string> boot_id = ReadBootId();
  if (!boot_id) return boot_id.error();
  if (auto r = PrepareStoreFile(options); !r) return r.error();
  Result<std::unique_ptr<Connection>> connection = OpenConnection(options, describe);
  if (!connection) return connection.error();
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  return std::unique_ptr<Store>(
      std::make_unique<SqliteStore>(std::move(*connection), options, clock, std::move(*boot_id)));
}

}  // namespace baton
