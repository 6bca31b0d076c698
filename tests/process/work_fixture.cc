#include "work_fixture.h"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <sstream>
#include <tuple>

namespace baton::process_test {
namespace {

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

// The value of `key=` in a probe line ("" when absent).
std::string Field(const std::string& line, const std::string& key) {
  const std::string needle = " " + key + "=";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return "";
  const size_t begin = at + needle.size();
  return line.substr(begin, line.find(' ', begin) - begin);
}

}  // namespace

WorkFixture::WorkFixture() : locks_dir_(dir_.File("locks")), item_log_(dir_.File("items.log")) {
  std::filesystem::create_directories(locks_dir_);
}

Instance& WorkFixture::StartWorker(const std::string& id, const std::vector<std::string>& work_args,
                                   const std::vector<std::string>& probe_args,
                                   const std::vector<std::string>& env) {
  std::vector<std::string> argv = {BATON_BIN, "work",    "--store", store_, "--group",
                                   group_,    "--queue", queue_,    "--id", id};
  // The test's defaults, unless the test gives the option itself.
  for (const auto& [flag, value] :
       {std::pair{"--visibility", "2s"}, std::pair{"--backoff", "100ms"},
        std::pair{"--poll", "500ms"}}) {
    if (std::find(work_args.begin(), work_args.end(), flag) == work_args.end()) {
      argv.insert(argv.end(), {flag, value});
    }
  }
  argv.insert(argv.end(), work_args.begin(), work_args.end());
  argv.insert(argv.end(), {"--", BATON_ITEM_PROBE_BIN, "--locks", locks_dir_, "--log", item_log_});
  argv.insert(argv.end(), probe_args.begin(), probe_args.end());
  return Spawn(id, argv, {.baton_env = env});
}

std::vector<uint64_t> WorkFixture::Enqueue(const std::vector<std::string>& keys,
                                           const std::vector<std::string>& args) {
  const std::string keys_file = dir_.File("keys-" + std::to_string(keys.size()) + ".txt");
  std::string text;
  for (const std::string& k : keys) text += k + "\n";
  test_support::WriteFile(keys_file, text);
  std::vector<std::string> argv = {BATON_BIN, "enqueue", "--store", store_,        "--group",
                                   group_,    "--queue", queue_,    "--keys-file", keys_file};
  argv.insert(argv.end(), args.begin(), args.end());
  const test_support::CommandResult result = test_support::RunCommand(argv, milliseconds(60000));
  EXPECT_TRUE(result.Exited(0)) << result.Describe();
  std::vector<uint64_t> ids;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    if (line != "skipped") ids.push_back(std::stoull(line));
  }
  return ids;
}

nlohmann::json WorkFixture::QueueJson(const std::vector<std::string>& action) {
  std::vector<std::string> argv = {BATON_BIN, "queue",   "--store", store_,  "--group",
                                   group_,    "--queue", queue_,    "--json"};
  argv.insert(argv.end(), action.begin(), action.end());
  const test_support::CommandResult result = test_support::RunCommand(argv);
  EXPECT_TRUE(result.Exited(0)) << result.Describe();
  try {
    return nlohmann::json::parse(result.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << result.Describe();
    return nlohmann::json::object();
  }
}

int64_t WorkFixture::DoneTotal() {
  const nlohmann::json stats = QueueJson({"stats"});
  return stats.contains("totals") ? stats["totals"]["done"].get<int64_t>() : -1;
}

void WorkFixture::DeadAndDone(const std::vector<std::string>& dead,
                              const std::vector<std::string>& done) {
  Enqueue(dead);
  Instance& failing = StartWorker("failing", {"--max-attempts", "1"}, {"--exit-code", "3"});
  ASSERT_TRUE(test_support::WaitFor([&] { return QueueJson({"dead"}).size() == dead.size(); },
                                    kVisibility + kSlack));
  failing.process.Kill();
  Enqueue(done);
  StartWorker("working");
  ASSERT_TRUE(test_support::WaitFor(
      [&] { return DoneTotal() == static_cast<int64_t>(done.size()); }, kVisibility + kSlack));
}

std::vector<ItemEvent> WorkFixture::ItemEvents(const std::string& kind) const {
  std::vector<ItemEvent> events;
  for (const std::string& line : test_support::ReadLines(item_log_)) {
    ItemEvent e;
    e.kind = line.substr(0, line.find(' '));
    if (!kind.empty() && e.kind != kind) continue;
    e.item = std::stoull("0" + Field(line, "item"));
    e.tenant = Unhex(Field(line, "tenant"));
    e.attempt = std::stoi("0" + Field(line, "attempt"));
    e.token = std::stoull("0" + Field(line, "token"));
    e.pid = std::stoi("0" + Field(line, "pid"));
    e.mono_ns = std::stoll("0" + Field(line, "mono_ns"));
    e.payload = Unhex(Field(line, "payload"));
    events.push_back(e);
  }
  return events;
}

std::optional<ItemEvent> WorkFixture::WaitForItem(const std::string& kind, uint64_t item,
                                                  milliseconds timeout, int attempt) {
  std::optional<ItemEvent> found;
  test_support::WaitFor(
      [&] {
        for (const ItemEvent& e : ItemEvents(kind)) {
          if (e.item == item && (attempt == 0 || e.attempt == attempt)) {
            found = e;
            return true;
          }
        }
        return false;
      },
      timeout, milliseconds(10));
  return found;
}

std::vector<std::pair<uint64_t, std::string>> WorkFixture::Claims(const std::string& worker) const {
  static const std::regex kClaim(
      R"re(claimed item (\d+) of tenant "(.*)" \(attempt \d+, claim token (\d+)\))re");
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> by_token;
  for (const std::string& line : test_support::ReadLines(dir_.File(worker + ".out"))) {
    std::smatch m;
    if (std::regex_search(line, m, kClaim)) {
      by_token.emplace_back(std::stoull(m[3]), std::stoull(m[1]), m[2]);
    }
  }
  std::sort(by_token.begin(), by_token.end());
  std::vector<std::pair<uint64_t, std::string>> claims;
  for (auto& [token, item, tenant] : by_token) claims.emplace_back(item, std::move(tenant));
  return claims;
}

}  // namespace baton::process_test
