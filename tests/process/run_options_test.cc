// What the options of `baton run` do to real processes: --on-exit, --passive-command, the
// child's environment, where settings come from, --log-format json, the stopping signals,
// and a store URL that holds a password or names a server that is down.

#include <signal.h>

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "group_fixture.h"

namespace baton::process_test {
namespace {

using test_support::CommandResult;
using test_support::ExitStatus;
using test_support::HoldsFor;
using test_support::IsAlive;
using test_support::ProcessInfo;
using test_support::ReadFile;
using test_support::ReadLines;
using test_support::RunCommand;
using test_support::WaitFor;
using test_support::WriteFile;

// How long a child that exits by itself runs: time enough for a second instance to join.
constexpr milliseconds kChildLife{1500};

std::string Ms(milliseconds d) { return std::to_string(d.count()) + "ms"; }

int64_t MsBetween(const ProbeEvent& from, const ProbeEvent& to) {
  return (to.mono_ns - from.mono_ns) / 1'000'000;
}

std::optional<ProbeEvent> FindEvent(const std::vector<ProbeEvent>& events, int64_t token) {
  for (const ProbeEvent& event : events) {
    if (event.token == token) return event;
  }
  return std::nullopt;
}

// The live processes below `root`, found through this test's descendants.
std::vector<ProcessInfo> ProcessesBelow(pid_t root) {
  const std::vector<ProcessInfo> all = test_support::Descendants();
  std::vector<ProcessInfo> found;
  std::vector<pid_t> parents = {root};
  while (!parents.empty()) {
    const pid_t parent = parents.back();
    parents.pop_back();
    for (const ProcessInfo& p : all) {
      if (p.ppid != parent || !p.alive()) continue;
      found.push_back(p);
      parents.push_back(p.pid);
    }
  }
  return found;
}

// Whether a baton runs (some of) the passive command of the test below: its shell, flock or
// sleep.
bool RunsPassiveCommand(pid_t baton) {
  const std::vector<ProcessInfo> below = ProcessesBelow(baton);
  return std::any_of(below.begin(), below.end(), [](const ProcessInfo& p) {
    return p.name == "sh" || p.name == "flock" || p.name == "sleep";
  });
}

// NAME → value, from the probe's --env file.
std::map<std::string, std::string> ReadEnvironment(const std::string& path) {
  std::map<std::string, std::string> env;
  for (const std::string& line : ReadLines(path)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

// Whether some line of `err` starts with "baton: " and contains every one of `parts`.
bool HasMessage(const std::string& err, const std::vector<std::string>& parts) {
  for (size_t begin = 0; begin < err.size();) {
    size_t end = err.find('\n', begin);
    if (end == std::string::npos) end = err.size();
    const std::string line = err.substr(begin, end - begin);
    begin = end + 1;
    if (line.rfind("baton: ", 0) != 0) continue;
    if (std::all_of(parts.begin(), parts.end(), [&](const std::string& part) {
          return line.find(part) != std::string::npos;
        })) {
      return true;
    }
  }
  return false;
}

std::string ValueOf(const std::map<std::string, std::string>& env, const std::string& name) {
  const auto it = env.find(name);
  return it != env.end() ? it->second : "(unset)";
}

std::optional<int64_t> LeaseRemainingMs(const StatusView& status) {
  if (!status.valid()) return std::nullopt;
  const nlohmann::json& remaining = status.json()["lease"]["remaining_ms"];
  if (!remaining.is_number_integer()) return std::nullopt;
  return remaining.get<int64_t>();
}

// The group has no member, no holder and so no active instance.
void ExpectEmptyGroup(const StatusView& status) {
  EXPECT_TRUE(status.result().Exited(3)) << status.Describe();
  EXPECT_TRUE(status.member_ids().empty()) << status.Describe();
  EXPECT_TRUE(status.valid() && status.json()["lease"]["holder"].is_null()) << status.Describe();
}

class RunOptionsTest : public BatonGroupTest {
 protected:
  // `baton run OPTIONS -- baton-probe ...`, with nothing but OPTIONS for baton.
  std::vector<std::string> RunWith(const std::vector<std::string>& options) const {
    std::vector<std::string> argv = {BATON_BIN, "run"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"--", BATON_PROBE_BIN, "--lock", lock_path_, "--log", probe_log_});
    return argv;
  }

  // SIGTERMs the instance and expects a graceful exit.
  void StopGracefully(const std::string& id) {
    instance(id).process.Terminate();
    const std::optional<ExitStatus> exit = instance(id).process.WaitExit(kGrace + kSlack);
    ASSERT_TRUE(exit) << id << " did not exit after SIGTERM";
    EXPECT_TRUE(exit->Exited(0)) << id << ": " << exit->Describe();
  }
};

TEST_F(RunOptionsTest, ChildThatExitsHandsTheLeaseOverAndItsInstanceCompetesAgainLater) {
  Start("a", {.probe_args = {"--exit-after", Ms(kChildLife), "--exit-code", "3"}});
  const std::optional<ProbeEvent> first = WaitForGroup({"a"});
  ASSERT_TRUE(first);
  Start("b");
  ASSERT_TRUE(WaitForGroup({"a", "b"}, kChildLife));
  ASSERT_TRUE(Events("exit").empty()) << "the child exited before the group formed";

  const std::optional<ProbeEvent> next = WaitForStartAfter(first->token, kChildLife + kSlack);
  ASSERT_TRUE(next) << "nobody took over from the child that exited";
  EXPECT_EQ(next->instance, "b");
  const std::optional<ProbeEvent> exit = FindEvent(Events("exit"), first->token);
  ASSERT_TRUE(exit) << "the first child did not exit by itself";
  // The lease was given up at once, not left to expire.
  EXPECT_LT(MsBetween(*exit, *next), 1000) << "the handover took too long";
  EXPECT_TRUE(instance("a").process.Running()) << "the instance whose child exited stopped";

  // Its hold-off over, `a` competes again but cannot take a lease that `b` renews.
  EXPECT_TRUE(HoldsFor(
      [&] {
        const StatusView status = Status();
        return status.active() == "b" && status.role("a") == "passive" &&
               Events("start").size() == 2;
      },
      milliseconds(1000) + 2 * kHeartbeat, milliseconds(100)))
      << Status().Describe();

  // Once `b` lets go, `a` is the one to take over: it is still in the race.
  StopGracefully("b");
  const std::optional<ProbeEvent> back = WaitForStartAfter(next->token, kSlack);
  ASSERT_TRUE(back) << "the instance whose child had exited did not compete again";
  EXPECT_EQ(back->instance, "a");
}

TEST_F(RunOptionsTest, AloneItRestartsAnExitingChildWithANewTokenAfterAGrowingHoldOff) {
  const milliseconds life{200};
  Start("a", {.probe_args = {"--exit-after", Ms(life), "--exit-code", "3"}});
  // Hold-offs of 1 s and then 2 s, as the child keeps exiting soon after its start.
  ASSERT_TRUE(WaitFor([&] { return Events("start").size() >= 3; },
                      3 * life + milliseconds(3000) + 2 * kSlack))
      << "the child was not started three times";

  const std::vector<ProbeEvent> starts = Events("start");
  const std::vector<ProbeEvent> exits = Events("exit");
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_GT(starts[i + 1].token, starts[i].token);
    const std::optional<ProbeEvent> exit = FindEvent(exits, starts[i].token);
    ASSERT_TRUE(exit) << "child " << i << " did not exit by itself";
    const int64_t hold_off_ms = 1000LL << i;
    // baton counts from after the exit, so the gap is never shorter; the leeway is for the
    // two clocks (the probe's MONOTONIC, baton's BOOTTIME).
    EXPECT_GE(MsBetween(*exit, starts[i + 1]), hold_off_ms - 50) << "hold-off " << i;
    EXPECT_LE(MsBetween(*exit, starts[i + 1]), hold_off_ms + kSlack.count()) << "hold-off " << i;
  }
  EXPECT_TRUE(instance("a").process.Running());
}

TEST_F(RunOptionsTest, OnExitExitEndsBatonWithTheChildsCodeAndLeavesTheGroup) {
  Instance& a = Start("a", {.baton_args = {"--on-exit", "exit"},
                            .probe_args = {"--exit-after", "300ms", "--exit-code", "7"}});
  const std::optional<ExitStatus> exit = a.process.WaitExit(milliseconds(300) + kTtl + kSlack);
  ASSERT_TRUE(exit) << "baton did not exit with its child";
  EXPECT_TRUE(exit->Exited(7)) << exit->Describe();
  EXPECT_EQ(Events("start").size(), 1u);
  EXPECT_EQ(Events("exit").size(), 1u);
  // Released and unregistered, not left to expire: the group is empty at once.
  ExpectEmptyGroup(Status());
}

TEST_F(RunOptionsTest, OnExitExitGivesTheSignalOfAKilledChildAs128PlusIt) {
  Instance& a = Spawn("a", {BATON_BIN, "run", "--store", store_, "--group", group_, "--id", "a",
                            "--on-exit", "exit", "--", "/bin/sh", "-c", "kill -KILL $$"});
  const std::optional<ExitStatus> exit = a.process.WaitExit(kTtl + kSlack);
  ASSERT_TRUE(exit) << "baton did not exit with its child";
  EXPECT_TRUE(exit->Exited(128 + SIGKILL)) << exit->Describe();
  ExpectEmptyGroup(Status());
}

TEST_F(RunOptionsTest, PassiveCommandRunsOnlyWhilePassiveAndEndsBeforeTheChildStarts) {
  const std::string lines = dir_.File("passive.txt");
  // After its line, the passive command waits for the probes' lock and then holds it: if any
  // of it were left when its instance's child started, that probe would report an overlap.
  const std::string passive =
      "echo passive $BATON_INSTANCE $$ >> '" + lines + "'; flock '" + lock_path_ + "' sleep 1000";
  const InstanceOptions options = {.baton_args = {"--passive-command", passive}};
  Start("a", options);
  const std::optional<ProbeEvent> first = WaitForGroup({"a"});
  ASSERT_TRUE(first);
  Start("b", options);
  ASSERT_TRUE(WaitForGroup({"a", "b"}));

  // The passive instance runs it (a shell, and flock below it); the active one does not.
  pid_t shell = -1;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const std::string& line : ReadLines(lines)) {
          if (line.rfind("passive b ", 0) == 0) shell = std::stoi(line.substr(10));
        }
        return shell > 0 && !ProcessesBelow(shell).empty();
      },
      kSlack))
      << "the passive instance did not run its passive command\n"
      << ReadFile(lines);
  const std::vector<ProcessInfo> below_shell = ProcessesBelow(shell);
  const pid_t baton_a = instance("a").process.pid();
  const pid_t baton_b = instance("b").process.pid();
  EXPECT_TRUE(
      HoldsFor([&] { return IsAlive(shell) && !RunsPassiveCommand(baton_a); }, 2 * kHeartbeat))
      << "the passive command ran in the active instance or ended in the passive one";
  EXPECT_TRUE(RunsPassiveCommand(baton_b));

  // The active instance leaves: the passive one stops its passive command, then starts the
  // command under the lease.
  StopGracefully("a");
  const std::optional<ProbeEvent> next = WaitForStartAfter(first->token, kTtl + kSlack);
  ASSERT_TRUE(next) << "the passive instance did not take over";
  EXPECT_EQ(next->instance, "b");
  EXPECT_FALSE(IsAlive(shell)) << "the passive command outlived its instance becoming active";
  for (const ProcessInfo& p : below_shell) {
    EXPECT_FALSE(IsAlive(p.pid)) << p.name << " (pid " << p.pid
                                 << ") of the passive command outlived the takeover";
  }
  EXPECT_FALSE(RunsPassiveCommand(baton_b));
  EXPECT_TRUE(IsAlive(next->pid));
  // Stopping it was baton's own doing, not a failure to warn about.
  EXPECT_EQ(ReadFile(instance("b").output_path).find("the passive command"), std::string::npos)
      << ReadFile(instance("b").output_path);
}

