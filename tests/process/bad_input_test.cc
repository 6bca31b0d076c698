// Bad input is refused up front: exit code 2 and a `baton: ` line that names what was wrong.

#include <sqlite3.h>

#include <cctype>
#include <ostream>
#include <string>
#include <vector>

#include "group_fixture.h"

namespace baton::process_test {
namespace {

using test_support::CommandResult;
using test_support::RunCommand;

// Whether `text` occurs in `line`; a number only as a whole number ("1" is not in "12").
bool Mentions(const std::string& line, const std::string& text) {
  const bool number = text.find_first_not_of("0123456789") == std::string::npos;
  for (size_t at = line.find(text); at != std::string::npos; at = line.find(text, at + 1)) {
    if (!number) return true;
    const size_t after = at + text.size();
    if ((at == 0 || !std::isdigit(static_cast<unsigned char>(line[at - 1]))) &&
        (after == line.size() || !std::isdigit(static_cast<unsigned char>(line[after])))) {
      return true;
    }
  }
  return false;
}

// True when some line of stderr starts with "baton: " and mentions every one of `mentions`,
// where "a|b" means a or b.
bool HasMessage(const std::string& err, const std::vector<std::string>& mentions) {
  auto contains_any = [](const std::string& line, const std::string& alternatives) {
    for (size_t begin = 0;;) {
      const size_t bar = alternatives.find('|', begin);
      if (Mentions(line, alternatives.substr(begin, bar - begin))) return true;
      if (bar == std::string::npos) return false;
      begin = bar + 1;
    }
  };
  for (size_t begin = 0; begin < err.size();) {
    size_t end = err.find('\n', begin);
    if (end == std::string::npos) end = err.size();
    const std::string line = err.substr(begin, end - begin);
    begin = end + 1;
    if (line.rfind("baton: ", 0) != 0) continue;
    bool all = true;
    for (const std::string& m : mentions) all = all && contains_any(line, m);
    if (all) return true;
  }
  return false;
}

struct BadRun {
  std::string name;
  std::vector<std::string> options;  // Between `baton run` and `-- baton-probe`; {store} is
                                     // replaced by the test's store URL.
  std::vector<std::string> mentions;
  bool with_command = true;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const BadRun& run, std::ostream* os) { *os << run.name; }

std::vector<std::string> Valid(std::vector<std::string> more) {
  std::vector<std::string> options = {"--store", "{store}", "--group", "svc"};
  options.insert(options.end(), more.begin(), more.end());
  return options;
}

const std::vector<BadRun> kBadRuns = {
    {"TimingsDoNotFitTheTtl",
     Valid({"--ttl", "2s", "--heartbeat", "800ms", "--margin", "200ms", "--grace", "400ms"}),
     {"--ttl", "--heartbeat"}},
    {"TtlUnder500ms", Valid({"--ttl", "400ms"}), {"--ttl"}},
    {"ZeroHeartbeat", Valid({"--heartbeat", "0ms"}), {"--heartbeat"}},
    {"NegativeGrace", Valid({"--grace=-1s"}), {"--grace"}},
    {"ZeroMargin", Valid({"--margin", "0s"}), {"--margin"}},
    {"BareNumber", Valid({"--ttl", "5"}), {"--ttl"}},
    {"UnknownUnit", Valid({"--ttl", "5 fortnights"}), {"--ttl"}},
    {"UnknownOption", Valid({"--bogus-flag"}), {"--bogus-flag"}},
    {"EmptyGroup", {"--store", "{store}", "--group", ""}, {"--group"}},
    {"EmptyId", Valid({"--id", ""}), {"--id"}},
    {"GroupOver200Bytes", {"--store", "{store}", "--group", std::string(201, 'g')}, {"--group"}},
    {"IdOver200Bytes", Valid({"--id", std::string(201, 'i')}), {"--id"}},
    {"ControlCharacterInGroup", {"--store", "{store}", "--group", "svc\tx"}, {"--group"}},
    {"ControlCharacterInId", Valid({"--id", "a\nb"}), {"--id"}},
    {"UnknownOnExit", Valid({"--on-exit", "maybe"}), {"--on-exit"}},
    {"PgSchemaOnSqlite", Valid({"--pg-schema", "other"}), {"--pg-schema", "PostgreSQL"}},
    {"UnknownStoreScheme", {"--store", "foo:bar", "--group", "svc"}, {"--store|foo:"}},
    {"MissingCommand", Valid({}), {"command|COMMAND"}, /*with_command=*/false},
};

class BadRunTest : public BatonGroupTest, public ::testing::WithParamInterface<BadRun> {};

TEST_P(BadRunTest, IsRefusedWithExitCode2NamingTheCulprit) {
  std::vector<std::string> argv = {BATON_BIN, "run"};
  for (const std::string& option : GetParam().options) {
    argv.push_back(option == "{store}" ? store_ : option);
  }
  argv.push_back("--");
  if (GetParam().with_command) {
    argv.insert(argv.end(), {BATON_PROBE_BIN, "--lock", lock_path_, "--log", probe_log_});
  }
  const CommandResult result = RunCommand(argv);
  EXPECT_TRUE(result.Exited(2)) << result.Describe();
  EXPECT_TRUE(HasMessage(result.err, GetParam().mentions))
      << "no `baton: ` line naming " << testing::PrintToString(GetParam().mentions) << "\n"
      << result.Describe();
  EXPECT_TRUE(Events("start").empty()) << "the command ran";
}

INSTANTIATE_TEST_SUITE_P(Run, BadRunTest, ::testing::ValuesIn(kBadRuns),
                         [](const ::testing::TestParamInfo<BadRun>& param_info) {
                           return param_info.param.name;
                         });

TEST_F(BatonGroupTest, RunWithoutDoubleDashAndCommandIsRefused) {
  const CommandResult result = RunCommand({BATON_BIN, "run", "--store", store_, "--group", "svc"});
  EXPECT_TRUE(result.Exited(2)) << result.Describe();
  EXPECT_TRUE(HasMessage(result.err, {}));
}

TEST_F(BatonGroupTest, LongestAllowedGroupAndIdAreAccepted) {
  group_ = std::string(200, 'g');
  const std::string id(200, 'i');
  Start(id);
  const std::optional<ProbeEvent> start = WaitForGroup({id});
  ASSERT_TRUE(start);
  EXPECT_EQ(start->instance, id);
}

TEST_F(BatonGroupTest, DatabasePathThroughARegularFileIsRefused) {
  const std::string file = dir_.File("file.txt");
  test_support::WriteFile(file, "not a directory\n");
  const std::string store = "sqlite:" + file + "/baton.db";

  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {BATON_BIN, "migrate", "--store", store},
           {BATON_BIN, "status", "--store", store, "--group", "svc"},
           {BATON_BIN, "run", "--store", store, "--group", "svc", "--", BATON_PROBE_BIN, "--log",
            probe_log_}}) {
    const CommandResult result = RunCommand(argv);
    EXPECT_TRUE(result.Exited(2)) << argv[1] << ": " << result.Describe();
    EXPECT_TRUE(HasMessage(result.err, {file})) << argv[1] << ": " << result.Describe();
  }
  EXPECT_TRUE(Events("start").empty()) << "the command ran";
}

