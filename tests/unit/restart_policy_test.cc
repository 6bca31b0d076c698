// What `baton run` does when its active command ends.
#include "restart_policy.h"

#include <gtest/gtest.h>

namespace baton::cli {
namespace {

using std::chrono::seconds;
using Kind = ChildExitAction::Kind;

constexpr Duration kHeartbeat = std::chrono::milliseconds(400);

guardian::ChildExit Exited(int code) {
  guardian::ChildExit exit;
  exit.kind = guardian::ExitKind::kExited;
  exit.code = code;
  return exit;
}

guardian::ChildExit Ended(guardian::ExitKind kind) {
  guardian::ChildExit exit;
  exit.kind = kind;
  return exit;
}

TEST(RestartPolicy, ACommandThatDiesYoungHoldsTheInstanceOffLongerEachTime) {
  RestartPolicy policy(kHeartbeat, /*exit_with_child=*/false);
  std::vector<Duration> hold_offs;
  for (int i = 0; i < 8; ++i) {
    const ChildExitAction action = policy.OnActiveChildExit(Exited(1), seconds(2), true);
    ASSERT_EQ(action.kind, Kind::kGiveUp);
    EXPECT_EQ(action.why, "the command ended");
    hold_offs.push_back(action.hold_off);
  }
  EXPECT_EQ(hold_offs, (std::vector<Duration>{seconds(1), seconds(2), seconds(4), seconds(8),
                                              seconds(16), seconds(32), seconds(60), seconds(60)}));
  // A long life forgives the past: one heartbeat, so another instance gets the first chance.
  EXPECT_EQ(policy.OnActiveChildExit(Exited(0), seconds(61), true).hold_off, kHeartbeat);
  EXPECT_EQ(policy.OnActiveChildExit(Exited(0), seconds(1), true).hold_off, seconds(1));
}

TEST(RestartPolicy, OnExitExitEndsBatonWithTheCommandsCode) {
  RestartPolicy policy(kHeartbeat, /*exit_with_child=*/true);
  auto action = policy.OnActiveChildExit(Exited(3), seconds(1), true);
  EXPECT_EQ(action.kind, Kind::kExit);
  EXPECT_EQ(action.exit_code, 3);
  guardian::ChildExit killed = Ended(guardian::ExitKind::kSignaled);
  killed.signal = 9;
  EXPECT_EQ(policy.OnActiveChildExit(killed, seconds(1), true).exit_code, 137);
  EXPECT_EQ(
      policy.OnActiveChildExit(Ended(guardian::ExitKind::kSpawnFailed), seconds(0), true).exit_code,
      127);
}

TEST(RestartPolicy, ACommandStoppedByBatonStartsANewIntervalAtOnce) {
  for (const bool exit_with_child : {false, true}) {
    RestartPolicy policy(kHeartbeat, exit_with_child);
    const auto deadline =
        policy.OnActiveChildExit(Ended(guardian::ExitKind::kDeadline), seconds(1), true);
    EXPECT_EQ(deadline.kind, Kind::kGiveUp);
    EXPECT_EQ(deadline.hold_off, Duration::zero());
    EXPECT_EQ(deadline.why, "its command was stopped at the deadline");
    const auto stopped =
        policy.OnActiveChildExit(Ended(guardian::ExitKind::kTerminated), seconds(1), true);
    EXPECT_EQ(stopped.kind, Kind::kGiveUp);
    EXPECT_EQ(stopped.hold_off, Duration::zero());
  }
}

TEST(RestartPolicy, TheEndOfAnEarlierIntervalsCommandChangesNothing) {
  RestartPolicy policy(kHeartbeat, /*exit_with_child=*/true);
  EXPECT_EQ(policy.OnActiveChildExit(Exited(1), seconds(1), false).kind, Kind::kNothing);
  EXPECT_EQ(policy.OnActiveChildExit(Ended(guardian::ExitKind::kDeadline), seconds(1), false).kind,
            Kind::kNothing);
  // Not counted as a short life either.
  RestartPolicy restart(kHeartbeat, false);
  EXPECT_EQ(restart.OnActiveChildExit(Exited(1), seconds(1), false).kind, Kind::kNothing);
  EXPECT_EQ(restart.OnActiveChildExit(Exited(1), seconds(1), true).hold_off, seconds(1));
}

}  // namespace
}  // namespace baton::cli
