// What only the PostgreSQL store promises about its connections: one statement per
// heartbeat and none while idle, releases announced by NOTIFY, and calls that neither hang on
// a dead server nor stay broken after a lost connection.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "baton/postgres_store.h"
#include "postgres_test_env.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Counts calls of an on_release callback and lets a test wait for the next one.
class ReleaseCounter final {
 public:
  std::function<void()> Callback() {
    return [this] {
      std::lock_guard lock(mu_);
      ++calls_;
      cv_.notify_all();
    };
  }
  bool WaitFor(int calls, Duration timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return calls_ >= calls; });
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;
};

class PostgresConnectionTest : public PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // A database of its own, so that what PostgreSQL counts in it is this test's alone.
    database_ = cluster_->CreateDatabase("conn");
    url_ = cluster_->Url(database_);
  }

  // The process id of the one server process serving baton's connection in this database
  // whose current or last statement starts with `query_prefix`.
  std::string BackendPid(const std::string& query_prefix) {
    PgSession admin(cluster_->Url());
    return admin.Must("SELECT pid FROM pg_stat_activity WHERE datname = '" + database_ +
                      "' AND application_name = 'baton' AND query LIKE '" + query_prefix + "%'");
  }

  std::string database_;
  Clock& real_ = Clock::Real();
};

TEST_F(PostgresConnectionTest, OneStatementPerHeartbeatAndNoneWhileIdle) {
  auto store_a = Open(&real_);
  auto store_b = Open(&real_);
  ASSERT_NE(store_a, nullptr);
  ASSERT_NE(store_b, nullptr);
  const MemberInfo a = Instance("a");
  const MemberInfo b = Instance("b");
  // Warm up: each connection prepares its statement once.
  Result<HeartbeatReply> first = store_a->Heartbeat(Request("g", a, LeaseIntent::kAcquire));
  ASSERT_TRUE(IsOk(first));
  ASSERT_TRUE(IsOk(store_b->Heartbeat(Request("g", b, LeaseIntent::kAcquire))));
  ReleaseCounter released;
  auto watch = store_b->WatchReleases(LeaseKey{.group = "g"}, released.Callback());
  std::this_thread::sleep_for(milliseconds(200));  // Let the watcher LISTEN.

  PgSession admin(cluster_->Url(kSharedDatabase));
  admin.Must("SELECT pg_stat_statements_reset()");
  constexpr int kRounds = 10;
  for (int i = 0; i < kRounds; ++i) {
    Result<HeartbeatReply> renewed =
        store_a->Heartbeat(Request("g", a, LeaseIntent::kRenew, first->lease.token));
    ASSERT_TRUE(IsOk(renewed));
    EXPECT_TRUE(renewed->held);
    ASSERT_TRUE(IsOk(store_b->Heartbeat(Request("g", b, LeaseIntent::kAcquire))));
  }
  std::this_thread::sleep_for(milliseconds(300));  // Idle, watcher included.

  const std::string in_database =
      " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '" +
      database_ + "')";
  EXPECT_EQ(admin.Must("SELECT coalesce(sum(calls), 0)" + in_database),
            std::to_string(2 * kRounds));
  EXPECT_EQ(admin.Must("SELECT coalesce(sum(calls), 0)" + in_database +
                       " AND query LIKE '%.heartbeat(%'"),
            std::to_string(2 * kRounds));
  EXPECT_EQ(released.calls(), 0);
}

