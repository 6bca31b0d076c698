#include "store_rig.h"

#include <sqlite3.h>
#include <sys/prctl.h>

#include <stdexcept>
#include <thread>

#include "fault_proxy.h"
#include "support/pg_cluster.h"

namespace baton::chaos {

StoreRig::StoreRig(const std::string& store, const std::string& record_dir,
                   const std::vector<std::string>& instance_ids) {
  if (store == "sqlite") {
    sqlite_path_ = record_dir + "/baton.db";
    direct_url_ = "sqlite:" + sqlite_path_;
    return;
  }
  if (store != "postgresql") throw std::runtime_error("unknown store " + store);
  // pg_ctl daemonizes the server: it must not become this subreaper's child (see
  // RestartServer), so the caller becomes a subreaper only after this.
  cluster_ = test_support::PgCluster::Start();
  database_ = cluster_->CreateDatabase("chaos");
  direct_url_ = cluster_->Url(database_);
  for (const std::string& id : instance_ids) {
    proxies_[id] = tools::FaultProxy::Start("127.0.0.1", cluster_->port());
  }
}

StoreRig::~StoreRig() = default;

std::string StoreRig::UrlFor(const std::string& instance) const {
  if (!postgres()) return direct_url_;
  return "postgresql://postgres@127.0.0.1:" + std::to_string(proxy(instance).port()) + "/" +
         database_;
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

tools::FaultProxy& StoreRig::proxy(const std::string& instance) const {
  return *proxies_.at(instance);
}

void StoreRig::HealAll() const {
  for (const auto& [id, p] : proxies_) p->Heal();
}

}  // namespace baton::chaos