TEST_F(RunOptionsTest, ChildGetsGroupInstanceAndTokenButNoBatonSetting) {
  const std::string env_path = dir_.File("env.txt");
  // The store comes through the environment, which is where a child could inherit it from.
  Start("worker-1", {.baton_env = {"FOO=bar", "BATON_LOG_FORMAT=text"},
                     .probe_args = {"--env", env_path},
                     .store_in_env = true});
  const std::optional<ProbeEvent> start = WaitForGroup({"worker-1"});
  ASSERT_TRUE(start);

  const std::map<std::string, std::string> env = ReadEnvironment(env_path);
  ASSERT_FALSE(env.empty()) << "the probe wrote no environment";
  std::set<std::string> baton_names;
  for (const auto& [name, value] : env) {
    if (name.rfind("BATON_", 0) == 0) baton_names.insert(name);
    EXPECT_EQ(value.find(db_path_), std::string::npos) << name << " holds the store";
  }
  EXPECT_EQ(baton_names, (std::set<std::string>{"BATON_GROUP", "BATON_INSTANCE", "BATON_TOKEN"}));
  EXPECT_EQ(env.count("BATON_STORE"), 0u);
  EXPECT_EQ(ValueOf(env, "BATON_GROUP"), group_);
  EXPECT_EQ(ValueOf(env, "BATON_INSTANCE"), "worker-1");
  EXPECT_EQ(ValueOf(env, "BATON_TOKEN"), std::to_string(start->token));
  const std::optional<int64_t> lease_token = Status().lease_token();
  ASSERT_TRUE(lease_token);
  EXPECT_EQ(ValueOf(env, "BATON_TOKEN"), std::to_string(*lease_token));
  EXPECT_EQ(ValueOf(env, "FOO"), "bar");
}

