// `baton schedule` with real processes (SPEC 3.1): scheduling moves to another instance within
// the ttl when the scheduler is killed, and no round runs twice within --every; a deposed
// scheduler's offers are refused by the store on its token; never-claimed items expire and are
// offered again; two schedulers and three workers process every tenant once per round.

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "schedule_fixture.h"

namespace baton::process_test {
namespace {

using test_support::WaitFor;

BATON_INSTANTIATE_ON_STORE_UNDER_TEST(ScheduleTest);

TEST_P(ScheduleTest, KilledSchedulersRoleMovesWithinItsTtlAndNoRoundRunsTwiceWithinEvery) {
  const std::string tenants = TenantsFile("tenants.txt", Tenants("t-", 5));
  const std::vector<std::string> args = {"--every", "3s", "--tenants-file", tenants};
  StartWorker("w", {"--concurrency", "5"});
  Instance& a = StartScheduler("a", args);
  ASSERT_TRUE(WaitForRounds("a", 1, kTtl + kSlack));
  StartScheduler("b", args);
  ASSERT_TRUE(WaitForRounds("a", 2, milliseconds(3000) + kSlack));
  std::this_thread::sleep_for(milliseconds(1000));  // Mid-way between two rounds.
  const int64_t killed_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  a.process.Kill();
  std::vector<std::string> took;
  ASSERT_TRUE(
      WaitFor([&] { return !(took = LogLines("b", "scheduling queue")).empty(); }, kTtl + kSlack))
      << "b did not take the scheduler lease within the ttl";
  EXPECT_LE(LogLineMillis(took[0]) - killed_ms, (kTtl + kSlack).count());
  ASSERT_TRUE(WaitForRounds("b", 3, milliseconds(3000) * 3 + kSlack));

  std::vector<RoundLine> rounds = Rounds("a");
  const std::vector<RoundLine> b_rounds = Rounds("b");
  rounds.insert(rounds.end(), b_rounds.begin(), b_rounds.end());
  const int64_t smallest = CheckRoundsApart(rounds, milliseconds(3000));
  std::printf("rounds: %zu, smallest gap between two rounds %lld ms (--every 3s)\n", rounds.size(),
              static_cast<long long>(smallest));
  for (const RoundLine& r : rounds) {
    EXPECT_EQ(r.offered, 5u) << "each round offers every (processed) tenant once";
  }
  EXPECT_TRUE(ItemEvents("overlap").empty());
}

// A deposed scheduler (paused past its lease while its tenants command runs) resumes in the
// middle of its round: it offers nothing, and nothing of its round is in the queue.
class DeposedSchedulerTest : public ScheduleTest {
 protected:
  // BATON_TEST_UNSAFE_NO_OFFER_FENCE=1 in the test's environment switches the fence off in
  // every run, to show that the tests below fail without it (README "baton schedule").
  void RunDeposed(std::vector<std::string> env) {
    if (const char* v = std::getenv("BATON_TEST_UNSAFE_NO_OFFER_FENCE");
        v && std::string(v) == "1") {
      env.push_back("BATON_UNSAFE_NO_OFFER_FENCE=1");
    }
    const std::string listing = dir_.File("listing"), release = dir_.File("release");
    // a's tenants come from a command that waits, once it has said so, for the test's word.
    const std::string command = "sh -c 'touch " + listing + "; while [ ! -e " + release +
                                " ]; do sleep 0.05; done; printf \"a-1\\na-2\\na-3\\n\"'";
    Instance& a = StartScheduler(
        "a", {"--tenants-command", command, "--tenants-timeout", "30s", "--item-ttl", "1m"}, env);
    ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(listing); }, kTtl + kSlack));
    a.process.Stop();
    const std::string tenants = TenantsFile("b.txt", {"b-1", "b-2"});
    StartScheduler("b", {"--tenants-file", tenants, "--item-ttl", "1m"});
    ASSERT_TRUE(WaitForRounds("b", 1, kTtl + milliseconds(2000) + kSlack))
        << "b did not take over from the paused scheduler";
    test_support::WriteFile(release, "");
    std::this_thread::sleep_for(milliseconds(300));  // The command has printed and exited.
    a.process.Continue();
    ASSERT_TRUE(WaitForRounds("a", 1, kSlack * 3)) << "the resumed scheduler ended no round";
    resumed_round_ = Rounds("a")[0];
    std::this_thread::sleep_for(milliseconds(500));
    for (const std::string& t : QueuedTenants()) queued_.insert(t);
  }

  RoundLine resumed_round_;
  std::set<std::string> queued_;
};

BATON_INSTANTIATE_ON_STORE_UNDER_TEST(DeposedSchedulerTest);

TEST_P(DeposedSchedulerTest, StopsBeforeOfferingWhenItsLeaseMayBeLost) {
  RunDeposed({});
  EXPECT_EQ(resumed_round_.offered, 0u);
  EXPECT_NE(resumed_round_.how.find("cut short"), std::string::npos) << resumed_round_.how;
  EXPECT_EQ(queued_, (std::set<std::string>{"b-1", "b-2"}));
}

