// `baton serve` with real processes (SPEC 4): one process hosting a [run], a [schedule] and a
// [work] table does the work of all three and stops them all on SIGTERM, unregistered; two
// such processes share the roles, and SIGKILL of the one that holds them moves them; three
// such processes with a [schedule] and a [work] process every tenant exactly once a round.

#include <signal.h>

#include <map>
#include <set>
#include <thread>

#include "schedule_fixture.h"
#include "support/baton_status.h"

namespace baton::process_test {
namespace {

using test_support::WaitFor;

class ServeTest : public ScheduleTest {
 protected:
  // A config of one run (the probe), one scheduler (tenants t-0 … t-3, every 2s) and one worker
  // (the item probe), on the test's store, group and queue.
  std::string Config() {
    const std::string tenants = TenantsFile("tenants.txt", {"t-0", "t-1", "t-2", "t-3"});
    const std::string path = dir_.File("serve.toml");
    std::string text = "store = \"" + store_ + "\"\ngroup = \"" + group_ + "\"\n\n";
    text +=
        "[run.probe]\nttl = \"2s\"\nheartbeat = \"400ms\"\nmargin = \"200ms\"\n"
        "grace = \"400ms\"\ncommand = [\"" BATON_PROBE_BIN "\", \"--lock\", \"" +
        lock_path_ + "\", \"--log\", \"" + probe_log_ + "\"]\n\n";
    text += "[schedule.jobs]\nqueue = \"" + queue_ +
            "\"\nevery = \"2s\"\nttl = \"2s\"\nheartbeat = \"400ms\"\ntenants-file = \"" + tenants +
            "\"\n\n";
    text += "[work.jobs]\nqueue = \"" + queue_ +
            "\"\nconcurrency = 2\nvisibility = \"2s\"\nbackoff = \"100ms\"\npoll = \"500ms\"\n"
            "command = [\"" BATON_ITEM_PROBE_BIN "\", \"--locks\", \"" +
            locks_dir_ + "\", \"--log\", \"" + item_log_ + "\"]\n";
    test_support::WriteFile(path, text);
    return path;
  }

  Instance& StartServe(const std::string& id, const std::string& config) {
    // The instance id is the member id: the probe logs it as the run's instance.
    return Spawn(id, {BATON_BIN, "serve", "--config", config, "--id", id});
  }

  // The ids of the workers whose "claimed item" lines are in their logs.
  bool Claimed(const std::string& id) { return !Claims(id).empty(); }
};

BATON_INSTANTIATE_ON_STORE_UNDER_TEST(ServeTest);

TEST_P(ServeTest, RunScheduleAndWorkInOneProcessAllWorkAndSigtermStopsAllUnregistered) {
  Instance& a = StartServe("a", Config());
  const std::optional<ProbeEvent> started = WaitForGroup({"a"});
  ASSERT_TRUE(started) << "the run's command did not start";
  ASSERT_TRUE(WaitForRounds("a", 1, kTtl + kSlack)) << "no scheduling round";
  // The item probe's log, not the store's counters: it shows each tenant's command ran to its end.
  std::set<std::string> tenants;
  EXPECT_TRUE(WaitFor(
      [&] {
        tenants.clear();
        for (const ItemEvent& e : ItemEvents("done")) tenants.insert(e.tenant);
        return tenants.size() == 4;
      },
      kTtl + kSlack))
      << "the worker did not process the round's items: " << tenants.size() << " tenants done";

  a.process.Terminate();
  const std::optional<test_support::ExitStatus> exit = a.process.WaitExit(kTtl + kSlack);
  ASSERT_TRUE(exit) << "baton serve did not stop within ttl + 1 s";
  EXPECT_TRUE(exit->Exited(0)) << exit->Describe();
  EXPECT_FALSE(Events("stop").empty()) << "the run's command was not stopped by SIGTERM";
  const test_support::StatusView status = Status();
  EXPECT_TRUE(status.member_ids().empty()) << status.Describe();
  EXPECT_FALSE(status.active());
  EXPECT_TRUE(ItemEvents("overlap").empty());
}

TEST_P(ServeTest, TwoProcessesShareTheRolesAndSigkillMovesRunAndSchedulingToTheOther) {
  const std::string config = Config();
  Instance& a = StartServe("a", config);
  ASSERT_TRUE(WaitForGroup({"a"})) << "a's run did not start";
  ASSERT_TRUE(WaitForRounds("a", 1, kTtl + kSlack));
  StartServe("b", config);
  ASSERT_TRUE(WaitForGroup({"a", "b"})) << "b did not join";
  // Both workers process: enqueue more tenants than one slot pair takes at once.
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) keys.push_back("e-" + std::to_string(i));
  Enqueue(keys);
  EXPECT_TRUE(WaitFor([&] { return Claimed("a") && Claimed("b"); }, kTtl + kSlack * 4))
      << "a claimed " << Claims("a").size() << ", b " << Claims("b").size();
  EXPECT_EQ(Status().active(), std::optional<std::string>("a"));
  EXPECT_TRUE(LogLines("b", "scheduling queue").empty()) << "b scheduled while a held the lease";

