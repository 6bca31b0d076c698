// What a new user meets in the first hour: the default store, one config file for every
// subcommand, commands and timings checked at start, parser messages that say what to do,
// `status --watch` into a pipe, and log lines that say what happened.

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "group_fixture.h"

namespace baton::process_test {
namespace {

using test_support::CommandResult;
using test_support::HoldsFor;
using test_support::ReadFile;
using test_support::RunCommand;
using test_support::WriteFile;

constexpr const char* kDefaultStore = "sqlite:/var/lib/baton/baton.db";

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A group of its own in the host's shared default file, so no other run can meet it.
std::string UniqueGroup(const std::string& label) {
  std::random_device random;
  return "first-hour-" + label + "-" + std::to_string(getpid()) + "-" +
         std::to_string(random() % 1000000);
}

// `argv` run from the directory `cwd`.
std::vector<std::string> InDirectory(const std::string& cwd, std::vector<std::string> argv) {
  std::vector<std::string> wrapped = {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

class FirstHourTest : public BatonGroupTest {
 protected:
  // `baton run` of instance `id` on the default store (no --store), started from `cwd`.
  Instance& StartOnDefaultStore(const std::string& id, const std::string& cwd) {
    std::vector<std::string> argv = RunArgv(id);
    for (auto it = argv.begin(); it != argv.end(); ++it) {
      if (*it == "--store") {
        argv.erase(it, it + 2);
        break;
      }
    }
    return Spawn(id, InDirectory(cwd, argv));
  }

  // Ends the instances with SIGTERM so they leave no rows in the host's shared file.
  void StopGracefully(const std::vector<std::string>& ids) {
    for (const std::string& id : ids) instance(id).process.Terminate();
    for (const std::string& id : ids) instance(id).process.WaitExit(kTtl + kSlack);
  }
};

// Issue: `baton run --group same` from two directories became active in both.
TEST_F(FirstHourTest, DefaultStoreIsOneFileForTheHostWhateverTheDirectory) {
  group_ = UniqueGroup("dirs");
  store_ = kDefaultStore;  // For Status() only: the instances name no store.
  test_support::TempDir one("cwd-one"), two("cwd-two");
  StartOnDefaultStore("a", one.path());
  ASSERT_TRUE(WaitForGroup({"a"}));
  StartOnDefaultStore("b", two.path());
  ASSERT_TRUE(WaitForGroup({"a", "b"})) << "b did not join a's group from another directory";
  EXPECT_TRUE(HoldsFor([&] { return Events("start").size() == 1; }, 3 * kHeartbeat))
      << "two instances of one group became active";
  EXPECT_TRUE(Contains(ReadFile(instance("a").output_path), kDefaultStore))
      << "the log does not say which file is used";
  EXPECT_FALSE(std::filesystem::exists(one.File("baton.db")));
  StopGracefully({"a", "b"});
}

// A user who may not use /var/lib/baton is told which file and how to fix it.
TEST_F(FirstHourTest, UnusableDefaultFileIsExit2NamingTheFileAndTheFix) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run baton as another user";
  // nobody must be able to run the binary: copy it where every user may.
  test_support::TempDir bin("bin");
  ASSERT_EQ(chmod(bin.path().c_str(), 0755), 0);
  const std::string baton = bin.File("baton");
  std::filesystem::copy_file(BATON_BIN, baton);
  const CommandResult result = RunCommand(
      {"/usr/sbin/runuser", "-u", "nobody", "--", baton, "run", "--group", "g", "--", "/bin/true"});
  EXPECT_TRUE(result.Exited(2)) << result.Describe();
  EXPECT_TRUE(Contains(result.err, "/var/lib/baton/baton.db")) << result.Describe();
  EXPECT_TRUE(Contains(result.err, "--store")) << result.Describe();
  EXPECT_TRUE(Contains(result.err, "2770")) << result.Describe();
}

TEST_F(FirstHourTest, RelativeStorePathIsTheUsersChoiceAndIsLoggedResolved) {
  const CommandResult result =
      RunCommand(InDirectory(dir_.path(), {BATON_BIN, "migrate", "--store", "sqlite:rel.db"}));
  EXPECT_TRUE(result.Exited(0)) << result.Describe();
  EXPECT_TRUE(Contains(result.out, "sqlite:" + dir_.File("rel.db"))) << result.Describe();
}

// Issue: `baton status --config b.toml` with the README's file said `unknown key "ttl"`.
TEST_F(FirstHourTest, OneConfigFileServesRunStatusAndMigrate) {
  const std::string config = dir_.File("b.toml");
  WriteFile(config, "store = \"" + store_ + "\"\ngroup = \"" + group_ +
                        "\"\nttl = \"2s\"\nheartbeat = \"400ms\"\nmargin = \"200ms\"\n"
                        "grace = \"400ms\"\nlog-format = \"json\"\n"
                        "[run.billing]\nttl = \"6s\"\n");
  const CommandResult migrate = RunCommand({BATON_BIN, "migrate", "--config", config});
  EXPECT_TRUE(migrate.Exited(0)) << migrate.Describe();
  Spawn("a", {BATON_BIN, "run", "--config", config, "--id", "a", "--", BATON_PROBE_BIN, "--lock",
              lock_path_, "--log", probe_log_});
  ASSERT_TRUE(WaitForGroup({"a"}));
  const CommandResult status = RunCommand({BATON_BIN, "status", "--config", config});
  EXPECT_TRUE(status.Exited(0)) << status.Describe();
  EXPECT_TRUE(Contains(status.out, "a")) << status.Describe();

  WriteFile(config, "group = \"" + group_ + "\"\nfrobnicate = \"1\"\n");
  const CommandResult unknown = RunCommand({BATON_BIN, "status", "--config", config});
  EXPECT_TRUE(unknown.Exited(2)) << unknown.Describe();
  EXPECT_TRUE(Contains(unknown.err, "frobnicate")) << unknown.Describe();
}

TEST_F(FirstHourTest, TomlNumberForADurationSaysAUnitIsNeeded) {
  const std::string config = dir_.File("n.toml");
  for (const std::string value : {"3", "3.5"}) {
    WriteFile(config, "group = \"g\"\nttl = " + value + "\n");
    const CommandResult result =
        RunCommand({BATON_BIN, "run", "--store", store_, "--config", config, "--", "/bin/true"});
    EXPECT_TRUE(result.Exited(2)) << result.Describe();
    EXPECT_TRUE(Contains(result.err, "ttl = " + value + " in " + config)) << result.Describe();
    EXPECT_TRUE(Contains(result.err, "ttl = \"" + value + "s\"")) << result.Describe();
  }
}

// Issue: `-- /nonexistent/cmd` was retried forever without naming the command.
TEST_F(FirstHourTest, CommandThatCannotRunIsRefusedAtStartNamingIt) {
  const std::string not_executable = dir_.File("script.sh");
  WriteFile(not_executable, "#!/bin/sh\n");
  for (const std::string& command : {std::string("/nonexistent/cmd"), not_executable,
                                     std::string("no-such-command-here"), dir_.path().string()}) {
    const CommandResult result = RunCommand(
        {BATON_BIN, "run", "--store", store_, "--group", group_, "--", command, "--flag"});
    EXPECT_TRUE(result.Exited(2)) << command << ": " << result.Describe();
    EXPECT_TRUE(Contains(result.err, "baton: the command " + command)) << result.Describe();
  }
  // Found through PATH, as execvp would.
  Spawn("a",
        {BATON_BIN, "run", "--store", store_, "--group", group_, "--id", "a", "--", "sleep", "30"});
  EXPECT_TRUE(test_support::WaitFor([&] { return Status().active() == "a"; }, kTtl + kSlack));
}

// Issue: `--ttl 1h --heartbeat 1ms` made 900 synced transactions a second.
TEST_F(FirstHourTest, SillyTimingsAreRefusedOrWarnedAbout) {
  const CommandResult busy = RunCommand({BATON_BIN, "run", "--store", store_, "--group", group_,
                                         "--ttl", "1h", "--heartbeat", "1ms", "--", "/bin/true"});
  EXPECT_TRUE(busy.Exited(2)) << busy.Describe();
  EXPECT_TRUE(Contains(busy.err, "--heartbeat 1ms is too short: the minimum is 50ms"))
      << busy.Describe();

  Instance& slow = Spawn("a", {BATON_BIN, "run", "--store", store_, "--group", group_, "--id", "a",
                               "--ttl", "1h", "--heartbeat", "100ms", "--", "sleep", "30"});
  EXPECT_TRUE(test_support::WaitFor(
      [&] { return Contains(ReadFile(slow.output_path), "under 1/100 of --ttl 1h"); },
      kTtl + kSlack))
      << ReadFile(slow.output_path);
}

struct BadArguments {
  std::vector<std::string> args;  // After the binary.
  std::vector<std::string> mentions;
};

// Issue: CLI11's own words ("At Most 1 required but received 2") said nothing of what to do.
TEST_F(FirstHourTest, ParserMessagesSayWhatToDo) {
  const std::vector<BadArguments> cases = {
      {{"run", "--group", "g", "ls", "-l"}, {"put the command after --", "-- ls -l"}},
      {{"run", "--group", "g", "--frobnicate", "--", "true"}, {"no option --frobnicate"}},
      {{"run", "--group", "g", "-l"}, {"no option -l", "put the command after --"}},
      {{"run", "--group", "g", "--ttl", "3s", "--ttl", "4s", "--", "true"},
       {"--ttl was given 2 times", "give it once"}},
      {{"run", "--group", "g", "--ttl"}, {"--ttl needs a value"}},
      {{"status", "--group", "g", "--", "--frobnicate"}, {"runs no command"}},
      {{"frobnicate"},
       {"unknown subcommand \"frobnicate\"",
        "run, work, schedule, serve, enqueue, queue, status, step-down, migrate, web or config"}},
      {{}, {"name a subcommand"}},
  };
  for (const BadArguments& bad : cases) {
    std::vector<std::string> argv = {BATON_BIN};
    argv.insert(argv.end(), bad.args.begin(), bad.args.end());
    const CommandResult result = RunCommand(argv);
    const std::string shown = testing::PrintToString(bad.args);
    EXPECT_TRUE(result.Exited(2)) << shown << ": " << result.Describe();
    for (const std::string& m : bad.mentions) {
      EXPECT_TRUE(Contains(result.err, m)) << shown << " does not say \"" << m << "\"\n"
                                           << result.Describe();
    }
    EXPECT_FALSE(Contains(result.err, "required but received")) << result.Describe();
    EXPECT_FALSE(Contains(result.err, "were not expected")) << result.Describe();
  }
}

TEST_F(FirstHourTest, HelpOfEverySubcommandShowsUsageExitCodesAndAnExample) {
  for (const std::string sub : {"run", "status", "migrate"}) {
    const CommandResult help = RunCommand({BATON_BIN, sub, "--help"});
    EXPECT_TRUE(help.Exited(0)) << help.Describe();
    EXPECT_TRUE(Contains(help.out, "Usage: baton " + sub)) << help.Describe();
    EXPECT_TRUE(Contains(help.out, "Exit codes: 0")) << help.Describe();
    EXPECT_TRUE(Contains(help.out, "Example:\n  baton " + sub)) << help.Describe();
  }
  EXPECT_TRUE(Contains(RunCommand({BATON_BIN, "run", "--help"}).out, "-- COMMAND [ARG...]"));
}

// Issue: `status --watch` wrote clear-screen codes into a pipe.
TEST_F(FirstHourTest, StatusWatchIntoAPipePrintsPlainSnapshots) {
  Start("a");
  ASSERT_TRUE(WaitForGroup({"a"}));
  const CommandResult watch = RunCommand(
      {BATON_BIN, "status", "--store", store_, "--group", group_, "--watch"}, milliseconds(2500));
  EXPECT_FALSE(watch.status) << "--watch ended by itself";
  EXPECT_FALSE(Contains(watch.out, "\033[")) << "terminal codes in a pipe";
  size_t snapshots = 0;
  for (size_t at = watch.out.find("group "); at != std::string::npos;
       at = watch.out.find("group ", at + 1)) {
    ++snapshots;
  }
  EXPECT_GE(snapshots, 2u) << watch.out;
}

// Issue: --passive-command started once on an instance that became active at once.
TEST_F(FirstHourTest, PassiveCommandStartsOnlyOnceAnotherInstanceIsActive) {
  const std::string marks = dir_.File("passive.marks");
  const std::vector<std::string> passive = {
      "--passive-command",
      // Deaf to SIGTERM, so a passive command stopped at once still leaves its mark.
      "trap '' TERM; echo \"$BATON_INSTANCE\" >> '" + marks + "'; exec sleep 30"};
  // A slow store at start (here: another process holds the write lock for a while) leaves
  // time to start the passive command before the first heartbeat, which the instance wins.
  ASSERT_TRUE(RunCommand({BATON_BIN, "migrate", "--store", store_}).Exited(0));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  Start("a", {.baton_args = passive});
  std::this_thread::sleep_for(milliseconds(500));
  ASSERT_EQ(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  ASSERT_TRUE(WaitForGroup({"a"}));
  EXPECT_TRUE(HoldsFor([&] { return ReadFile(marks).empty(); }, 3 * kHeartbeat))
      << "the passive command ran on the instance that became active at once";
  Start("b", {.baton_args = passive});
  EXPECT_TRUE(test_support::WaitFor([&] { return ReadFile(marks) == "b\n"; }, kTtl + kSlack))
      << ReadFile(marks);
}

// Issue: "stopping the command (pid N): stopping" after the command had exited, and nothing
// said when SIGTERM was not enough.
TEST_F(FirstHourTest, LogSaysWhatHappenedToTheCommand) {
  // A command that ignores SIGTERM: stopping baton must escalate to SIGKILL, and say so.
  Instance& stubborn = Spawn(
      "a", {BATON_BIN, "run", "--store", store_, "--group", group_, "--id", "a", "--grace", "300ms",
            "--", "/bin/sh", "-c", "trap '' TERM; echo started; while :; do sleep 1; done"});
  ASSERT_TRUE(test_support::WaitFor(
      [&] { return Contains(ReadFile(stubborn.output_path), "started\n"); }, kTtl + kSlack));
  stubborn.process.Terminate();
  ASSERT_TRUE(stubborn.process.WaitExit(kTtl + kSlack));
  const std::string log = ReadFile(stubborn.output_path);
  EXPECT_TRUE(Contains(log, "stopping the command")) << log;
  EXPECT_TRUE(Contains(log, "did not exit within --grace 300ms of SIGTERM: killed it with SIGKILL"))
      << log;

  // A command that exits by itself: no "stopping" line for it afterwards.
  Instance& quick = Spawn("b", {BATON_BIN, "run", "--store", store_, "--group", group_, "--id", "b",
                                "--on-exit", "exit", "--", "/bin/sh", "-c", "exit 3"});
  const auto exit = quick.process.WaitExit(kTtl + kSlack);
  ASSERT_TRUE(exit);
  EXPECT_TRUE(exit->Exited(3)) << exit->Describe();
  const std::string quick_log = ReadFile(quick.output_path);
  EXPECT_TRUE(Contains(quick_log, "the command /bin/sh exited with code 3")) << quick_log;
  EXPECT_FALSE(Contains(quick_log, "stopping the command")) << quick_log;
}

}  // namespace
}  // namespace baton::process_test