TEST_F(RunOptionsTest, SettingsComeFromFlagsThenEnvironmentThenConfigFile) {
  const std::string config = dir_.File("baton.toml");
  // A grace that is no duration: only an environment variable or a flag can save the file.
  WriteFile(config, "store = \"" + store_ + "\"\ngroup = \"" + group_ +
                        "\"\nid = \"from-file\"\nttl = \"30s\"\nheartbeat = \"400ms\"\n"
                        "margin = \"200ms\"\ngrace = \"soon\"\n");
  // Store, group and id from the file (named by BATON_CONFIG); ttl and grace from the
  // environment, over the file. The lease shows the ttl.
  Spawn("from-file", RunWith({}),
        {.baton_env = {"BATON_CONFIG=" + config, "BATON_TTL=3s", "BATON_GRACE=400ms"}});
  ASSERT_TRUE(WaitForGroup({"from-file"}));
  std::optional<int64_t> remaining = LeaseRemainingMs(Status());
  EXPECT_TRUE(remaining && *remaining > 2000 && *remaining <= 3000) << Status().Describe();
  StopGracefully("from-file");

  // Flags over both, even over an environment value that is no duration.
  Spawn("flagged",
        RunWith({"--config", config, "--id", "flagged", "--ttl", "2s", "--grace", "400ms"}),
        {.baton_env = {"BATON_TTL=bogus"}});
  ASSERT_TRUE(WaitForGroup({"flagged"}));
  remaining = LeaseRemainingMs(Status());
  EXPECT_TRUE(remaining && *remaining > 1000 && *remaining <= 2000) << Status().Describe();
  StopGracefully("flagged");

  // A bad value that nothing overrides is refused, naming where it came from.
  const CommandResult bad_env = RunCommand(RunWith({"--config", config, "--grace", "400ms"}),
                                           std::chrono::seconds(10), {"BATON_TTL=5"});
  EXPECT_TRUE(bad_env.Exited(2)) << bad_env.Describe();
  EXPECT_TRUE(HasMessage(bad_env.err, {"BATON_TTL"})) << bad_env.Describe();

  const CommandResult bad_file = RunCommand(RunWith({"--config", config}));
  EXPECT_TRUE(bad_file.Exited(2)) << bad_file.Describe();
  EXPECT_TRUE(HasMessage(bad_file.err, {"grace", config})) << bad_file.Describe();

  const std::string typo = dir_.File("typo.toml");
  WriteFile(typo, "store = \"" + store_ + "\"\ngroup = \"" + group_ + "\"\ntll = \"3s\"\n");
  const CommandResult unknown_key = RunCommand(RunWith({"--config", typo}));
  EXPECT_TRUE(unknown_key.Exited(2)) << unknown_key.Describe();
  EXPECT_TRUE(HasMessage(unknown_key.err, {"tll", typo})) << unknown_key.Describe();

  EXPECT_EQ(Events("start").size(), 2u) << "a refused configuration ran the command";
}

