// The chaos checker on synthetic queue records (tools/chaos/queue_checks.h): what passes,
// and what each of SPEC 3's checks catches.

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "checker.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace baton::chaos {
namespace {

using test_support::TempDir;

constexpr int64_t kRunStartNs = 7'000'000'000'000;

int64_t Ns(double ms) { return kRunStartNs + static_cast<int64_t>(ms * 1e6); }

// Tenants as the probe logs them: hex.
constexpr const char* kT1 = "743031";  // "t01"
constexpr const char* kT2 = "743032";  // "t02"

// Writes a queue record directory the way the driver, the enqueuer and the item probes do.
class QueueRecordWriter final {
 public:
  QueueRecordWriter() : dir_("chaos-queue-checker") {
    Append("run.log", "run mode=queue store=sqlite seed=7 instances=3 ttl_ms=1500 mono_ns=" +
                          std::to_string(kRunStartNs));
  }

  std::string dir() const { return dir_.path().string(); }

  void Enqueue(uint64_t item, const std::string& tenant, double ms, int64_t ttl_ms = 0,
               int exit_code = 0, int fail_until = 0) {
    Append("enqueued.log",
           "enqueue item=" + std::to_string(item) + " tenant=" + tenant +
               " ttl_ms=" + std::to_string(ttl_ms) + " exit_code=" + std::to_string(exit_code) +
               " fail_until=" + std::to_string(fail_until) + " mono_ns=" + std::to_string(Ns(ms)));
  }
  void FailedEnqueue(const std::string& tenant, int count, double ms) {
    Append("enqueued.log", "enqueue-failed tenant=" + tenant + " count=" + std::to_string(count) +
                               " mono_ns=" + std::to_string(Ns(ms)));
  }
  void Line(const std::string& kind, uint64_t item, const std::string& tenant, int attempt,
            uint64_t token, int pid, std::optional<double> ms) {
    Append("items.log", kind + " item=" + std::to_string(item) + " tenant=" + tenant +
                            " attempt=" + std::to_string(attempt) +
                            " token=" + std::to_string(token) + " pid=" + std::to_string(pid) +
                            (ms ? " mono_ns=" + std::to_string(Ns(*ms)) : "") +
                            (kind == "start" ? " payload=" : ""));
  }
  // One attempt: its start line at `from`, then its `end` line ("done", "term", or "" for
  // a command killed without a word) at `to`.
  void Attempt(uint64_t item, const std::string& tenant, int attempt, uint64_t token, int pid,
               double from, double to, const std::string& end = "done") {
    Line("start", item, tenant, attempt, token, pid, from);
    if (end == "done") Line("done", item, tenant, attempt, token, pid, to);
    if (end == "term") Line("term", item, tenant, attempt, token, pid, std::nullopt);
  }
  void Fault(const std::string& kind, const std::string& target, double ms,
             const std::string& details) {
    Append("faults.log", "fault kind=" + kind + " target=" + target +
                             " mono_ns=" + std::to_string(Ns(ms)) + " " + details);
  }
  // The store's state after the drain: `listed` (id, state) by list, `dead` by dead, totals.
  void Final(const std::vector<std::pair<uint64_t, std::string>>& listed,
             const std::vector<uint64_t>& dead, int done, int expired) {
    std::string list = "[";
    for (const auto& [id, state] : listed) {
      list += std::string(list.size() > 1 ? "," : "") + "{\"id\":" + std::to_string(id) +
              ",\"state\":\"" + state + "\",\"tenant\":\"t01\"}";
    }
    for (uint64_t id : dead) {
      list += std::string(list.size() > 1 ? "," : "") + "{\"id\":" + std::to_string(id) +
              ",\"state\":\"dead\"}";
    }
    Append("final-list.json", list + "]");
    std::string dead_list = "[";
    for (uint64_t id : dead) {
      dead_list += std::string(dead_list.size() > 1 ? "," : "") + "{\"id\":" + std::to_string(id) +
                   ",\"state\":\"dead\",\"exit_code\":65}";
    }
    Append("final-dead.json", dead_list + "]");
    Append("final-stats.json",
           "{\"depth\":{\"pending\":0},\"totals\":{\"done\":" + std::to_string(done) +
               ",\"failed\":3,\"dead\":" + std::to_string(dead.size()) +
               ",\"expired\":" + std::to_string(expired) + "}}");
  }
  void End(double ms) { Append("run.log", "end mono_ns=" + std::to_string(Ns(ms))); }

  void Append(const std::string& file, const std::string& line) {
    std::ofstream(dir_.File(file), std::ios::app) << line << "\n";
  }

