// `baton work` with real processes (SPEC 3): every item runs to completion once, no tenant
// twice at once (judged by a flock per tenant), a killed or paused worker's item is taken again
// after the visibility and its command dies first, SIGTERM hands unfinished items over at
// once, and stale claim tokens are refused.

#include <signal.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "store_url.h"
#include "work_fixture.h"

namespace baton::process_test {
namespace {

using test_support::IsAlive;
using test_support::WaitFor;

int64_t NowNs() { return test_support::MonoNowNs(); }

// The store, opened directly as a worker would, to play a worker whose claim ran out.
std::unique_ptr<Queue> OpenQueueDirectly(const std::string& url) {
  auto queue = cli::OpenQueue(url, Clock::Real(), {});
  if (!queue) ADD_FAILURE() << queue.error().message();
  return queue ? std::move(queue).value() : nullptr;
}

BATON_INSTANTIATE_ON_STORE_UNDER_TEST(WorkTest);

TEST_P(WorkTest, ThreeWorkersRunEveryItemExactlyOnceAndNoTenantTwiceAtOnce) {
  std::vector<std::string> keys;
  for (int round = 0; round < 5; ++round) {
    for (int t = 0; t < 200; ++t) keys.push_back("tenant-" + std::to_string(t));
  }
  const std::vector<uint64_t> ids = Enqueue(keys);
  ASSERT_EQ(ids.size(), 1000u);
  for (const char* id : {"a", "b", "c"}) {
    StartWorker(id, {"--concurrency", "4"}, {"--sleep", "2"});
  }
  EXPECT_TRUE(WaitFor([&] { return DoneTotal() == 1000; }, milliseconds(120000), milliseconds(500)))
      << "done: " << DoneTotal();
  EXPECT_TRUE(ItemEvents("overlap").empty()) << "a tenant ran twice at once";
  std::map<uint64_t, int> starts, dones;
  for (const ItemEvent& e : ItemEvents("start")) ++starts[e.item];
  for (const ItemEvent& e : ItemEvents("done")) ++dones[e.item];
  for (uint64_t id : ids) {
    EXPECT_EQ(starts[id], 1) << "item " << id << " started " << starts[id] << " times";
    EXPECT_EQ(dones[id], 1) << "item " << id << " completed " << dones[id] << " times";
  }
  const nlohmann::json stats = QueueJson({"stats"});
  EXPECT_EQ(stats["depth"]["pending"], 0);
  EXPECT_EQ(stats["depth"]["running"], 0);
  EXPECT_EQ(stats["depth"]["waiting"], 0);
  EXPECT_EQ(stats["depth"]["dead"], 0);
}

TEST_P(WorkTest, KilledWorkersItemIsClaimedAgainAfterTheVisibilityAndItsCommandDiesWithIt) {
  Instance& a = StartWorker("a", {}, {"--hang-until", "1"});
  const std::vector<uint64_t> ids = Enqueue({"acme"});
  ASSERT_EQ(ids.size(), 1u);
  const std::optional<ItemEvent> first = WaitForItem("start", ids[0], kTtl + kSlack, 1);
  ASSERT_TRUE(first);
  const int64_t killed_at = NowNs();
  a.process.Kill();
  // The guardian sees baton gone and ends the command (SIGTERM, SIGKILL within the grace).
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(first->pid); }, milliseconds(1500)))
      << "the killed worker's command outlived it";
  // A 10 s poll: only the claim's expiry, which the queue reports, can wake it in time.
  StartWorker("b", {"--poll", "10s"});
  const std::optional<ItemEvent> again = WaitForItem("start", ids[0], kVisibility + kSlack, 2);
  ASSERT_TRUE(again) << "the item was not claimed again within visibility + 1 s";
  EXPECT_LE(again->mono_ns - killed_at, (kVisibility + kSlack).count() * 1'000'000LL);
  EXPECT_GT(again->token, first->token);
  EXPECT_TRUE(WaitForItem("done", ids[0], kTtl + kSlack, 2));
  EXPECT_TRUE(WaitFor([&] { return DoneTotal() == 1; }, kTtl + kSlack));

  // The killed worker's claim token, used late: refused, and the item stays done.
  std::unique_ptr<Queue> queue = OpenQueueDirectly(store_);
  ASSERT_TRUE(queue);
  auto late = queue->Acknowledge({group_, queue_}, {{ids[0], first->token}});
  ASSERT_TRUE(late.ok()) << late.error().message();
  EXPECT_EQ((*late)[0], ClaimOutcome::kStale);
  auto extend = queue->Extend({group_, queue_}, {ids[0], first->token}, kVisibility);
  ASSERT_TRUE(extend.ok());
  EXPECT_EQ(*extend, ClaimOutcome::kStale);
  EXPECT_TRUE(ItemEvents("overlap").empty());
}