// Sets the schema version stored in the SQLite file by hand, and the oldest version that may
// use it (table and keys of src/stores/sqlite/schema.cc), as a newer baton would have left it.
void SetSchemaVersion(const std::string& path, int version, int usable_from) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  const std::string sql = "UPDATE baton_meta SET value = CASE key WHEN 'schema_version' THEN " +
                          std::to_string(version) + " ELSE " + std::to_string(usable_from) +
                          " END WHERE key IN ('schema_version', 'usable_from')";
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error != nullptr ? error : "");
  sqlite3_free(error);
  EXPECT_EQ(sqlite3_changes(db), 2) << "no schema_version or usable_from row in baton_meta";
  sqlite3_close(db);
}

int SchemaVersion(const std::string& path) {
  sqlite3* db = nullptr;
  int version = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT value FROM baton_meta WHERE key = 'schema_version'", -1,
                           &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      version = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return version;
}

TEST_F(BatonGroupTest, SchemaNewerThanSupportedIsRefusedNamingBothVersions) {
  const CommandResult migrated = RunCommand({BATON_BIN, "migrate", "--store", store_});
  ASSERT_TRUE(migrated.Exited(0)) << migrated.Describe();
  const int supported = SchemaVersion(db_path_);
  ASSERT_GT(supported, 0);
  const int newer = supported + 41;
  SetSchemaVersion(db_path_, newer, /*usable_from=*/newer);

  const std::vector<std::string> mentions = {std::to_string(supported), std::to_string(newer)};
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {BATON_BIN, "migrate", "--store", store_},
           {BATON_BIN, "status", "--store", store_, "--group", "svc"},
           RunArgv("a")}) {
    const CommandResult result = RunCommand(argv);
    EXPECT_TRUE(result.Exited(2)) << argv[1] << ": " << result.Describe();
    // The path may hold digits of its own; only the rest of the message counts.
    std::string err = result.err;
    for (size_t at; (at = err.find(db_path_)) != std::string::npos;) err.erase(at, db_path_.size());
    EXPECT_TRUE(HasMessage(err, mentions)) << argv[1] << ": " << result.Describe();
  }
  EXPECT_EQ(SchemaVersion(db_path_), newer) << "the newer schema was touched";
  EXPECT_TRUE(Events("start").empty()) << "the command ran";
}

// SPEC 5, a rolling upgrade: a newer release migrated the store and said its schema stays
// usable by this release, which keeps running on it and does not move it back.
TEST_F(BatonGroupTest, NewerSchemaThatStaysUsableIsUsedAsItIs) {
  const CommandResult migrated = RunCommand({BATON_BIN, "migrate", "--store", store_});
  ASSERT_TRUE(migrated.Exited(0)) << migrated.Describe();
  const int supported = SchemaVersion(db_path_);
  const int newer = supported + 1;
  SetSchemaVersion(db_path_, newer, /*usable_from=*/supported);

  const CommandResult again = RunCommand({BATON_BIN, "migrate", "--store", store_});
  EXPECT_TRUE(again.Exited(0)) << again.Describe();
  EXPECT_NE(again.out.find("version " + std::to_string(newer) + ", nothing to do"),
            std::string::npos)
      << again.Describe();
  Start("a");
  EXPECT_TRUE(WaitForGroup({"a"})) << "the instance did not run on the newer schema";
  EXPECT_EQ(SchemaVersion(db_path_), newer) << "the newer schema was moved back";
}

}  // namespace
}  // namespace baton::process_test
