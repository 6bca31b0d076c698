#include "schedule_fixture.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <regex>

namespace baton::process_test {

int64_t LogLineMillis(const std::string& line) {
  std::tm tm{};
  int ms = 0;
  if (line.size() < 24 ||
      sscanf(line.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

Instance& ScheduleTest::StartScheduler(const std::string& id, const std::vector<std::string>& args,
                                       const std::vector<std::string>& env) {
  std::vector<std::string> argv = {BATON_BIN, "schedule", "--store",     store_, "--group",
                                   group_,    "--queue",  queue_,        "--id", id,
                                   "--ttl",   "2s",       "--heartbeat", "400ms"};
  if (std::find(args.begin(), args.end(), "--every") == args.end()) {
    argv.insert(argv.end(), {"--every", "2s"});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return Spawn(id, argv, {.baton_env = env});
}

std::string ScheduleTest::TenantsFile(const std::string& name,
                                      const std::vector<std::string>& ids) {
  const std::string path = dir_.File(name);
  std::string text;
  for (const std::string& id : ids) text += id + "\n";
  test_support::WriteFile(path, text);
  return path;
}

std::vector<RoundLine> ScheduleTest::Rounds(const std::string& scheduler) const {
  static const std::regex kRound(
      R"re(: round (.*?): (\d+) tenants listed, (\d+) offered, (\d+) skipped .*?, (\d+) invalid, in ([0-9.]+) ms)re");
  std::vector<RoundLine> rounds;
  for (const std::string& line : test_support::ReadLines(dir_.File(scheduler + ".out"))) {
    std::smatch m;
    if (!std::regex_search(line, m, kRound)) continue;
    rounds.push_back({.scheduler = scheduler,
                      .wall_ms = LogLineMillis(line),
                      .how = m[1],
                      .listed = std::stoul(m[2]),
                      .offered = std::stoul(m[3]),
                      .skipped = std::stoul(m[4]),
                      .invalid = std::stoul(m[5]),
                      .took_ms = std::stod(m[6])});
  }
  return rounds;
}

bool ScheduleTest::WaitForRounds(const std::string& scheduler, size_t n, milliseconds timeout) {
  return test_support::WaitFor([&] { return Rounds(scheduler).size() >= n; }, timeout,
                               milliseconds(20));
}

std::vector<std::string> ScheduleTest::LogLines(const std::string& scheduler,
                                                const std::string& text) const {
  std::vector<std::string> lines;
  for (const std::string& line : test_support::ReadLines(dir_.File(scheduler + ".out"))) {
    if (line.find(text) != std::string::npos) lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> ScheduleTest::QueuedTenants() {
  std::vector<std::string> tenants;
  for (const auto& item : QueueJson({"list", "--limit", "100000"})) {
    tenants.push_back(item["tenant"].get<std::string>());
  }
  return tenants;
}

std::vector<std::string> Tenants(const std::string& prefix, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(prefix + std::to_string(i));
  return ids;
}

// Every round of `rounds` (any schedulers) at least `every` after the one before, less the
// tolerance; returns the smallest gap in ms.
int64_t CheckRoundsApart(std::vector<RoundLine> rounds, milliseconds every) {
  std::sort(rounds.begin(), rounds.end(),
            [](const RoundLine& a, const RoundLine& b) { return a.wall_ms < b.wall_ms; });
  int64_t smallest = INT64_MAX;
  for (size_t i = 1; i < rounds.size(); ++i) {
    // The offers of a round lie in [line − took, line]: compare the earliest possible offer of
    // the later round with the latest of the earlier one.
    const int64_t gap =
        rounds[i].wall_ms - static_cast<int64_t>(rounds[i].took_ms) - rounds[i - 1].wall_ms;
    smallest = std::min(smallest, gap);
    EXPECT_GE(gap, (every - kRoundTolerance).count())
        << "round of " << rounds[i].scheduler << " only " << gap << " ms after one of "
        << rounds[i - 1].scheduler;
  }
  return smallest;
}

}  // namespace baton::process_test
