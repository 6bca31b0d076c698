// Separate processes (store_race_helper) race for one lease through the Store interface
// alone, on the store of this binary: the store's conditional writes, not baton's timing, must
// keep them apart. Each round has exactly one winner, judged by the kernel (an exclusive flock
// that every winner takes while it holds the lease), and the tokens count 1, 2, 3 ...

#include <fstream>
#include <string>
#include <vector>

#include "group_fixture.h"

namespace baton::process_test {
namespace {

class StoreRaceTest : public StoreGroupTest {};

TEST_P(StoreRaceTest, ProcessesRacingForOneLeaseNeverOverlap) {
  constexpr int kProcesses = 6;
  constexpr int kWinsEach = 15;
  const std::string log = dir_.File("race.log");
  const std::string errors = dir_.File("race.err");
  std::vector<Process> racers;
  for (int i = 0; i < kProcesses; ++i) {
    racers.push_back(
        Process::Spawn({.argv = {BATON_STORE_RACE_HELPER, "race", store_, dir_.File("race.lock"),
                                 log, "racer" + std::to_string(i), std::to_string(kWinsEach)},
                        .extra_env = {},
                        .stdout_path = {},
                        .stderr_path = errors}));
  }
  // The helper gives up by itself after 60 s without a win.
  for (Process& racer : racers) {
    const std::optional<test_support::ExitStatus> exit = racer.WaitExit(std::chrono::seconds(90));
    ASSERT_TRUE(exit) << "a racer hung";
    EXPECT_TRUE(exit->Exited(0)) << exit->Describe() << " (3: overlap, 4: its release failed)\n"
                                 << test_support::ReadFile(errors);
  }

  std::ifstream in(log);
  std::vector<uint64_t> tokens;
  uint64_t token = 0;
  std::string id;
  while (in >> token >> id) tokens.push_back(token);
  ASSERT_EQ(tokens.size(), static_cast<size_t>(kProcesses * kWinsEach));
  for (size_t i = 0; i < tokens.size(); ++i) EXPECT_EQ(tokens[i], i + 1) << "interval " << i;
}

BATON_INSTANTIATE_ON_STORE_UNDER_TEST(StoreRaceTest);

}  // namespace
}  // namespace baton::process_test
