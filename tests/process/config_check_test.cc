// `baton config check`: the real program on real files. A bad value exits 2 naming its key;
// a good file prints every value with its source, and never a password.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "support/process.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace baton::process_test {
namespace {

using test_support::CommandResult;
using test_support::RunCommand;
using test_support::TempDir;
using test_support::WriteFile;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// `text` with each run of spaces as one, so a check need not know the column widths.
std::string Squeezed(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c != ' ' || out.empty() || out.back() != ' ') out += c;
  }
  return out;
}

class ConfigCheckTest : public testing::Test {
 protected:
  // `baton config check ARGS...` with `file_text` as --config (after ARGS' subcommand, if any).
  CommandResult Check(const std::string& file_text, std::vector<std::string> args,
                      const std::vector<std::string>& env = {}) {
    WriteFile(path_, file_text);
    std::vector<std::string> argv = {BATON_BIN, "config", "check"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--config", path_});
    return RunCommand(argv, std::chrono::seconds(10), env);
  }

  TempDir dir_{"config-check"};
  const std::string path_ = dir_.File("baton.toml");
};

// A bad file exits 2, and the message names the key that is wrong.
struct BadFile {
  std::string text;
  std::vector<std::string> args;  // The subcommand checked, if any.
  std::vector<std::string> mentions;
};

TEST_F(ConfigCheckTest, BadValuesExitTwoNamingTheKey) {
  const std::vector<BadFile> cases = {
      {"group = \"g\"\nfrobnicate = 1\n", {}, {"unknown key \"frobnicate\""}},
      {"group = \"g\"\nfrobnicate = 1\n", {"run"}, {"unknown key \"frobnicate\""}},
      {"group = \"g\"\nttl = 3\n", {}, {"ttl = 3", "has no unit"}},
      {"group = \"g\"\nttl = 3\n", {"run"}, {"ttl = 3", "has no unit"}},
      {"group = \"g\"\nconcurrency = -2\n", {}, {"concurrency in", "negative"}},
      {"group = \"g\"\nqueue = \"q\"\nconcurrency = -2\n", {"work"}, {"concurrency in"}},
      {"group = \"g\"\nmax-attempts = \"many\"\n", {}, {"max-attempts in", "whole number"}},
      {"group = \"g\"\nttl = true\n", {}, {"ttl in", "true or false"}},
      {"group = 7\n", {}, {"group in", "is a number"}},
      {"group = \"g\"\nttl = \"-5s\"\n", {}, {"ttl in", "positive"}},
      {"group = \"g\"\nttl = \"1s\"\nheartbeat = \"400ms\"\n",
       {},
       {"--ttl 1s is too short for --heartbeat 400ms", "ttl: file", "heartbeat: file"}},
      {"group = \"g\"\nttl = \"1s\"\nheartbeat = \"400ms\"\n",
       {"run"},
       {"--ttl 1s is too short for --heartbeat 400ms"}},
      {"group = \"g\"\n",
       {"run", "--ttl", "1s", "--heartbeat", "400ms"},
       {"--ttl 1s is too short"}},
  };
  for (const BadFile& bad : cases) {
    const CommandResult result = Check(bad.text, bad.args);
    const std::string shown = bad.text + " " + testing::PrintToString(bad.args);
    EXPECT_TRUE(result.Exited(2)) << shown << ": " << result.Describe();
    for (const std::string& m : bad.mentions) {
      EXPECT_TRUE(Contains(result.err, m)) << shown << ": wanted \"" << m << "\" in " << result.err;
    }
  }
}

TEST_F(ConfigCheckTest, TimingBrokenByAnEnvironmentVariableNamesIt) {
  const CommandResult result =
      Check("group = \"g\"\nttl = \"1s\"\n", {}, {"BATON_HEARTBEAT=400ms"});
  EXPECT_TRUE(result.Exited(2)) << result.Describe();
  EXPECT_TRUE(Contains(result.err, "heartbeat: env BATON_HEARTBEAT")) << result.err;
}

constexpr const char* kGoodFile =
    "store = \"postgresql://app:file-secret@db.example/baton\"\n"
    "group = \"billing\"\n"
    "ttl = \"6s\"\n"
    "log-format = \"json\"\n";

TEST_F(ConfigCheckTest, GoodFileShowsEverySourceAndNoPassword) {
  const CommandResult result =
      Check(kGoodFile, {"run", "--ttl", "5s"}, {"BATON_GRACE=1s", "BATON_ON_EXIT=exit"});
  ASSERT_TRUE(result.Exited(0)) << result.Describe();
  const std::string out = Squeezed(result.out);
  EXPECT_FALSE(Contains(out + result.err, "file-secret")) << out;
  EXPECT_TRUE(Contains(out, "store postgresql://app:***@db.example/baton (file " + path_ + ")"))
      << out;
  EXPECT_TRUE(Contains(out, "ttl 5s (flag)")) << out;
  EXPECT_TRUE(Contains(out, "grace 1s (env BATON_GRACE)")) << out;
  EXPECT_TRUE(Contains(out, "on-exit exit (env BATON_ON_EXIT)")) << out;
  EXPECT_TRUE(Contains(out, "group billing (file " + path_ + ")")) << out;
  // ttl/5 of the flag's 5s, and max(ttl/10, 100ms).
  EXPECT_TRUE(Contains(out, "heartbeat 1s (default)")) << out;
  EXPECT_TRUE(Contains(out, "margin 500ms (default)")) << out;
}

TEST_F(ConfigCheckTest, PasswordInTheEnvironmentIsRedactedInJson) {
  const CommandResult result =
      Check("group = \"billing\"\n", {"status", "--json"},
            {"BATON_STORE=postgresql://app:env-secret@db.example/baton?sslmode=require"});
  ASSERT_TRUE(result.Exited(0)) << result.Describe();
  EXPECT_FALSE(Contains(result.out + result.err, "env-secret")) << result.out;
  const nlohmann::json out = nlohmann::json::parse(result.out);
  EXPECT_EQ(out["subcommand"], "status");
  EXPECT_EQ(out["options"]["store"]["value"],
            "postgresql://app:***@db.example/baton?sslmode=require");
  EXPECT_EQ(out["options"]["store"]["source"], "env BATON_STORE");
  EXPECT_EQ(out["options"]["group"]["source"], "file " + path_);
  EXPECT_EQ(out["options"]["log-format"]["value"], "text");
  EXPECT_EQ(out["options"]["log-format"]["source"], "default");
}

TEST_F(ConfigCheckTest, WholeFileIsCheckedForEverySubcommand) {
  const std::string file = std::string(kGoodFile) +
                           "queue = \"tenant-sync\"\n"
                           "concurrency = 4\n"
                           "\n[work.sync]\ncommand = [\"/bin/true\"]\n";
  const CommandResult result = Check(file, {}, {"BATON_PG_SCHEMA=billing"});
  ASSERT_TRUE(result.Exited(0)) << result.Describe();
  const std::string& out = result.out;
  EXPECT_FALSE(Contains(out, "file-secret")) << out;
  EXPECT_TRUE(Contains(out, path_ + " is fine for every subcommand")) << out;
  EXPECT_TRUE(Contains(
      out, "store = postgresql://app:***@db.example/baton  (file " + path_ + "; every subcommand)"))
      << out;
  EXPECT_TRUE(Contains(out, "pg-schema = billing  (env BATON_PG_SCHEMA; every subcommand)")) << out;
  EXPECT_TRUE(Contains(out, "concurrency = 4  (file " + path_ + "; work)")) << out;
  EXPECT_TRUE(Contains(out, "ttl = 6s  (file " + path_ + "; run, schedule)")) << out;
  EXPECT_TRUE(Contains(out, "run timing: ttl 6s, heartbeat 1.2s")) << out;
  EXPECT_TRUE(Contains(out, "serve: 1 service(s): work.sync")) << out;

  const CommandResult json =
      RunCommand({BATON_BIN, "config", "check", "--json", "--config", path_});
  ASSERT_TRUE(json.Exited(0)) << json.Describe();
  const nlohmann::json parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["options"]["store"]["value"], "postgresql://app:***@db.example/baton");
  EXPECT_EQ(parsed["timing"]["run"]["heartbeat"], "1.2s");
}

TEST_F(ConfigCheckTest, UnknownSubcommandIsNamed) {
  const CommandResult result = Check("", {"frobnicate"});
  EXPECT_TRUE(result.Exited(2)) << result.Describe();
  EXPECT_TRUE(Contains(result.err, "\"frobnicate\"")) << result.err;
}

}  // namespace
}  // namespace baton::process_test
