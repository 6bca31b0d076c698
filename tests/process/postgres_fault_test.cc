// Real `baton run` processes on PostgreSQL while the database misbehaves: sessions killed by
// an administrator, server restarts longer and shorter than the ttl, a server that is down
// when baton starts, and bad store URLs and passwords. The probe's flock and log judge
// "never two active" (checked after every test by the fixture).

#include <sys/prctl.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "group_fixture.h"
#include "postgres_test_env.h"

namespace baton::process_test {
namespace {

using test_support::CommandResult;
using test_support::HoldsFor;
using test_support::IsAlive;
using test_support::PgCluster;
using test_support::ReadFile;
using test_support::ReadLines;
using test_support::RunCommand;
using test_support::WaitFor;

// Whether some line of `text` starts with "baton: " and contains every one of `parts`.
bool HasMessage(const std::string& text, const std::vector<std::string>& parts) {
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    if (line.rfind("baton: ", 0) != 0) continue;
    bool all = true;
    for (const std::string& part : parts) all = all && line.find(part) != std::string::npos;
    if (all) return true;
  }
  return false;
}

class PgFaultTest : public BatonGroupTest {
 protected:
  void SetUp() override {
    BatonGroupTest::SetUp();
    BATON_REQUIRE_PG_CLUSTER(cluster_);
    database_ = cluster_->CreateDatabase("fault");
    UseStore(cluster_->Url(database_));
  }

  void TearDown() override {
    BatonGroupTest::TearDown();
    // A test that failed while the server was down must not take it from the tests after it.
    if (server_down_) StartServer();
  }

  void StopServer() {
    cluster_->StopServer();
    server_down_ = true;
  }
  // The server daemonizes: were this process still a subreaper, the server would become its
  // descendant and die with the test's clean-up (KillDescendants).
  void StartServer() {
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    cluster_->StartServer();
    test_support::BecomeSubreaper();
    server_down_ = false;
  }

  // The test's database, with the sessions of instance `id` named after it, so that the test
  // can tell them from the others' in pg_stat_activity.
  std::string NamedUrl(const std::string& id) const {
    return store_ + "?application_name=baton-" + id;
  }
  int Sessions(const std::string& id) const {
    return std::stoi(cluster_->Query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'baton-" + id + "'"));
  }
  // Ends every session of instance `id` as an administrator would; returns how many.
  int TerminateSessions(const std::string& id) const {
    return std::stoi(
        cluster_->Query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = 'baton-" +
                        id + "'"));
  }

  bool OutputHas(const std::string& id, const std::vector<std::string>& parts) const {
    for (const std::string& line : ReadLines(dir_.File(id + ".out"))) {
      bool all = true;
      for (const std::string& part : parts) all = all && line.find(part) != std::string::npos;
      if (all) return true;
    }
    return false;
  }

  PgCluster* cluster_ = nullptr;
  std::string database_;
  bool server_down_ = false;
};

TEST_F(PgFaultTest, TerminatedSessionsOfTheActiveAreReopenedAndNeverMakeTwoActive) {
  const std::vector<std::string> ids = {"a", "b", "c"};
  Start("a", {.store = NamedUrl("a")});
  const std::optional<ProbeEvent> first = WaitForGroup({"a"});
  ASSERT_TRUE(first);
  for (const std::string id : {"b", "c"}) Start(id, {.store = NamedUrl(id)});
  ASSERT_TRUE(WaitForGroup(ids));

  // Three times, about one heartbeat apart: the active instance may keep its lease (it
  // reconnects in time) or lose it to another, but never shares it.
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(WaitFor([&] { return Sessions("a") >= 1; }, kSlack))
        << "round " << round << ": a did not reconnect";
    EXPECT_GE(TerminateSessions("a"), 1) << "round " << round;
    std::this_thread::sleep_for(kHeartbeat);
  }
  EXPECT_TRUE(WaitFor([&] { return Sessions("a") >= 1; }, kSlack)) << "a did not reconnect";
  const std::optional<ProbeEvent> settled = WaitForGroup(ids, kTtl + kSlack);
  ASSERT_TRUE(settled);
  EXPECT_TRUE(instance("a").process.Running());
  EXPECT_TRUE(HoldsFor([&] { return Status().active_members() == 1; }, 2 * kHeartbeat))
      << Status().Describe();
  EXPECT_TRUE(OutputHas("a", {"failed"})) << "a said nothing of its lost session";
}

