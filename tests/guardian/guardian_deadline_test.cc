// The guardian enforces the deadline on real processes, in real time.

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "guardian/guardian.h"
#include "guardian_test_util.h"

namespace baton::guardian {
namespace {

using namespace guardian_test;  // NOLINT(google-build-using-namespace): test helpers.

TEST(GuardianDeadlineTest, ChildIgnoringSigtermIsKilledAtTheDeadline) {
  TempDir dir;
  SpawnOptions options =
      Options({"/bin/sh", dir.Script("ignore_term.sh", kIgnoreTermScript), dir.File("c.pid")});
  options.grace = 300ms;
  options.deadline = BootClock::now() + 1s;
  auto child = MustSpawn(options);
  ASSERT_TRUE(child);
  ASSERT_TRUE(AwaitPidFile(dir.File("c.pid")));
  ProcessWatch watch(child->child_pid());
  ASSERT_TRUE(watch.valid());

  SleepUntil(options.deadline - 100ms);
  ExpectAliveBefore(watch, options.deadline, "the child");
  const std::optional<TimePoint> died = watch.AwaitExit(2s);
  ASSERT_TRUE(died) << "the child outlived its deadline";
  EXPECT_GE(*died, options.deadline - kEarly);
  EXPECT_LE(*died, options.deadline + kLate);

  const std::optional<ChildExit> exit = child->Wait(2s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kDeadline) << ToString(exit->kind);
  EXPECT_EQ(exit->signal, SIGKILL);
}

TEST(GuardianDeadlineTest, ObedientChildGetsSigtermAtDeadlineMinusGrace) {
  SpawnOptions options = Options({"sleep", "30"});
  options.grace = 500ms;
  options.deadline = BootClock::now() + 1200ms;
  auto child = MustSpawn(options);
  ASSERT_TRUE(child);
  ProcessWatch watch(child->child_pid());
  ASSERT_TRUE(watch.valid());

  const TimePoint term_at = options.deadline - options.grace;
  const std::optional<TimePoint> died = watch.AwaitExit(3s);
  ASSERT_TRUE(died);
  EXPECT_GE(*died, term_at - kEarly);
  EXPECT_LE(*died, term_at + kLate);

  const std::optional<ChildExit> exit = child->Wait(2s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kDeadline) << ToString(exit->kind);
  EXPECT_EQ(exit->signal, SIGTERM) << "it should have stopped on SIGTERM, before any SIGKILL";
}

TEST(GuardianDeadlineTest, SetDeadlineLaterKeepsTheChildAlivePastTheFirstDeadline) {
  SpawnOptions options = Options({"sleep", "1.2"});
  options.grace = 200ms;
  options.deadline = BootClock::now() + 600ms;
  auto child = MustSpawn(options);
  ASSERT_TRUE(child);
  child->SetDeadline(BootClock::now() + 5s);

  const std::optional<ChildExit> exit = child->Wait(4s);
  ASSERT_TRUE(exit);
  EXPECT_GE(BootClock::now(), options.deadline);
  EXPECT_EQ(exit->kind, ExitKind::kExited) << ToString(exit->kind);
  EXPECT_EQ(exit->code, 0);
}

TEST(GuardianDeadlineTest, SetDeadlineEarlierKillsSooner) {
  TempDir dir;
  SpawnOptions options =
      Options({"/bin/sh", dir.Script("ignore_term.sh", kIgnoreTermScript), dir.File("c.pid")});
  options.grace = 200ms;
  options.deadline = BootClock::now() + 30s;
  auto child = MustSpawn(options);
  ASSERT_TRUE(child);
  ASSERT_TRUE(AwaitPidFile(dir.File("c.pid")));
  ProcessWatch watch(child->child_pid());
  const TimePoint deadline = BootClock::now() + 400ms;
  child->SetDeadline(deadline);

  const std::optional<TimePoint> died = watch.AwaitExit(2s);
  ASSERT_TRUE(died);
  EXPECT_GE(*died, deadline - kEarly);
  EXPECT_LE(*died, deadline + kLate);
  const std::optional<ChildExit> exit = child->Wait(2s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kDeadline) << ToString(exit->kind);
}

TEST(GuardianDeadlineTest, SetsidAndDoubleForkedDescendantsDieByTheDeadline) {
  TempDir dir;
  dir.Script("ignore_term.sh", kIgnoreTermScript);
  SpawnOptions options = Options({"/bin/sh", dir.Script("family.sh", kFamilyScript), dir.path()});
  options.grace = 300ms;
  options.deadline = BootClock::now() + 1500ms;
  auto child = MustSpawn(options);
  ASSERT_TRUE(child);
  const std::optional<pid_t> setsid_pid = AwaitPidFile(dir.File("setsid.pid"));
  const std::optional<pid_t> orphan_pid = AwaitPidFile(dir.File("orphan.pid"));
  ASSERT_TRUE(setsid_pid && orphan_pid);
  ProcessWatch child_watch(child->child_pid());
  ProcessWatch setsid_watch(*setsid_pid);
  ProcessWatch orphan_watch(*orphan_pid);
  ASSERT_TRUE(child_watch.valid() && setsid_watch.valid() && orphan_watch.valid());

  // They really escaped: one leads its own session, the other was reparented to the
  // guardian (a subreaper) when its parent exited.
  EXPECT_EQ(getsid(*setsid_pid), *setsid_pid);
  EXPECT_NE(getsid(*setsid_pid), getsid(child->child_pid()));
  const TimePoint until = BootClock::now() + 1s;
  while (ParentOf(*orphan_pid) != child->guardian_pid() && BootClock::now() < until) {
    SleepUntil(BootClock::now() + 5ms);
  }
  EXPECT_EQ(ParentOf(*orphan_pid), child->guardian_pid());

  SleepUntil(options.deadline - 100ms);
  ExpectAliveBefore(setsid_watch, options.deadline, "the setsid grandchild");
  ExpectAliveBefore(orphan_watch, options.deadline, "the double-forked grandchild");
  for (const ProcessWatch* watch : {&child_watch, &setsid_watch, &orphan_watch}) {
    const std::optional<TimePoint> died = watch->AwaitExit(2s);
    ASSERT_TRUE(died) << "a descendant outlived the deadline";
    EXPECT_GE(*died, options.deadline - kEarly);
    EXPECT_LE(*died, options.deadline + kLate);
  }
  const std::optional<ChildExit> exit = child->Wait(2s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kDeadline) << ToString(exit->kind);
}

TEST(GuardianDeadlineTest, LeftoverDescendantsAreStoppedWhenTheChildExits) {
  TempDir dir;
  dir.Script("ignore_term.sh", kIgnoreTermScript);
  const std::string script = dir.Script("leave.sh",
                                        "sh \"$1/ignore_term.sh\" \"$1/leftover.pid\" &\n"
                                        "while [ ! -e \"$1/go\" ]; do sleep 0.01; done\n"
                                        "exit 3");
  SpawnOptions options = Options({"/bin/sh", script, dir.path()});
  options.grace = 300ms;
  auto child = MustSpawn(options);
  ASSERT_TRUE(child);
  const std::optional<pid_t> leftover = AwaitPidFile(dir.File("leftover.pid"));
  ASSERT_TRUE(leftover);
  ProcessWatch leftover_watch(*leftover);
  ASSERT_TRUE(leftover_watch.valid());

  const TimePoint go = BootClock::now();  // The child exits after this.
  dir.Script("go", "");
  const std::optional<TimePoint> died = leftover_watch.AwaitExit(2s);
  ASSERT_TRUE(died) << "a descendant outlived the child by more than the grace";
  EXPECT_GE(*died, go + options.grace - kEarly);  // It ignored SIGTERM.
  EXPECT_LE(*died, go + options.grace + kLate);

  const std::optional<ChildExit> exit = child->Wait(2s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kExited) << ToString(exit->kind);
  EXPECT_EQ(exit->code, 3);
}

TEST(GuardianDeadlineTest, ChildIsNotStartedPastItsDeadline) {
  SpawnOptions options = Options({"sleep", "30"});
  options.deadline = BootClock::now() - 1ms;
  auto child = MustSpawn(options);
  ASSERT_TRUE(child);
  EXPECT_EQ(child->child_pid(), -1);
  const std::optional<ChildExit> exit = child->Wait(2s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kDeadline) << ToString(exit->kind);
}

// The test-only switch really turns the deadline off; the process tests rely on it to show
// that their overlap checks catch a child that outlives its lease.
TEST(GuardianDeadlineTest, UnsafeSwitchLetsTheChildOutliveItsDeadline) {
  ASSERT_EQ(setenv("BATON_UNSAFE_IGNORE_DEADLINE", "1", 1), 0);
  SpawnOptions options = Options({"sleep", "30"});
  options.grace = 100ms;
  options.deadline = BootClock::now() + 300ms;
  auto child = MustSpawn(options);
  unsetenv("BATON_UNSAFE_IGNORE_DEADLINE");
  ASSERT_TRUE(child);
  ProcessWatch watch(child->child_pid());
  ASSERT_TRUE(watch.valid());

  SleepUntil(options.deadline + 700ms);
  EXPECT_TRUE(watch.Alive()) << "the deadline was enforced despite the switch";
  child->Terminate(0ms);  // Terminate still works.
  const std::optional<ChildExit> exit = child->Wait(2s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kTerminated) << ToString(exit->kind);
}

}  // namespace
}  // namespace baton::guardian
