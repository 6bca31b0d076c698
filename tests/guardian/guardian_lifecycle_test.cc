// Starting, stopping and losing the guardian, with real processes.

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "guardian/guardian.h"
#include "guardian_test_util.h"

namespace baton::guardian {
namespace {

using namespace guardian_test;  // NOLINT(google-build-using-namespace): test helpers.

bool Reaped(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) < 0 && errno == ECHILD; }

TEST(GuardianLifecycleTest, ReportsTheExitCodeAndLeavesNoGuardian) {
  auto child = MustSpawn(Options({"/bin/sh", "-c", "exit 7"}));
  ASSERT_TRUE(child);
  EXPECT_GT(child->child_pid(), 0);
  EXPECT_GT(child->guardian_pid(), 0);
  const std::optional<ChildExit> exit = child->Wait(5s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kExited) << ToString(exit->kind);
  EXPECT_EQ(exit->code, 7);
  EXPECT_TRUE(Reaped(child->guardian_pid()));
  // A second Wait gives the same answer at once.
  const std::optional<ChildExit> again = child->Wait(0ms);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->code, 7);
}

TEST(GuardianLifecycleTest, ReportsAChildKilledBySomeoneElse) {
  auto child = MustSpawn(Options({"sleep", "30"}));
  ASSERT_TRUE(child);
  ASSERT_EQ(kill(child->child_pid(), SIGUSR1), 0);
  const std::optional<ChildExit> exit = child->Wait(5s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kSignaled) << ToString(exit->kind);
  EXPECT_EQ(exit->signal, SIGUSR1);
}

TEST(GuardianLifecycleTest, TerminateSendsSigtermThenSigkillAfterGrace) {
  TempDir dir;
  const std::string script = dir.Script("stubborn.sh",
                                        "trap 'echo term > \"$1/term\"' TERM\n"
                                        "echo $$ > \"$1/ready.pid\"\n"
                                        "while :; do sleep 0.05; done");
  SpawnOptions options = Options({"/bin/sh", script, dir.path()});
  options.grace = 5s;
  auto child = MustSpawn(options);
  ASSERT_TRUE(child);
  ASSERT_TRUE(AwaitPidFile(dir.File("ready.pid")));
  ProcessWatch watch(child->child_pid());

  // Terminate from another thread while this one waits, as baton does.
  const Duration grace = 300ms;
  const TimePoint terminated = BootClock::now();
  std::thread stopper([&] { child->Terminate(grace); });
  const std::optional<ChildExit> exit = child->Wait(3s);
  stopper.join();
  ASSERT_TRUE(exit);
  const std::optional<TimePoint> died = watch.AwaitExit(0ms);
  ASSERT_TRUE(died);
  EXPECT_GE(*died, terminated + grace - kEarly);
  EXPECT_LE(*died, terminated + grace + kLate);
  EXPECT_EQ(exit->kind, ExitKind::kTerminated) << ToString(exit->kind);
  EXPECT_EQ(exit->signal, SIGKILL);
  EXPECT_TRUE(std::ifstream(dir.File("term")).good()) << "no SIGTERM came before the SIGKILL";
}

TEST(GuardianLifecycleTest, TerminateStopsAnObedientChildAtOnce) {
  SpawnOptions options = Options({"sleep", "30"});
  auto child = MustSpawn(options);
  ASSERT_TRUE(child);
  const TimePoint terminated = BootClock::now();
  child->Terminate(10s);
  const std::optional<ChildExit> exit = child->Wait(3s);
  ASSERT_TRUE(exit);
  EXPECT_LE(BootClock::now(), terminated + kLate);
  EXPECT_EQ(exit->kind, ExitKind::kTerminated) << ToString(exit->kind);
  EXPECT_EQ(exit->signal, SIGTERM);
}

// A forked process that plays baton: it starts `options` under a guardian, reports the
// guardian's and the child's pids, and then does nothing until it is killed.
struct ForkedBaton {
  pid_t pid = -1;
  pid_t guardian = -1;
  pid_t child = -1;
};

