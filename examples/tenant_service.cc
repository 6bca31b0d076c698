// The second source document done right: every copy of this service hosts a scheduler and a
// worker. The copy holding the queue's scheduler lease offers, every round, one item per
// tenant that holds a license; every copy claims items and processes them, at most one item
// per tenant at a time across all copies. Each tenant's result goes into a table of its own
// in the same SQLite file, in a transaction fenced by the item's claim: a copy whose claim
// was taken from it (paused past its visibility, say) cannot commit.
//
//   build/default/examples/baton-example-tenant-service DB ID TENANTS_FILE LICENSES_FILE
//
// TENANTS_FILE and LICENSES_FILE hold one tenant id a line; both are read afresh each round.
#include <baton/scheduler.h>
#include <baton/service_host.h>
#include <baton/sqlite_store.h>
#include <sqlite3.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <variant>

namespace {

constexpr const char* kGroup = "tenants";
constexpr const char* kQueue = "tenant-sync";
constexpr auto kEvery = std::chrono::seconds(3);            // The source's 45 s, shortened.
constexpr auto kWorkTime = std::chrono::milliseconds(300);  // What one tenant's work takes.

// The source's tenant list, filtered by a license check, as the source's LeasedOperations do.
class LicensedTenants final : public baton::TenantSource {
 public:
  LicensedTenants(std::string tenants_file, std::function<bool(const std::string&)> licensed)
      : all_(baton::TenantFileSource(std::move(tenants_file))), licensed_(std::move(licensed)) {}

  baton::Result<std::vector<std::string>> List(std::stop_token stop) override {
    auto tenants = all_->List(stop);
    if (!tenants) return tenants.error();
    std::erase_if(*tenants, [this](const std::string& t) { return !licensed_(t); });
    return tenants;
  }
  std::string Describe() const override { return all_->Describe() + ", licensed only"; }

 private:
  std::unique_ptr<baton::TenantSource> all_;
  std::function<bool(const std::string&)> licensed_;
};

// The license check: a tenant is licensed while LICENSES_FILE lists it. The file is read at
// every check, so a license granted or withdrawn counts from the next round on (a real check
// would ask the license service, or a cache of it, as the source suggests).
std::function<bool(const std::string&)> LicenseCheck(const std::string& path) {
  return [path](const std::string& tenant) {
    std::ifstream in(path);
    std::set<std::string> licensed;
    for (std::string line; std::getline(in, line);) licensed.insert(line);
    return licensed.contains(tenant);
  };
}

using Db = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;

// SQLite's message and extended code: "disk I/O error (code 522)".
std::string Error(sqlite3* db) {
  return std::string(sqlite3_errmsg(db)) + " (code " +
         std::to_string(sqlite3_extended_errcode(db)) + ")";
}

// Runs `sql` with the given text or integer parameters; returns "" or SQLite's message.
std::string Exec(sqlite3* db, const std::string& sql,
                 std::initializer_list<std::variant<std::string, int64_t>> params = {}) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    return Error(db);
  }
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, &sqlite3_finalize);
  int i = 0;
  for (const auto& p : params) {
    ++i;
    if (const auto* s = std::get_if<std::string>(&p)) {
      sqlite3_bind_text(raw, i, s->c_str(), -1, SQLITE_TRANSIENT);
    } else {
      sqlite3_bind_int64(raw, i, std::get<int64_t>(p));
    }
  }
  const int rc = sqlite3_step(raw);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? "" : Error(db);
}

