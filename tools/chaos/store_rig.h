#pragma once

// The store a chaos run uses, and the faults that hit the store rather than an instance.
//
// SQLite: one file in the record directory; the fault is a write transaction held open by
// another process (this one), which stalls every instance's heartbeat.
// PostgreSQL: a throwaway cluster of its own, and one FaultProxy per instance between that
// instance and the server, so one instance's connections can be slowed, stalled or cut
// while the others' are not; the server itself can be restarted and its sessions killed.
// etcd: a three-member cluster of its own, each member's raft traffic behind a proxy (so one
// member can be partitioned from the others) and one proxy per instance and member, so that
// one instance's connections to the whole cluster can be slowed, stalled or cut; members
// can be killed, paused and partitioned.
//
// Thread safety: one thread only.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::test_support {
class PgCluster;
class EtcdCluster;
}  // namespace baton::test_support
namespace baton::tools {
class FaultProxy;
}

namespace baton::chaos {

using std::chrono::milliseconds;

enum class StoreKind { kSqlite, kPostgres, kEtcd };
// "sqlite", "postgresql", "etcd"; std::nullopt for anything else.
std::optional<StoreKind> ParseStoreKind(std::string_view name);

class StoreRig final {
 public:
  // Throws std::runtime_error when the store cannot be set up (with the end of the server's
  // log).
  StoreRig(StoreKind kind, const std::string& record_dir,
           const std::vector<std::string>& instance_ids);
  ~StoreRig();
  StoreRig(const StoreRig&) = delete;
  StoreRig& operator=(const StoreRig&) = delete;

  StoreKind kind() const { return kind_; }
  // Whether instances reach the store through proxies (SetDelay, Stall, Cut, ClientBytes).
  bool networked() const { return kind_ != StoreKind::kSqlite; }
  // The --store URL that `instance` uses (through its proxies on a networked store).
  std::string UrlFor(const std::string& instance) const;
  // The URL without a proxy, for `baton migrate` and `baton status`.
  const std::string& direct_url() const { return direct_url_; }

  // SQLite: holds a write transaction (BEGIN IMMEDIATE) for `how_long`.
  void HoldWriteLock(milliseconds how_long) const;

  // Networked stores: what `instance` sends and receives is delayed, stalled or cut (as
  // FaultProxy does) until HealAll().
  void SetDelay(const std::string& instance, milliseconds delay) const;
  void Stall(const std::string& instance) const;
  void Cut(const std::string& instance) const;
  // Bytes `instance` has sent towards the store so far (a counter that only grows).
  uint64_t ClientBytes(const std::string& instance) const;
  // Plain forwarding on every proxy, and no member partitioned.
  void HealAll() const;

  // PostgreSQL only.
  void RestartServer(milliseconds down_for);
  // Ends every session of baton's database; returns how many it ended.
  int TerminateSessions() const;

  // etcd only.
  test_support::EtcdCluster& etcd() const { return *etcd_; }

 private:
  StoreKind kind_;
  std::string sqlite_path_;
  std::unique_ptr<test_support::PgCluster> cluster_;
  std::unique_ptr<test_support::EtcdCluster> etcd_;
  std::string database_;
  std::string direct_url_;
  // Per instance: one proxy (PostgreSQL) or one per member (etcd).
  std::map<std::string, std::vector<std::unique_ptr<tools::FaultProxy>>> proxies_;
  std::map<std::string, std::string> etcd_endpoints_;  // Per instance: its proxies' list.
};

}  // namespace baton::chaos