TEST_P(WorkTest, PausedWorkersCommandIsKilledByTheClaimsDeadlineBeforeAnotherClaimStarts) {
  Instance& a = StartWorker("a", {}, {"--hang-until", "1"});
  const std::vector<uint64_t> ids = Enqueue({"acme"});
  const std::optional<ItemEvent> first = WaitForItem("start", ids[0], kTtl + kSlack, 1);
  ASSERT_TRUE(first);
  a.process.Stop();
  StartWorker("b");
  int64_t died_at = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        if (IsAlive(first->pid)) return false;
        died_at = NowNs();
        return true;
      },
      kVisibility + kSlack, milliseconds(5)))
      << "a paused worker's command outlived its claim";
  const std::optional<ItemEvent> again = WaitForItem("start", ids[0], kVisibility + kSlack, 2);
  ASSERT_TRUE(again);
  // Polled every 5 ms: the death was seen at most that late.
  EXPECT_LT(died_at - 5'000'000, again->mono_ns) << "the second claim started before the first "
                                                    "command had died";
  EXPECT_TRUE(WaitForItem("done", ids[0], kTtl + kSlack, 2));

  // Back from the pause: its calls with the old claim are refused, and it goes on working.
  a.process.Continue();
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::string log = test_support::ReadFile(a.output_path);
        return log.find("refused") != std::string::npos || log.find("stale") != std::string::npos;
      },
      kTtl + kSlack))
      << test_support::ReadFile(a.output_path);
  instance("b").process.Terminate();
  ASSERT_TRUE(instance("b").process.WaitExit(kTtl + kSlack));
  const std::vector<uint64_t> more = Enqueue({"globex"});
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const auto& [item, tenant] : Claims("a")) {
          if (item == more[0]) return true;
        }
        return false;
      },
      kTtl + kSlack))
      << "the resumed worker stopped claiming";
  EXPECT_TRUE(ItemEvents("overlap").empty());
}

// The negative control of the test above: with the guardian's deadline switched off (a
// test-only switch), the paused worker's command outlives its claim, and the tenant's lock
// catches the second claim running beside it.
TEST_P(WorkTest, TenantLockCatchesACommandThatOutlivesItsClaim) {
  Instance& a = StartWorker("a", {}, {"--hang-until", "1"}, {"BATON_UNSAFE_IGNORE_DEADLINE=1"});
  const std::vector<uint64_t> ids = Enqueue({"acme"});
  const std::optional<ItemEvent> first = WaitForItem("start", ids[0], kTtl + kSlack, 1);
  ASSERT_TRUE(first);
  a.process.Stop();
  StartWorker("b");
  EXPECT_TRUE(WaitForItem("overlap", ids[0], kVisibility + kSlack, 2))
      << "the check missed a command that outlived its claim";
  EXPECT_TRUE(IsAlive(first->pid));
  a.process.Kill();
}