  const std::optional<ProbeEvent> before = test_support::LastStart(probe_log_);
  ASSERT_TRUE(before);
  a.process.Kill();
  const std::optional<ProbeEvent> after = WaitForStartAfter(before->token, kTtl + kSlack);
  ASSERT_TRUE(after) << "b's run did not become active within ttl + 1 s";
  EXPECT_EQ(after->instance, "b");
  EXPECT_TRUE(WaitFor([&] { return !LogLines("b", "scheduling queue").empty(); }, kTtl + kSlack))
      << "b did not take the scheduler lease within ttl + 1 s";
  EXPECT_TRUE(WaitForRounds("b", 1, kTtl + kSlack * 2)) << "b ran no round";
}

// The second source document as the issue puts it: three instances, each one `baton serve`
// with a [schedule] and a [work] table, 200 tenants every 2 s. With no fault, every tenant is
// processed exactly once a round, never two at once (the item probe's flock per tenant).
TEST_P(ServeTest, ThreeInstancesProcessEveryTenantExactlyOncePerRound) {
  const std::vector<std::string> ids = Tenants("tenant-", 200);
  const std::string tenants = TenantsFile("tenants.txt", ids);
  const std::string config = dir_.File("three.toml");
  test_support::WriteFile(
      config,
      "store = \"" + store_ + "\"\ngroup = \"" + group_ + "\"\n\n[schedule.jobs]\nqueue = \"" +
          queue_ + "\"\nevery = \"2s\"\nitem-ttl = \"1m\"\nttl = \"2s\"\n" +
          "heartbeat = \"400ms\"\ntenants-file = \"" + tenants + "\"\n\n[work.jobs]\nqueue = \"" +
          queue_ + "\"\nconcurrency = 8\nvisibility = \"2s\"\npoll = \"500ms\"\n" +
          "command = [\"" BATON_ITEM_PROBE_BIN "\", \"--locks\", \"" + locks_dir_ +
          "\", \"--log\", \"" + item_log_ + "\", \"--sleep\", \"5\"]\n");
  for (const char* id : {"a", "b", "c"}) StartServe(id, config);
  const auto rounds = [&] {
    std::vector<RoundLine> all;
    for (const char* id : {"a", "b", "c"}) {
      const std::vector<RoundLine> mine = Rounds(id);
      all.insert(all.end(), mine.begin(), mine.end());
    }
    return all;
  };
  ASSERT_TRUE(WaitFor([&] { return rounds().size() >= 5; }, milliseconds(2000) * 6 + kTtl + kSlack))
      << rounds().size() << " rounds";
  // The fifth round's items done too (a sixth round may have begun meanwhile).
  ASSERT_TRUE(WaitFor([&] { return ItemEvents("done").size() >= 1000; }, kTtl + kSlack * 3))
      << ItemEvents("done").size() << " items done";
  for (const char* id : {"a", "b", "c"}) instance(id).process.Terminate();
  for (const char* id : {"a", "b", "c"}) {
    const std::optional<test_support::ExitStatus> exit =
        instance(id).process.WaitExit(kTtl + kSlack);
    ASSERT_TRUE(exit) << id << " did not stop";
    EXPECT_TRUE(exit->Exited(0)) << id << ": " << exit->Describe();
  }
  const std::vector<RoundLine> all = rounds();
  CheckRoundsApart(all, milliseconds(2000));
  // No round skipped a tenant: each found the tenant's item of the round before acknowledged.
  size_t offered = 0;
  for (const RoundLine& r : all) {
    EXPECT_EQ(r.offered, 200u) << r.scheduler << " " << r.how << ": " << r.skipped
                               << " skipped, an item of the round before was still waiting";
    offered += r.offered;
  }
  std::map<uint64_t, int> item_done;
  std::map<std::string, size_t> tenant_done;
  for (const ItemEvent& e : ItemEvents("done")) {
    ++item_done[e.item];
    ++tenant_done[e.tenant];
  }
  for (const auto& [item, n] : item_done) EXPECT_EQ(n, 1) << "item " << item << " ran twice";
  // Every round but the last (its unfinished items released by the SIGTERM) is whole.
  for (const std::string& t : ids) {
    EXPECT_GE(tenant_done[t] + 1, all.size()) << t << " missed a round";
    EXPECT_LE(tenant_done[t], all.size()) << t;
  }
  EXPECT_TRUE(ItemEvents("overlap").empty()) << "a tenant ran twice at once";
  std::printf("%zu rounds of 200 tenants by 3 baton serve instances: %zu offered, %zu done\n",
              all.size(), offered, item_done.size());
}

// Each bad file is refused by --check (and by serve itself, which checks the same way) with
// exit 2 and a message naming the table and the key.
TEST_P(ServeTest, CheckRefusesABadTableOrKeyNamingItAndSummarisesAGoodFile) {
  const std::string good = Config();
  const test_support::CommandResult ok =
      test_support::RunCommand({BATON_BIN, "serve", "--check", "--config", good}, kSlack * 10);
  ASSERT_TRUE(ok.status && ok.status->Exited(0)) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("3 service(s): run.probe"), std::string::npos) << ok.out;
  std::printf("%s", ok.out.c_str());

