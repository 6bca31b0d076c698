// A separate process (store_race_helper) holds a lease in one SQLite file, as a baton instance
// on the same host does, and is killed. Processes racing for one lease on every store are in
// tests/process/store_race_test.cc.

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "baton/sqlite_store.h"
#include "test_util.h"

extern char** environ;

namespace baton::conformance {
namespace {

using std::chrono::milliseconds;

pid_t Spawn(std::vector<std::string> args) {
  args.insert(args.begin(), BATON_STORE_RACE_HELPER);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

// A holder killed with SIGKILL leaves its lease to expire by itself: another process takes it
// only after the ttl (not at once: nothing released it), and soon after (its SQLite locks died
// with it). Its member row is reaped; the lease gets a new token.
TEST(SqliteProcessTest, KilledHolderIsSucceededAfterItsTtl) {
  constexpr milliseconds kTtl(600);
  TempDir dir;
  const std::string db = dir.File("baton.db");
  SqliteStoreOptions options;
  options.path = db;
  auto store = OpenSqliteStore(options);
  ASSERT_TRUE(IsOk(store));
  pid_t holder = Spawn({"hold", "sqlite:" + db, "holder", std::to_string(kTtl.count())});
  ASSERT_GT(holder, 0);

  HeartbeatRequest request;
  request.lease = LeaseKey{.group = "race", .name = kActiveLease};
  request.self = MemberInfo{
      .id = "successor", .holder = "successor#1", .host = "localhost", .pid = 1, .version = ""};
  request.intent = LeaseIntent::kObserve;
  request.member_ttl = kTtl;
  request.lease_ttl = kTtl;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  uint64_t holder_token = 0;
  while (holder_token == 0 && std::chrono::steady_clock::now() < give_up) {
    Result<HeartbeatReply> seen = (*store)->Heartbeat(request);
    ASSERT_TRUE(IsOk(seen));
    if (!seen->lease.free()) holder_token = seen->lease.token;
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_NE(holder_token, 0u) << "the holder never took the lease";
  std::this_thread::sleep_for(kTtl);  // Several renewals.

  ASSERT_EQ(::kill(holder, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(holder, &status, 0), holder);
  const auto killed = std::chrono::steady_clock::now();
  request.intent = LeaseIntent::kAcquire;
  Result<HeartbeatReply> first = (*store)->Heartbeat(request);
  ASSERT_TRUE(IsOk(first));
  EXPECT_FALSE(first->acquired) << "a killed holder's lease was free before its ttl";
  EXPECT_GT(first->lease.remaining, Duration::zero());
  EXPECT_LE(first->lease.remaining, kTtl);

  bool reaped = false;
  Result<HeartbeatReply> reply = first;
  while (!reply->acquired && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
    reply = (*store)->Heartbeat(request);
    ASSERT_TRUE(IsOk(reply));
    for (const std::string& id : reply->reaped) reaped = reaped || id == "holder";
  }
  const auto waited = std::chrono::steady_clock::now() - killed;
  ASSERT_TRUE(reply->acquired) << "the lease was never taken over";
  EXPECT_EQ(reply->lease.token, holder_token + 1);
  EXPECT_LE(waited, kTtl + milliseconds(300));
  EXPECT_TRUE(reaped) << "the killed holder's member row was not reaped";
}

}  // namespace
}  // namespace baton::conformance