TEST_P(WorkTest, SigtermReleasesUnfinishedItemsToAnotherWorkerAtOnce) {
  Instance& a = StartWorker("a", {"--visibility", "10s"}, {"--hang"});
  const std::vector<uint64_t> ids = Enqueue({"acme"});
  const std::optional<ItemEvent> first = WaitForItem("start", ids[0], kTtl + kSlack);
  ASSERT_TRUE(first);
  StartWorker("b", {"--visibility", "10s"});
  const int64_t termed_at = NowNs();
  a.process.Terminate();
  const auto exit = a.process.WaitExit(kTtl + kSlack);
  ASSERT_TRUE(exit);
  EXPECT_TRUE(exit->Exited(0)) << exit->Describe();
  EXPECT_FALSE(ItemEvents("term").empty()) << "the running command got no SIGTERM";
  std::optional<ItemEvent> again;
  WaitFor(
      [&] {
        for (const ItemEvent& e : ItemEvents("start")) {
          if (e.item == ids[0] && e.pid != first->pid) again = e;
        }
        return again.has_value();
      },
      milliseconds(3000));
  ASSERT_TRUE(again) << "the released item was not taken at once";
  // Long before the 10 s visibility: the claim was released, not left to expire.
  EXPECT_LT(again->mono_ns - termed_at, 3'000'000'000LL);
  EXPECT_EQ(again->attempt, 1) << "a release gives the attempt back";
  EXPECT_TRUE(WaitFor([&] { return DoneTotal() == 1; }, kTtl + kSlack));
}

TEST_P(WorkTest, FailuresBackOffThenDeadLetterAndRequeueBringsTheItemBack) {
  Instance& a =
      StartWorker("a", {"--max-attempts", "3", "--backoff", "200ms"}, {"--exit-code", "1"});
  const std::vector<uint64_t> ids = Enqueue({"acme"});
  ASSERT_TRUE(WaitFor([&] { return QueueJson({"dead"}).size() == 1; }, milliseconds(10000)));
  std::vector<int64_t> starts;
  for (const ItemEvent& e : ItemEvents("start")) starts.push_back(e.mono_ns);
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_GT(starts[2] - starts[1], starts[1] - starts[0]) << "the backoff did not grow";
  EXPECT_GE(starts[1] - starts[0], 100'000'000) << "retried before the 200 ms backoff's floor";
  const nlohmann::json dead = QueueJson({"dead"});
  EXPECT_EQ(dead[0]["attempts"], 3);
  EXPECT_EQ(dead[0]["exit_code"], 1);
  EXPECT_NE(dead[0]["last_error"].get<std::string>().find("finished"), std::string::npos)
      << "the tail of standard error is not kept: " << dead.dump();

  // Exit 65 is a poison item: dead at once.
  a.process.Terminate();
  ASSERT_TRUE(a.process.WaitExit(kTtl + kSlack));
  Instance& poison = StartWorker("poison", {"--max-attempts", "3"}, {"--exit-code", "65"});
  const std::vector<uint64_t> bad = Enqueue({"globex"});
  ASSERT_TRUE(WaitFor([&] { return QueueJson({"dead"}).size() == 2; }, milliseconds(5000)));
  EXPECT_FALSE(WaitForItem("start", bad[0], milliseconds(100), 2).has_value())
      << "a poison item was retried";
  poison.process.Terminate();
  ASSERT_TRUE(poison.process.WaitExit(kTtl + kSlack));

  // A fixed command, and the dead item back: it completes.
  StartWorker("fixed");
  const test_support::CommandResult requeue =
      test_support::RunCommand({BATON_BIN, "queue", "--store", store_, "--group", group_, "--queue",
                                queue_, "requeue", std::to_string(ids[0])});
  EXPECT_TRUE(requeue.Exited(0)) << requeue.Describe();
  EXPECT_TRUE(WaitFor([&] { return DoneTotal() == 1; }, kTtl + kSlack));
}

TEST_P(WorkTest, WorkerKilledOnEveryAttemptStillEndsInTheDeadLetters) {
  const std::vector<uint64_t> ids = Enqueue({"acme"});
  for (int attempt = 1; attempt <= 2; ++attempt) {
    Instance& w = StartWorker("w" + std::to_string(attempt), {"--max-attempts", "2"}, {"--hang"});
    ASSERT_TRUE(WaitForItem("start", ids[0], kVisibility + kSlack * 2, attempt)) << attempt;
    w.process.Kill();
  }
  StartWorker("last", {"--max-attempts", "2"});
  EXPECT_TRUE(WaitFor([&] { return QueueJson({"dead"}).size() == 1; }, kVisibility + kSlack * 2));
  EXPECT_FALSE(WaitForItem("start", ids[0], milliseconds(100), 3).has_value());
}

TEST_P(WorkTest, NeverClaimedItemPastItsTtlExpiresUnprocessedAndAClaimedOneDoesNot) {
  const std::vector<uint64_t> stale = Enqueue({"early"}, {"--item-ttl", "1s"});
  std::this_thread::sleep_for(milliseconds(1500));
  StartWorker("a", {"--concurrency", "2"}, {"--sleep", "2000"});
  const std::vector<uint64_t> fresh = Enqueue({"late"}, {"--item-ttl", "1s"});
  EXPECT_TRUE(WaitForItem("done", fresh[0], milliseconds(5000)))
      << "a claimed item was dropped when its ttl ran out";
  EXPECT_FALSE(WaitForItem("start", stale[0], milliseconds(100)).has_value())
      << "an expired item ran";
  const nlohmann::json stats = QueueJson({"stats"});
  EXPECT_EQ(stats["totals"]["expired"], 1) << stats.dump();
  EXPECT_EQ(stats["totals"]["done"], 1) << stats.dump();
}

TEST_P(WorkTest, TimeoutStopsAHungCommandAndFailsTheAttempt) {
  StartWorker("a", {"--timeout", "1s", "--max-attempts", "1"}, {"--hang"});
  const std::vector<uint64_t> ids = Enqueue({"acme"});
  ASSERT_TRUE(WaitFor([&] { return QueueJson({"dead"}).size() == 1; }, milliseconds(5000)));
  EXPECT_FALSE(ItemEvents("term").empty()) << "the hung command got no SIGTERM";
  const nlohmann::json dead = QueueJson({"dead"});
  EXPECT_NE(dead[0]["last_error"].get<std::string>().find("stopped after its timeout 1s"),
            std::string::npos)
      << dead.dump();
}

TEST_P(WorkTest, CancelStopsARunningItemAndPauseStopsClaiming) {
  StartWorker("a", {"--concurrency", "2"}, {"--hang"});
  const std::vector<uint64_t> ids = Enqueue({"acme"});
  const std::optional<ItemEvent> running = WaitForItem("start", ids[0], kTtl + kSlack);
  ASSERT_TRUE(running);
  const std::vector<std::string> queue = {BATON_BIN, "queue", "--store", store_,
                                          "--group", group_,  "--queue", queue_};
  auto run = [&](std::vector<std::string> action) {
    std::vector<std::string> argv = queue;
    argv.insert(argv.end(), action.begin(), action.end());
    return test_support::RunCommand(argv);
  };
  EXPECT_TRUE(run({"cancel", std::to_string(ids[0])}).Exited(0));
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(running->pid); }, kVisibility))
      << "a cancelled item's command kept running";
  EXPECT_TRUE(WaitFor([&] { return QueueJson({"list"}).empty(); }, kVisibility + kSlack));

  // A pending item cancelled never runs.
  EXPECT_TRUE(run({"pause"}).Exited(0));
  const std::vector<uint64_t> paused = Enqueue({"globex", "initech"});
  EXPECT_TRUE(run({"cancel", std::to_string(paused[1])}).Exited(0));
  EXPECT_TRUE(test_support::HoldsFor(
      [&] { return !WaitForItem("start", paused[0], milliseconds(1)); }, milliseconds(1500)))
      << "a paused queue was claimed from";
  EXPECT_TRUE(run({"resume"}).Exited(0));
  EXPECT_TRUE(WaitForItem("start", paused[0], kTtl + kSlack)) << "resume did not restart claims";
  EXPECT_FALSE(WaitForItem("start", paused[1], milliseconds(500)).has_value())
      << "a cancelled item ran";
}