 private:
  TempDir dir_;
};

int Count(const CheckResult& result, const std::string& check) {
  for (const auto& [name, count] : result.counts) {
    if (name == check) return count;
  }
  ADD_FAILURE() << "no check named " << check;
  return -1;
}

std::string Report(const CheckResult& result) {
  std::ostringstream out;
  PrintReport(result, out);
  PrintIntervals(result, out);
  return out.str() + TotalsLine(result) + "\n";
}

std::string FirstMessage(const CheckResult& result, const std::string& check) {
  for (const Violation& violation : result.violations) {
    if (violation.check == check) return violation.message;
  }
  return "";
}

// Every kind of ending, faults on the way, and two tenants at once: it passes.
void WriteCleanRun(QueueRecordWriter& record) {
  record.Enqueue(1, kT1, 10);
  record.Enqueue(2, kT1, 10);
  record.Enqueue(3, kT2, 10, 0, /*exit_code=*/65);  // Poison.
  record.Enqueue(4, kT2, 20, /*ttl_ms=*/300);       // Expires unclaimed.
  record.Enqueue(5, kT2, 20, 0, 0, /*fail_until=*/1);
  record.Enqueue(6, kT1, 30, 0, 0, EnqueuedItem::kFailsAlways);  // Dead once out of attempts.
  record.Attempt(1, kT1, 1, 11, 101, 100, 150);
  // Item 2: killed by the driver, then again by the guardian (no line), then done.
  record.Attempt(2, kT1, 1, 12, 102, 200, 0, "");
  record.Fault("kill-item", "w1", 250, "pid=102 token=12 item=2 tenant=" + std::string(kT1));
  record.Attempt(2, kT1, 2, 15, 105, 300, 0, "");
  record.Attempt(2, kT1, 2, 18, 108, 2000, 2050);
  // Tenant 2 runs alongside tenant 1.
  record.Attempt(3, kT2, 1, 13, 103, 120, 160);
  record.Attempt(5, kT2, 1, 14, 104, 200, 260);  // Done, but exits 1: attempt 1 <= 1.
  record.Attempt(5, kT2, 2, 16, 106, 700, 0, "term");
  record.Attempt(5, kT2, 2, 17, 107, 900, 950);
  record.Attempt(6, kT1, 1, 19, 109, 2100, 2110);
  record.Final({}, {3, 6}, /*done=*/3, /*expired=*/1);
  record.End(3000);
}

TEST(ChaosQueueChecker, CleanRecordPassesWithItsAccount) {
  QueueRecordWriter record;
  WriteCleanRun(record);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_TRUE(result.passed()) << Report(result);
  ASSERT_TRUE(result.account.has_value());
  EXPECT_EQ(result.account->items, 6);
  EXPECT_EQ(result.account->acknowledged, 3);
  EXPECT_EQ(result.account->dead, 2);
  EXPECT_EQ(result.account->dead_poison, 2);
  EXPECT_TRUE(result.account->dead_could_succeed.empty());
  EXPECT_EQ(result.account->expired, 1);
  EXPECT_EQ(result.account->attempts, 9);
  EXPECT_EQ(result.item_intervals.size(), 9u);
  // The driver's SIGKILL is the end of the command it killed.
  EXPECT_EQ(result.item_intervals[2].end_kind, "kill");
  EXPECT_EQ(result.item_intervals[2].end_ns, Ns(250));
  EXPECT_EQ(TotalsLine(result),
            "totals: mode=queue store=sqlite seed=7 duration=3.0s workers=3 items=6 "
            "acknowledged=3 dead=2 (poison=2) expired=1 attempts=9 failed-enqueues=0 faults=1 "
            "(kill-item=1) lock-overlaps=0 overlaps=0 token-errors=0 undrained=0 lost=0 "
            "unfinished=0 store-totals=0 unknown-items=0: PASS");
}

// The worker stopped the command at its claim's deadline just as it finished: the SIGTERM's
// line comes after the done line, from the same command, and is no broken record.
TEST(ChaosQueueChecker, ATermLineAfterTheSameCommandsDoneLineIsAccepted) {
  QueueRecordWriter record;
  WriteCleanRun(record);
  record.Line("term", 1, kT1, 1, 11, 101, std::nullopt);
  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_TRUE(result.passed()) << Report(result);

  QueueRecordWriter stranger;
  WriteCleanRun(stranger);
  stranger.Line("term", 1, kT1, 1, 11, 999, std::nullopt);  // A pid that never started.
  EXPECT_FALSE(CheckRecord(stranger.dir()).readable());
}

TEST(ChaosQueueChecker, OverlapLineIsCaught) {
  QueueRecordWriter record;
  record.Enqueue(1, kT1, 10);
  record.Enqueue(2, kT1, 10);
  record.Attempt(1, kT1, 1, 11, 101, 100, 900);
  // Item 2 of the same tenant started while item 1 held the tenant's lock.
  record.Line("start", 2, kT1, 1, 12, 102, 500);
  record.Line("overlap", 2, kT1, 1, 12, 102, 501);
  record.Attempt(2, kT1, 2, 13, 103, 1000, 1100);
  record.Final({}, {}, 2, 0);
  record.End(2000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_FALSE(result.passed());
  EXPECT_EQ(Count(result, "lock-overlaps"), 1) << Report(result);
  EXPECT_EQ(Count(result, "overlaps"), 1);
  const std::string message = FirstMessage(result, "lock-overlaps");
  EXPECT_NE(message.find("item 2 (tenant 743031, attempt 1, claim token 12, pid 102) found its "
                         "tenant's lock held at +501.0ms"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("held by item 1"), std::string::npos) << message;
  EXPECT_TRUE(TotalsLine(result).ends_with(": FAIL"));
}

TEST(ChaosQueueChecker, TenantIntervalsThatOverlapInTimeAreCaught) {
  QueueRecordWriter record;
  record.Enqueue(1, kT1, 10);
  record.Enqueue(2, kT1, 10);
  record.Enqueue(3, kT2, 10);
  record.Attempt(1, kT1, 1, 11, 101, 100, 900);
  record.Attempt(3, kT2, 1, 13, 103, 200, 800);  // Another tenant: fine.
  record.Attempt(2, kT1, 1, 12, 102, 850, 1000);
  record.Final({}, {}, 3, 0);
  record.End(2000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_EQ(Count(result, "overlaps"), 1) << Report(result);
  EXPECT_EQ(Count(result, "lock-overlaps"), 0);
  EXPECT_EQ(FirstMessage(result, "overlaps"),
            "item 2 (tenant 743031, attempt 1, claim token 12, pid 102) started at +850.0ms "
            "while item 1 (tenant 743031, attempt 1, claim token 11, pid 101) ran +100.0ms .. "
            "+900.0ms (its done)");
}

TEST(ChaosQueueChecker, KilledCommandStillRunningWhenTheNextStartedIsCaught) {
  QueueRecordWriter record;
  record.Enqueue(1, kT1, 10);
  record.Enqueue(2, kT1, 10);
  record.Attempt(1, kT1, 1, 11, 101, 100, 0, "");
  record.Attempt(2, kT1, 1, 12, 102, 400, 500);
  // The driver found item 1's command alive after item 2's had started.
  record.Fault("kill-item", "w1", 450, "pid=101 token=11 item=1 tenant=" + std::string(kT1));
  record.Attempt(1, kT1, 2, 14, 104, 600, 700);
  record.Final({}, {}, 2, 0);
  record.End(1000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_EQ(Count(result, "overlaps"), 1) << Report(result);
  EXPECT_NE(FirstMessage(result, "overlaps").find("+100.0ms .. +450.0ms (its kill)"),
            std::string::npos);
}

TEST(ChaosQueueChecker, LostItemIsCaught) {
  QueueRecordWriter record;
  record.Enqueue(1, kT1, 10);
  record.Enqueue(2, kT1, 10);  // Never ran, no time-to-live, gone.
  record.Attempt(1, kT1, 1, 11, 101, 100, 200);
  record.Final({}, {}, 1, 0);
  record.End(1000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_FALSE(result.passed());
  EXPECT_EQ(Count(result, "lost"), 1) << Report(result);
  EXPECT_EQ(result.account->lost, 1);
  EXPECT_NE(FirstMessage(result, "lost")
                .find("item 2 (tenant 743031, enqueued at +10.0ms) left "
                      "the queue without ever running"),
            std::string::npos);
}

TEST(ChaosQueueChecker, ExpiredItemsMustMatchTheStoresCount) {
  QueueRecordWriter record;
  record.Enqueue(1, kT1, 10, /*ttl_ms=*/500);  // Never ran: expired, or lost?
  record.Final({}, {}, 0, /*expired=*/0);      // The store did not expire it: lost.
  record.End(1000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_EQ(Count(result, "store-totals"), 1) << Report(result);
  EXPECT_NE(FirstMessage(result, "store-totals").find("counts 0 items expired, but 1 items"),
            std::string::npos);
}

TEST(ChaosQueueChecker, ItemGoneWithoutADoneLineIsCaught) {
  QueueRecordWriter record;
  record.Enqueue(1, kT1, 10);
  record.Enqueue(2, kT2, 10, 0, 0, /*fail_until=*/3);
  record.Attempt(1, kT1, 1, 11, 101, 100, 0, "term");  // Never ran to its end, yet gone.
  record.Attempt(2, kT2, 1, 12, 102, 100, 200);        // Done, but attempt 1 exits 1.
  record.Final({}, {}, 2, 0);
  record.End(1000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_FALSE(result.passed());
  EXPECT_EQ(Count(result, "unfinished"), 2) << Report(result);
  EXPECT_EQ(Count(result, "store-totals"), 1);  // The store says 2 done, the record 0.
  EXPECT_NE(FirstMessage(result, "unfinished").find("left the queue as if acknowledged"),
            std::string::npos);
}

TEST(ChaosQueueChecker, ClaimTokenThatDoesNotGrowIsCaught) {
  QueueRecordWriter record;
  record.Enqueue(1, kT1, 10);
  record.Attempt(1, kT1, 1, 20, 101, 100, 0, "");
  record.Attempt(1, kT1, 2, 20, 102, 2000, 0, "");  // Equal: a new claim takes a new token.
  record.Attempt(1, kT1, 3, 19, 103, 4000, 4100);   // Smaller.
  record.Final({}, {}, 1, 0);
  record.End(5000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_EQ(Count(result, "token-errors"), 2) << Report(result);
  EXPECT_NE(FirstMessage(result, "token-errors").find("with a claim token not above 20"),
            std::string::npos);
}

TEST(ChaosQueueChecker, UndrainedQueueOrNoFinalStateFails) {
  {
    QueueRecordWriter record;
    record.Enqueue(1, kT1, 10);
    record.Final({{1, "pending"}}, {}, 0, 0);
    record.End(1000);
    const CheckResult result = CheckRecord(record.dir());
    ASSERT_TRUE(result.readable()) << result.error;
    EXPECT_EQ(Count(result, "undrained"), 1) << Report(result);
    EXPECT_EQ(FirstMessage(result, "undrained"),
              "item 1 is still pending after the drain and the workers' stop");
  }
  {
    QueueRecordWriter record;
    record.Enqueue(1, kT1, 10);
    record.Attempt(1, kT1, 1, 11, 101, 100, 200);
    const CheckResult result = CheckRecord(record.dir());
    ASSERT_TRUE(result.readable()) << result.error;
    EXPECT_EQ(Count(result, "undrained"), 1) << Report(result);
    EXPECT_FALSE(result.passed());
  }
}

TEST(ChaosQueueChecker, UnknownItemsPassOnlyForAFailedEnqueue) {
  QueueRecordWriter record;
  record.Enqueue(1, kT1, 10);
  record.Attempt(1, kT1, 1, 11, 101, 100, 200);
  record.FailedEnqueue(kT2, 1, 300);             // Its outcome is unknown ...
  record.Attempt(7, kT2, 1, 17, 107, 400, 500);  // ... and it did add item 7.
  record.Attempt(8, kT1, 1, 18, 108, 600, 700);  // No enqueue, failed or not, of tenant 1.
  record.Final({}, {}, 3, 0);
  record.End(1000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_EQ(Count(result, "unknown-items"), 1) << Report(result);
  EXPECT_EQ(Count(result, "store-totals"), 0);
  EXPECT_NE(FirstMessage(result, "unknown-items").find("item 8 "), std::string::npos);
}

TEST(ChaosQueueChecker, ItemAcknowledgedTwiceFailsTheStoreTotals) {
  QueueRecordWriter record;
  record.Enqueue(1, kT1, 10);
  record.Attempt(1, kT1, 1, 11, 101, 100, 200);
  record.Final({}, {}, /*done=*/2, 0);
  record.End(1000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_EQ(Count(result, "store-totals"), 1) << Report(result);
  EXPECT_EQ(FirstMessage(result, "store-totals"),
            "the store counts 2 items done, but the record shows 1 acknowledged (gone from the "
            "queue after a successful run)");
}

TEST(ChaosQueueChecker, CommandJudgesAQueueRecord) {
  QueueRecordWriter clean;
  WriteCleanRun(clean);
  const test_support::CommandResult pass =
      test_support::RunCommand({CHAOS_CHECK_BIN, "--intervals", clean.dir()});
  EXPECT_TRUE(pass.Exited(0)) << pass.Describe();
  EXPECT_NE(pass.out.find("totals: mode=queue "), std::string::npos) << pass.Describe();
  EXPECT_NE(pass.out.find("item commands (from the run's start):"), std::string::npos);

  QueueRecordWriter broken;
  broken.Line("done", 1, kT1, 1, 11, 101, 100);  // No start line before it.
  const test_support::CommandResult unreadable =
      test_support::RunCommand({CHAOS_CHECK_BIN, broken.dir()});
  EXPECT_TRUE(unreadable.Exited(2)) << unreadable.Describe();
  EXPECT_NE(unreadable.out.find("wrote \"done\" without a start line"), std::string::npos)
      << unreadable.Describe();
}

}  // namespace
}  // namespace baton::chaos
