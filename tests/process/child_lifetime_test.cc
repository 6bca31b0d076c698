// The child's whole process tree, even a descendant in its own session that ignores SIGTERM,
// ends with the baton that started it or by its deadline, whichever comes first.

#include <unistd.h>

#include <optional>
#include <string>

#include "group_fixture.h"

namespace baton::process_test {
namespace {

using test_support::IsAlive;
using test_support::WaitFor;

class ChildTreeTest : public BatonGroupTest {
 protected:
  // Starts one instance whose probe ignores SIGTERM and leaves a setsid grandchild behind;
  // returns the probe's start, with the grandchild's pid in `grandchild`.
  std::optional<ProbeEvent> StartWithGrandchild(pid_t& grandchild) {
    const std::string pidfile = dir_.File("grandchild.pid");
    Start("a", {.probe_args = {"--ignore-term", "--grandchild", pidfile}});
    std::optional<ProbeEvent> start = WaitForGroup({"a"});
    if (!start) return std::nullopt;
    if (!WaitFor([&] { return !test_support::ReadLines(pidfile).empty(); }, kSlack)) {
      ADD_FAILURE() << "the probe wrote no grandchild pid";
      return std::nullopt;
    }
    grandchild = std::stoi(test_support::ReadLines(pidfile).front());
    EXPECT_TRUE(IsAlive(grandchild));
    const std::optional<test_support::ProcessInfo> info = test_support::ReadProcessInfo(grandchild);
    EXPECT_TRUE(info && info->ppid == start->pid) << "the grandchild is not the probe's child";
    return start;
  }
};

TEST_F(ChildTreeTest, SetsidGrandchildDiesWithAKilledBaton) {
  pid_t grandchild = -1;
  const std::optional<ProbeEvent> start = StartWithGrandchild(grandchild);
  ASSERT_TRUE(start);

  instance("a").process.Kill();
  // Baton gone: SIGTERM now (ignored by both), SIGKILL to the whole tree after the grace.
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(grandchild); }, kGrace + kSlack))
      << "the setsid grandchild outlived its killed baton";
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(start->pid); }, kGrace + kSlack))
      << "the probe outlived its killed baton";
}

TEST_F(ChildTreeTest, SetsidGrandchildDiesByTheDeadlineOfAPausedBaton) {
  pid_t grandchild = -1;
  const std::optional<ProbeEvent> start = StartWithGrandchild(grandchild);
  ASSERT_TRUE(start);

  instance("a").process.Stop();
  // The last renewal was at most a heartbeat ago, so the deadline is at most ttl − margin away.
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(grandchild); }, kTtl - kMargin + kSlack))
      << "the setsid grandchild outlived the deadline";
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(start->pid); }, kTtl - kMargin + kSlack))
      << "the probe outlived the deadline";
  instance("a").process.Continue();
}

// Found by tools/chaos: under libfaketime (FAKETIME_DONT_FAKE_MONOTONIC=1) with the wall clock
// stepped back an hour, libc's timerfd_settime moved the guardian's CLOCK_BOOTTIME deadline an
// hour later, so the child of a paused baton outlived its lease. The guardian now arms its
// timer with the system call itself.
TEST_F(ChildTreeTest, ChildOfAPausedBatonWithAFakedWallClockDiesByTheDeadline) {
  constexpr const char* kLibFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  if (access(kLibFaketime, R_OK) != 0) GTEST_SKIP() << kLibFaketime << " is not installed";
  const std::string offset = dir_.File("offset");
  test_support::WriteFile(offset, "-1h\n");
  Start("stepped", {.baton_env = {std::string("LD_PRELOAD=") + kLibFaketime,
                                  "FAKETIME_TIMESTAMP_FILE=" + offset, "FAKETIME_NO_CACHE=1",
                                  "FAKETIME_DONT_FAKE_MONOTONIC=1"}});
  const std::optional<ProbeEvent> old = WaitForGroup({"stepped"});
  ASSERT_TRUE(old);
  Start("other");
  ASSERT_TRUE(WaitForGroup({"stepped", "other"}));

  instance("stepped").process.Stop();
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(old->pid); }, kTtl + kSlack))
      << "the child of a paused baton outlived the deadline";
  EXPECT_TRUE(WaitForStartAfter(old->token, kTtl + kSlack));
  instance("stepped").process.Continue();
}

}  // namespace
}  // namespace baton::process_test