TEST_F(PgFaultTest, RestartLongerThanTheTtlEndsActiveWorkByTheDeadlineThenCompetesAgain) {
  const ProbeEvent old = StartGroup({"a", "b"});

  const auto stopped_at = std::chrono::steady_clock::now();
  StopServer();
  // The last renewal was sent at most a heartbeat before the stop, and the deadline is
  // ttl − margin after it.
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(old.pid); }, kTtl + kSlack))
      << "the child outlived the deadline while the database was down";
  EXPECT_EQ(Events("start").size(), 1u) << "a child started while the database was down";

  std::this_thread::sleep_until(stopped_at + kTtl + milliseconds(500));
  EXPECT_TRUE(instance("a").process.Running() && instance("b").process.Running())
      << "an instance gave up while the database was down";
  StartServer();

  // Back, the old lease has expired by the database's clock; a contender still watches it
  // for one ttl on its own clock before taking it.
  const std::optional<ProbeEvent> next = WaitForStartAfter(old.token, 2 * kTtl + kSlack);
  ASSERT_TRUE(next) << "nobody became active after the restart";
  ASSERT_TRUE(WaitForGroup({"a", "b"}, kTtl + kSlack));
  EXPECT_TRUE(OutputHas(old.instance, {"heartbeat", "failed", "127.0.0.1"}))
      << "the outage was not in the log";
}

TEST_F(PgFaultTest, RestartShorterThanTheTtlKeepsTheLeaseTheTokenAndTheChild) {
  const ProbeEvent old = StartGroup({"a", "b"});
  // Right after a renewal, so that the restart has nearly all of ttl − margin: the active
  // instance keeps its lease if a renewal sent after the restart succeeds before its deadline.
  const std::string renewals = "SELECT renewals FROM baton.leases";
  const std::string before = cluster_->Query(renewals, database_);
  ASSERT_TRUE(WaitFor([&] { return cluster_->Query(renewals, database_) != before; },
                      kHeartbeat + kSlack, milliseconds(5)))
      << "no renewal";

  const auto stopped_at = std::chrono::steady_clock::now();
  StopServer();
  std::this_thread::sleep_for(milliseconds(300));
  StartServer();
  const auto down_for =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - stopped_at);
  // The active instance retries every heartbeat/4 while it is active.
  const milliseconds window = kTtl - kMargin - kHeartbeat / 4;
  ASSERT_LT(down_for, window) << "the restart itself took " << down_for.count()
                              << " ms: too long to tell whether baton keeps its lease";

  EXPECT_TRUE(HoldsFor(
      [&] { return IsAlive(old.pid) && Events("start").size() == 1 && Events("stop").empty(); },
      kTtl + kHeartbeat))
      << "the active child did not survive a restart of " << down_for.count() << " ms";
  const StatusView status = Status();
  EXPECT_EQ(status.active(), old.instance) << status.Describe();
  EXPECT_EQ(status.lease_token(), old.token) << status.Describe();
  EXPECT_EQ(status.active_members(), 1) << status.Describe();
  EXPECT_TRUE(OutputHas(old.instance, {"heartbeat", "failed"})) << "the restart went unnoticed";
  EXPECT_FALSE(OutputHas(old.instance, {"lost the lease"}));
}

TEST_F(PgFaultTest, ServerDownAtStartIsRetriedAndTheInstanceBecomesActiveOnceItIsUp) {
  StopServer();
  Start("a");
  EXPECT_TRUE(HoldsFor([&] { return instance("a").process.Running(); }, milliseconds(1500)))
      << "baton gave up on a server that is down";
  EXPECT_TRUE(Events("start").empty());
  EXPECT_TRUE(OutputHas("a", {"127.0.0.1:" + std::to_string(cluster_->port()), "retrying"}))
      << ReadFile(dir_.File("a.out"));

  StartServer();
  ASSERT_TRUE(WaitForGroup({"a"}, kHeartbeat + kTtl + kSlack));
}

TEST_F(PgFaultTest, BadUrlWrongPasswordAndMissingDatabaseAreRefusedWithExitCode2) {
  const std::string port = std::to_string(cluster_->port());
  const std::string secret = "Wr0ng-" + cluster_->password();
  struct Case {
    std::string name;
    std::string url;
    std::vector<std::string> mentions;
  };
  const std::vector<Case> cases = {
      {"wrong password",
       cluster_->PasswordUrl(database_, secret),
       {PgCluster::kPasswordUser, "password"}},
      {"missing database", cluster_->Url("no_such_db"), {"no_such_db", "does not exist"}},
      {"unknown URL parameter",
       "postgresql://" + std::string(PgCluster::kPasswordUser) + ":" + secret +
           "@127.0.0.1:" + port + "/" + database_ + "?no_such_option=1",
       {"no_such_option"}},
      {"bad percent-encoding", "postgresql://127.0.0.1:" + port + "/%zz", {"%zz"}},
  };
  for (const Case& c : cases) {
    const CommandResult result = RunCommand(RunArgv("a", {.store = c.url}));
    EXPECT_TRUE(result.Exited(2)) << c.name << ": " << result.Describe();
    EXPECT_TRUE(HasMessage(result.err, c.mentions)) << c.name << ": " << result.Describe();
    EXPECT_EQ(result.err.find(secret), std::string::npos) << c.name << ": " << result.Describe();
    EXPECT_EQ(result.out.find(secret), std::string::npos) << c.name << ": " << result.Describe();
  }
  EXPECT_TRUE(Events("start").empty()) << "the command ran";
}

