// One active instance among several `baton run` processes, and what happens to the group
// when the active one is killed, stopped, paused or duplicated.

#include <signal.h>

#include <thread>

#include "group_fixture.h"

namespace baton::process_test {
namespace {

using test_support::HoldsFor;
using test_support::IsAlive;
using test_support::MonoNowNs;
using test_support::WaitFor;

class ElectionTest : public StoreGroupTest {};

TEST_P(ElectionTest, ThreeInstancesRunExactlyOneChild) {
  // Started together, so they race for the lease.
  Start("a");
  Start("b");
  Start("c");
  const std::optional<ProbeEvent> start = WaitForGroup({"a", "b", "c"});
  ASSERT_TRUE(start);

  // They keep competing at every heartbeat; nobody else may start a child meanwhile.
  EXPECT_TRUE(HoldsFor([&] { return Events("start").size() == 1; }, 3 * kHeartbeat));

  const StatusView status = Status();
  ASSERT_TRUE(status.result().Exited(0)) << status.Describe();
  EXPECT_EQ(status.active(), start->instance);
  EXPECT_EQ(status.member_ids().size(), 3u);
  EXPECT_EQ(status.active_members(), 1);
  for (const std::string id : {"a", "b", "c"}) {
    EXPECT_EQ(status.role(id), id == start->instance ? "active" : "passive") << id;
  }
  EXPECT_EQ(status.lease_token(), start->token);
  EXPECT_TRUE(IsAlive(start->pid));
}

TEST_P(ElectionTest, KilledActiveIsReplacedWithinTheTtlAndItsChildDies) {
  const ProbeEvent old = StartGroup({"a", "b", "c"});
  Instance& killed = instance(old.instance);

  killed.process.Kill();
  const std::optional<ProbeEvent> next = WaitForStartAfter(old.token, kTtl + kSlack);
  ASSERT_TRUE(next) << "no other instance became active within ttl + 1 s";
  EXPECT_NE(next->instance, old.instance);

  // The guardian saw baton go and stopped the child; it must not outlive its baton by more
  // than the grace period.
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(old.pid); }, kGrace + kSlack));
  const std::optional<test_support::ExitStatus> exit = killed.process.WaitExit(kSlack);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->signal, SIGKILL);

  // The killed baton's guardian was re-parented to this test; it must have exited too.
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const test_support::ProcessInfo& p : test_support::Descendants()) {
          if (p.alive() && p.ppid == getpid() && p.pid != instance("a").process.pid() &&
              p.pid != instance("b").process.pid() && p.pid != instance("c").process.pid()) {
            return false;
          }
        }
        return true;
      },
      kGrace + kSlack))
      << "a process of the killed baton outlived it";

  EXPECT_TRUE(WaitFor([&] { return Status().active() == next->instance; }, kSlack));
}

TEST_P(ElectionTest, TerminatedActiveHandsOverAtOnceAndUnregisters) {
  const ProbeEvent old = StartGroup({"a", "b", "c"});
  Instance& leaving = instance(old.instance);

  const int64_t signalled_ns = MonoNowNs();
  leaving.process.Terminate();
  const std::optional<ProbeEvent> next = WaitForStartAfter(old.token, kTtl + kSlack);
  ASSERT_TRUE(next) << "no other instance became active";
  // SPEC: ≤ 100 ms on SQLite. Asserted loosely here; bench/ measures it.
  EXPECT_LT(next->mono_ns - signalled_ns, 1'000'000'000) << "handover took too long";

  const std::optional<test_support::ExitStatus> exit = leaving.process.WaitExit(kGrace + kSlack);
  ASSERT_TRUE(exit) << "baton did not exit after SIGTERM";
  EXPECT_TRUE(exit->Exited(0)) << exit->Describe();

  // The old child was stopped (it logs SIGTERM) before the new one started.
  bool stopped = false;
  for (const ProbeEvent& stop : Events("stop")) {
    if (stop.token != old.token) continue;
    stopped = true;
    EXPECT_LT(stop.mono_ns, next->mono_ns);
  }
  EXPECT_TRUE(stopped) << "the old child did not get SIGTERM";
  EXPECT_FALSE(IsAlive(old.pid));

  StatusView status = Status();
  EXPECT_FALSE(status.has_member(old.instance)) << status.Describe();
  EXPECT_EQ(status.member_ids().size(), 2u) << status.Describe();
  EXPECT_EQ(status.active(), next->instance);
  // The member list agrees with the lease from the start, not one heartbeat later.
  EXPECT_EQ(status.role(next->instance), "active") << status.Describe();
  EXPECT_EQ(status.active_members(), 1) << status.Describe();

  // Stopping the rest, the passive one first so that it cannot take over, leaves an empty
  // group and nothing running.
  for (const std::string id : {"a", "b", "c"}) {
    if (id == old.instance || id == next->instance) continue;
    instance(id).process.Terminate();
    const std::optional<test_support::ExitStatus> passive_exit =
        instance(id).process.WaitExit(kGrace + kSlack);
    ASSERT_TRUE(passive_exit);
    EXPECT_TRUE(passive_exit->Exited(0)) << passive_exit->Describe();
  }
  instance(next->instance).process.Terminate();
  const std::optional<test_support::ExitStatus> last_exit =
      instance(next->instance).process.WaitExit(kGrace + kSlack);
  ASSERT_TRUE(last_exit);
  EXPECT_TRUE(last_exit->Exited(0)) << last_exit->Describe();

  status = Status();
  EXPECT_TRUE(status.result().Exited(3)) << status.Describe();
  EXPECT_TRUE(status.member_ids().empty()) << status.Describe();
  EXPECT_TRUE(WaitFor([] { return test_support::Descendants().empty(); }, kSlack))
      << "processes were left behind after every baton exited";
}

TEST_P(ElectionTest, PausedActiveLosesItsChildByTheDeadlineAndReturnsPassive) {
  const ProbeEvent old = StartGroup({"a", "b", "c"});
  Instance& paused = instance(old.instance);

  const auto stopped_at = std::chrono::steady_clock::now();
  paused.process.Stop();  // baton alone: its guardian and child keep running.

  // The deadline is at most ttl − margin after the pause; the guardian ends the child then.
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(old.pid); }, kTtl + kSlack))
      << "the child of a paused baton outlived the deadline";
  const std::optional<ProbeEvent> next = WaitForStartAfter(old.token, kTtl + kSlack);
  ASSERT_TRUE(next) << "no other instance took over";
  EXPECT_NE(next->instance, old.instance);

  std::this_thread::sleep_until(stopped_at + kTtl + milliseconds(1500));
  paused.process.Continue();

  // Back from the pause, the old instance finds the lease taken and stays passive; its
  // member row (possibly reaped while it was paused) comes back.
  EXPECT_TRUE(WaitFor(
      [&] {
        const StatusView status = Status();
        return status.role(old.instance) == "passive" && status.active() == next->instance &&
               status.active_members() == 1;
      },
      kTtl + kSlack))
      << Status().Describe();
  EXPECT_TRUE(HoldsFor([&] { return Events("start").size() == 2; }, 3 * kHeartbeat))
      << "a child started while another instance held the lease";
  EXPECT_TRUE(paused.process.Running());
}