// Every line is an object with a time, a level, the instance and a message.
void ExpectJsonLines(const std::string& path, const std::string& instance_id) {
  static const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)");
  static const std::set<std::string> kLevels = {"trace",   "debug", "info",
                                                "warning", "error", "critical"};
  const std::vector<std::string> lines = ReadLines(path);
  EXPECT_FALSE(lines.empty()) << path << " is empty";
  for (const std::string& line : lines) {
    const nlohmann::json json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(json.is_object()) << "not a JSON object: " << line;
    EXPECT_TRUE(json.contains("time") && json["time"].is_string() &&
                std::regex_match(json["time"].get<std::string>(), kTime))
        << line;
    EXPECT_TRUE(json.contains("level") && json["level"].is_string() &&
                kLevels.count(json["level"].get<std::string>()) == 1)
        << line;
    EXPECT_EQ(json.value("instance", ""), instance_id) << line;
    EXPECT_TRUE(json.contains("msg") && json["msg"].is_string() &&
                !json["msg"].get<std::string>().empty())
        << line;
  }
}

std::vector<nlohmann::json> JsonLines(const std::string& path) {
  std::vector<nlohmann::json> objects;
  for (const std::string& line : ReadLines(path)) {
    objects.push_back(nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false));
  }
  return objects;
}

