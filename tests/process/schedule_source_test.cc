// `baton schedule`'s tenant sources with real processes: a missing file, a failing command, a
// command that hangs past its time-out and an SQL error each skip the round with a clear
// logged error and the next round is tried; 10,000 ids are offered in one round; hostile ids
// from every source reach the work's BATON_TENANT byte for byte and are never run.

#include <signal.h>

#include <filesystem>
#include <set>
#include <thread>

#include "schedule_fixture.h"

namespace baton::process_test {
namespace {

using test_support::IsAlive;
using test_support::WaitFor;

class ScheduleSourceTest : public ScheduleTest {
 protected:
  bool IsPostgres() const { return store_.rfind("sqlite:", 0) != 0; }

  // Starts a scheduler on `source_args` and waits until it has logged `n` lines containing
  // `error` (one per round tried), still running.
  void ExpectRoundsSkipped(const std::vector<std::string>& source_args, const std::string& error,
                           const std::string& id = "s", size_t n = 2) {
    Instance& s = StartScheduler(id, source_args);
    EXPECT_TRUE(WaitFor([&] { return LogLines(id, error).size() >= n; },
                        kTtl + milliseconds(2000) * static_cast<int>(n) + kSlack))
        << "no \"" << error << "\" " << n << " times in: " << test_support::ReadFile(s.output_path);
    EXPECT_FALSE(LogLines(id, "round skipped, nothing offered").empty());
    EXPECT_FALSE(s.process.WaitExit(milliseconds(1)).has_value()) << "the scheduler exited";
    EXPECT_EQ(QueueJson({"stats"})["depth"]["pending"], 0);
  }
};

BATON_INSTANTIATE_ON_STORE_UNDER_TEST(ScheduleSourceTest);

TEST_P(ScheduleSourceTest, AMissingTenantsFileSkipsTheRoundAndTheNextReadsItOnceItExists) {
  const std::string file = dir_.File("later.txt");
  ExpectRoundsSkipped({"--tenants-file", file}, "tenants file " + file + ": no such file");
  TenantsFile("later.txt", {"acme"});
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const RoundLine& r : Rounds("s")) {
          if (r.offered == 1) return true;
        }
        return false;
      },
      milliseconds(2000) + kSlack))
      << "the file was not read afresh";
}

TEST_P(ScheduleSourceTest, AFailingCommandSkipsTheRound) {
  ExpectRoundsSkipped({"--tenants-command", "sh -c 'echo listing failed >&2; exit 3'"},
                      "exited with code 3");
  EXPECT_FALSE(LogLines("s", "[tenants-command err] listing failed").empty());
}

TEST_P(ScheduleSourceTest, ACommandThatHangsPastItsTimeoutIsKilledAndTheRoundSkipped) {
  const std::string pid_file = dir_.File("pid");
  ExpectRoundsSkipped({"--tenants-command", "sh -c 'echo $$ > " + pid_file + "; exec sleep 60'",
                       "--tenants-timeout", "500ms"},
                      "timed out after 500ms");
  const pid_t pid = std::stoi(test_support::ReadFile(pid_file));
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(pid); }, milliseconds(1000)))
      << "the hung command outlived its time-out";
}

TEST_P(ScheduleSourceTest, AnSqlErrorSkipsTheRound) {
  if (!IsPostgres()) {
    // On SQLite the option is refused at once.
    const test_support::CommandResult r =
        test_support::RunCommand({BATON_BIN, "schedule", "--store", store_, "--group", group_,
                                  "--queue", queue_, "--tenants-sql", "SELECT 1"});
    EXPECT_TRUE(r.Exited(2)) << r.Describe();
    EXPECT_NE(r.err.find("--tenants-sql needs a PostgreSQL store"), std::string::npos)
        << r.Describe();
    return;
  }
  ExpectRoundsSkipped({"--tenants-sql", "SELECT id FROM no_such_table"}, "no_such_table");
}

TEST_P(ScheduleSourceTest, ReadOnlyAndTimedOutQueriesSkipTheRound) {
  if (!IsPostgres()) GTEST_SKIP() << "--tenants-sql is PostgreSQL's";
  ExpectRoundsSkipped({"--tenants-sql", "CREATE TABLE sneaky (id text)"}, "read-only");
  instance("s").process.Kill();
  ExpectRoundsSkipped(
      {"--tenants-sql", "SELECT 'x' FROM pg_sleep(5)", "--tenants-timeout", "500ms"},
      "statement timeout", "s2");
}

TEST_P(ScheduleSourceTest, TenThousandTenantsAreOfferedInOneRound) {
  std::vector<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.push_back("tenant-" + std::to_string(i));
  const std::string file = TenantsFile("big.txt", ids);
  StartScheduler("s", {"--every", "30s", "--tenants-file", file});
  ASSERT_TRUE(WaitForRounds("s", 1, kTtl + milliseconds(30000)));
  const RoundLine round = Rounds("s")[0];
  EXPECT_EQ(round.offered, 10000u);
  EXPECT_EQ(round.how, "done");
  EXPECT_EQ(QueueJson({"stats"})["depth"]["pending"], 10000);
  std::printf("10,000 tenants offered in one round in %.1f ms (%s)\n", round.took_ms,
              GetParam().name);
}