  const std::string head = "store = \"" + store_ + "\"\ngroup = \"" + group_ + "\"\n";
  const std::string command = "command = [\"true\"]\n";
  struct Bad {
    std::string body;
    std::vector<std::string> expected;
  };
  const std::vector<Bad> cases = {
      {"[frobnicate.x]\nqueue = \"q\"\n", {"unknown table [frobnicate.x]"}},
      {"[work.x]\nqueue = \"q\"\nfrob = 1\n" + command, {"[work.x]", "unknown key \"frob\""}},
      {"[schedule.x]\nqueue = \"q\"\nevery = \"5 parsecs\"\ntenants-file = \"/dev/null\"\n",
       {"[schedule.x]", "every"}},
      {"[schedule.x]\nqueue = \"q\"\nevery = 5\ntenants-file = \"/dev/null\"\n",
       {"[schedule.x]", "has no unit"}},
      {"[run.x]\nttl = \"2s\"\n", {"[run.x]", "command is required"}},
      {"[work.x]\n" + command, {"[work.x]", "queue is required"}},
      {"[run.x]\nstore = \"sqlite:/tmp/other.db\"\n" + command, {"[run.x]", "store is shared"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = dir_.File("bad-" + std::to_string(i) + ".toml");
    test_support::WriteFile(path, head + cases[i].body);
    for (bool check : {true, false}) {
      std::vector<std::string> argv = {BATON_BIN, "serve", "--config", path};
      if (check) argv.push_back("--check");
      const test_support::CommandResult r = test_support::RunCommand(argv, kSlack * 10);
      ASSERT_TRUE(r.status) << "timed out: " << cases[i].body;
      EXPECT_TRUE(r.status->Exited(2)) << r.status->Describe() << " for " << cases[i].body;
      for (const std::string& text : cases[i].expected) {
        EXPECT_NE(r.err.find(text), std::string::npos) << "no \"" << text << "\" in " << r.err;
      }
      if (check) std::printf("%s", r.err.c_str());
    }
  }
}

}  // namespace
}  // namespace baton::process_test