std::optional<ForkedBaton> ForkBaton(const SpawnOptions& options) {
  // An orphaned guardian then comes back to this process, which can reap it.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return std::nullopt;
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return std::nullopt;
  ForkedBaton baton;
  baton.pid = fork();
  if (baton.pid < 0) return std::nullopt;
  if (baton.pid == 0) {
    close(pipe_fds[0]);
    auto spawned = GuardedChild::Spawn(options);
    if (!spawned.ok()) _exit(1);
    const pid_t pids[2] = {(*spawned)->guardian_pid(), (*spawned)->child_pid()};
    if (write(pipe_fds[1], pids, sizeof(pids)) != sizeof(pids)) _exit(1);
    for (;;) pause();
  }
  close(pipe_fds[1]);
  pid_t pids[2] = {-1, -1};
  const ssize_t got = read(pipe_fds[0], pids, sizeof(pids));
  close(pipe_fds[0]);
  if (got != static_cast<ssize_t>(sizeof(pids))) {
    kill(baton.pid, SIGKILL);
    waitpid(baton.pid, nullptr, 0);
    return std::nullopt;
  }
  baton.guardian = pids[0];
  baton.child = pids[1];
  return baton;
}

TEST(GuardianLifecycleTest, BatonGoneStopsChildAndDescendantsWithinGrace) {
  TempDir dir;
  dir.Script("ignore_term.sh", kIgnoreTermScript);
  SpawnOptions options = Options({"/bin/sh", dir.Script("family.sh", kFamilyScript), dir.path()});
  options.grace = 300ms;
  options.deadline = BootClock::now() + 30s;
  const std::optional<ForkedBaton> baton = ForkBaton(options);
  ASSERT_TRUE(baton);
  ProcessWatch guardian_watch(baton->guardian);
  ProcessWatch child_watch(baton->child);
  const std::optional<pid_t> setsid_pid = AwaitPidFile(dir.File("setsid.pid"));
  ASSERT_TRUE(setsid_pid);
  ProcessWatch setsid_watch(*setsid_pid);
  ASSERT_TRUE(guardian_watch.valid() && child_watch.valid() && setsid_watch.valid());

  const TimePoint gone = BootClock::now();
  ASSERT_EQ(kill(baton->pid, SIGKILL), 0);
  ASSERT_EQ(waitpid(baton->pid, nullptr, 0), baton->pid);
  for (const ProcessWatch* watch : {&child_watch, &setsid_watch}) {
    const std::optional<TimePoint> died = watch->AwaitExit(3s);
    ASSERT_TRUE(died) << "a descendant outlived baton by more than the grace";
    EXPECT_GE(*died, gone + options.grace - kEarly);  // Both ignore SIGTERM.
    EXPECT_LE(*died, gone + options.grace + kLate);
  }
  EXPECT_TRUE(guardian_watch.AwaitExit(2s)) << "the guardian did not exit";
  waitpid(baton->guardian, nullptr, 0);
}

TEST(GuardianLifecycleTest, PausedBatonDoesNotDelayTheDeadline) {
  TempDir dir;
  dir.Script("ignore_term.sh", kIgnoreTermScript);
  SpawnOptions options = Options({"/bin/sh", dir.Script("family.sh", kFamilyScript), dir.path()});
  options.grace = 200ms;
  options.deadline = BootClock::now() + 800ms;
  const std::optional<ForkedBaton> baton = ForkBaton(options);
  ASSERT_TRUE(baton);
  ProcessWatch child_watch(baton->child);
  const std::optional<pid_t> orphan_pid = AwaitPidFile(dir.File("orphan.pid"));
  ASSERT_TRUE(orphan_pid);
  ProcessWatch orphan_watch(*orphan_pid);
  ASSERT_TRUE(child_watch.valid() && orphan_watch.valid());

  ASSERT_EQ(kill(baton->pid, SIGSTOP), 0);
  for (const ProcessWatch* watch : {&child_watch, &orphan_watch}) {
    const std::optional<TimePoint> died = watch->AwaitExit(3s);
    ASSERT_TRUE(died) << "a descendant outlived its deadline while baton was paused";
    EXPECT_GE(*died, options.deadline - kEarly);
    EXPECT_LE(*died, options.deadline + kLate);
  }
  ProcessWatch guardian_watch(baton->guardian);
  EXPECT_TRUE(guardian_watch.AwaitExit(2s)) << "the guardian waited for a paused baton";
  kill(baton->pid, SIGKILL);
  waitpid(baton->pid, nullptr, 0);
  waitpid(baton->guardian, nullptr, 0);
}

