#pragma once

// The store a chaos run uses, and the faults that hit the store rather than an instance.
//
// SQLite: one file in the record directory; the fault is a write transaction held open by
// another process (this one), which stalls every instance's heartbeat.
// PostgreSQL: a throwaway cluster of its own, and one FaultProxy per instance between that
// instance and the server, so one instance's connections can be slowed, stalled or cut
// while the others' are not; the server itself can be restarted and its sessions killed.
//
// Thread safety: one thread only.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace baton::test_support {
class PgCluster;
}
namespace baton::tools {
class FaultProxy;
}

namespace baton::chaos {

using std::chrono::milliseconds;

class StoreRig final {
 public:
  // `store` is "sqlite" or "postgresql". Throws std::runtime_error when the store cannot be
  // set up (for PostgreSQL, with the end of the server's log).
  StoreRig(const std::string& store, const std::string& record_dir,
           const std::vector<std::string>& instance_ids);
  ~StoreRig();
  StoreRig(const StoreRig&) = delete;
  StoreRig& operator=(const StoreRig&) = delete;

  bool postgres() const { return cluster_ != nullptr; }
  // The --store URL that `instance` uses (through its proxy on PostgreSQL).
  std::string UrlFor(const std::string& instance) const;
  // The URL without a proxy, for `baton migrate` and `baton status`.
  const std::string& direct_url() const { return direct_url_; }

  // SQLite: holds a write transaction (BEGIN IMMEDIATE) for `how_long`.
  void HoldWriteLock(milliseconds how_long) const;

  // PostgreSQL only.
  void RestartServer(milliseconds down_for);
  // Ends every session of baton's database; returns how many it ended.
  int TerminateSessions() const;
  tools::FaultProxy& proxy(const std::string& instance) const;
  // Plain forwarding on every proxy.
  void HealAll() const;

 private:
  std::string sqlite_path_;
  std::unique_ptr<test_support::PgCluster> cluster_;
  std::string database_;
  std::string direct_url_;
  std::map<std::string, std::unique_ptr<tools::FaultProxy>> proxies_;
};

}  // namespace baton::chaos