// One server backend per store: the heartbeats and the LISTEN share the connection, and a
// release still reaches the watcher at once, also while the watcher's own heartbeats run.
TEST_F(PostgresConnectionTest, OneConnectionCarriesTheHeartbeatsAndTheListen) {
  auto holder = Open(&real_);
  auto waiter = Open(&real_);
  ASSERT_NE(holder, nullptr);
  ASSERT_NE(waiter, nullptr);
  const MemberInfo a = Instance("a");
  const MemberInfo b = Instance("b");
  Result<HeartbeatReply> acquired = holder->Heartbeat(Request("g", a, LeaseIntent::kAcquire));
  ASSERT_TRUE(IsOk(acquired));
  ReleaseCounter released;
  auto watch = waiter->WatchReleases(LeaseKey{.group = "g"}, released.Callback());
  ASSERT_TRUE(IsOk(waiter->Heartbeat(Request("g", b, LeaseIntent::kAcquire))));
  std::this_thread::sleep_for(milliseconds(200));  // Let the watcher LISTEN.
  PgSession admin(cluster_->Url());
  const std::string backends = "SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                               database_ + "' AND application_name = 'baton'";
  EXPECT_EQ(admin.Must(backends), "2") << "the holder's and the waiter's, one each";

  // The waiter's heartbeats read the replies that carry the holder's renewals along.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(IsOk(holder->Heartbeat(Request("g", a, LeaseIntent::kRenew, 1))));
    ASSERT_TRUE(IsOk(waiter->Heartbeat(Request("g", b, LeaseIntent::kAcquire))));
  }
  EXPECT_EQ(released.calls(), 0);
  const TimePoint start = BootClock::now();
  ASSERT_TRUE(IsOk(holder->Release(LeaseKey{.group = "g"}, a.holder, 1)));
  ASSERT_TRUE(released.WaitFor(1, seconds(5)));
  const Duration took = BootClock::now() - start;
  EXPECT_LT(took, milliseconds(250))
      << "the release took " << std::chrono::duration_cast<milliseconds>(took).count()
      << " ms to reach the watcher";
  EXPECT_EQ(admin.Must(backends), "2");
}

TEST_F(PostgresConnectionTest, ReleaseWakesAWatcherAtOnce) {
  auto holder = Open(&real_);
  auto waiter = Open(&real_);
  ASSERT_NE(holder, nullptr);
  ASSERT_NE(waiter, nullptr);
  const MemberInfo a = Instance("a");
  Result<HeartbeatReply> acquired = holder->Heartbeat(Request("g", a, LeaseIntent::kAcquire));
  ASSERT_TRUE(IsOk(acquired));
  ReleaseCounter released;
  auto watch = waiter->WatchReleases(LeaseKey{.group = "g"}, released.Callback());
  std::this_thread::sleep_for(milliseconds(200));
  ASSERT_EQ(released.calls(), 0);

  // Another group's release, and another lease's, are not ours.
  auto other = Open(&real_);
  ASSERT_NE(other, nullptr);
  HeartbeatRequest elsewhere = Request("other", a, LeaseIntent::kAcquire);
  ASSERT_TRUE(IsOk(other->Heartbeat(elsewhere)));
  ASSERT_TRUE(IsOk(other->Release(elsewhere.lease, a.holder, 1)));

  const TimePoint start = BootClock::now();
  ASSERT_TRUE(IsOk(holder->Release(LeaseKey{.group = "g"}, a.holder, acquired->lease.token)));
  ASSERT_TRUE(released.WaitFor(1, seconds(5)));
  const Duration took = BootClock::now() - start;
  EXPECT_LT(took, milliseconds(250))
      << "the release took " << std::chrono::duration_cast<milliseconds>(took).count()
      << " ms to reach the watcher";
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(released.calls(), 1);
}

TEST_F(PostgresConnectionTest, WatcherListensAgainAfterLosingItsConnection) {
  auto holder = Open(&real_);
  auto waiter = Open(&real_);
  ASSERT_NE(holder, nullptr);
  ASSERT_NE(waiter, nullptr);
  const MemberInfo a = Instance("a");
  ASSERT_TRUE(IsOk(holder->Heartbeat(Request("g", a, LeaseIntent::kAcquire))));
  ReleaseCounter released;
  auto watch = waiter->WatchReleases(LeaseKey{.group = "g"}, released.Callback());
  std::this_thread::sleep_for(milliseconds(200));
  const std::string before = BackendPid("SELECT holder");
  ASSERT_NE(before, "");
  PgSession admin(cluster_->Url());
  admin.Must("SELECT pg_terminate_backend(" + before + ")");
  std::string after;
  for (int i = 0; i < 100 && (after.empty() || after == before); ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    after = BackendPid("SELECT holder");
  }
  ASSERT_NE(after, "") << "the watcher did not connect again";
  EXPECT_NE(after, before);
  ASSERT_TRUE(IsOk(holder->Release(LeaseKey{.group = "g"}, a.holder, 1)));
  EXPECT_TRUE(released.WaitFor(1, seconds(5)));
}