TEST(GuardianLifecycleTest, KilledGuardianTakesTheChildWithIt) {
  auto child = MustSpawn(Options({"sleep", "30"}));
  ASSERT_TRUE(child);
  ProcessWatch watch(child->child_pid());
  ASSERT_TRUE(watch.valid());
  ASSERT_EQ(kill(child->guardian_pid(), SIGKILL), 0);
  EXPECT_TRUE(watch.AwaitExit(2s)) << "PR_SET_PDEATHSIG did not kill the child";
  const std::optional<ChildExit> exit = child->Wait(3s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kSignaled) << ToString(exit->kind);
  EXPECT_EQ(exit->signal, SIGKILL);
}

TEST(GuardianLifecycleTest, SigtermToTheGuardianStopsTheChild) {
  auto child = MustSpawn(Options({"sleep", "30"}));
  ASSERT_TRUE(child);
  ASSERT_EQ(kill(child->guardian_pid(), SIGTERM), 0);
  const std::optional<ChildExit> exit = child->Wait(3s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kTerminated) << ToString(exit->kind);
  EXPECT_EQ(exit->signal, SIGTERM);
}

TEST(GuardianLifecycleTest, MissingCommandIsSpawnFailedWithEnoent) {
  for (const char* command : {"/nonexistent/baton-test-command", "baton-no-such-command"}) {
    auto child = MustSpawn(Options({command}));
    ASSERT_TRUE(child);
    const std::optional<ChildExit> exit = child->Wait(5s);
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->kind, ExitKind::kSpawnFailed) << command << ": " << ToString(exit->kind);
    EXPECT_EQ(exit->code, ENOENT) << command;
  }
}

TEST(GuardianLifecycleTest, GuardianThatCannotStartIsAnError) {
  SpawnOptions missing = Options({"sleep", "1"});
  missing.guardian_exe = "/nonexistent/baton";
  auto spawned = GuardedChild::Spawn(missing);
  ASSERT_FALSE(spawned.ok());
  EXPECT_EQ(spawned.error().code(), ErrorCode::kInvalidArgument);

  SpawnOptions not_baton = Options({"sleep", "1"});
  not_baton.guardian_exe = "/bin/true";
  spawned = GuardedChild::Spawn(not_baton);
  ASSERT_FALSE(spawned.ok());
  EXPECT_EQ(spawned.error().code(), ErrorCode::kInvalidArgument);

  EXPECT_FALSE(GuardedChild::Spawn(Options({})).ok());
}

TEST(GuardianLifecycleTest, ChildEnvironmentIsExactlyTheGivenOne) {
  ASSERT_EQ(setenv("BATON_GUARDIAN_TEST_MARKER", "must-not-leak", 1), 0);
  TempDir dir;
  SpawnOptions options = Options({BATON_GUARDIAN_HOST, "dump-env", dir.File("env")});
  options.env = {"A=1", "B=two words", "EMPTY=", "LINE=x=y"};
  auto child = MustSpawn(options);
  unsetenv("BATON_GUARDIAN_TEST_MARKER");
  ASSERT_TRUE(child);
  const std::optional<ChildExit> exit = child->Wait(5s);
  ASSERT_TRUE(exit);
  ASSERT_EQ(exit->kind, ExitKind::kExited) << ToString(exit->kind);
  ASSERT_EQ(exit->code, 0);
  std::ifstream in(dir.File("env"));
  std::vector<std::string> seen;
  for (std::string line; std::getline(in, line);) seen.push_back(line);
  EXPECT_EQ(seen, options.env);
}

TEST(GuardianLifecycleTest, ChildInheritsOnlyStandardDescriptors) {
  TempDir dir;
  const int stray = open("/dev/null", O_RDONLY);  // Not close-on-exec, on purpose.
  ASSERT_GE(stray, 0);
  auto child = MustSpawn(Options({BATON_GUARDIAN_HOST, "dump-fds", dir.File("fds")}));
  close(stray);
  ASSERT_TRUE(child);
  const std::optional<ChildExit> exit = child->Wait(5s);
  ASSERT_TRUE(exit);
  ASSERT_EQ(exit->code, 0);
  std::ifstream in(dir.File("fds"));
  std::vector<std::string> seen;
  for (std::string line; std::getline(in, line);) seen.push_back(line);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2"}));
}