// A tenant's own table, quoted as an identifier: the id is data and may hold any character.
std::string TenantTable(const std::string& tenant) {
  std::string quoted = "\"tenant:";
  for (char c : tenant) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// One tenant's work: compute (here: wait), then write the result under the claim's fence. The
// write is keyed by the item, so an item processed again after a crash overwrites its row.
baton::WorkResult SyncTenant(const std::string& path, const std::string& instance,
                             baton::ItemContext& ctx) {
  const baton::ClaimedItem& item = ctx.item();
  for (auto until = std::chrono::steady_clock::now() + kWorkTime;
       std::chrono::steady_clock::now() < until;) {
    if (ctx.stop_token().stop_requested()) return baton::WorkResult::Retry("stopped");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  sqlite3* raw = nullptr;
  const int opened = sqlite3_open(path.c_str(), &raw);
  Db db(raw, &sqlite3_close);
  if (opened != SQLITE_OK) return baton::WorkResult::Retry(sqlite3_errmsg(raw));
  // Short: the transaction holds the file's write lock, which the leases' heartbeats need too.
  sqlite3_busy_timeout(raw, 1000);
  const std::string table = TenantTable(item.tenant);
  std::string error = Exec(raw, "BEGIN IMMEDIATE");
  if (error.empty()) {
    error = Exec(raw,
                 "INSERT INTO baton_claim_fence (group_name, queue, item, claim_token) "
                 "VALUES (?, ?, ?, ?)",
                 {std::string(kGroup), std::string(kQueue), static_cast<int64_t>(item.id),
                  static_cast<int64_t>(item.claim_token)});
  }
  if (error.empty()) {
    error = Exec(raw, "CREATE TABLE IF NOT EXISTS " + table +
                          " (item INTEGER PRIMARY KEY, instance TEXT NOT NULL, "
                          "attempt INTEGER NOT NULL, claim_token INTEGER NOT NULL)");
  }
  if (error.empty()) {
    error = Exec(raw,
                 "INSERT OR REPLACE INTO " + table +
                     " (item, instance, attempt, claim_token) VALUES (?, ?, ?, ?)",
                 {static_cast<int64_t>(item.id), instance, static_cast<int64_t>(item.attempt),
                  static_cast<int64_t>(item.claim_token)});
  }
  if (error.empty()) error = Exec(raw, "COMMIT");
  if (!error.empty()) {
    Exec(raw, "ROLLBACK");
    std::printf("%s could not write %s (item %llu): %s\n", instance.c_str(), item.tenant.c_str(),
                static_cast<unsigned long long>(item.id), error.c_str());
    std::fflush(stdout);
    return baton::WorkResult::Retry(error);
  }
  std::printf("%s processed %s (item %llu, attempt %d, claim token %llu)\n", instance.c_str(),
              item.tenant.c_str(), static_cast<unsigned long long>(item.id), item.attempt,
              static_cast<unsigned long long>(item.claim_token));
  std::fflush(stdout);
  return baton::WorkResult::Done();
}

int Fail(const char* what, const baton::Error& error) {
  std::fprintf(stderr, "example: %s: %s\n", what, error.message().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s DB ID TENANTS_FILE LICENSES_FILE\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const std::string id = argv[2];
  baton::SqliteStoreOptions options;
  options.path = path;
  auto store = baton::OpenSqliteStore(options);
  if (!store) return Fail("store", store.error());
  auto queue = baton::OpenSqliteQueue(options);
  if (!queue) return Fail("queue", queue.error());
  baton::ServiceHost host(**store, {.id = id});
  host.StopOnSignals();  // Before any thread starts.

  // Leased operations: one copy at a time offers the licensed tenants.
  LicensedTenants tenants(argv[3], LicenseCheck(argv[4]));
  baton::SchedulerOptions scheduler;
  scheduler.queue = {kGroup, kQueue};
  scheduler.every = kEvery;  // Each item lives one round, as the source's 45 s messages do.
  baton::TimingOptions lease;
  lease.ttl = std::chrono::seconds(3);
  if (auto added = host.AddScheduler(**queue, scheduler, tenants, lease); !added) {
    return Fail("scheduler", added.error());
  }

  // Non-leased operations: every copy processes, two tenants at once.
  baton::WorkerOptions worker;
  worker.queue = {kGroup, kQueue};
  worker.concurrency = 2;
  worker.timing.visibility = std::chrono::seconds(3);  // A crashed copy's items come back then.
  auto work = [&path, &id](baton::ItemContext& ctx) { return SyncTenant(path, id, ctx); };
  if (auto added = host.AddWorker(**queue, worker, work); !added) {
    return Fail("worker", added.error());
  }
  if (auto ran = host.Run(); !ran) return Fail("run", ran.error());
  return 0;
}