bool HasLine(const std::vector<nlohmann::json>& lines, const std::string& level,
             const std::string& text) {
  return std::any_of(lines.begin(), lines.end(), [&](const nlohmann::json& line) {
    return line.is_object() && line.value("level", "") == level &&
           line.value("msg", "").find(text) != std::string::npos;
  });
}

TEST_F(RunOptionsTest, JsonLogFormatMakesEveryStderrLineAJsonObject) {
  const std::string err = dir_.File("a.err");
  const InstanceOptions json = {.baton_args = {"--log-format", "json"}};
  Start("a", {.baton_args = json.baton_args, .stderr_path = err});
  const std::optional<ProbeEvent> start = WaitForGroup({"a"});
  ASSERT_TRUE(start);

  // A second process with the same id is refused; its refusal is a JSON line too.
  const std::string refused_err = dir_.File("refused.err");
  Instance& refused = Spawn("refused", RunArgv("a", json), {.stderr_path = refused_err});
  // It gives up once the first one has kept the row alive for ttl + heartbeat.
  const std::optional<ExitStatus> refused_exit =
      refused.process.WaitExit(kTtl + kHeartbeat + kSlack);
  ASSERT_TRUE(refused_exit);
  EXPECT_TRUE(refused_exit->Exited(2)) << refused_exit->Describe();

  StopGracefully("a");

  ExpectJsonLines(err, "a");
  ExpectJsonLines(refused_err, "a");
  const std::vector<nlohmann::json> lines = JsonLines(err);
  EXPECT_TRUE(HasLine(lines, "info", "became active with token " + std::to_string(start->token)));
  EXPECT_TRUE(HasLine(lines, "info", "stopped"));
  EXPECT_TRUE(HasLine(JsonLines(refused_err), "error", "already in use"));
}

class StopSignalTest : public BatonGroupTest, public ::testing::WithParamInterface<int> {};