// The overlap check must be able to fail: with the deadline switched off in the paused
// instance, its child outlives its lease and the next child finds the lock taken.
TEST_P(ElectionTest, OverlapCheckCatchesAChildThatOutlivesItsLease) {
  expect_overlap_ = true;
  Start("unsafe", {.baton_env = {"BATON_UNSAFE_IGNORE_DEADLINE=1"}});
  const std::optional<ProbeEvent> old = WaitForGroup({"unsafe"});
  ASSERT_TRUE(old);
  Start("safe");
  ASSERT_TRUE(WaitForGroup({"unsafe", "safe"}));

  instance("unsafe").process.Stop();
  EXPECT_TRUE(WaitFor([&] { return !Events("overlap").empty(); }, kTtl + kSlack))
      << "the probe did not report the overlap";
  EXPECT_TRUE(IsAlive(old->pid));

  // Resumed, the unsafe instance learns that it lost the lease and stops its child at last.
  instance("unsafe").process.Continue();
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(old->pid); }, kTtl + kSlack));
}

TEST_P(ElectionTest, KilledMemberIsReapedByTheOthersAfterTheTtl) {
  const ProbeEvent active = StartGroup({"a", "b", "c"});
  const std::string victim = active.instance == "c" ? "b" : "c";

  instance(victim).process.Kill();
  EXPECT_TRUE(Status().has_member(victim)) << "the member row vanished before its expiry";
  EXPECT_TRUE(WaitFor([&] { return !Status().has_member(victim); }, kTtl + kHeartbeat + kSlack))
      << Status().Describe();

  // Reaping a member never touches the lease.
  const StatusView status = Status();
  EXPECT_EQ(status.active(), active.instance);
  EXPECT_EQ(status.lease_token(), active.token);
  EXPECT_EQ(Events("start").size(), 1u);
}

TEST_P(ElectionTest, SecondProcessWithTheSameIdIsRefused) {
  const std::string id = "worker-7f3a";
  Start(id);
  const std::optional<ProbeEvent> first = WaitForGroup({id});
  ASSERT_TRUE(first);

  const test_support::CommandResult second = test_support::RunCommand(RunArgv(id));
  EXPECT_TRUE(second.Exited(2)) << second.Describe();
  EXPECT_NE(second.err.find("baton: "), std::string::npos) << second.Describe();
  EXPECT_NE(second.err.find(id), std::string::npos) << second.Describe();

  // The first one is untouched.
  EXPECT_TRUE(instance(id).process.Running());
  const StatusView status = Status();
  EXPECT_EQ(status.active(), id);
  EXPECT_EQ(status.lease_token(), first->token);
  EXPECT_EQ(status.member_ids().size(), 1u);
  EXPECT_EQ(Events("start").size(), 1u);
}

TEST_P(ElectionTest, KilledInstanceRestartedWithItsIdJoinsOnceItsOldRowExpires) {
  // What a service manager does: restart a crashed instance at once, with the same --id.
  const ProbeEvent old = StartGroup({"a", "b"});
  instance("a").process.Kill();
  Instance& again = Spawn("a-restarted", RunArgv("a"));

  // The old row stays live for up to a ttl; the new process waits it out instead of
  // exiting, and then joins under the same id.
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::optional<nlohmann::json> a = Status().member("a");
        return a && a->value("pid", -1) == again.process.pid();
      },
      kTtl + kHeartbeat + kSlack));
  EXPECT_TRUE(again.process.Running()) << "the restarted instance gave up on its own id";
  // Either may win the lease the killed one left; one of them does, and only one.
  const std::optional<ProbeEvent> next = WaitForStartAfter(old.token, kTtl + kSlack);
  ASSERT_TRUE(next);
  EXPECT_TRUE(WaitFor([&] { return Status().active_members() == 1; }, kSlack));
  const StatusView status = Status();
  EXPECT_EQ(status.active(), next->instance) << status.Describe();
  EXPECT_EQ(status.member_ids().size(), 2u) << status.Describe();
}

BATON_INSTANTIATE_ON_STORE_UNDER_TEST(ElectionTest);

}  // namespace
}  // namespace baton::process_test
