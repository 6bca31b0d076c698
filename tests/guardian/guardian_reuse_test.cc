// Reusable guardians and the pool that keeps them: several runs on one guardian process,
// each with its own streams, deadline and clean end, with real processes.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "guardian/guardian.h"
#include "guardian/guardian_pool.h"
#include "guardian_test_util.h"

namespace baton::guardian {
namespace {

using namespace guardian_test;  // NOLINT(google-build-using-namespace): test helpers.

// A pipe whose read end is drained to a string once every writer has closed it.
class Capture final {
 public:
  Capture() { EXPECT_EQ(pipe2(fds_, O_CLOEXEC), 0); }
  ~Capture() {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  int write_end() const { return fds_[1]; }
  // Closes this side's write end and reads to the end of file.
  std::string Drain() {
    close(fds_[1]);
    fds_[1] = -1;
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = read(fds_[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
};

std::unique_ptr<GuardedChild> MustPrepareReusable(std::vector<std::string> argv) {
  SpawnOptions options = Options(std::move(argv));
  options.reusable = true;
  auto prepared = GuardedChild::Prepare(options);
  EXPECT_TRUE(prepared) << prepared.error().message();
  return prepared ? std::move(prepared).value() : nullptr;
}

const std::vector<std::string> kPlainEnv = {"PATH=/usr/bin:/bin"};

TEST(GuardianReuseTest, RunsOneCommandAfterAnotherWithTheirOwnStreamsAndEnvironment) {
  auto guardian = MustPrepareReusable({"/bin/sh", "-c", "echo \"run $RUN\"; exit $RUN"});
  ASSERT_TRUE(guardian);
  const pid_t guardian_pid = guardian->guardian_pid();
  for (int run = 1; run <= 3; ++run) {
    Capture out;
    std::vector<std::string> env = kPlainEnv;
    env.push_back("RUN=" + std::to_string(run));
    ASSERT_TRUE(guardian->Start(env, TimePoint::max(), 1s, {.out = out.write_end()}));
    const std::optional<ChildExit> exit = guardian->Wait(5s);
    ASSERT_TRUE(exit) << "run " << run;
    EXPECT_EQ(exit->kind, ExitKind::kExited) << ToString(exit->kind);
    EXPECT_EQ(exit->code, run);
    EXPECT_EQ(out.Drain(), "run " + std::to_string(run) + "\n");
    EXPECT_TRUE(guardian->CanRunAgain());
    EXPECT_EQ(guardian->guardian_pid(), guardian_pid) << "a run must not need a new guardian";
  }
}

TEST(GuardianReuseTest, EachRunHasItsOwnDeadline) {
  auto guardian = MustPrepareReusable({"sleep", "30"});
  ASSERT_TRUE(guardian);
  const TimePoint first_deadline = BootClock::now() + 300ms;
  ASSERT_TRUE(guardian->Start(kPlainEnv, first_deadline, 100ms));
  ProcessWatch first(guardian->child_pid());
  std::optional<ChildExit> exit = guardian->Wait(5s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kDeadline) << ToString(exit->kind);
  const std::optional<TimePoint> died = first.AwaitExit(0ms);
  ASSERT_TRUE(died);
  EXPECT_LE(*died, first_deadline + kLate);

  // The next run is not bound by the last one's deadline, and a later one binds it.
  const TimePoint second_deadline = BootClock::now() + 600ms;
  ASSERT_TRUE(guardian->Start(kPlainEnv, second_deadline, 100ms));
  ProcessWatch second(guardian->child_pid());
  ExpectAliveBefore(second, first_deadline + 400ms, "the second run");
  exit = guardian->Wait(5s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kDeadline) << ToString(exit->kind);
  const std::optional<TimePoint> second_died = second.AwaitExit(0ms);
  ASSERT_TRUE(second_died);
  // `sleep` obeys the SIGTERM that comes a grace before the deadline.
  EXPECT_GE(*second_died, second_deadline - 100ms - kEarly);
  EXPECT_LE(*second_died, second_deadline + kLate);
}

TEST(GuardianReuseTest, ARunEndsOnlyOnceItsDescendantsAreGone) {
  TempDir dir;
  dir.Script("ignore_term.sh", kIgnoreTermScript);
  // The command exits at once but leaves an orphan that ignores SIGTERM.
  auto guardian = MustPrepareReusable({"/bin/sh", "-c",
                                       "(sh \"$0/ignore_term.sh\" \"$0/orphan.pid\" &)\n"
                                       "while [ ! -s \"$0/orphan.pid\" ]; do sleep 0.01; done",
                                       dir.path()});
  ASSERT_TRUE(guardian);
  ASSERT_TRUE(guardian->Start(kPlainEnv, TimePoint::max(), 200ms));
  const std::optional<ChildExit> exit = guardian->Wait(5s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kExited);
  const std::optional<pid_t> orphan = AwaitPidFile(dir.File("orphan.pid"), 1s);
  ASSERT_TRUE(orphan);
  ProcessWatch watch(*orphan);
  EXPECT_FALSE(watch.valid() && watch.Alive()) << "the orphan outlived the run's report";
  EXPECT_TRUE(guardian->CanRunAgain());
}

TEST(GuardianReuseTest, WordsAboutAFinishedRunDoNotReachTheNext) {
  auto guardian = MustPrepareReusable({"/bin/sh", "-c", "sleep 0.3; exit 4"});
  ASSERT_TRUE(guardian);
  ASSERT_TRUE(guardian->Start(kPlainEnv, TimePoint::max(), 1s));
  ASSERT_TRUE(guardian->Wait(5s));
  // Late words, as an extender or a stop racing the end of the first run would send.
  guardian->Terminate(0ms);
  guardian->SetDeadline(BootClock::now());
  ASSERT_TRUE(guardian->Start(kPlainEnv, TimePoint::max(), 1s));
  const std::optional<ChildExit> exit = guardian->Wait(5s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->kind, ExitKind::kExited) << ToString(exit->kind);
  EXPECT_EQ(exit->code, 4);
}

TEST(GuardianReuseTest, AnIdleGuardianExitsWhenBatonLetsGo) {
  auto guardian = MustPrepareReusable({"true"});
  ASSERT_TRUE(guardian);
  ASSERT_TRUE(guardian->Start(kPlainEnv, TimePoint::max(), 1s));
  ASSERT_TRUE(guardian->Wait(5s));
  const pid_t pid = guardian->guardian_pid();
  guardian.reset();  // Closes the socket and reaps: returns only once it has exited.
  EXPECT_TRUE(waitpid(pid, nullptr, WNOHANG) < 0 && errno == ECHILD);
}

TEST(GuardianReuseTest, BatonGoneMidRunStopsTheChildAndTheGuardian) {
  auto guardian = MustPrepareReusable({"sleep", "30"});
  ASSERT_TRUE(guardian);
  ASSERT_TRUE(guardian->Start(kPlainEnv, TimePoint::max(), 100ms));
  ProcessWatch child(guardian->child_pid());
  guardian.reset();
  EXPECT_TRUE(child.AwaitExit(kLate)) << "the run outlived its guardian's handle";
}

TEST(GuardianPoolTest, KeepsOneGuardianForRunsInTurnAndReplacesADeadOne) {
  GuardianPool pool(Options({"/bin/sh", "-c", "exit 0"}));
  auto run = [&pool] {
    auto started = pool.Start(kPlainEnv, TimePoint::max(), 1s, {});
    EXPECT_TRUE(started) << started.error().message();
    if (!started) return pid_t{-1};
    std::shared_ptr<GuardedChild> guardian = std::move(started).value();
    const pid_t pid = guardian->guardian_pid();
    EXPECT_TRUE(guardian->Wait(5s));
    pool.Give(std::move(guardian));
    return pid;
  };
  const pid_t first = run();
  EXPECT_EQ(run(), first);
  EXPECT_EQ(run(), first);
  // Killed while idle (by an operator, the OOM killer): the next run gets a new one.
  ASSERT_EQ(kill(first, SIGKILL), 0);
  const pid_t replacement = run();
  EXPECT_GT(replacement, 0);
  EXPECT_NE(replacement, first);
}

TEST(GuardianPoolTest, RunsAtOnceGetGuardiansOfTheirOwn) {
  GuardianPool pool(Options({"sleep", "0.3"}));
  std::vector<std::shared_ptr<GuardedChild>> running;
  for (int i = 0; i < 3; ++i) {
    auto started = pool.Start(kPlainEnv, TimePoint::max(), 1s, {});
    ASSERT_TRUE(started) << started.error().message();
    running.push_back(std::move(started).value());
  }
  EXPECT_NE(running[0]->guardian_pid(), running[1]->guardian_pid());
  EXPECT_NE(running[1]->guardian_pid(), running[2]->guardian_pid());
  for (auto& guardian : running) {
    const std::optional<ChildExit> exit = guardian->Wait(5s);
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->kind, ExitKind::kExited);
    pool.Give(std::move(guardian));
  }
}

}  // namespace
}  // namespace baton::guardian