TEST_P(StopSignalTest, StopsTheChildReleasesUnregistersAndExitsZero) {
  Start("a");
  const std::optional<ProbeEvent> start = WaitForGroup({"a"});
  ASSERT_TRUE(start);

  instance("a").process.Signal(GetParam());
  const std::optional<ExitStatus> exit = instance("a").process.WaitExit(kGrace + kSlack);
  ASSERT_TRUE(exit) << "baton did not exit";
  EXPECT_TRUE(exit->Exited(0)) << exit->Describe();
  EXPECT_TRUE(FindEvent(Events("stop"), start->token)) << "the child did not get SIGTERM";
  EXPECT_FALSE(IsAlive(start->pid));
  ExpectEmptyGroup(Status());
}

INSTANTIATE_TEST_SUITE_P(Signals, StopSignalTest, ::testing::Values(SIGINT, SIGHUP),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return std::string(param_info.param == SIGINT ? "Sigint" : "Sighup");
                         });

TEST_F(RunOptionsTest, PasswordInAStoreUrlIsNeitherPrintedNorLeftInTheCommandLine) {
  const std::string url = "postgresql://u:secret@127.0.0.1:1/db";
  Instance& pg = Spawn("pg", RunWith({"--store", url, "--group", group_}));
  // Without a PostgreSQL store the URL is refused at once. With one, baton keeps trying the
  // unreachable server, and its command line must show the URL without the password.
  std::string cmdline;
  WaitFor(
      [&] {
        if (!pg.process.Running()) return true;
        cmdline = ReadFile("/proc/" + std::to_string(pg.process.pid()) + "/cmdline");
        return cmdline.find("postgresql://u:") != std::string::npos &&
               cmdline.find("secret") == std::string::npos;
      },
      kSlack);
  if (pg.process.Running()) {
    EXPECT_EQ(cmdline.find("secret"), std::string::npos) << "the password is in the cmdline";
    EXPECT_NE(cmdline.find("postgresql://u:"), std::string::npos) << cmdline;
    pg.process.Terminate();
    const std::optional<ExitStatus> exit = pg.process.WaitExit(kSlack);
    ASSERT_TRUE(exit) << "baton did not exit after SIGTERM";
    EXPECT_TRUE(exit->Exited(0)) << exit->Describe();
  } else {
    EXPECT_TRUE(pg.process.exit_status()->Exited(2)) << pg.process.exit_status()->Describe();
    EXPECT_TRUE(HasMessage(ReadFile(pg.output_path), {"postgresql://u:"}))
        << ReadFile(pg.output_path);
  }
  EXPECT_EQ(ReadFile(pg.output_path).find("secret"), std::string::npos) << ReadFile(pg.output_path);
}

TEST_F(RunOptionsTest, UnreachableStoreAtStartIsRetriedWithBackoffAndSaidInTheLog) {
  // Nothing listens on port 1: every attempt fails at once, so only the backoff paces them.
  Instance& pg =
      Spawn("pg", RunWith({"--store", "postgresql://127.0.0.1:1/db", "--group", group_}));
  const milliseconds watched{1500};
  if (pg.process.WaitExit(watched)) {
    GTEST_SKIP() << "this build has no PostgreSQL store: " << ReadFile(pg.output_path);
  }
  pg.process.Terminate();
  ASSERT_TRUE(pg.process.WaitExit(kSlack)) << "baton did not exit after SIGTERM";
  EXPECT_TRUE(pg.process.exit_status()->Exited(0)) << pg.process.exit_status()->Describe();

  // Tries at 0, 50, 150, 350 and 750 ms (± jitter) say so at the 1st, 2nd and 4th; tries
  // every 50 ms would fill the log with 30 lines.
  int said = 0;
  for (const std::string& line : ReadLines(pg.output_path)) {
    if (line.find("cannot register") != std::string::npos) ++said;
  }
  EXPECT_GE(said, 1) << ReadFile(pg.output_path);
  EXPECT_LE(said, 4) << ReadFile(pg.output_path);
  EXPECT_TRUE(Events("start").empty());
}

}  // namespace
}  // namespace baton::process_test