TEST_F(PgFaultTest, PasswordIsInNoLogNoCommandLineAndNoChildEnvironment) {
  const std::string database = cluster_->CreateDatabase("pw", PgCluster::kPasswordUser);
  UseStore(cluster_->Url(database));
  const std::string password = cluster_->password();
  const std::string env_path = dir_.File("env.txt");
  // In the URL's user part, and as a query parameter.
  Start("a",
        {.probe_args = {"--env", env_path}, .store = cluster_->PasswordUrl(database, password)});
  ASSERT_TRUE(WaitForGroup({"a"}));
  Start("b", {.store = "postgresql://" + std::string(PgCluster::kPasswordUser) +
                       "@127.0.0.1:" + std::to_string(cluster_->port()) + "/" + database +
                       "?password=" + password});
  ASSERT_TRUE(WaitForGroup({"a", "b"}));

  for (const std::string id : {"a", "b"}) {
    const std::string cmdline =
        ReadFile("/proc/" + std::to_string(instance(id).process.pid()) + "/cmdline");
    EXPECT_NE(cmdline.find(PgCluster::kPasswordUser), std::string::npos) << id << ": " << cmdline;
    EXPECT_EQ(cmdline.find(password), std::string::npos)
        << id << ": the password is in " << cmdline;
  }
  const std::string env = ReadFile(env_path);
  ASSERT_FALSE(env.empty()) << "the probe wrote no environment";
  EXPECT_EQ(env.find(password), std::string::npos) << "the child got the password";
  EXPECT_EQ(env.find("postgresql://"), std::string::npos) << "the child got the store URL";

  // Stopping writes log lines too.
  for (const std::string id : {"b", "a"}) {
    instance(id).process.Terminate();
    const std::optional<test_support::ExitStatus> exit = instance(id).process.WaitExit(kSlack);
    ASSERT_TRUE(exit) << id;
    EXPECT_TRUE(exit->Exited(0)) << id << ": " << exit->Describe();
    const std::string output = ReadFile(dir_.File(id + ".out"));
    EXPECT_FALSE(output.empty());
    EXPECT_EQ(output.find(password), std::string::npos) << id << " printed the password:\n"
                                                        << output;
  }
}

TEST_F(PgFaultTest, GroupNameWithQuotesAndSqlIsStoredAndShownAsPlainData) {
  group_ = "svc'); DROP TABLE baton.leases; --\"x";
  Start("a");
  ASSERT_TRUE(WaitForGroup({"a"}));
  const StatusView status = Status();
  ASSERT_TRUE(status.valid()) << status.Describe();
  EXPECT_EQ(status.json()["group"], group_) << status.Describe();
  EXPECT_EQ(cluster_->Query("SELECT group_name FROM baton.leases", database_), group_);
  EXPECT_EQ(cluster_->Query("SELECT count(*) FROM baton.leases", database_), "1");
}

TEST_F(PgFaultTest, PgSchemaMakesASeparateStoreInTheSameDatabase) {
  Start("a");
  ASSERT_TRUE(WaitForGroup({"a"}));
  // The other schema's group has its own active child: its probes share another lock and log.
  const InstanceOptions other = {
      .baton_args = {"--pg-schema", "other"},
      .probe_args = {"--lock", dir_.File("other.lock"), "--log", dir_.File("other.log")}};
  Start("x", other);
  Start("y", other);
  auto status_in = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {BATON_BIN, "status", "--store", store_,
                                     "--group", group_,   "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const CommandResult result = RunCommand(argv);
    return StatusView(result, nlohmann::json::parse(result.out, nullptr, false));
  };
  auto members = [](const StatusView& status) {
    std::vector<std::string> ids = status.member_ids();
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  const std::vector<std::string> other_ids = {"x", "y"};
  EXPECT_TRUE(WaitFor(
      [&] {
        const StatusView status = status_in({"--pg-schema", "other"});
        return members(status) == other_ids && status.active();
      },
      kTtl + kSlack))
      << status_in({"--pg-schema", "other"}).Describe();
  EXPECT_EQ(members(Status()), std::vector<std::string>{"a"}) << Status().Describe();
  EXPECT_EQ(cluster_->Query("SELECT count(*) FROM other.leases", database_), "1");
  EXPECT_EQ(cluster_->Query("SELECT count(*) FROM baton.leases", database_), "1");
}

}  // namespace
}  // namespace baton::process_test