TEST_P(WorkTest, OneTenantsManyItemsDelayOthersByOneClaimEach) {
  std::vector<std::string> keys(10000, "big");
  Enqueue(keys);
  std::vector<std::string> singles;
  for (int t = 0; t < 100; ++t) singles.push_back("single-" + std::to_string(t));
  Enqueue(singles);
  StartWorker("a", {"--concurrency", "1"});
  ASSERT_TRUE(WaitFor([&] { return Claims("a").size() >= 101; }, milliseconds(60000)));
  const auto claims = Claims("a");
  std::set<std::string> seen;
  for (size_t i = 0; i < 101; ++i) seen.insert(claims[i].second);
  for (const std::string& t : singles) EXPECT_TRUE(seen.count(t)) << t << " waited behind big";
}

TEST_P(WorkTest, ClaimsGoRoundTheTenants) {
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) {
    for (int t = 0; t < 10; ++t) keys.push_back("busy-" + std::to_string(t));
  }
  Enqueue(keys);
  std::vector<std::string> singles;
  for (int t = 0; t < 100; ++t) singles.push_back("single-" + std::to_string(t));
  Enqueue(singles);
  StartWorker("a", {"--concurrency", "4"});
  ASSERT_TRUE(WaitFor([&] { return Claims("a").size() >= 130; }, milliseconds(60000)));
  const auto claims = Claims("a");
  // Every tenant is served once before any is served a second time.
  std::set<std::string> first_round;
  for (size_t i = 0; i < 110; ++i) {
    EXPECT_TRUE(first_round.insert(claims[i].second).second)
        << claims[i].second << " served twice in the first round (claim " << i << ")";
  }
  // Then the busy ones take turns. A claim skips a tenant whose item still runs, so with 4
  // slots up to 3 of the 10 busy tenants may be passed over at a time: in 20 claims a tenant
  // is served at most ceil(20 / (10 − 3)) = 3 times, where "oldest first" without skipping
  // would serve it twice.
  std::map<std::string, int> second_round;
  for (size_t i = 110; i < 130; ++i) ++second_round[claims[i].second];
  for (const auto& [tenant, n] : second_round) EXPECT_LE(n, 3) << tenant;
}