TEST(GuardianLifecycleTest, StdinFdBecomesTheChildsStandardInput) {
  TempDir dir;
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  ASSERT_EQ(write(pipe_fds[1], "payload\n", 8), 8);
  close(pipe_fds[1]);
  SpawnOptions options = Options({"/bin/sh", "-c", "cat > \"$0\"", dir.File("out")});
  options.stdin_fd = pipe_fds[0];
  auto child = MustSpawn(options);
  close(pipe_fds[0]);
  ASSERT_TRUE(child);
  const std::optional<ChildExit> exit = child->Wait(5s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, 0);
  std::string line;
  std::getline(std::ifstream(dir.File("out")), line);
  EXPECT_EQ(line, "payload");
}

TEST(GuardianLifecycleTest, WaitWithTimeoutReturnsNothingWhileTheChildRuns) {
  auto child = MustSpawn(Options({"sleep", "30"}));
  ASSERT_TRUE(child);
  const TimePoint start = BootClock::now();
  EXPECT_FALSE(child->Wait(100ms));
  EXPECT_GE(BootClock::now(), start + 100ms);
  child->Terminate(0ms);
  const std::optional<ChildExit> exit = child->Wait(3s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kTerminated) << ToString(exit->kind);
}

TEST(GuardianLifecycleTest, DestroyingTheHandleStopsTheChildWithinGrace) {
  TempDir dir;
  SpawnOptions options =
      Options({"/bin/sh", dir.Script("ignore_term.sh", kIgnoreTermScript), dir.File("c.pid")});
  options.grace = 300ms;
  auto child = MustSpawn(options);
  ASSERT_TRUE(child);
  ASSERT_TRUE(AwaitPidFile(dir.File("c.pid")));
  ProcessWatch watch(child->child_pid());
  const pid_t guardian = child->guardian_pid();
  const TimePoint start = BootClock::now();
  child.reset();
  EXPECT_GE(BootClock::now(), start + options.grace - kEarly);
  EXPECT_LE(BootClock::now(), start + options.grace + kLate);
  EXPECT_FALSE(watch.Alive());
  EXPECT_TRUE(Reaped(guardian));
}

}  // namespace
}  // namespace baton::guardian

namespace baton::guardian {
namespace {

using namespace guardian_test;  // NOLINT(google-build-using-namespace): test helpers.

TEST(GuardianPreparedTest, PreparedGuardianRunsNothingUntilStarted) {
  TempDir dir;
  const std::string marker = dir.File("ran");
  SpawnOptions options = Options({"/bin/sh", "-c", "echo $TOKEN > " + marker + "; exit 5"});
  auto prepared = GuardedChild::Prepare(options);
  ASSERT_TRUE(prepared.ok()) << prepared.error().message();
  std::unique_ptr<GuardedChild> child = std::move(prepared).value();
  EXPECT_GT(child->guardian_pid(), 0);
  EXPECT_EQ(child->child_pid(), -1);
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(std::ifstream(marker).good()) << "the command ran before Start()";

  ASSERT_TRUE(child->Start({"TOKEN=42"}, BootClock::now() + 10s, 1s).ok());
  EXPECT_GT(child->child_pid(), 0);
  const std::optional<ChildExit> exit = child->Wait(5s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kExited);
  EXPECT_EQ(exit->code, 5);
  std::string token;
  std::ifstream(marker) >> token;
  EXPECT_EQ(token, "42");  // The environment came with Start(), not with Prepare().
}

TEST(GuardianPreparedTest, DroppedPreparedGuardianExitsWithoutRunningAnything) {
  TempDir dir;
  const std::string marker = dir.File("ran");
  auto prepared = GuardedChild::Prepare(Options({"/bin/sh", "-c", "touch " + marker}));
  ASSERT_TRUE(prepared.ok()) << prepared.error().message();
  const pid_t guardian = (*prepared)->guardian_pid();
  prepared.value().reset();  // Reaps the guardian: it must exit on its own, at once.
  EXPECT_TRUE(waitpid(guardian, nullptr, WNOHANG) < 0 && errno == ECHILD);
  EXPECT_FALSE(std::ifstream(marker).good());
}

TEST(GuardianPreparedTest, StartOnADeadPreparedGuardianIsAnError) {
  auto prepared = GuardedChild::Prepare(Options({"true"}));
  ASSERT_TRUE(prepared.ok()) << prepared.error().message();
  ASSERT_EQ(kill((*prepared)->guardian_pid(), SIGKILL), 0);
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE((*prepared)->Start({}, BootClock::now() + 10s, 1s).ok());
}

}  // namespace
}  // namespace baton::guardian
