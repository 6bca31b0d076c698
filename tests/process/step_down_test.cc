// `baton step-down [--to ID]` and `baton run --priority N` with real processes: the role
// moves through the store as fast as a SIGTERM handover, to the member named when one is,
// and back to a preferred instance when it joins; the probes' flock checks (TearDown) that
// two commands never ran at once.
#include <algorithm>
#include <cstdio>
#include <regex>
#include <thread>

#include "group_fixture.h"

namespace baton::process_test {
namespace {

using test_support::CommandResult;
using test_support::HoldsFor;
using test_support::MonoNowNs;
using test_support::WaitFor;

class StepDownTest : public StoreGroupTest {
 protected:
  CommandResult StepDown(const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv = {BATON_BIN, "step-down", "--store", store_, "--group", group_};
    argv.insert(argv.end(), args.begin(), args.end());
    return test_support::RunCommand(argv, milliseconds(15000));
  }

  static double MsSince(int64_t since_ns, const ProbeEvent& event) {
    return static_cast<double>(event.mono_ns - since_ns) / 1e6;
  }
};

TEST_P(StepDownTest, MovesTheRoleAsFastAsASigtermHandoverAndKeepsTheOldInstancePassive) {
  const ProbeEvent first = StartGroup({"a", "b", "c"});
  const int64_t asked_ns = MonoNowNs();
  const CommandResult stepped = StepDown();
  ASSERT_TRUE(stepped.Exited(0)) << stepped.Describe();
  const std::optional<ProbeEvent> second = WaitForStartAfter(first.token, kTtl + kSlack);
  ASSERT_TRUE(second) << "no other instance took over";
  EXPECT_NE(second->instance, first.instance);
  const double step_down_ms = MsSince(asked_ns, *second);
  EXPECT_NE(stepped.out.find(first.instance + " (token " + std::to_string(first.token) +
                             ") stepped down;"),
            std::string::npos)
      << stepped.Describe();
  // A handover, not an expiry: the lease was released, long before it could have expired.
  EXPECT_LT(step_down_ms, static_cast<double>(kTtl.count())) << "the role moved by expiry";
  EXPECT_TRUE(WaitFor(
      [&] {
        const StatusView status = Status();
        return status.role(first.instance) == "passive" && status.active_members() == 1;
      },
      kSlack))
      << Status().Describe();
  EXPECT_TRUE(instance(first.instance).process.Running());

  // The same move by SIGTERM, for comparison.
  const int64_t signalled_ns = MonoNowNs();
  instance(second->instance).process.Terminate();
  const std::optional<ProbeEvent> third = WaitForStartAfter(second->token, kTtl + kSlack);
  ASSERT_TRUE(third);
  std::printf("handover (%s): step-down %.1f ms, SIGTERM %.1f ms\n", GetParam().name, step_down_ms,
              MsSince(signalled_ns, *third));
}

TEST_P(StepDownTest, ToANamedMemberMovesTheRoleToItAndRefusesAnUnknownOne) {
  const ProbeEvent first = StartGroup({"a", "b", "c"});
  const std::string target = first.instance == "c" ? "b" : "c";
  const CommandResult stepped = StepDown({"--to", target});
  ASSERT_TRUE(stepped.Exited(0)) << stepped.Describe();
  EXPECT_NE(stepped.out.find(target + " is active"), std::string::npos) << stepped.Describe();
  EXPECT_EQ(Status().active(), target) << Status().Describe();
  const std::optional<ProbeEvent> next = WaitForStartAfter(first.token, kSlack);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->instance, target);

  for (const std::string& bad : {std::string("nobody"), target}) {
    const CommandResult refused = StepDown({"--to", bad});
    EXPECT_TRUE(refused.Exited(2)) << refused.Describe();
    EXPECT_NE(refused.err.find("--to " + bad + " is not a live member of group svc"),
              std::string::npos)
        << refused.Describe();
  }
  EXPECT_EQ(Status().active(), target) << "a refused step-down moved the role";
}

TEST_P(StepDownTest, NoActiveInstanceIsExitThreeAndNoOneToTakeOverExitOne) {
  Start("a");
  ASSERT_TRUE(WaitForGroup({"a"}));
  const CommandResult alone = StepDown();
  EXPECT_TRUE(alone.Exited(1)) << alone.Describe();
  EXPECT_NE(alone.err.find("no other live instance of group svc could take over from a"),
            std::string::npos)
      << alone.Describe();
  EXPECT_EQ(Status().active(), "a") << "a step-down nobody could take moved the role";

  instance("a").process.Terminate();
  ASSERT_TRUE(instance("a").process.WaitExit(milliseconds(5000)));
  const CommandResult none = StepDown();
  EXPECT_TRUE(none.Exited(3)) << none.Describe();
  EXPECT_NE(none.err.find("group svc has no active instance"), std::string::npos)
      << none.Describe();
}

TEST_P(StepDownTest, AHigherPriorityInstanceTakesTheRoleWhenItJoinsAndEqualOnesNeverFlap) {
  const ProbeEvent first = StartGroup({"a"});
  Start("b", {.baton_args = {"--priority", "5"}});
  const std::optional<ProbeEvent> to_b = WaitForStartAfter(first.token, kTtl + kSlack);
  ASSERT_TRUE(to_b) << "b of priority 5 did not take the role from a of priority 0";
  EXPECT_EQ(to_b->instance, "b");

  // c has b's priority: it asks nothing, and the role stays with b.
  Start("c", {.baton_args = {"--priority", "5"}});
  ASSERT_TRUE(WaitForGroup({"a", "b", "c"}));
  EXPECT_TRUE(HoldsFor([&] { return Events("start").size() == 2; }, 4 * kHeartbeat))
      << "the role moved between instances of equal priority";

  // b dies; whoever takes over, c (priority 5) ends up with the role, a (0) does not keep it.
  instance("b").process.Kill();
  EXPECT_TRUE(WaitFor([&] { return Status().active() == std::optional<std::string>("c"); },
                      2 * (kTtl + kSlack)))
      << Status().Describe();
  EXPECT_TRUE(HoldsFor([&] { return Status().active() == std::optional<std::string>("c"); },
                       4 * kHeartbeat))
      << Status().Describe();
}

TEST_P(StepDownTest, PriorityIsCheckedAsAnOption) {
  for (const std::string bad : {"-1", "x", "1000001"}) {
    const CommandResult refused =
        test_support::RunCommand(RunArgv("a", {.baton_args = {"--priority", bad}}), kSlack);
    EXPECT_TRUE(refused.Exited(2)) << bad << ": " << refused.Describe();
    EXPECT_NE(refused.err.find("--priority"), std::string::npos) << refused.Describe();
  }
}

BATON_INSTANTIATE_ON_STORE_UNDER_TEST(StepDownTest);

}  // namespace
}  // namespace baton::process_test