TEST_P(WorkTest, HostileKeysArriveByteForByteAndAreNeverRun) {
  const std::string marker = dir_.File("pwned");
  const std::vector<std::string> keys = {
      "two words", "quote ' and \" both", "$(touch " + marker + ")", "`touch " + marker + "`",
      "ünïcødé ✓", "semi;colon&&|"};
  Enqueue(keys);
  StartWorker("a", {"--concurrency", "3"});
  ASSERT_TRUE(
      WaitFor([&] { return DoneTotal() == static_cast<int64_t>(keys.size()); }, kTtl + kSlack * 5));
  std::set<std::string> got;
  for (const ItemEvent& e : ItemEvents("start")) got.insert(e.tenant);
  for (const std::string& k : keys) EXPECT_TRUE(got.count(k)) << "\"" << k << "\" arrived changed";
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a key was run by a shell";
}

// SPEC 3.8: an offer wakes an idle worker at once, not at its next poll.
TEST_P(WorkTest, AnOfferWakesAnIdleWorkerAtOnce) {
  StartWorker("a", {"--poll", "30s"});
  std::this_thread::sleep_for(milliseconds(500));  // Idle, waiting on an empty queue.
  for (int i = 0; i < 5; ++i) {
    const int64_t offered = NowNs();
    const std::vector<uint64_t> ids = Enqueue({"tenant-" + std::to_string(i)});
    const std::optional<ItemEvent> start = WaitForItem("start", ids[0], milliseconds(3000));
    ASSERT_TRUE(start) << "the offer did not wake the worker (its poll is 30 s)";
    // Enqueue is a process start of its own; the bound is loose, the bench has the figure.
    EXPECT_LT(start->mono_ns - offered, 1'500'000'000LL);
  }
}

TEST_P(WorkTest, PayloadArrivesOnStandardInput) {
  const std::string payload_file = dir_.File("payload.bin");
  const std::string payload = std::string("line one\nline two\0 with a NUL", 29);
  test_support::WriteFile(payload_file, payload);
  const std::vector<uint64_t> ids = Enqueue({"acme"}, {"--payload-file", payload_file});
  StartWorker("a");
  const std::optional<ItemEvent> start = WaitForItem("start", ids[0], kTtl + kSlack);
  ASSERT_TRUE(start);
  EXPECT_EQ(start->payload, payload);
}

// Bad input of work, enqueue and queue: exit 2 and a line that names what was wrong.
TEST_F(BatonGroupTest, QueueCommandsRefuseBadInputNamingIt) {
  const std::string big = dir_.File("big.bin");
  test_support::WriteFile(big, std::string(kMaxPayloadBytes + 1, 'x'));
  struct Bad {
    std::vector<std::string> args;
    std::string mention;
  };
  const std::vector<Bad> cases = {
      {{"work", "--queue", "q"}, "needs a command after --"},
      {{"work", "--", BATON_ITEM_PROBE_BIN}, "--queue is required"},
      {{"work", "--queue", "q", "--visibility", "300ms", "--", BATON_ITEM_PROBE_BIN},
       "--visibility 300ms is too short"},
      {{"work", "--queue", "q", "--visibility", "1s", "--grace", "500ms", "--",
        BATON_ITEM_PROBE_BIN},
       "needs 2 × visibility/3 + margin + grace ≤ visibility"},
      {{"work", "--queue", "q", "--concurrency", "0", "--", BATON_ITEM_PROBE_BIN}, "--concurrency"},
      {{"work", "--queue", "q", "--timeout", "5", "--", BATON_ITEM_PROBE_BIN}, "--timeout"},
      {{"work", "--queue", "q", "--", "/nonexistent/cmd"}, "the command /nonexistent/cmd"},
      {{"enqueue", "--queue", "q"}, "needs at least one key"},
      {{"enqueue", "--queue", "q", "--", ""}, "key 1"},
      {{"enqueue", "--queue", "q", "--", std::string(201, 'k')}, "key 1"},
      {{"enqueue", "--queue", "q", "--", "ok", "bad\tkey"}, "key 2"},
      {{"enqueue", "--queue", "q", "--payload-file", big, "--", "k"}, "at most 65536"},
      {{"enqueue", "--queue", "q", "--delay", "soon", "--", "k"}, "--delay"},
      {{"queue", "--queue", "q", "frobnicate"}, "unknown action \"frobnicate\""},
      {{"queue", "--queue", "q", "cancel", "x"}, "is not an item id"},
      {{"queue", "--queue", "q", "list", "--state", "sleeping"}, "--state \"sleeping\""},
  };
  for (const Bad& bad : cases) {
    std::vector<std::string> argv = {BATON_BIN, bad.args[0], "--store", store_, "--group", "g"};
    argv.insert(argv.end(), bad.args.begin() + 1, bad.args.end());
    const test_support::CommandResult result = test_support::RunCommand(argv);
    EXPECT_TRUE(result.Exited(2)) << testing::PrintToString(bad.args) << result.Describe();
    EXPECT_NE(result.err.find("baton: "), std::string::npos) << result.Describe();
    EXPECT_NE(result.err.find(bad.mention), std::string::npos)
        << "no \"" << bad.mention << "\" in: " << result.Describe();
  }
  // An unknown queue is an empty answer, not an error.
  ASSERT_TRUE(test_support::RunCommand({BATON_BIN, "migrate", "--store", store_}).Exited(0));
  const test_support::CommandResult stats = test_support::RunCommand(
      {BATON_BIN, "queue", "--store", store_, "--group", "g", "--queue", "nothing", "stats"});
  EXPECT_TRUE(stats.Exited(0)) << stats.Describe();
  EXPECT_NE(stats.out.find("0 pending"), std::string::npos) << stats.Describe();
}

}  // namespace
}  // namespace baton::process_test
