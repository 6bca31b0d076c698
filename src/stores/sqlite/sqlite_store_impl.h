#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "baton/sqlite_store.h"
#include "baton/store.h"
#include "connection.h"
#include "rows.h"

namespace baton::sqlite_detail {

// Opens a connection to `options.path` (which PrepareDatabaseFile made ready), switches the
// file to WAL and checks (or creates) the schema. For the store and the queue alike.
// PrepareDatabaseFile for a store's or a queue's options: the shared default file
// (kDefaultSqlitePath) gets its directory (PrepareSharedDirectory) and mode 0660, any other
// file 0600.
Result<void> PrepareStoreFile(const SqliteStoreOptions& options);

Result<std::unique_ptr<Connection>> OpenConnection(
    const SqliteStoreOptions& options, const std::string& describe,
    Connection::Priority priority = Connection::Priority::kLease);

// The Store on one SQLite file shared by the processes of one host (see baton/store.h for
// the contract). Every write is one short BEGIN IMMEDIATE transaction, committed with
// synchronous=FULL in WAL mode; expiry is CLOCK_BOOTTIME nanoseconds plus the boot id.
//
// Thread safety: every method may be called from any thread; one mutex serializes the use of
// the connection. WatchReleases() runs its own thread with its own connection.
class SqliteStore final : public Store {
 public:
  SqliteStore(std::unique_ptr<Connection> connection, const SqliteStoreOptions& options,
              Clock& clock, std::string boot_id);

  Result<SchemaInfo> Migrate() override;
  Result<void> Register(const std::string& group, const MemberInfo& self, Duration ttl) override;
  Result<HeartbeatReply> Heartbeat(const HeartbeatRequest& request) override;
  Result<bool> Release(const LeaseKey& lease, const std::string& holder, uint64_t token) override;
  Result<void> Unregister(const std::string& group, const MemberInfo& self) override;
  Result<HandoverReply> RequestHandover(const HandoverRequest& request) override;
  Result<GroupSnapshot> Snapshot(const std::string& group, const std::string& lease_name) override;
  Result<std::vector<std::string>> Groups() override;                                  // history.cc
  Result<std::vector<Takeover>> Takeovers(const LeaseKey& lease, int limit) override;  // ditto
  std::unique_ptr<Subscription> WatchReleases(const LeaseKey& lease,
                                              std::function<void()> on_release) override;
  std::string Describe() const override { return describe_; }

 private:
  StoreTime Now() const;
  // The heartbeat's steps, inside its transaction (heartbeat.cc).
  Result<void> RefreshSelf(const HeartbeatRequest& request, const StoreTime& time);
  Result<std::vector<std::string>> Reap(const std::string& group, const StoreTime& time);
  Result<bool> TryAcquire(const HeartbeatRequest& request, const StoreTime& time);
  Result<bool> TryRenew(const HeartbeatRequest& request, const StoreTime& time);

  const std::string path_;
  const std::string describe_;
  const Duration release_poll_;
  Clock& clock_;
  const std::string boot_id_;

  std::mutex mu_;  // Guards connection_.
  std::unique_ptr<Connection> connection_;
};

}  // namespace baton::sqlite_detail
