// The chaos checker (tools/chaos/checker.h) on synthetic records: what passes, what each
// safety check catches, and the numbers it reports.

#include "checker.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "support/process.h"
#include "support/temp_dir.h"

namespace baton::chaos {
namespace {

using test_support::TempDir;

// Any CLOCK_MONOTONIC origin will do; times below are milliseconds after it.
constexpr int64_t kRunStartNs = 5'000'000'000'000;

int64_t Ns(double ms) { return kRunStartNs + static_cast<int64_t>(ms * 1e6); }

// Writes a record directory the way the driver and the probes do.
class RecordWriter final {
 public:
  RecordWriter() : dir_("chaos-checker") {
    Append("run.log", "run store=sqlite seed=42 instances=3 ttl_ms=1000 mono_ns=" +
                          std::to_string(kRunStartNs));
  }

  std::string dir() const { return dir_.path().string(); }

  void Probe(const std::string& kind, const std::string& instance, int64_t token, int pid,
             double ms) {
    Append("probes.log", kind + " token=" + std::to_string(token) + " instance=" + instance +
                             " pid=" + std::to_string(pid) + " mono_ns=" + std::to_string(Ns(ms)));
  }
  // start at `from`, alive every 10 ms, and a stop line at `to` unless `killed`.
  void Life(const std::string& instance, int64_t token, int pid, double from, double to,
            bool killed = false) {
    Probe("start", instance, token, pid, from);
    for (double ms = from + 1; ms <= to; ms += 10) Probe("alive", instance, token, pid, ms);
    if (!killed) Probe("stop", instance, token, pid, to);
  }
  void Fault(const std::string& kind, const std::string& target, double ms) {
    Append("faults.log", "fault kind=" + kind + " target=" + target +
                             " mono_ns=" + std::to_string(Ns(ms)) + " hold_ms=1500");
  }
  void End(double ms) { Append("run.log", "end mono_ns=" + std::to_string(Ns(ms))); }

