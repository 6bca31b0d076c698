#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "baton/postgres_store.h"
#include "baton/store.h"
#include "connection.h"
#include "lease_watch.h"
#include "release_listener.h"

namespace baton::postgres_detail {

// The statements of one store, with its schema's name in them.
struct Statements {
  explicit Statements(const std::string& schema);
  Statement heartbeat;
  Statement put_member;
  Statement request_handover;
  Statement release;
  Statement unregister;
  Statement snapshot;
  Statement read_lease;
  Statement channel;
  Statement groups;
  Statement takeovers;
};

// The Store on a PostgreSQL database shared by many hosts (see baton/store.h for the contract
// and baton/postgres_store.h for what this store adds). Every call is one statement, a
// function of the schema where it writes, in its own transaction.
//
// Thread safety: every method may be called from any thread; one mutex serializes the use of
// the connection. WatchReleases() LISTENs on that same connection, with a thread that reads
// notifications between calls and also feeds the lease watch (release_listener.h).
class PostgresStore final : public Store {
 public:
  PostgresStore(const PostgresStoreOptions& options, Clock& clock, ConnectionSettings settings);

  // The first connection and the schema check, for OpenPostgresStore.
  Result<void> Start();

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
  std::string Describe() const override { return settings_.describe; }

 private:
  // REQUIRES: shared_.mu held. The connection, (re)opened if there is none or it was lost.
  Result<Connection*> Connected();
  // REQUIRES: shared_.mu held. Connected(), and the schema checked (or created) once per store.
  Result<Connection*> Ready();
  // The heartbeat's parameters, with what the lease watch says (heartbeat.cc).
  std::vector<Param> HeartbeatParams(const HeartbeatRequest& request, TimePoint sent) const;

  const std::string schema_;
  const bool create_schema_;
  Clock& clock_;
  const ConnectionSettings settings_;
  const Statements statements_;

  const std::shared_ptr<LeaseWatch> watch_ = std::make_shared<LeaseWatch>();

  SharedConnection shared_;  // Its mutex also guards schema_checked_.
  bool schema_checked_ = false;
  ReleaseListener listener_;  // After shared_, which it uses until it is destroyed.
};

// kConflict for an id in use, from the BT002 that put_member raised.
Error IdInUse(const std::string& group, const std::string& id, const ServerError& refused);

// Microseconds of `d`, for the database's intervals.
int64_t Micros(Duration d);
const char* RoleName(MemberRole role);

}  // namespace baton::postgres_detail
