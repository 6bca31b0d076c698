#include "store_rig.h"

#include <sqlite3.h>
#include <sys/prctl.h>

#include <stdexcept>
#include <thread>

#include "fault_proxy.h"
#include "support/etcd_cluster.h"
#include "support/pg_cluster.h"

namespace baton::chaos {
namespace {

// Where the run's keys live in etcd; one cluster per run, so any prefix would do.
constexpr const char* kEtcdPrefix = "/chaos/";

}  // namespace

std::optional<StoreKind> ParseStoreKind(std::string_view name) {
  if (name == "sqlite") return StoreKind::kSqlite;
  if (name == "postgresql") return StoreKind::kPostgres;
  if (name == "etcd") return StoreKind::kEtcd;
  return std::nullopt;
}

StoreRig::StoreRig(StoreKind kind, const std::string& record_dir,
                   const std::vector<std::string>& instance_ids)
    : kind_(kind) {
  switch (kind) {
    case StoreKind::kSqlite:
      sqlite_path_ = record_dir + "/baton.db";
      direct_url_ = "sqlite:" + sqlite_path_;
      return;
    case StoreKind::kPostgres:
      // pg_ctl daemonizes the server: it must not become this subreaper's child (see
      // RestartServer), so the caller becomes a subreaper only after this.
      cluster_ = test_support::PgCluster::Start();
      database_ = cluster_->CreateDatabase("chaos");
      direct_url_ = cluster_->Url(database_);
      for (const std::string& id : instance_ids) {
        proxies_[id].push_back(tools::FaultProxy::Start("127.0.0.1", cluster_->port()));
      }
      return;
    case StoreKind::kEtcd:
      etcd_ = test_support::EtcdCluster::Start({.peer_proxies = true});
      direct_url_ = etcd_->Url() + kEtcdPrefix;
      for (const std::string& id : instance_ids) {
        proxies_[id] = test_support::ProxyEveryMember(*etcd_, &etcd_endpoints_[id]);
      }
      return;
  }
}

StoreRig::~StoreRig() = default;

std::string StoreRig::UrlFor(const std::string& instance) const {
  switch (kind_) {
    case StoreKind::kSqlite:
      return direct_url_;
    case StoreKind::kPostgres:
      return "postgresql://postgres@127.0.0.1:" +
             std::to_string(proxies_.at(instance).front()->port()) + "/" + database_;
    case StoreKind::kEtcd:
      return "etcd://" + etcd_endpoints_.at(instance) + kEtcdPrefix;
  }
  return direct_url_;
}

void StoreRig::HoldWriteLock(milliseconds how_long) const {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(sqlite_path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    const std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + sqlite_path_ + ": " + message);
  }
  sqlite3_busy_timeout(db, 5000);
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK) {
    std::this_thread::sleep_for(how_long);
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  sqlite3_close(db);
}

void StoreRig::SetDelay(const std::string& instance, milliseconds delay) const {
  for (const auto& proxy : proxies_.at(instance)) proxy->SetDelay(delay);
}

void StoreRig::Stall(const std::string& instance) const {
  for (const auto& proxy : proxies_.at(instance)) proxy->Stall();
}

void StoreRig::Cut(const std::string& instance) const {
  for (const auto& proxy : proxies_.at(instance)) proxy->Cut();
}

uint64_t StoreRig::ClientBytes(const std::string& instance) const {
  uint64_t bytes = 0;
  for (const auto& proxy : proxies_.at(instance)) bytes += proxy->client_bytes();
  return bytes;
}

void StoreRig::HealAll() const {
  for (const auto& [id, proxies] : proxies_) {
    for (const auto& proxy : proxies) proxy->Heal();
  }
  if (etcd_) etcd_->HealPartition();
}

void StoreRig::RestartServer(milliseconds down_for) {
  cluster_->StopServer();
  std::this_thread::sleep_for(down_for);
  // As a subreaper this process would adopt the daemonized server, and its end-of-run
  // clean-up of descendants would kill it before the cluster stops it.
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  try {
    cluster_->StartServer();
  } catch (...) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    throw;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
}

int StoreRig::TerminateSessions() const {
  return std::stoi(cluster_->Query(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" +
      database_ + "' AND pid <> pg_backend_pid()"));
}

}  // namespace baton::chaos