  void Append(const std::string& file, const std::string& line, bool newline = true) {
    std::ofstream(dir_.File(file), std::ios::app) << line << (newline ? "\n" : "");
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

TEST(ChaosChecker, CleanRecordPassesWithItsNumbers) {
  RecordWriter record;
  record.Life("i1", 1, 100, 100, 1000);
  record.Fault("kill-active", "i1", 1000);
  record.Life("i2", 2, 200, 1200, 2000);
  record.Fault("stop-active", "i2", 2000);
  record.Fault("kill-active", "i2", 2050);
  record.Life("i3", 3, 300, 2500, 3000);
  record.End(3000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_TRUE(result.passed()) << Report(result);
  EXPECT_EQ(result.intervals.size(), 3u);
  EXPECT_EQ(result.leadership_changes, 2);
  // Covered 900 + 800 + 500 of the 2900 ms from the first start.
  EXPECT_NEAR(result.availability, 2200.0 / 2900.0, 1e-9);
  ASSERT_TRUE(result.failovers.has_value());
  EXPECT_EQ(result.failovers->count, 2);
  EXPECT_EQ(result.failovers->p50_ns, 200'000'000);
  EXPECT_EQ(result.failovers->p99_ns, 500'000'000);
  EXPECT_EQ(result.failovers->max_ns, 500'000'000);
  EXPECT_EQ(result.faults, 3);
  EXPECT_EQ(result.faults_by_kind.at("kill-active"), 2);

  EXPECT_EQ(TotalsLine(result),
            "totals: store=sqlite seed=42 duration=3.0s instances=3 faults=3 (kill-active=2 "
            "stop-active=1) leadership-changes=2 lock-overlaps=0 overlaps=0 token-errors=0 "
            "availability=75.9% failover-p50=200ms failover-p99=500ms failover-max=500ms: PASS");
}

TEST(ChaosChecker, OverlapLineFails) {
  RecordWriter record;
  record.Life("i1", 1, 100, 100, 1000);
  // i2's child started while i1's still held the lock; the kernel said so.
  record.Probe("start", "i2", 2, 200, 900);
  record.Probe("overlap", "i2", 2, 200, 901);
  record.Probe("alive", "i2", 2, 200, 1001);
  record.Probe("stop", "i2", 2, 200, 2000);
  record.End(2000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_FALSE(result.passed());
  EXPECT_EQ(Count(result, "lock-overlaps"), 1) << Report(result);
  // Its start line came before the lock, so the intervals overlap in time too.
  EXPECT_EQ(Count(result, "overlaps"), 1);
  std::string message;
  for (const Violation& violation : result.violations) {
    if (violation.check == "lock-overlaps") message = violation.message;
  }
  EXPECT_NE(message.find("instance i2 (token 2, pid 200) found the lock held at +901.0ms"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("held by instance i1"), std::string::npos) << message;
  EXPECT_NE(TotalsLine(result).find("lock-overlaps=1"), std::string::npos);
  EXPECT_TRUE(TotalsLine(result).ends_with(": FAIL"));
}

TEST(ChaosChecker, IntervalsThatOverlapInTimeFail) {
  RecordWriter record;
  record.Life("i1", 1, 100, 100, 1000);
  record.Life("i2", 2, 200, 950, 2000);
  record.End(2000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_FALSE(result.passed());
  EXPECT_EQ(Count(result, "overlaps"), 1) << Report(result);
  EXPECT_EQ(Count(result, "token-errors"), 0);
  EXPECT_EQ(result.violations.front().message,
            "instance i2 (token 2, pid 200) started at +950.0ms while instance i1 (token 1, "
            "pid 100), started at +100.0ms, was active until +1000.0ms (its stop line)");
}

TEST(ChaosChecker, TokenThatDoesNotGrowFails) {
  RecordWriter record;
  record.Life("i1", 5, 100, 100, 1000);
  record.Life("i2", 5, 200, 1200, 2000);  // Equal: a new tenure must take a new token.
  record.Life("i3", 4, 300, 2200, 3000);  // Smaller.
  record.End(3000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_FALSE(result.passed());
  EXPECT_EQ(Count(result, "token-errors"), 2) << Report(result);
  EXPECT_EQ(Count(result, "overlaps"), 0);
  EXPECT_NE(result.violations[0].message.find("with token 5, not above token 5"), std::string::npos)
      << result.violations[0].message;
}

TEST(ChaosChecker, KilledProbeEndsAtItsLastAliveLine) {
  RecordWriter record;
  record.Life("i1", 1, 100, 100, 1000, /*killed=*/true);  // Last alive at +991 ms.
  record.Fault("kill-child", "i1", 1000);
  record.Life("i2", 2, 200, 1500, 2000);
  record.End(2000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_TRUE(result.passed()) << Report(result);
  ASSERT_EQ(result.intervals.size(), 2u);
  const Interval& killed = result.intervals[0];
  EXPECT_FALSE(killed.end_exact);
  EXPECT_EQ(killed.end_kind, ProbeKind::kAlive);
  EXPECT_EQ(killed.end_ns, Ns(991));
  EXPECT_EQ(result.failovers->max_ns, 509'000'000);
}

TEST(ChaosChecker, KilledProbeOverlappingTheNextOneFails) {
  RecordWriter record;
  // The guardian failed to kill i1's child: it was still alive after i2's started.
  record.Life("i1", 1, 100, 100, 1600, /*killed=*/true);
  record.Life("i2", 2, 200, 1500, 2000);
  record.End(2000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_EQ(Count(result, "overlaps"), 1) << Report(result);
  EXPECT_NE(result.violations.front().message.find("(its last alive line)"), std::string::npos);
}

TEST(ChaosChecker, ReusedPidStartsANewInterval) {
  RecordWriter record;
  record.Life("i1", 1, 100, 100, 500, /*killed=*/true);
  record.Life("i2", 2, 100, 1500, 2000);
  record.End(2000);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_TRUE(result.passed()) << Report(result);
  EXPECT_EQ(result.intervals.size(), 2u);
}

TEST(ChaosChecker, RecordWithoutEndUsesTheLastEvent) {
  RecordWriter record;
  record.Life("i1", 1, 100, 100, 1000);
  record.Fault("pg-restart", "store", 1400);
  // Cut short: no end line, and the last probe line half written.
  record.Append("probes.log", "start token=2 instance=i2 pid=200 mono_ns=", /*newline=*/false);

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_FALSE(result.end_seen);
  EXPECT_EQ(result.end_ns, Ns(1400));
  EXPECT_EQ(result.intervals.size(), 1u);
  EXPECT_NEAR(result.availability, 900.0 / 1300.0, 1e-9);
  EXPECT_FALSE(result.failovers.has_value());
  EXPECT_NE(TotalsLine(result).find("failover-p50=- failover-p99=- failover-max=-: PASS"),
            std::string::npos)
      << TotalsLine(result);
}

TEST(ChaosChecker, HandoverAfterTheEndIsCheckedButNotCounted) {
  RecordWriter record;
  record.Life("i1", 1, 100, 100, 1000);
  record.End(900);
  record.Life("i2", 2, 200, 1100, 1200);  // The shutdown's own handover.

  const CheckResult result = CheckRecord(record.dir());
  ASSERT_TRUE(result.readable()) << result.error;
  EXPECT_TRUE(result.passed()) << Report(result);
  EXPECT_EQ(result.intervals.size(), 2u);
  EXPECT_EQ(result.leadership_changes, 0);
  EXPECT_DOUBLE_EQ(result.availability, 1.0);
}

TEST(ChaosChecker, UnreadableRecordsSayWhy) {
  {
    TempDir empty("chaos-checker");
    const CheckResult result = CheckRecord(empty.path().string());
    EXPECT_FALSE(result.readable());
    EXPECT_FALSE(result.passed());
    EXPECT_NE(result.error.find("run.log"), std::string::npos) << result.error;
  }
  {
    RecordWriter record;
    record.Probe("alive", "i1", 1, 100, 50);  // No start line before it.
    const CheckResult result = CheckRecord(record.dir());
    EXPECT_NE(result.error.find("wrote \"alive\" without a start line"), std::string::npos)
        << result.error;
  }
  {
    RecordWriter record;
    record.Append("probes.log", "start token=none instance=i1 pid=100 mono_ns=1");
    const CheckResult result = CheckRecord(record.dir());
    EXPECT_NE(result.error.find("probes.log:1: token=none is not a number"), std::string::npos)
        << result.error;
  }
  {
    RecordWriter record;
    record.Append("faults.log", "fault kind=kill-active target=i1 mono_ns=1 oops");
    const CheckResult result = CheckRecord(record.dir());
    EXPECT_NE(result.error.find("faults.log:1: not key=value: oops"), std::string::npos)
        << result.error;
    EXPECT_EQ(TotalsLine(result), "totals: unreadable record " + record.dir() + ": FAIL");
  }
}

TEST(ChaosChecker, CommandExitsWithTheVerdict) {
  RecordWriter clean;
  clean.Life("i1", 1, 100, 100, 1000);
  clean.End(1000);
  const test_support::CommandResult pass = test_support::RunCommand({CHAOS_CHECK_BIN, clean.dir()});
  EXPECT_TRUE(pass.Exited(0)) << pass.Describe();
  EXPECT_NE(pass.out.find(": PASS\n"), std::string::npos) << pass.Describe();

  RecordWriter overlapping;
  overlapping.Life("i1", 1, 100, 100, 1000);
  overlapping.Life("i2", 2, 200, 500, 1000);
  const test_support::CommandResult fail =
      test_support::RunCommand({CHAOS_CHECK_BIN, "--intervals", overlapping.dir()});
  EXPECT_TRUE(fail.Exited(1)) << fail.Describe();

  TempDir empty("chaos-checker");
  EXPECT_TRUE(test_support::RunCommand({CHAOS_CHECK_BIN, empty.path().string()}).Exited(2));
  EXPECT_TRUE(test_support::RunCommand({CHAOS_CHECK_BIN}).Exited(2));
}

}  // namespace
}  // namespace baton::chaos
