// Contender processes competing for one lease through the Store interface alone, as baton
// instances on one host do: for the store race test (tests/process/store_race_test.cc) and
// sqlite_process_test. STORE is sqlite:PATH or a postgresql:// URL.
//
//   store_race_helper race STORE PROBE LOG ID WINS
//     Competes until it has won WINS times. While it holds the lease it holds an exclusive
//     flock on PROBE; failing to take that flock means another process holds the lease too,
//     an overlap judged by the kernel rather than by timestamps. Appends "<token> <id>\n" to
//     LOG for each win while holding the flock, so LOG's order is the order of the intervals.
//   store_race_helper hold STORE ID TTL_MS
//     Takes the lease and renews it every TTL/5 until it is killed.
//
// Exit codes: 0 done, 2 usage or store error, 3 overlap seen, 4 a release of its own lease
// failed, 5 no progress for 60 s.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "baton/postgres_store.h"
#include "baton/sqlite_store.h"

namespace {

using std::chrono::milliseconds;

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "store_race_helper: %s\n", message.c_str());
  return code;
}

baton::HeartbeatRequest Request(const std::string& id, baton::Duration ttl) {
  baton::HeartbeatRequest request;
  request.lease = baton::LeaseKey{.group = "race", .name = baton::kActiveLease};
  request.self = baton::MemberInfo{.id = id,
                                   .holder = id + "#" + std::to_string(::getpid()),
                                   .host = "localhost",
                                   .pid = ::getpid(),
                                   .version = "test"};
  request.intent = baton::LeaseIntent::kAcquire;
  request.lease_ttl = ttl;
  request.member_ttl = ttl;
  return request;
}

int Race(baton::Store& store, const char* probe_path, const char* log_path, const std::string& id,
         int wins) {
  const int probe = ::open(probe_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  const int log = ::open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (probe < 0 || log < 0) return Fail(2, "cannot open the probe or log file");
  // Longer than the test: the lease changes hands only by release, never by expiry.
  const baton::HeartbeatRequest request = Request(id, std::chrono::minutes(5));
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int won = 0; won < wins;) {
    if (std::chrono::steady_clock::now() > give_up) return Fail(5, id + " made no progress");
    auto reply = store.Heartbeat(request);
    if (!reply) {
      if (!reply.error().retryable()) return Fail(2, reply.error().message());
      std::this_thread::sleep_for(milliseconds(1));
      continue;
    }
    if (!reply->acquired) {
      std::this_thread::sleep_for(milliseconds(1));
      continue;
    }
    if (::flock(probe, LOCK_EX | LOCK_NB) != 0) {
      return Fail(3, id + " holds token " + std::to_string(reply->lease.token) +
                         " but another process holds the probe lock");
    }
    const std::string line = std::to_string(reply->lease.token) + " " + id + "\n";
    if (::write(log, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      return Fail(2, "cannot write the log");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // Active work.
    ::flock(probe, LOCK_UN);
    auto released = store.Release(request.lease, request.self.holder, reply->lease.token);
    while (!released && released.error().retryable()) {
      released = store.Release(request.lease, request.self.holder, reply->lease.token);
    }
    if (!released || !*released) return Fail(4, id + " could not release its own lease");
    ++won;
  }
  return 0;
}

int Hold(baton::Store& store, const std::string& id, milliseconds ttl) {
  baton::HeartbeatRequest request = Request(id, ttl);
  auto acquired = store.Heartbeat(request);
  if (!acquired) return Fail(2, acquired.error().message());
  if (!acquired->acquired) return Fail(2, id + " could not take the lease");
  request.intent = baton::LeaseIntent::kRenew;
  request.token = acquired->lease.token;
  request.role = baton::MemberRole::kActive;
  for (;;) {
    std::this_thread::sleep_for(ttl / 5);
    auto renewed = store.Heartbeat(request);
    if (renewed && !renewed->held) return Fail(2, id + " lost its lease");
  }
}

baton::Result<std::unique_ptr<baton::Store>> Open(const std::string& store) {
  if (store.starts_with("sqlite:")) {
    baton::SqliteStoreOptions options;
    options.path = store.substr(std::strlen("sqlite:"));
    return baton::OpenSqliteStore(options);
  }
  baton::PostgresStoreOptions options;
  options.url = store;
  return baton::OpenPostgresStore(options);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (!((mode == "race" && argc == 7) || (mode == "hold" && argc == 5))) {
    return Fail(2, "usage: store_race_helper race STORE PROBE LOG ID WINS | hold STORE ID TTL_MS");
  }
  auto store = Open(argv[2]);
  if (!store) return Fail(2, store.error().message());
  if (mode == "race") return Race(**store, argv[3], argv[4], argv[5], std::atoi(argv[6]));
  return Hold(**store, argv[3], milliseconds(std::atoi(argv[4])));
}