// With the scheduler's own stop switched off (a test-only switch), only the store's token
// fence stands between the resumed scheduler and the queue: its offers are refused.
TEST_P(DeposedSchedulerTest, ItsOffersAreRefusedOnTheTokenByTheStore) {
  RunDeposed({"BATON_UNSAFE_SCHEDULE_PAST_DEADLINE=1"});
  EXPECT_EQ(resumed_round_.offered, 0u);
  EXPECT_EQ(resumed_round_.how, "cut short (fenced out)");
  EXPECT_FALSE(LogLines("a", "offer refused: token").empty());
  EXPECT_EQ(queued_, (std::set<std::string>{"b-1", "b-2"})) << "a deposed scheduler's offer landed";
}

// The negative control: with the fence switched off as well, the same run lets the deposed
// scheduler's offers in, and the checks above see them.
TEST_P(DeposedSchedulerTest, WithoutTheFenceItsOffersLand) {
  RunDeposed({"BATON_UNSAFE_SCHEDULE_PAST_DEADLINE=1", "BATON_UNSAFE_NO_OFFER_FENCE=1"});
  EXPECT_EQ(resumed_round_.offered, 3u);
  EXPECT_EQ(queued_.count("a-1"), 1u);
}

TEST_P(ScheduleTest, NeverClaimedItemsExpireAfterTheItemTtlAndTheNextRoundOffersThemAgain) {
  const std::string tenants = TenantsFile("tenants.txt", Tenants("t-", 3));
  StartScheduler("a", {"--every", "2s", "--item-ttl", "1s", "--tenants-file", tenants});
  ASSERT_TRUE(WaitForRounds("a", 1, kTtl + kSlack));
  EXPECT_EQ(Rounds("a")[0].offered, 3u);
  ASSERT_TRUE(WaitForRounds("a", 2, milliseconds(2000) + kSlack));
  const RoundLine second = Rounds("a")[1];
  EXPECT_EQ(second.offered, 3u) << "the expired items' tenants were not offered again";
  EXPECT_EQ(second.skipped, 0u);
  const nlohmann::json stats = QueueJson({"stats"});
  EXPECT_EQ(stats["totals"]["expired"], 3) << stats.dump();
  EXPECT_EQ(stats["depth"]["pending"], 3) << stats.dump();
}

TEST_P(ScheduleTest, TwoSchedulersAndThreeWorkersProcessEveryTenantOncePerRound) {
  const std::vector<std::string> ids = Tenants("tenant-", 200);
  const std::string tenants = TenantsFile("tenants.txt", ids);
  for (const char* w : {"w1", "w2", "w3"}) StartWorker(w, {"--concurrency", "8"}, {"--sleep", "5"});
  // A long item ttl: an item still waiting when the schedulers stop is processed all the same.
  for (const char* s : {"s1", "s2"}) {
    StartScheduler(s, {"--every", "2s", "--item-ttl", "1m", "--tenants-file", tenants});
  }
  const auto total = [&] { return Rounds("s1").size() + Rounds("s2").size(); };
  ASSERT_TRUE(WaitFor([&] { return total() >= 2; }, milliseconds(2000) * 3 + kTtl + kSlack));
  // The scheduling one is killed: the other goes on, and no round runs twice.
  const std::string killed = Rounds("s1").empty() ? "s2" : "s1";
  const std::string other = killed == "s1" ? "s2" : "s1";
  instance(killed).process.Kill();
  ASSERT_TRUE(WaitFor([&] { return total() >= 5; }, milliseconds(2000) * 4 + kTtl + kSlack));
  instance(other).process.Terminate();
  ASSERT_TRUE(instance(other).process.WaitExit(kTtl + kSlack));
  std::vector<RoundLine> all = Rounds("s1");
  const std::vector<RoundLine> s2 = Rounds("s2");
  all.insert(all.end(), s2.begin(), s2.end());
  size_t offered = 0, skipped = 0;
  for (const RoundLine& r : all) {
    EXPECT_EQ(r.offered + r.skipped, 200u) << r.scheduler << " " << r.how;
    offered += r.offered;
    skipped += r.skipped;
  }
  ASSERT_TRUE(
      WaitFor([&] { return DoneTotal() == static_cast<int64_t>(offered); }, kTtl + kSlack * 5))
      << "done " << DoneTotal() << " of " << offered;
  CheckRoundsApart(all, milliseconds(2000));
  // Each offered item ran once, to its end; a tenant whose item of the last round was still
  // waiting when the next came was skipped (unique), never given a second one.
  std::map<uint64_t, int> item_starts;
  std::map<std::string, size_t> tenant_starts;
  for (const ItemEvent& e : ItemEvents("start")) {
    ++item_starts[e.item];
    ++tenant_starts[e.tenant];
  }
  EXPECT_EQ(item_starts.size(), offered);
  for (const auto& [item, n] : item_starts) EXPECT_EQ(n, 1) << "item " << item;
  for (const std::string& t : ids) {
    EXPECT_GE(tenant_starts[t], 1u) << t;
    EXPECT_LE(tenant_starts[t], all.size()) << t << " processed more often than rounds ran";
  }
  if (skipped == 0) {
    for (const std::string& t : ids) EXPECT_EQ(tenant_starts[t], all.size()) << t;
  }
  EXPECT_TRUE(ItemEvents("overlap").empty()) << "a tenant ran twice at once";
  std::printf(
      "%zu rounds of 200 tenants by 2 schedulers (%zu by s1, %s killed): %zu offered, %zu "
      "skipped (still waiting from the round before)\n",
      all.size(), Rounds("s1").size(), killed.c_str(), offered, skipped);
}

}  // namespace
}  // namespace baton::process_test