TEST_F(PostgresConnectionTest, ALostConnectionIsOpenedAgainByTheNextCall) {
  auto store = Open(&real_);
  ASSERT_NE(store, nullptr);
  const MemberInfo a = Instance("a");
  ASSERT_TRUE(IsOk(store->Heartbeat(Request("g", a, LeaseIntent::kAcquire))));
  PgSession admin(cluster_->Url());
  admin.Must("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
             database_ + "' AND application_name = 'baton'");
  Result<HeartbeatReply> lost = store->Heartbeat(Request("g", a, LeaseIntent::kRenew, 1));
  if (!lost.ok()) {
    EXPECT_TRUE(lost.error().retryable()) << lost.error().message();
    EXPECT_EQ(lost.error().code(), ErrorCode::kOutcomeUnknown) << lost.error().message();
  }
  Result<HeartbeatReply> again = store->Heartbeat(Request("g", a, LeaseIntent::kRenew, 1));
  ASSERT_TRUE(IsOk(again));
  EXPECT_TRUE(again->held);
}

// A statement the server cannot finish in time (here: waiting for a table lock) ends with
// statement_timeout, as kUnavailable: nothing changed.
TEST_F(PostgresConnectionTest, AStatementStuckOnTheServerEndsAtTheStatementTimeout) {
  PostgresStoreOptions options = Options(&real_);
  options.statement_timeout = milliseconds(300);
  Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
  ASSERT_TRUE(IsOk(store));
  PgSession locker(url_);
  locker.Must("BEGIN");
  locker.Must("LOCK TABLE " + Qualified("members") + " IN ACCESS EXCLUSIVE MODE");
  const TimePoint start = BootClock::now();
  Result<HeartbeatReply> stuck =
      (*store)->Heartbeat(Request("g", Instance("a"), LeaseIntent::kAcquire));
  const Duration took = BootClock::now() - start;
  ASSERT_FALSE(stuck.ok());
  EXPECT_EQ(stuck.error().code(), ErrorCode::kUnavailable) << stuck.error().message();
  EXPECT_LT(took, seconds(2));
  locker.Must("ROLLBACK");
  EXPECT_TRUE(IsOk((*store)->Heartbeat(Request("g", Instance("a"), LeaseIntent::kAcquire))));
}

// A server that stops answering mid-call (its process is stopped, as a dead network would
// look): the client gives up by itself after statement_timeout plus its slack (a quarter of
// the timeout, at most 1 s), and says the write's outcome is unknown.
TEST_F(PostgresConnectionTest, AServerThatStopsAnsweringCannotHangACall) {
  PostgresStoreOptions options = Options(&real_);
  options.statement_timeout = milliseconds(300);
  Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
  ASSERT_TRUE(IsOk(store));
  ASSERT_TRUE(IsOk((*store)->Heartbeat(Request("g", Instance("a"), LeaseIntent::kAcquire))));
  const std::string pid = BackendPid("SELECT * FROM");
  ASSERT_NE(pid, "");
  ASSERT_EQ(kill(std::stoi(pid), SIGSTOP), 0);
  const TimePoint start = BootClock::now();
  Result<HeartbeatReply> hung =
      (*store)->Heartbeat(Request("g", Instance("a"), LeaseIntent::kRenew, 1));
  const Duration took = BootClock::now() - start;
  kill(std::stoi(pid), SIGCONT);
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.error().code(), ErrorCode::kOutcomeUnknown) << hung.error().message();
  EXPECT_GE(took, milliseconds(375));
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_TRUE(IsOk((*store)->Heartbeat(Request("g", Instance("a"), LeaseIntent::kRenew, 1))));
}

// Something that accepts TCP connections and never answers: connecting gives up within the
// connect timeout. An unreachable store at start is not an error of Open(): the caller's
// calls fail with kUnavailable until it can be reached.
TEST_F(PostgresConnectionTest, AServerThatNeverAnswersFailsWithinTheConnectTimeout) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ASSERT_EQ(listen(listener, 16), 0);
  PostgresStoreOptions options = Options(&real_);
  options.url = "postgresql://postgres@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x";
  options.connect_timeout = seconds(1);

  TimePoint start = BootClock::now();
  Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
  EXPECT_LT(BootClock::now() - start, milliseconds(2500));
  ASSERT_TRUE(IsOk(store));
  start = BootClock::now();
  Result<HeartbeatReply> reply =
      (*store)->Heartbeat(Request("g", Instance("a"), LeaseIntent::kAcquire));
  EXPECT_LT(BootClock::now() - start, milliseconds(2500));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code(), ErrorCode::kUnavailable) << reply.error().message();
  close(listener);
}

}  // namespace
}  // namespace baton::conformance