TEST_P(ScheduleSourceTest, HostileIdsFromEverySourceArriveByteForByteAndAreNeverRun) {
  const std::string marker = dir_.File("pwned");
  const std::vector<std::string> hostile = {"two words",
                                            "quote ' and \" both",
                                            "$(touch " + marker + ")",
                                            "`touch " + marker + "`",
                                            "ünïcødé ✓",
                                            "semi;colon&&|",
                                            "back\\slash",
                                            "-n"};
  std::vector<std::vector<std::string>> sources;
  std::vector<std::string> prefixes = {"file ", "command "};
  sources.push_back({"--tenants-file", ""});
  sources.push_back({"--tenants-command", "cat " + dir_.File("command.txt")});
  if (IsPostgres()) {
    prefixes.push_back("sql ");
    std::string hex_list;
    for (const std::string& id : hostile) {
      static const char* kDigits = "0123456789abcdef";
      std::string hex;
      for (unsigned char c : "sql " + id) hex += std::string{kDigits[c >> 4], kDigits[c & 15]};
      hex_list += (hex_list.empty() ? "'" : ", '") + hex + "'";
    }
    sources.push_back({"--tenants-sql",
                       "SELECT convert_from(decode(h, 'hex'), 'UTF8') FROM "
                       "unnest(ARRAY[" +
                           hex_list + "]) AS h"});
  }
  std::vector<std::string> file_ids, command_ids;
  for (const std::string& id : hostile) {
    file_ids.push_back("file " + id);
    command_ids.push_back("command " + id);
  }
  sources[0][1] = TenantsFile("file.txt", file_ids);
  TenantsFile("command.txt", command_ids);
  for (size_t i = 0; i < sources.size(); ++i) {
    queue_ = "jobs-" + std::to_string(i);  // One queue per source, one worker each.
    StartScheduler("s" + std::to_string(i), sources[i]);
    StartWorker("w" + std::to_string(i), {"--concurrency", "4"});
  }
  const size_t expected = hostile.size() * sources.size();
  std::set<std::string> got;
  EXPECT_TRUE(WaitFor(
      [&] {
        got.clear();
        for (const ItemEvent& e : ItemEvents("done")) got.insert(e.tenant);
        return got.size() >= expected;
      },
      kTtl + kSlack * 5))
      << got.size() << " of " << expected;
  for (size_t p = 0; p < prefixes.size(); ++p) {
    for (const std::string& id : hostile) {
      EXPECT_TRUE(got.count(prefixes[p] + id)) << "\"" << prefixes[p] + id << "\" arrived changed";
    }
  }
  EXPECT_FALSE(std::filesystem::exists(marker)) << "an id was run by a shell";
}

// Bad input of schedule: exit 2 and a line that names what was wrong.
TEST_F(BatonGroupTest, ScheduleRefusesBadInputNamingIt) {
  struct Bad {
    std::vector<std::string> args;
    std::string mention;
  };
  const std::string file = dir_.File("t.txt");
  const std::vector<Bad> cases = {
      {{"--queue", "q"}, "needs a tenant source"},
      {{"--tenants-file", file}, "--queue is required"},
      {{"--queue", "q", "--tenants-file", file, "--tenants-command", "cat"},
       "takes one tenant source"},
      {{"--queue", "q", "--tenants-file", file, "--every", "5"}, "--every"},
      {{"--queue", "q", "--tenants-file", file, "--every", "0s"}, "--every must be positive"},
      {{"--queue", "q", "--tenants-file", file, "--item-ttl", "0s"}, "--item-ttl must be positive"},
      {{"--queue", "q", "--tenants-file", file, "--ttl", "300ms"}, "--ttl"},
      {{"--queue", "q", "--tenants-command", "/nonexistent/list"}, "/nonexistent/list"},
      {{"--queue", "q", "--tenants-command", "sh -c 'unterminated"}, "unterminated ' quote"},
      {{"--queue", "q", "--tenants-sql", "SELECT 1"}, "needs a PostgreSQL store"},
      {{"--queue", "q", "--tenants-file", file, "--", "cmd"}, "runs no command"},
  };
  for (const Bad& bad : cases) {
    std::vector<std::string> argv = {BATON_BIN, "schedule", "--store", store_, "--group", "g"};
    argv.insert(argv.end(), bad.args.begin(), bad.args.end());
    const test_support::CommandResult result = test_support::RunCommand(argv);
    EXPECT_TRUE(result.Exited(2)) << testing::PrintToString(bad.args) << result.Describe();
    EXPECT_NE(result.err.find("baton: " + std::string()), std::string::npos) << result.Describe();
    EXPECT_NE(result.err.find(bad.mention), std::string::npos)
        << "no \"" << bad.mention << "\" in: " << result.Describe();
  }
}

}  // namespace
}  // namespace baton::process_test
