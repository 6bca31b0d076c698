// The child's whole process tree, even a descendant in its own session that ignores SIGTERM,
// ends with the baton that started it or by its deadline, whichever comes first.

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

}  // namespace
}  // namespace baton::process_test
